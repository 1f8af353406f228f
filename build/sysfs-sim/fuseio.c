/* Why this file exists: kernfs runs writes from different open files of the
 * same attribute concurrently (of->mutex is per open file), so on a real
 * kernel a second writer to drivers/vfio-pci/unbind is not held up by a first
 * one blocked in vfio's remove(). FUSE takes the inode lock around direct
 * writes unless the open reply carries FOPEN_PARALLEL_DIRECT_WRITES, which
 * libfuse 3.14 cannot set. So we pass the session's reads and writes through
 * here: remember which requests are FUSE_OPEN, and add the flag to their
 * successful replies. */
#include "sim.h"

#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t opens[256];	/* uniques of FUSE_OPEN requests in flight */

static int take_open(uint64_t unique)
{
	int found = 0;
	pthread_mutex_lock(&open_lock);
	for (size_t i = 0; i < sizeof opens / sizeof *opens && !found; i++)
		if (opens[i] == unique) {
			opens[i] = 0;
			found = 1;
		}
	pthread_mutex_unlock(&open_lock);
	return found;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;
	(void)userdata;

	if (n >= (ssize_t)sizeof *in && in->opcode == FUSE_OPEN) {
		pthread_mutex_lock(&open_lock);
		for (size_t i = 0; i < sizeof opens / sizeof *opens; i++)
			if (!opens[i]) {
				opens[i] = in->unique;
				break;
			}
		pthread_mutex_unlock(&open_lock);
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	(void)userdata;

	if (count >= 2 && iov[0].iov_len >= sizeof *out && take_open(out->unique) &&
	    out->error == 0 && iov[1].iov_len >= sizeof(struct fuse_open_out)) {
		struct fuse_open_out *arg = iov[1].iov_base;
		arg->open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	}
	return writev(fd, iov, count);
}

int fuseio_install(void *session)
{
	static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
	struct fuse_session *se = session;
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
