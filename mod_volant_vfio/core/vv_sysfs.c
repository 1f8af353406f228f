#include "vv_sysfs.h"
#include "vv_log.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static vv_err_t *canonical_dir(apr_pool_t *p, const char *what,
                               const char *path, const char **out)
{
    char real[PATH_MAX];
    struct stat st;

    if (!path || path[0] != '/') {
        return vv_err(p, VV_E_INTERNAL, "%s %s is not an absolute path",
                      what, path ? path : "(none)");
    }
    if (!realpath(path, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return vv_err(p, VV_E_INTERNAL, "%s %s is not a directory", what,
                      path);
    }
    *out = apr_pstrdup(p, real);
    return NULL;
}

vv_err_t *vv_host_make(apr_pool_t *p, const char *sysfs, const char *dev,
                       const char *proc, vv_host_t **out)
{
    vv_host_t *h = apr_pcalloc(p, sizeof(*h));
    vv_err_t *e;

    if ((e = canonical_dir(p, "VolantVfioSysfsRoot", sysfs, &h->sysfs))
        || (e = canonical_dir(p, "VolantVfioDevRoot", dev, &h->dev))
        || (e = canonical_dir(p, "VolantVfioProcRoot", proc, &h->proc))) {
        return e;
    }
    /* "/" as a root would make "//devices/"; keep the prefix exact. */
    h->devices = apr_pstrcat(p, strcmp(h->sysfs, "/") ? h->sysfs : "",
                             "/devices/", NULL);
    *out = h;
    return NULL;
}

char *vv_path_normalize(apr_pool_t *p, const char *path)
{
    size_t n = strlen(path);
    char *out = apr_palloc(p, n + 2);
    size_t o = 0;
    const char *s = path;

    if (*s != '/') {
        return NULL;
    }
    while (*s) {
        const char *seg;
        size_t len;

        while (*s == '/') {
            s++;
        }
        seg = s;
        while (*s && *s != '/') {
            s++;
        }
        len = (size_t)(s - seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (o == 0) {
                return NULL;
            }
            while (o > 0 && out[o - 1] != '/') {
                o--;
            }
            o--; /* the slash itself */
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0) {
        out[o++] = '/';
    }
    out[o] = '\0';
    return out;
}

static apr_status_t close_fd(void *data)
{
    close((int)(intptr_t)data);
    return APR_SUCCESS;
}

/* <sysfs>/bus/pci/devices/ADDR is a link into <sysfs>/devices/.  Resolve it
 * ourselves, lexically, and insist on where it lands: the address is client
 * input, and this is the only way it reaches a path. */
static vv_err_t *resolve_device(apr_pool_t *p, const vv_host_t *h,
                                const vv_addr_t *a, const char **out)
{
    const char *dir = apr_pstrcat(p, h->sysfs, "/bus/pci/devices/", NULL);
    const char *link = apr_pstrcat(p, dir, a->text, NULL);
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    const char *path, *last;

    if (n < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            vv_log(VV_LOG_WARNING, VV_TAG(10101) "cannot read link %s: %s",
                   link, strerror(errno));
        }
        return vv_err(p, VV_E_NOT_FOUND, "PCI device not found: %s", a->text);
    }
    target[n] = '\0';
    path = vv_path_normalize(p, target[0] == '/' ? target
                             : apr_pstrcat(p, dir, target, NULL));
    last = path ? strrchr(path, '/') : NULL;
    if (!path || strncmp(path, h->devices, strlen(h->devices)) != 0
        || strcmp(last + 1, a->text) != 0) {
        vv_log(VV_LOG_ERR, VV_TAG(10102) "%s points outside %s: %s",
               link, h->devices, target);
        return vv_err(p, VV_E_NOT_FOUND, "PCI device not found: %s", a->text);
    }
    *out = path;
    return NULL;
}

vv_err_t *vv_sysdev_open(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_sysdev_t **out)
{
    vv_sysdev_t *d = apr_palloc(p, sizeof(*d));
    vv_err_t *e;

    d->addr = *a;
    if ((e = resolve_device(p, h, a, &d->path))) {
        return e;
    }
    d->fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        /* Gone between the readlink and here: hot-unplug. */
        return vv_err(p, VV_E_NOT_FOUND, "PCI device not found: %s", a->text);
    }
    if (d->fd < 0) {
        /* Out of descriptors, memory: our failure, never "not found". */
        return vv_err(p, VV_E_INTERNAL, "cannot open %s: %s", d->path,
                      strerror(errno));
    }
    d->pool = p;
    apr_pool_cleanup_register(p, (void *)(intptr_t)d->fd, close_fd,
                              apr_pool_cleanup_null);
    *out = d;
    return NULL;
}

