/* The files through which a process uses a device, which the process scan
 * looks for: the character nodes its driver made (DRM card and render
 * nodes, uio, NVMe controller and generic nodes, NVIDIA's /dev/nvidiaN),
 * its BARs (resourceN, which DPDK or SPDK map), and, for GET /usage, the
 * VFIO nodes a VM holds.  Disks join the list in vv_inuse_block.c. */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#define NVIDIA_MAJOR 195

static int device_minor(const char *line, void *minor)
{
    return sscanf(line, "Device Minor: %d", (int *)minor) == 1;
}

/* NVIDIA's driver names its node in procfs, not in sysfs. */
static void nvidia_node(vv_inuse_t *g)
{
    const char *info = apr_pstrcat(g->p, g->h->proc, "/driver/nvidia/gpus/",
                                   g->d->address, "/information", NULL);
    int minor = -1;
    vv_node_t *n;

    if (vv_file_lines(info, device_minor, &minor) && minor >= 0) {
        n = vv_guard_node(g, apr_psprintf(g->p, "nvidia%d", minor), NULL, 0);
        n->rdev = (unsigned long)makedev(NVIDIA_MAJOR, (unsigned)minor);
    }
}

/* resource0 .. resource5, resourceN_wc: what a process maps to drive the
 * device's BARs from user space, by the kernel's identity of each file
 * (a process's maps name a file however it likes). */
static void bars(vv_inuse_t *g)
{
    size_t n = strcmp(g->h->sysfs, "/") ? strlen(g->h->sysfs) : 0;
    apr_array_header_t *names = vv_dir_names(g->p, g->d->path);
    vv_bar_t *b = apr_array_push(g->scan.bars);

    memset(b, 0, sizeof(*b));
    b->address = g->d->address;
    /* As the kernel names the files, whatever root sysfs is read from. */
    b->prefix = apr_pstrcat(g->p, "/sys", g->d->path + n, "/resource", NULL);
    b->files = apr_array_make(g->p, 4, sizeof(vv_barfile_t));
    for (int i = 0; names && i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        vv_fileid_t id;
        vv_barfile_t *f;
        if (strncmp(name, "resource", 8) != 0
            || !isdigit((unsigned char)name[8])
            || vv_file_id_at(AT_FDCWD, apr_pstrcat(g->p, g->d->path, "/",
                                                   name, NULL), &id) != 0) {
            continue;
        }
        f = apr_array_push(b->files);
        f->name = name;
        f->dev = id.dev;
        f->ino = id.ino;
    }
}

void vv_probe_nodes(vv_inuse_t *g)
{
    static const char *const classes[] = { "drm", "uio", "nvme",
                                           "nvme-generic" };

    for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
        apr_array_header_t *m = vv_guard_class_members(g, classes[c]);
        for (int i = 0; i + 1 < m->nelts; i += 2) {
            const char *dir = APR_ARRAY_IDX(m, i + 1, const char *);
            if (vv_host_has(dir, "dev")) {
                vv_guard_node(g, APR_ARRAY_IDX(m, i, const char *), dir, 0);
            }
        }
    }
    nvidia_node(g);
    bars(g);
}

static vv_node_t *vfio_node(vv_inuse_t *g, const char *rel)
{
    vv_node_t *n = vv_guard_node(g, rel, NULL, 0);

    n->vm = 1;
    if (n->has_id && n->id.node) {
        n->rdev = n->id.rdev;
    }
    return n;
}

/* A device on VFIO is held by whoever has its group's node, or (iommufd)
 * its own device node, open: both join the one process scan.  A group's
 * node is looked for once, whichever of its members is added first. */
void vv_probe_vfio_nodes(vv_inuse_t *g, apr_hash_t *groups)
{
    const vv_devinfo_t *d = g->d;
    const char *x = d->path ? vv_dir_first_entry(g->p, apr_pstrcat(g->p,
                                                 d->path, "/vfio-dev", NULL))
                            : NULL;
    vv_node_t *n;

    if (d->group >= 0 && !apr_hash_get(groups, &d->group, sizeof(int))) {
        apr_hash_set(groups, &d->group, sizeof(int), d);
        n = vfio_node(g, apr_psprintf(g->p, "vfio/%d", d->group));
        n->group = d->group;
        n->label = apr_psprintf(g->p, "its IOMMU group %d (%s)", d->group,
                                n->path);
    }
    if (x) {
        n = vfio_node(g, apr_pstrcat(g->p, "vfio/devices/", x, NULL));
        n->label = apr_pstrcat(g->p, "its VFIO device node ", n->path, NULL);
    }
}
