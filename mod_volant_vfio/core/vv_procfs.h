/* What procfs shows of the host's processes, read for the in-use guard:
 * their threads, the open files of each distinct descriptor table, their
 * memory maps, the identity of the files both lead to, and the namespaces
 * they are in.  Part of the kernel-facing layer with vv_sysfs.c and
 * vv_netlink.c.  Any local user shapes what is read here (descriptor
 * tables, maps, names), so every read is bounded: none grows with what a
 * process chose to open or map, and none waits on a remote filesystem. */
#ifndef VV_PROCFS_H
#define VV_PROCFS_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Whether path is a procfs mount (not a simulator's tree). */
int vv_is_procfs(const char *path);

/* Whether that procfs is of this process's own PID namespace (its "self"
 * is this process): only then are its pids ones kcmp(2) understands. */
int vv_procfs_is_ours(const char *path);

/* A process's directory under procfs (root: its open directory), opened
 * once so that its files are read without walking /proc again.
 * Returns the descriptor or -errno. */
int vv_proc_open(int root, const char *pid);

/* The ids of a process's threads (its "task" directory), as strings.
 * Returns 0 or -errno. */
int vv_proc_tasks(apr_pool_t *p, int piddir, apr_array_header_t **out);

/* How many threads a process has, from its task directory's link count
 * (one stat, no listing), or -errno. */
int vv_proc_threads(int piddir);

/* kcmp(2): 1 when two tasks share one descriptor table, 0 when they do
 * not, -errno when the kernel cannot say. */
int vv_proc_same_files(long a, long b);

/* Calls fn for each open file of the fd directory path (below dirfd),
 * with the directory and the entry: fn reads the link (vv_link_text_at)
 * or stats what it leads to (vv_file_id_at) as it needs.  fn returns
 * nonzero to stop.  Returns 0 or -errno when the directory cannot be
 * listed. */
int vv_proc_each_fd(int dirfd, const char *path,
                    int (*fn)(int fddir, const char *name, void *baton),
                    void *baton);

/* The text of a link (a descriptor's "/dev/nvme0n1", "net:[4026531992]"),
 * NUL-terminated.  Returns its length or -errno (a descriptor closed
 * since the listing: -ENOENT). */
int vv_link_text_at(int dirfd, const char *name, char *buf, size_t size);

/* One file-backed mapping: its inode and path; the rest (vv_map_where)
 * only when asked, which most mappings never are. */
typedef struct vv_map {
    unsigned long ino;
    const char *path;   /* as the kernel names the file; from the text, cut
                         * short when longer than the reader's buffer */
    int path_cut;       /* the kernel could not name it (longer than
                         * PATH_MAX): path is "" */
    const char *line;   /* the maps line; NULL when the kernel was asked */
    unsigned long dev, start, end; /* when line is NULL */
} vv_map_t;

/* The mapped file's filesystem (makedev) and the mapping's name under
 * map_files/ ("7f00a000-7f00b000") into range.  0 or -EINVAL. */
int vv_map_where(const vv_map_t *m, unsigned long *dev, char *range,
                 size_t size);

/* Calls fn for each file-backed mapping of the maps file path (below
 * dirfd); fn returns nonzero to stop.  procfs: path is a real procfs's,
 * and a kernel that has PROCMAP_QUERY (6.11) is asked mapping by mapping;
 * otherwise, or on an older kernel, the text is streamed through a fixed
 * buffer.  Memory does not grow with the number of mappings or the length
 * of their paths.  Returns how many mappings (asked) or lines (read)
 * there were, 0 for a process without memory, or -errno. */
long vv_proc_each_map(int dirfd, const char *path, int procfs,
                      int (*fn)(const vv_map_t *m, void *baton), void *baton);

/* What a file is, by the kernel's identity: its filesystem and inode, and
 * for a device node its type and number. */
typedef struct vv_fileid {
    unsigned long dev, ino;
    long long ctime;    /* ns: the last change of the inode itself */
    unsigned long rdev; /* 0 unless a device node */
    int block;          /* 1 block node, 0 character node or other */
    int node;           /* a character or block device node */
} vv_fileid_t;

/* The identity of what name (below dirfd) leads to, following links (a
 * process's fd or map_files entry is the open file itself).  Never waits
 * on a hung FUSE or NFS server: cached attributes answer.  0 or -errno. */
int vv_file_id_at(int dirfd, const char *name, vv_fileid_t *out);

/* Whether what name (below dirfd) leads to lies on a sysfs: 1, 0, or
 * -errno. */
int vv_on_sysfs_at(int dirfd, const char *name);

/* The inode of a namespace link's target ("net:[4026531992]" for type
 * "net"), 0 when the target is not one. */
unsigned long vv_ns_inode(const char *target, const char *type);

#endif