void vv_sysdev_close(vv_sysdev_t *d)
{
    if (d->fd >= 0) {
        apr_pool_cleanup_run(d->pool, (void *)(intptr_t)d->fd, close_fd);
        d->fd = -1;
    }
}

int vv_read_at(int dirfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n;

    if (fd < 0) {
        return -errno;
    }
    n = read(fd, buf, size - 1);
    if (n < 0) {
        n = -errno;
    }
    close(fd);
    if (n < 0) {
        return (int)n;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    return (int)n;
}

int vv_sysdev_read(const vv_sysdev_t *d, const char *attr, char *buf,
                   size_t size)
{
    return vv_read_at(d->fd, attr, buf, size);
}

int vv_sysdev_read_hex(const vv_sysdev_t *d, const char *attr,
                       unsigned *out)
{
    char buf[32], *end;
    unsigned long v;
    int n = vv_read_at(d->fd, attr, buf, sizeof(buf));

    if (n < 0) {
        return n;
    }
    errno = 0;
    v = strtoul(buf, &end, 16);
    if (errno || end == buf || *end || v > UINT32_MAX) {
        return -EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

int vv_sysdev_read_config(const vv_sysdev_t *d, unsigned off,
                          unsigned char *buf, size_t n)
{
    int fd = openat(d->fd, "config", O_RDONLY | O_CLOEXEC);
    ssize_t got;

    if (fd < 0) {
        return -errno;
    }
    got = pread(fd, buf, n, (off_t)off);
    if (got < 0) {
        got = -errno;
    }
    close(fd);
    if (got >= 0 && (size_t)got != n) {
        return -EIO;
    }
    return got < 0 ? (int)got : 0;
}

/* The last component of what the link at/name points to. */
static int link_name_at(int at, const char *name, char *buf, size_t size)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(at, name, target, sizeof(target) - 1);
    const char *base;

    buf[0] = '\0';
    if (n < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    target[n] = '\0';
    base = strrchr(target, '/');
    base = base ? base + 1 : target;
    if (strlen(base) >= size) {
        return -ENAMETOOLONG;
    }
    strcpy(buf, base);
    return 0;
}

int vv_sysdev_link_name(const vv_sysdev_t *d, const char *attr, char *buf,
                        size_t size)
{
    return link_name_at(d->fd, attr, buf, size);
}

int vv_link_name(const char *dir, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX];

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name)
        >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    return link_name_at(AT_FDCWD, path, buf, size);
}

int vv_sysdev_has(const vv_sysdev_t *d, const char *attr)
{
    return faccessat(d->fd, attr, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int vv_host_group_count(const vv_host_t *h)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *ent;
    int n = 0;

    snprintf(path, sizeof(path), "%s/kernel/iommu_groups", h->sysfs);
    if (!(dir = opendir(path))) {
        return 0;
    }
    while ((ent = readdir(dir))) {
        if (ent->d_name[0] != '.') {
            n++;
        }
    }
    closedir(dir);
    return n;
}

/* readdir() asks the kernel for 32 KiB of entries at once, over a
 * thousand on a host of thousands of groups; a small buffer gets a
 * handful, and the first that is not a dot answers. */
int vv_host_has_groups(const vv_host_t *h)
{
    char path[PATH_MAX];
    union { struct dirent64 align; char bytes[512]; } buf;
    struct statx st;
    int fd, found = 0;
    long n;

    snprintf(path, sizeof(path), "%s/kernel/iommu_groups", h->sysfs);
    /* A directory's link count is 2 and one per subdirectory, on sysfs
     * (kernfs counts them) as on disk: more than 2 says there are groups
     * without a listing, which on a large host costs far more.  Anything
     * else (no groups, or a filesystem that does not count) is listed. */
    if (statx(AT_FDCWD, path, AT_STATX_DONT_SYNC, STATX_NLINK, &st) == 0
        && (st.stx_mask & STATX_NLINK) && st.stx_nlink > 2) {
        return 1;
    }
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return 0;
    }
    while (!found && (n = syscall(SYS_getdents64, fd, buf.bytes,
                                  sizeof(buf.bytes))) > 0) {
        for (long off = 0; off < n && !found;) {
            const struct dirent64 *e = (const void *)(buf.bytes + off);
            found = e->d_name[0] != '.';
            off += e->d_reclen;
        }
    }
    close(fd);
    return found;
}


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

vv_err_t *vv_host_group_members(apr_pool_t *p, const vv_host_t *h,
                                int group, apr_array_header_t **out)
{
    char path[PATH_MAX];
    union { struct dirent64 align; char bytes[4096]; } buf;
    apr_array_header_t *list = apr_array_make(p, 4, sizeof(const char *));
    int fd;
    long n;

    snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/devices",
             h->sysfs, group);
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return vv_err(p, VV_E_STATE, "IOMMU group %d has no device list",
                      group);
    }
    /* getdents64 straight: a group is a handful of names, read on every
     * info, and a DIR stream costs two more system calls. */
    while ((n = syscall(SYS_getdents64, fd, buf.bytes,
                        sizeof(buf.bytes))) > 0) {
        for (long off = 0; off < n;) {
            const struct dirent64 *ent = (const void *)(buf.bytes + off);
            vv_addr_t a;
            /* Only names that are addresses: they are used to build paths. */
            if (vv_addr_parse(ent->d_name, &a)) {
                APR_ARRAY_PUSH(list, const char *) = apr_pstrdup(p, a.text);
            }
            off += ent->d_reclen;
        }
    }
    close(fd);
    qsort(list->elts, (size_t)list->nelts, sizeof(const char *), cmp_str);
    *out = list;
    return NULL;
}

