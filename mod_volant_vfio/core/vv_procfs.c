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
#include <stdint.h>
#include <sys/ioctl.h>
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
                    int (*fn)(int fddir, const char *name, void *baton),
                    void *baton)
{
    union { struct dirent64 align; char bytes[8192]; } buf;
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), stop = 0;
    long n;

    if (fd < 0) {
        return -errno;
    }
    /* getdents64 straight: a DIR stream costs two more system calls per
     * table, and there is one table per process. */
    while (!stop && (n = syscall(SYS_getdents64, fd, buf.bytes,
                                 sizeof(buf.bytes))) > 0) {
        for (long off = 0; off < n && !stop;) {
            const struct dirent64 *e = (const void *)(buf.bytes + off);
            if (e->d_name[0] != '.') {
                stop = fn(fd, e->d_name, baton);
            }
            off += e->d_reclen;
        }
    }
    if (n < 0 && !stop) {
        n = -errno;
        close(fd);
        return (int)n;
    }
    close(fd);
    return 0;
}

int vv_link_text_at(int at, const char *name, char *buf, size_t size)
{
    ssize_t n = readlinkat(at, name, buf, size - 1);

    if (n < 0) {
        return -errno;
    }
    buf[n] = '\0';
    return (int)n;
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
    m->path_cut = 0;
    m->line = line;
    return ino != 0;
}

int vv_map_where(const vv_map_t *m, unsigned long *dev, char *range,
                 size_t size)
{
    const char *s;
    unsigned long start, end, maj, min;
    char *e;

    if (!m->line) { /* asked of the kernel: known already */
        *dev = m->dev;
        snprintf(range, size, "%lx-%lx", m->start, m->end);
        return 0;
    }
    s = skip_fields(m->line, 3);
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

/* The maps file's text, through a fixed buffer. */
static long read_maps(int fd, int (*fn)(const vv_map_t *m, void *baton),
                      void *baton)
{
    char *buf = malloc(MAPS_BUF + 1);
    size_t have = 0;
    long lines = 0;
    int skipping = 0, stop = 0, err = 0;
    ssize_t n;

    if (!buf) {
        return -ENOMEM;
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
    free(buf);
    return err ? -err : lines;
}

/* PROCMAP_QUERY (Linux 6.11), the kernel's ABI as linux/fs.h spells it
 * (older headers lack it): one mapping per ioctl on the maps file, with its
 * inode, filesystem and name, and none of the text a read of maps costs
 * (every path escaped character by character, every number formatted) nor
 * its parsing. */
struct vv_procmap_query {
    uint64_t size;
    uint64_t query_flags;
    uint64_t query_addr;
    uint64_t vma_start;
    uint64_t vma_end;
    uint64_t vma_flags;
    uint64_t vma_page_size;
    uint64_t vma_offset;
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    uint32_t vma_name_size;
    uint32_t build_id_size;
    uint64_t vma_name_addr;
    uint64_t build_id_addr;
};

#define VV_PROCMAP_QUERY _IOWR('f', 17, struct vv_procmap_query)
#define VV_QUERY_COVERING_OR_NEXT_VMA 0x10
#define VV_QUERY_FILE_BACKED_VMA 0x20

/* Cleared when the kernel answers that it has no such request. */
static int query_works = 1;

static int ask(int fd, uint64_t addr, char *name, struct vv_procmap_query *q)
{
    memset(q, 0, sizeof(*q));
    q->size = sizeof(*q);
    q->query_flags = VV_QUERY_COVERING_OR_NEXT_VMA | VV_QUERY_FILE_BACKED_VMA;
    q->query_addr = addr;
    if (name) {
        q->vma_name_addr = (uint64_t)(uintptr_t)name;
        q->vma_name_size = PATH_MAX;
    }
    return ioctl(fd, VV_PROCMAP_QUERY, q) == 0 ? 0 : -errno;
}

/* Each file-backed mapping, asked of the kernel.  Returns how many there
 * were, -ENOTTY when the kernel will not be asked for this file (the
 * caller reads the text), or -errno. */
static long query_maps(int fd, int (*fn)(const vv_map_t *m, void *baton),
                       void *baton)
{
    char *name = malloc(PATH_MAX);
    struct vv_procmap_query q;
    uint64_t addr = 0;
    long n = 0;
    int rc, stop = 0;

    if (!name) {
        return -ENOMEM;
    }
    while (!stop) {
        vv_map_t m = { 0 };
        if ((rc = ask(fd, addr, name, &q)) == -ENAMETOOLONG) {
            /* A name longer than PATH_MAX: the mapping without it.  Its
             * inode and filesystem still say what it is; the caller
             * resolves the file itself where the name would have
             * counted. */
            m.path_cut = 1;
            rc = ask(fd, addr, NULL, &q);
        }
        if (rc == -ENOENT || rc == -ESRCH) {
            break; /* past the last; or no memory (an exited leader) */
        }
        if (rc != 0) {
            /* The first answer decides: a kernel without the request
             * (ENOTTY) is not asked again; one that refuses it for this
             * file (a security module's ioctl policy) has its text read. */
            if (n == 0) {
                if (rc == -ENOTTY || rc == -EINVAL) {
                    __atomic_store_n(&query_works, 0, __ATOMIC_RELAXED);
                }
                rc = -ENOTTY;
            }
            free(name);
            return rc;
        }
        n++;
        if (q.inode) {
            m.ino = (unsigned long)q.inode;
            m.path = m.path_cut ? "" : name;
            m.dev = (unsigned long)makedev(q.dev_major, q.dev_minor);
            m.start = (unsigned long)q.vma_start;
            m.end = (unsigned long)q.vma_end;
            stop = fn(&m, baton);
        }
        if (q.vma_end <= addr) {
            break;
        }
        addr = q.vma_end;
    }
    free(name);
    return n;
}

long vv_proc_each_map(int at, const char *path, int procfs,
                      int (*fn)(const vv_map_t *m, void *baton), void *baton)
{
    int fd = openat(at, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    long n = -ENOTTY;

    if (fd < 0) {
        return -errno;
    }
    if (procfs && __atomic_load_n(&query_works, __ATOMIC_RELAXED)) {
        n = query_maps(fd, fn, baton);
    }
    if (n == -ENOTTY) {
        n = read_maps(fd, fn, baton);
    }
    close(fd);
    return n;
}

int vv_file_id_at(int at, const char *name, vv_fileid_t *out)
{
    struct statx st;

    if (statx(at, name, AT_STATX_DONT_SYNC,
              STATX_TYPE | STATX_INO | STATX_CTIME, &st) != 0) {
        return -errno;
    }
    memset(out, 0, sizeof(*out));
    out->dev = (unsigned long)makedev(st.stx_dev_major, st.stx_dev_minor);
    out->ino = (unsigned long)st.stx_ino;
    out->ctime = (long long)st.stx_ctime.tv_sec * 1000000000LL
                 + st.stx_ctime.tv_nsec;
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
