#include "vv_inuse.h"

#include <apr_strings.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IFF_UP_FLAG 0x1

/* /proc/net/route: "Iface Destination Gateway ..." */
static int v4_route(const char *line, void *ifname)
{
    char name[64];
    return sscanf(line, "%63s", name) == 1 && strcmp(name, ifname) == 0;
}

/* /proc/net/ipv6_route: "dst plen src plen next metric ref use flags dev";
 * link-local (fe80::/64), multicast and loopback routes exist on any
 * interface that is up and mean nothing. */
static int v6_route(const char *line, void *ifname)
{
    char dst[40], dev[64];
    unsigned plen;

    if (sscanf(line, "%32s %x %*s %*s %*s %*s %*s %*s %*s %63s", dst, &plen,
               dev) != 3 || strcmp(dev, ifname) != 0) {
        return 0;
    }
    return strncmp(dst, "fe80", 4) != 0 && strncmp(dst, "ff", 2) != 0
        && strcmp(dst, "00000000000000000000000000000001") != 0;
}

/* /proc/net/if_inet6: "addr index plen scope flags dev"; scope 0 is global. */
static int v6_global_addr(const char *line, void *ifname)
{
    char dev[64];
    unsigned scope;

    return sscanf(line, "%*s %*s %*s %x %*s %63s", &scope, dev) == 2
        && strcmp(dev, ifname) == 0 && scope == 0;
}

/* The class directory's entries (net, block) whose sysfs directory lies
 * inside the device's, at any depth: a virtio NIC keeps its interface under
 * virtio0/net/, an NVMe its disks under nvme/nvme0/.  Returns name -> dir. */
static apr_array_header_t *class_members(apr_pool_t *p, const vv_host_t *h,
                                         const char *cls,
                                         const vv_devinfo_t *d)
{
    const char *dir = apr_pstrcat(p, h->sysfs, "/class/", cls, NULL);
    const char *prefix = apr_pstrcat(p, d->path, "/", NULL);
    apr_array_header_t *names = vv_dir_names(p, dir);
    apr_array_header_t *found = apr_array_make(p, 2, sizeof(const char *));

    for (int i = 0; names && i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *target = vv_link_target(p, apr_pstrcat(p, dir, "/", name,
                                                           NULL));
        const char *real = !target ? NULL
            : vv_path_normalize(p, target[0] == '/' ? target
                                : apr_pstrcat(p, dir, "/", target, NULL));

        if (real && strncmp(real, prefix, strlen(prefix)) == 0) {
            APR_ARRAY_PUSH(found, const char *) = name;
            APR_ARRAY_PUSH(found, const char *) = real;
        }
    }
    return found;
}

static const char *net_reason(apr_pool_t *p, const vv_host_t *h,
                              const vv_devinfo_t *d)
{
    apr_array_header_t *ifs = class_members(p, h, "net", d);

    for (int i = 0; i + 1 < ifs->nelts; i += 2) {
        char *ifname = APR_ARRAY_IDX(ifs, i, char *);
        const char *dir = APR_ARRAY_IDX(ifs, i + 1, const char *);
        const char *flags = vv_file_read(p, apr_pstrcat(p, dir, "/flags",
                                                        NULL));
        if (!flags || !(strtoul(flags, NULL, 16) & IFF_UP_FLAG)) {
            continue;
        }
        if (vv_file_lines(apr_pstrcat(p, h->proc, "/net/route", NULL),
                          v4_route, ifname)
            || vv_file_lines(apr_pstrcat(p, h->proc, "/net/ipv6_route", NULL),
                             v6_route, ifname)) {
            return apr_psprintf(p, "network interface %s is up and carries "
                                "routes", ifname);
        }
        if (vv_file_lines(apr_pstrcat(p, h->proc, "/net/if_inet6", NULL),
                          v6_global_addr, ifname)) {
            return apr_psprintf(p, "network interface %s is up with a "
                                "global address", ifname);
        }
    }
    return NULL;
}

struct mount_probe {
    const char *devno; /* "259:1" */
    char where[512];
};

/* /proc/self/mountinfo: "id parent major:minor root mountpoint ..." */
static int mounted_at(const char *line, void *baton)
{
    struct mount_probe *m = baton;
    char devno[32];

    return sscanf(line, "%*s %*s %31s %*s %511s", devno, m->where) == 2
        && strcmp(devno, m->devno) == 0;
}