int vv_host_has(const char *root, const char *rel)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
    return access(path, F_OK) == 0;
}

const char *vv_host_read(apr_pool_t *p, const char *root, const char *rel)
{
    return vv_file_read(p, apr_pstrcat(p, root, "/", rel, NULL));
}

const char *vv_dir_first_entry(apr_pool_t *p, const char *dir)
{
    apr_array_header_t *names = vv_dir_names(p, dir);

    return names && names->nelts ? APR_ARRAY_IDX(names, 0, const char *)
                                  : NULL;
}

const char *vv_file_read(apr_pool_t *p, const char *path)
{
    char buf[512];
    int n = vv_read_at(AT_FDCWD, path, buf, sizeof(buf));

    return n < 0 ? NULL : apr_pstrdup(p, buf);
}

int vv_file_lines(const char *path, int (*fn)(const char *line, void *baton),
                  void *baton)
{
    enum { LINE_MAX_LEN = 65536 };
    FILE *f = fopen(path, "re");
    char *line = malloc(LINE_MAX_LEN);
    int hit = 0, err = f && line ? 0 : errno ? errno : ENOMEM, whole = 1;

    while (!err && !hit && fgets(line, LINE_MAX_LEN, f)) {
        size_t n = strlen(line);
        /* A line longer than the buffer is passed over whole: its tail,
         * which its owner may have written (a mount point), is never read
         * as a line of its own. */
        if (whole && n && line[n - 1] == '\n') {
            hit = fn(line, baton);
        }
        whole = n && line[n - 1] == '\n';
    }
    if (f) {
        fclose(f);
    }
    free(line);
    return err ? -err : hit;
}

apr_array_header_t *vv_dir_names(apr_pool_t *p, const char *path)
{
    apr_array_header_t *names;
    DIR *d = opendir(path);
    struct dirent *ent;

    if (!d) {
        return NULL;
    }
    names = apr_array_make(p, 8, sizeof(const char *));
    while ((ent = readdir(d))) {
        if (ent->d_name[0] != '.') {
            APR_ARRAY_PUSH(names, const char *) = apr_pstrdup(p, ent->d_name);
        }
    }
    closedir(d);
    return names;
}

const char *vv_link_target(apr_pool_t *p, const char *path)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0) {
        return NULL;
    }
    target[n] = '\0';
    return apr_pstrdup(p, target);
}

int vv_dev_busy(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

    if (fd < 0) {
        return errno == EBUSY;
    }
    close(fd);
    return 0;
}

int vv_loop_backing(const char *path, unsigned long *rdev)
{
    struct loop_info64 info;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), err;

    if (fd < 0) {
        return -errno;
    }
    err = fstat(fd, &st) != 0 ? errno : !S_ISBLK(st.st_mode) ? ENOTBLK : 0;
    if (err) {
        close(fd);
        return -err;
    }
    err = ioctl(fd, LOOP_GET_STATUS64, &info) == 0 ? 0 : errno;
    close(fd);
    if (err) {
        return err == ENXIO ? 0 : -err; /* ENXIO: not set up */
    }
    *rdev = (unsigned long)info.lo_rdevice;
    return 1;
}

