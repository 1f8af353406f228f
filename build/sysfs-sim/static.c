/* --static DIR: the initial state of the topology as plain directories, files
 * and symlinks under DIR/sys, DIR/dev and DIR/proc, for read-only tests and
 * benchmarks. Contents are what a root reader sees through the mount; control
 * files and device nodes, which need semantics, become plain files. */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_file(const char *path, const struct node *n)
{
	struct strbuf content = {0};
	int r = attr_show((struct node *)n, &content, 0);
	if (r < 0)	/* e.g. carrier of a down interface: the file exists, reads fail */
		content.len = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, n->mode);
	if (fd < 0 || (content.len && write(fd, content.s, content.len) != (ssize_t)content.len)) {
		fprintf(stderr, "sysfs-sim: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		sb_free(&content);
		return -1;
	}
	close(fd);
	fchmodat(AT_FDCWD, path, n->mode, 0);	/* the umask must not change modes */
	sb_free(&content);
	return 0;
}

/* Directories get their mode after their contents, so a 0500 directory
 * can still be filled. */
static int write_node(const char *path, const struct node *n)
{
	if (n->type == N_LINK) {
		if (symlink(n->target, path) == 0)
			return 0;
		fprintf(stderr, "sysfs-sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (n->type == N_FILE)
		return write_file(path, n);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "sysfs-sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n->nkids; i++) {
		char *child;
		if (asprintf(&child, "%s/%s", path, n->kids[i]->name) < 0)
			return -1;
		int r = write_node(child, n->kids[i]);
		free(child);
		if (r)
			return r;
	}
	return chmod(path, n->mode);
}

int static_write(const char *dir)
{
	static const char *const tops[] = {"sys", "dev", "proc"};

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "sysfs-sim: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		char *path;
		struct node *n = node_child(node_root(), tops[i]);
		if (asprintf(&path, "%s/%s", dir, tops[i]) < 0)
			return -1;
		if (access(path, F_OK) == 0) {
			fprintf(stderr, "sysfs-sim: %s exists; --static wants an empty directory\n", path);
			free(path);
			return -1;
		}
		int r = n ? write_node(path, n) : 0;
		free(path);
		if (r)
			return r;
	}
	return 0;
}
