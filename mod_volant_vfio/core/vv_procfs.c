/* Processes as procfs shows them: see vv_procfs.h. */
#include "vv_procfs.h"

#include <apr_strings.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A maps line is its header (about 73 columns) and a path of at most
 * PATH_MAX: a buffer of a few lines reads any maps file in steps. */
#define MAPS_BUF (4 * PATH_MAX)

int vv_is_procfs(const char *path)
{
    struct statfs st;

    return statfs(path, &st) == 0 && st.f_type == PROC_SUPER_MAGIC;
}

int vv_procfs_is_ours(const char *path)
{
    char self[PATH_MAX], link[32];
    ssize_t n;

    snprintf(self, sizeof(self), "%s/self", path);
    n = readlink(self, link, sizeof(link) - 1);
    if (n <= 0) {
        return 0;
    }
    link[n] = '\0';
    return atol(link) == (long)getpid();
}

int vv_proc_open(int root, const char *pid)
{
    int fd = openat(root, pid, O_PATH | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

/* The directory path below at, to read; NULL with errno set. */
static DIR *open_dir_at(int at, const char *path)
{
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);

    if (!d && fd >= 0) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return d;
}

int vv_proc_tasks(apr_pool_t *p, int piddir, apr_array_header_t **out)
{
    struct dirent *ent;
    DIR *d = open_dir_at(piddir, "task");

    if (!d) {
        return -errno;
    }
    *out = apr_array_make(p, 1, sizeof(const char *));
    while ((ent = readdir(d))) {
        if (ent->d_name[0] >= '0' && ent->d_name[0] <= '9') {
            APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, ent->d_name);
        }
    }
    closedir(d);
    return 0;
}

int vv_proc_same_files(long a, long b)
{
    long rc = syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);

    return rc < 0 ? -errno : rc == 0;
}

int vv_proc_each_fd(int at, const char *path,
                    int (*fn)(const char *target, int fddir,
                              const char *name, void *baton),
                    void *baton)
{
    DIR *d = open_dir_at(at, path);
    char target[PATH_MAX];
    struct dirent *ent;

    if (!d) {
        return -errno;
    }
    while ((ent = readdir(d))) {
        /* A descriptor closed since the listing has no link: skip it. */
        ssize_t n = ent->d_name[0] == '.' ? -1
            : readlinkat(dirfd(d), ent->d_name, target, sizeof(target) - 1);
        if (n < 0) {
            continue;
        }
        target[n] = '\0';
        if (fn(target, dirfd(d), ent->d_name, baton)) {
            break;
        }
    }
    closedir(d);
    return 0;
}

/* Past n space-separated fields of s, or NULL. */
static const char *skip_fields(const char *s, int n)
{
    while (n-- > 0) {
        if (!(s = strchr(s, ' '))) {
            return NULL;
        }
        while (*s == ' ') {
            s++;
        }
    }
    return s;
}

/* "7f0000000000-7f0000001000 rw-s 00000000 00:15 99      /path": the
 * inode (the fifth field) and the path; 0 when the line maps no file. */
static int map_line(const char *line, vv_map_t *m)
{
    const char *s = skip_fields(line, 4);
    unsigned long ino = 0;

    if (!s || *s < '0' || *s > '9') {
        return 0;
    }
    while (*s >= '0' && *s <= '9') {
        ino = ino * 10 + (unsigned long)(*s++ - '0');
    }
    while (*s == ' ') {
        s++;
    }
    m->ino = ino;
    m->path = s;
    m->line = line;
    return ino != 0;
}

int vv_map_where(const vv_map_t *m, unsigned long *dev, char *range,
                 size_t size)
{
    const char *s = skip_fields(m->line, 3);
    unsigned long start, end, maj, min;
    char *e;

    start = strtoul(m->line, &e, 16);
    if (*e != '-' || !s) {
        return -EINVAL;
    }
    end = strtoul(e + 1, NULL, 16);
    maj = strtoul(s, &e, 16);
    if (*e != ':') {
        return -EINVAL;
    }
    min = strtoul(e + 1, NULL, 16);
    *dev = (unsigned long)makedev(maj, min);
    snprintf(range, size, "%lx-%lx", start, end);
    return 0;
}

int vv_proc_threads(int piddir)
{
    struct statx st;

    if (statx(piddir, "task", AT_STATX_DONT_SYNC, STATX_NLINK, &st) != 0) {
        return -errno;
    }
    return st.stx_nlink > 2 ? (int)st.stx_nlink - 2 : 1;
}

long vv_proc_each_map(int at, const char *path,
                      int (*fn)(const vv_map_t *m, void *baton), void *baton)
{
    int fd = openat(at, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf = malloc(MAPS_BUF + 1);
    size_t have = 0;
    long lines = 0;
    int skipping = 0, stop = 0, err = 0;
    ssize_t n;

    if (fd < 0 || !buf) {
        err = fd < 0 ? errno : ENOMEM;
        if (fd >= 0) {
            close(fd);
        }
        free(buf);
        return -err;
    }
    while (!stop && (n = read(fd, buf + have, MAPS_BUF - have)) > 0) {
        char *line = buf, *nl;
        have += (size_t)n;
        buf[have] = '\0';
        while (!stop && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            vv_map_t m;
            *nl = '\0';
            if (!skipping && map_line(line, &m)) {
                stop = fn(&m, baton);
            }
            skipping = 0;
            lines++;
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        /* A line longer than the buffer: its header is what counts; what
         * is left of its path is read past. */
        if (have == MAPS_BUF) {
            vv_map_t m;
            buf[have] = '\0';
            if (!skipping && map_line(buf, &m)) {
                stop = fn(&m, baton);
            }
            skipping = 1;
            have = 0;
        }
    }
    if (n < 0 && !stop) {
        err = errno;
    }
    close(fd);
    free(buf);
    return err ? -err : lines;
}

int vv_file_id_at(int at, const char *name, vv_fileid_t *out)
{
    struct statx st;

    if (statx(at, name, AT_STATX_DONT_SYNC,
              STATX_TYPE | STATX_INO, &st) != 0) {
        return -errno;
    }
    memset(out, 0, sizeof(*out));
    out->dev = (unsigned long)makedev(st.stx_dev_major, st.stx_dev_minor);
    out->ino = (unsigned long)st.stx_ino;
    out->node = S_ISBLK(st.stx_mode) || S_ISCHR(st.stx_mode);
    out->block = S_ISBLK(st.stx_mode);
    if (out->node) {
        out->rdev = (unsigned long)makedev(st.stx_rdev_major,
                                           st.stx_rdev_minor);
    }
    return 0;
}

int vv_on_sysfs_at(int at, const char *name)
{
    int fd = openat(at, name, O_PATH | O_CLOEXEC);
    struct statfs st;
    int rc;

    if (fd < 0) {
        return -errno;
    }
    rc = fstatfs(fd, &st) == 0 ? st.f_type == SYSFS_MAGIC : -errno;
    close(fd);
    return rc;
}

unsigned long vv_ns_inode(const char *target, const char *type)
{
    size_t n = strlen(type);
    char *end;
    unsigned long ino;

    if (strncmp(target, type, n) != 0 || strncmp(target + n, ":[", 2) != 0) {
        return 0;
    }
    ino = strtoul(target + n + 2, &end, 10);
    return *end == ']' && !end[1] ? ino : 0;
}