int vv_dev_claimed(const char *path, const char *devno, int plain_ok)
{
    unsigned maj, min;
    struct stat st;
    int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int err = errno;

    if (fd < 0) {
        return err == EBUSY ? 1 : -err;
    }
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return -err;
    }
    close(fd);
    if (S_ISBLK(st.st_mode)) {
        return sscanf(devno, "%u:%u", &maj, &min) == 2
            && major(st.st_rdev) == maj && minor(st.st_rdev) == min
            ? 0 : -ENOTBLK;
    }
    /* Without a block node, O_EXCL means nothing: only a simulator's
     * plain files, which answer EBUSY themselves, may stand in. */
    return plain_ok && S_ISREG(st.st_mode) ? 0 : -ENOTBLK;
}

int vv_dir_list_at(apr_pool_t *p, int dirfd, const char *path,
                   apr_array_header_t **out)
{
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *ent;

    if (!d) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        return -err;
    }
    *out = apr_array_make(p, 16, sizeof(const char *));
    while ((ent = readdir(d))) {
        if (ent->d_name[0] != '.') {
            APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, ent->d_name);
        }
    }
    closedir(d);
    return 0;
}

int vv_dir_list(apr_pool_t *p, const char *path, apr_array_header_t **out)
{
    return vv_dir_list_at(p, AT_FDCWD, path, out);
}

long vv_file_slurp(apr_pool_t *p, int dirfd, const char *path, char **out)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    size_t cap = 16384, len = 0;
    char *buf;
    ssize_t n;

    if (fd < 0) {
        return -errno;
    }
    buf = apr_palloc(p, cap);
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096) {
            char *more = apr_palloc(p, cap * 2);
            memcpy(more, buf, len);
            buf = more;
            cap *= 2;
        }
    }
    if (n < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return (long)len;
}

/* The child: one open, one write, report errno through the pipe.  It keeps
 * no descriptor of the parent's (a lock, a socket) while it may block. */
static void write_child(int report, const char *path, const char *data)
{
    size_t len = strlen(data);
    int err = 0, fd;

    close_range(3, (unsigned)report - 1, 0);
    close_range((unsigned)report + 1, ~0U, 0);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err = errno;
    }
    else {
        ssize_t n = write(fd, data, len);
        err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
        if (close(fd) != 0 && !err) {
            err = errno;
        }
    }
    if (write(report, &err, sizeof(err)) != sizeof(err)) {
        _exit(2);
    }
    _exit(0);
}

int vv_sysfs_write(const vv_host_t *h, const char *rel, const char *data,
                   int timeout_ms)
{
    char path[PATH_MAX];
    int fds[2], err = 0, rc;
    struct pollfd pfd;
    apr_time_t deadline;
    pid_t pid;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", h->sysfs, rel)
        >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -errno;
    }
    if ((pid = fork()) < 0) {
        err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    if (pid == 0) {
        close(fds[0]);
        write_child(fds[1], path, data);
    }
    close(fds[1]);
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    /* One deadline across signals; a failing poll must not fall through
     * to a read that could block as long as the write. */
    deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    do {
        apr_interval_time_t left = deadline - apr_time_now();
        rc = poll(&pfd, 1, left > 0 ? (int)apr_time_as_msec(left) : 0);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        err = errno;
        close(fds[0]);
        return -err;
    }
    if (rc == 0) {
        close(fds[0]);
        vv_log(VV_LOG_WARNING, VV_TAG(10103) "write of %s to %s still "
               "blocked after %d ms (writer pid %d left waiting)",
               data[0] == '\n' ? "a newline" : data, path, timeout_ms,
               (int)pid);
        return -ETIMEDOUT;
    }
    if (read(fds[0], &err, sizeof(err)) != sizeof(err)) {
        err = EIO;
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return -err;
}

const char *vv_sysfs_driver(apr_pool_t *p, const vv_host_t *h,
                            const char *addr)
{
    char path[PATH_MAX], target[PATH_MAX];
    ssize_t n;
    const char *base;

    snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", h->sysfs,
             addr);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return "";
    }
    target[n] = '\0';
    base = strrchr(target, '/');
    return apr_pstrdup(p, base ? base + 1 : target);
}
