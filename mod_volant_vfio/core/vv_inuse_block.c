/* Disks and partitions of the device: what holds them.  First what the
 * kernel lists, for every disk of the device (holders: LVM, md,
 * device-mapper; mounts; the members of a mounted btrfs; swap; loop
 * devices reading them; the NVMe-oF target exporting them), then, for a
 * bind under the lock, the kernel's own answer: an exclusive open of each
 * node (EBUSY while any claim holds it: a mount in another namespace, ZFS,
 * bcache).  Their nodes join the process scan. */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* One disk or partition of the device. */
typedef struct disk {
    const char *name; /* "nvme0n1p1" */
    const char *dir;  /* its sysfs directory */
    const char *devno; /* "259:1" */
    const char *path;  /* "/dev/nvme0n1p1" */
    const char *alias; /* its node under DevRoot */
    unsigned long rdev;
} disk_t;

typedef struct mount_probe {
    const disk_t *d;
    char where[4096];
} mount_probe_t;

/* Filesystems whose superblock has an anonymous device number (0:NN):
 * mountinfo names their disk only in its source field, which the kernel
 * itself fills for these.  Any other source is text the mounter chose (a
 * FUSE filesystem may call itself /dev/nvme0n1): never trusted. */
static int source_is_the_kernels(const char *fstype)
{
    return strcmp(fstype, "btrfs") == 0 || strcmp(fstype, "bcachefs") == 0;
}

/* /proc/self/mountinfo: "id parent MAJ:MIN root mountpoint opts [tags] -
 * fstype source superopts". */
static int mounted_at(const char *line, void *baton)
{
    mount_probe_t *m = baton;
    const char *dash = strstr(line, " - ");
    char devno[32], fstype[64], source[4096];

    if (sscanf(line, "%*s %*s %31s %*s %4095s", devno, m->where) != 2) {
        return 0;
    }
    if (strcmp(devno, m->d->devno) == 0) {
        return 1;
    }
    return dash && sscanf(dash + 3, "%63s %4095s", fstype, source) == 2
        && source_is_the_kernels(fstype)
        && strcmp(source, m->d->path) == 0;
}

/* /proc/swaps: "Filename Type Size Used Priority". */
static int swap_on(const char *line, void *path)
{
    char name[4096];

    return sscanf(line, "%4095s", name) == 1 && strcmp(name, path) == 0;
}

/* A member of a mounted btrfs, which mountinfo names by one member only:
 * /sys/fs/btrfs/FSID/devices/ lists them all while it is mounted. */
static const char *btrfs_member(vv_inuse_t *g, const disk_t *d)
{
    const char *root = apr_pstrcat(g->p, g->h->sysfs, "/fs/btrfs", NULL);
    apr_array_header_t *fs = vv_dir_names(g->p, root);

    for (int i = 0; fs && i < fs->nelts; i++) {
        const char *id = APR_ARRAY_IDX(fs, i, const char *);
        if (vv_host_has(root, apr_pstrcat(g->p, id, "/devices/", d->name,
                                          NULL))) {
            return apr_psprintf(g->p, "block device %s is part of the mounted "
                                "btrfs filesystem %s", d->name, id);
        }
    }
    return NULL;
}

/* Loop devices reading the disk hold it open with no holder link.  On a
 * real /dev the kernel says which device each one reads; a simulator's
 * plain files have only the name it shows. */
static const char *loop_over(vv_inuse_t *g, const disk_t *d)
{
    const char *blocks = apr_pstrcat(g->p, g->h->sysfs, "/block", NULL);
    apr_array_header_t *all = vv_dir_names(g->p, blocks);

    for (int i = 0; all && i < all->nelts; i++) {
        const char *loop = APR_ARRAY_IDX(all, i, const char *);
        const char *file = strncmp(loop, "loop", 4) ? NULL
            : vv_file_read(g->p, apr_pstrcat(g->p, blocks, "/", loop,
                                             "/loop/backing_file", NULL));
        unsigned long rdev = 0;
        int rc;
        if (!file) {
            continue;
        }
        rc = vv_loop_backing(apr_pstrcat(g->p, g->h->dev, "/", loop, NULL),
                             &rdev);
        if (rc == -ENOTBLK && g->scan.real_proc == 0) {
            rc = strcmp(file, d->path) == 0;
            rdev = rc ? d->rdev : 0;
        }
        if (rc < 0) {
            return vv_guard_cannot(g, apr_psprintf(g->p, "cannot tell which "
                                   "disk loop device %s reads: %s", loop,
                                   strerror(-rc)));
        }
        if (rc == 1 && rdev && rdev == d->rdev) {
            return apr_psprintf(g->p, "block device %s is the backing device "
                                "of loop device %s", d->name, loop);
        }
    }
    return NULL;
}

/* An NVMe-oF target namespace exports a disk it opened without a claim
 * (configfs: nvmet/subsystems/NQN/namespaces/N/{device_path,enable}). */
