/* The one place that touches the kernel's files: sysfs, /dev and the
 * /proc files we read, all under roots the configuration names (tests
 * point them at a simulator); vv_procfs.c reads the processes' tables and
 * vv_netlink.c asks rtnetlink.  Reads are safe in unprivileged workers;
 * writes belong to the privileged helper only. */
#ifndef VV_SYSFS_H
#define VV_SYSFS_H

#include "vv_addr.h"
#include "vv_err.h"

#include <apr_pools.h>
#include <apr_tables.h>
#include <stddef.h>

typedef struct vv_host {
    const char *sysfs;   /* canonical sysfs root, "/sys" on a real host */
    const char *devices; /* "<sysfs>/devices/": every device lies below */
    const char *dev;     /* "/dev" */
    const char *proc;    /* "/proc" */
} vv_host_t;

/* Canonicalises the roots; fails with a message naming the bad one. */
vv_err_t *vv_host_make(apr_pool_t *p, const char *sysfs, const char *dev,
                       const char *proc, vv_host_t **out);

/* A device resolved from a parsed address to its directory. */
typedef struct vv_sysdev {
    vv_addr_t addr;
    const char *path; /* "<sysfs>/devices/.../<addr>" */
    int fd;           /* O_PATH directory fd: vv_sysdev_close, or the pool */
    apr_pool_t *pool;
} vv_sysdev_t;

/* VV_E_NOT_FOUND when the address has no device; VV_E_INTERNAL when it
 * cannot be opened for another reason (no descriptor left).  The resolved
 * path must lie under <sysfs>/devices/ and end in the address itself. */
vv_err_t *vv_sysdev_open(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_sysdev_t **out);

/* Closes the directory now: a listing of 4,096 devices holds one at a
 * time, not 4,096 until the request ends. */
void vv_sysdev_close(vv_sysdev_t *d);

/* Reads a small attribute with its trailing newline removed.
 * Returns the length, or -errno. */
int vv_sysdev_read(const vv_sysdev_t *d, const char *attr, char *buf,
                   size_t size);

/* Reads a "0x10de" style attribute.  Returns 0 or -errno. */
int vv_sysdev_read_hex(const vv_sysdev_t *d, const char *attr,
                       unsigned *out);

/* Reads bytes of config space (non-root readers see the first 64). */
int vv_sysdev_read_config(const vv_sysdev_t *d, unsigned off,
                          unsigned char *buf, size_t n);

/* Last path component of a link attribute ("driver", "iommu_group") into
 * buf; "" when the link does not exist.  Returns 0 or -errno. */
int vv_sysdev_link_name(const vv_sysdev_t *d, const char *attr, char *buf,
                        size_t size);

int vv_sysdev_has(const vv_sysdev_t *d, const char *attr);

/* The same for a link dir/name by path ("" when it does not exist). */
int vv_link_name(const char *dir, const char *name, char *buf, size_t size);

/* Number of IOMMU groups the kernel exposes (0 when the IOMMU is off). */
int vv_host_group_count(const vv_host_t *h);

/* Whether the kernel exposes any IOMMU group: what a request that needs
 * the IOMMU asks, at the cost of one entry, not of the host's size. */
int vv_host_has_groups(const vv_host_t *h);

/* Every member of group N, canonical addresses sorted (const char *). */
vv_err_t *vv_host_group_members(apr_pool_t *p, const vv_host_t *h,
                                int group, apr_array_header_t **out);

/* Whether a path below a root exists: vv_host_has(h->dev, "vfio/vfio");
 * with rel "", whether root itself does. */
int vv_host_has(const char *root, const char *rel);

/* Reads a small text file below a root, newline removed; NULL if absent. */
const char *vv_host_read(apr_pool_t *p, const char *root, const char *rel);

/* The first entry of a directory (e.g. vfio-dev/vfio3), or NULL. */
const char *vv_dir_first_entry(apr_pool_t *p, const char *dir);

/* --- plain reads by absolute path, for the in-use checks ------------------ */

/* A small file below dirfd (AT_FDCWD for none) into buf, its last
 * component never a link, trailing white space removed.  Returns the
 * length or -errno. */
int vv_read_at(int dirfd, const char *name, char *buf, size_t size);

/* A small text file, trailing white space removed; NULL if unreadable. */
const char *vv_file_read(apr_pool_t *p, const char *path);

/* Calls fn on each line of a text file until it returns 1; returns that,
 * 0, or -errno when the file cannot be read.  Lines over 64 KiB are
 * passed over whole. */
int vv_file_lines(const char *path, int (*fn)(const char *line, void *baton),
                  void *baton);

/* The names in a directory, dot entries left out; NULL if unreadable. */
apr_array_header_t *vv_dir_names(apr_pool_t *p, const char *path);

/* What a symlink points to, or NULL. */
const char *vv_link_target(apr_pool_t *p, const char *path);

/* Whether a device node is open exclusively by someone else: an open for
 * reading and writing fails with EBUSY (how /dev/vfio/N behaves). */
int vv_dev_busy(const char *path);

/* The device number of the file a loop device reads and writes
 * (LOOP_GET_STATUS64's lo_rdevice: 0 for a regular file).  Returns 1, 0
 * when the loop device is not set up, -errno (-ENOTBLK: path is not a
 * block device). */
int vv_loop_backing(const char *path, unsigned long *rdev);

/* The kernel's own answer to "does anyone use this disk": an exclusive
 * open of its block node fails with EBUSY while a filesystem (any type),
 * swap, md, device-mapper or bcache claims it or one of its partitions.
 * Returns 1 when claimed, 0 when free, -errno when it cannot tell, and
 * -ENOTBLK when the node is not the block device numbered devno ("259:0");
 * plain_ok accepts a plain file as the node (a simulator's /dev). */
int vv_dev_claimed(const char *path, const char *devno, int plain_ok);

/* The names in a directory, dot entries left out.  Returns 0 or -errno. */
int vv_dir_list(apr_pool_t *p, const char *path, apr_array_header_t **out);

/* The same, path relative to dirfd ("." for the directory itself). */
int vv_dir_list_at(apr_pool_t *p, int dirfd, const char *path,
                   apr_array_header_t **out);

/* A whole file of any size (a process's maps), NUL-terminated, path
 * relative to dirfd (AT_FDCWD for none), its last component never a
 * symbolic link.  Returns its length or -errno. */
long vv_file_slurp(apr_pool_t *p, int dirfd, const char *path, char **out);

/* --- writes: the privileged helper only ---------------------------------- */

/* Writes data to <sysfs>/rel with a single write() on a file opened
 * without O_CREAT or O_TRUNC, in a child process, so that a write the
 * kernel blocks (a vfio unbind waiting for its user, a hung host driver)
 * cannot hold the caller past timeout_ms.  Returns 0, -errno, or -ETIMEDOUT
 * (the child stays blocked in the kernel and is reaped when it ends).
 * rel is built from validated addresses and driver names only. */
int vv_sysfs_write(const vv_host_t *h, const char *rel, const char *data,
                   int timeout_ms);

/* The current driver of a device ("" when none), read afresh. */
const char *vv_sysfs_driver(apr_pool_t *p, const vv_host_t *h,
                            const char *addr);

/* Lexically resolves "." and ".." in an absolute path; NULL if it climbs
 * above "/". */
char *vv_path_normalize(apr_pool_t *p, const char *path);

#endif