/* One block device (or partition): held by a stacked device, or mounted? */
static const char *block_reason(apr_pool_t *p, const vv_host_t *h,
                                const char *name, const char *dir)
{
    apr_array_header_t *holders = vv_dir_names(p, apr_pstrcat(p, dir,
                                               "/holders", NULL));
    struct mount_probe m;

    if (holders && holders->nelts) {
        return apr_psprintf(p, "block device %s is held by %s (LVM, md or "
                            "device-mapper)", name,
                            APR_ARRAY_IDX(holders, 0, const char *));
    }
    m.devno = vv_file_read(p, apr_pstrcat(p, dir, "/dev", NULL));
    if (m.devno && vv_file_lines(apr_pstrcat(p, h->proc, "/self/mountinfo",
                                             NULL), mounted_at, &m)) {
        return apr_psprintf(p, "block device %s is mounted on %s", name,
                            m.where);
    }
    return NULL;
}

/* Every block device (and partition) inside the device's directory. */
static const char *blocks_reason(apr_pool_t *p, const vv_host_t *h,
                                 const vv_devinfo_t *d)
{
    apr_array_header_t *blocks = class_members(p, h, "block", d);
    const char *why;

    for (int i = 0; i + 1 < blocks->nelts; i += 2) {
        if ((why = block_reason(p, h, APR_ARRAY_IDX(blocks, i, const char *),
                                APR_ARRAY_IDX(blocks, i + 1, const char *)))) {
            return why;
        }
    }
    return NULL;
}

static int device_minor(const char *line, void *minor)
{
    return sscanf(line, "Device Minor: %d", (int *)minor) == 1;
}

/* NVIDIA's driver says which /dev/nvidiaN each GPU is. */
static const char *nvidia_reason(apr_pool_t *p, const vv_host_t *h,
                                 const vv_devinfo_t *d)
{
    const char *info = apr_pstrcat(p, h->proc, "/driver/nvidia/gpus/",
                                   d->address, "/information", NULL);
    const char *node, *who;
    int minor = -1;

    if (!vv_file_lines(info, device_minor, &minor) || minor < 0) {
        return NULL;
    }
    node = apr_psprintf(p, "/dev/nvidia%d", minor);
    who = vv_inuse_holders(p, h, apr_pstrcat(p, h->dev, node + 4, NULL), node);
    return who ? apr_psprintf(p, "%s is open by %s", node, who) : NULL;
}

const char *vv_inuse_reason(apr_pool_t *p, const vv_host_t *h,
                            const vv_devinfo_t *d)
{
    const char *v, *why;

    v = vv_file_read(p, apr_pstrcat(p, d->path, "/boot_vga", NULL));
    if (v && strcmp(v, "1") == 0) {
        return "it is the boot VGA device (the host console runs on it)";
    }
    v = vv_file_read(p, apr_pstrcat(p, d->path, "/sriov_numvfs", NULL));
    if (v && atoi(v) > 0) {
        return apr_psprintf(p, "it is an SR-IOV physical function with %d "
                            "virtual functions, which unbinding its driver "
                            "would destroy", atoi(v));
    }
    if ((why = net_reason(p, h, d)) || (why = blocks_reason(p, h, d))
        || (why = nvidia_reason(p, h, d))) {
        return why;
    }
    return NULL;
}

const char *vv_inuse_holders(apr_pool_t *p, const vv_host_t *h,
                             const char *path, const char *alias)
{
    apr_array_header_t *pids = vv_dir_names(p, h->proc);
    const char *who = NULL;

    for (int i = 0; pids && i < pids->nelts; i++) {
        const char *pid = APR_ARRAY_IDX(pids, i, const char *);
        const char *fddir = apr_pstrcat(p, h->proc, "/", pid, "/fd", NULL);
        apr_array_header_t *fds;

        if (!isdigit((unsigned char)pid[0])
            || !(fds = vv_dir_names(p, fddir))) {
            continue;
        }
        for (int k = 0; k < fds->nelts; k++) {
            const char *t = vv_link_target(p, apr_pstrcat(p, fddir, "/",
                APR_ARRAY_IDX(fds, k, const char *), NULL));
            if (t && (strcmp(t, path) == 0 || (alias && !strcmp(t, alias)))) {
                const char *comm = vv_file_read(p, apr_pstrcat(p, h->proc,
                                                "/", pid, "/comm", NULL));
                const char *one = apr_psprintf(p, "pid %s (%s)", pid,
                                               comm ? comm : "?");
                who = who ? apr_pstrcat(p, who, ", ", one, NULL) : one;
                break;
            }
        }
    }
    return who;
}

int vv_inuse_group_open(const vv_host_t *h, int group)
{
    char path[64 + 4096];

    snprintf(path, sizeof(path), "%s/vfio/%d", h->dev, group);
    return vv_dev_busy(path);
}