static const char *nvmet_export(vv_inuse_t *g, const disk_t *d)
{
    const char *cfg = apr_pstrcat(g->p, g->h->sysfs,
                                  "/kernel/config/nvmet/subsystems", NULL);
    apr_array_header_t *subs = vv_dir_names(g->p, cfg);

    if (!subs) {
        return vv_host_has(g->h->sysfs, "module/nvmet")
            ? vv_guard_cannot(g, apr_psprintf(g->p, "the NVMe-oF target "
                              "(nvmet) is loaded but %s cannot be read "
                              "(mount configfs on /sys/kernel/config)", cfg))
            : NULL;
    }
    for (int i = 0; i < subs->nelts; i++) {
        const char *nqn = APR_ARRAY_IDX(subs, i, const char *);
        const char *dir = apr_pstrcat(g->p, cfg, "/", nqn, "/namespaces",
                                      NULL);
        apr_array_header_t *nss = vv_dir_names(g->p, dir);
        for (int k = 0; nss && k < nss->nelts; k++) {
            const char *ns = apr_pstrcat(g->p, dir, "/", APR_ARRAY_IDX(nss, k,
                                         const char *), NULL);
            const char *on = vv_file_read(g->p, apr_pstrcat(g->p, ns,
                                                            "/enable", NULL));
            const char *path = vv_file_read(g->p, apr_pstrcat(g->p, ns,
                                            "/device_path", NULL));
            vv_fileid_t id;
            int same = path && (vv_file_id_at(AT_FDCWD, path, &id) == 0
                                && id.node ? id.block
                                             && id.rdev == d->rdev
                                           : strcmp(path, d->path) == 0);
            if (on && strcmp(on, "1") == 0 && same) {
                return apr_psprintf(g->p, "block device %s is exported by the "
                                    "NVMe-oF target (subsystem %s, namespace "
                                    "%s)", d->name, nqn,
                                    APR_ARRAY_IDX(nss, k, const char *));
            }
        }
    }
    return NULL;
}

/* What the kernel's listings say holds one disk or partition. */
static const char *listed(vv_inuse_t *g, const disk_t *d)
{
    apr_pool_t *p = g->p;
    apr_array_header_t *holders = vv_dir_names(p, apr_pstrcat(p, d->dir,
                                                "/holders", NULL));
    mount_probe_t *m = apr_pcalloc(p, sizeof(*m));
    const char *why;
    int rc;

    if (holders && holders->nelts) {
        return apr_psprintf(p, "block device %s is held by %s (LVM, md or "
                            "device-mapper)", d->name,
                            APR_ARRAY_IDX(holders, 0, const char *));
    }
    m->d = d;
    rc = vv_file_lines(apr_pstrcat(p, g->h->proc, "/self/mountinfo", NULL),
                       mounted_at, m);
    if (rc < 0) {
        return vv_guard_cannot(g, apr_psprintf(p, "cannot read %s/self/"
                               "mountinfo: %s", g->h->proc, strerror(-rc)));
    }
    if (rc) {
        return apr_psprintf(p, "block device %s is mounted on %s", d->name,
                            m->where);
    }
    rc = vv_file_lines(apr_pstrcat(p, g->h->proc, "/swaps", NULL), swap_on,
                       (void *)d->path);
    if (rc < 0 && rc != -ENOENT) {
        return vv_guard_cannot(g, apr_psprintf(p, "cannot read %s/swaps: %s",
                                               g->h->proc, strerror(-rc)));
    }
    if (rc > 0) {
        return apr_psprintf(p, "block device %s is in use as swap", d->name);
    }
    if ((why = btrfs_member(g, d)) || (why = loop_over(g, d)) || g->cannot) {
        return why;
    }
    return nvmet_export(g, d);
}

/* The kernel's own answer for what the listings do not name (a mount in
 * another namespace, bcache, ZFS, an O_EXCL open).  The open is itself a
 * claim while it lasts: a bind asks it under the lock, a survey never. */
static const char *claimed(vv_inuse_t *g, const disk_t *d)
{
    apr_pool_t *p = g->p;
    const char *node = d->alias;
    int rc = vv_dev_claimed(node, d->devno, strcmp(g->h->dev, "/dev") != 0);

    if (rc == 1) {
        return apr_psprintf(p, "block device %s is claimed by the kernel (an "
                            "exclusive open is refused)", d->name);
    }
    if (rc == -ENOENT) {
        return vv_guard_cannot(g, apr_psprintf(p, "no device node %s for "
                                               "block device %s", node,
                                               d->name));
    }
    if (rc < 0) {
        return vv_guard_cannot(g, apr_psprintf(p, "cannot open %s "
                               "exclusively: %s", node, rc == -ENOTBLK
                               ? "it is not that block device"
                               : strerror(-rc)));
    }
    return NULL;
}

/* The listings first for every disk and partition: a disk's exclusive
 * open fails while any of its partitions is claimed, and the partition's
 * mount says more than the disk's claim. */
const char *vv_probe_blocks(vv_inuse_t *g)
{
    apr_array_header_t *blocks = vv_guard_class_members(g, "block");
    int n = blocks->nelts / 2;
    disk_t *disks = apr_pcalloc(g->p, sizeof(*disks) * (size_t)(n ? n : 1));
    const char *why = NULL;
    const vv_node_t *node;

    for (int i = 0; i < n; i++) {
        disks[i].name = APR_ARRAY_IDX(blocks, 2 * i, const char *);
        disks[i].dir = APR_ARRAY_IDX(blocks, 2 * i + 1, const char *);
        disks[i].devno = vv_file_read(g->p, apr_pstrcat(g->p, disks[i].dir,
                                                        "/dev", NULL));
        node = vv_guard_node(g, disks[i].name, disks[i].dir, 1);
        disks[i].path = node->path;
        disks[i].alias = node->alias;
        disks[i].rdev = node->rdev;
        if (!disks[i].devno) {
            return vv_guard_cannot(g, apr_psprintf(g->p, "cannot read the "
                                   "device number of block device %s",
                                   disks[i].name));
        }
    }
    for (int i = 0; i < n && !why && !g->cannot; i++) {
        why = listed(g, &disks[i]);
    }
    for (int i = 0; i < n && !g->opts.no_claims && !why && !g->cannot; i++) {
        why = claimed(g, &disks[i]);
    }
    return why;
}
