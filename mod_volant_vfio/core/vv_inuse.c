#include "vv_inuse.h"
#include "vv_netlink.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define NETLINK_TIMEOUT_MS 2000
#define NVIDIA_MAJOR 195

/* The guard over the devices of one bind: the checks each device needs
 * alone, then one pass over every process for all of them (the pass is
 * what costs: a /proc walk reading each process's fds and maps). */
struct vv_inuse {
    apr_pool_t *p;
    const vv_host_t *h;
    const vv_devinfo_t *d;    /* the device being added */
    vv_nl_snapshot_t *nl;     /* taken once, when a device has interfaces */
    apr_array_header_t *nodes; /* node_t of every device */
    apr_array_header_t *bars; /* bar_t of every device */
    apr_hash_t *classes;      /* class name -> its entries, read once */
    int real_proc;            /* ProcRoot is a procfs: its fd links lead to
                               * the open files themselves */
    const char *cannot;       /* set when a check could not be made */
    const char *cannot_addr;
};
typedef struct vv_inuse guard_t;

/* A device's BAR files as a process's maps name them. */
typedef struct bar {
    const char *address;
    const char *prefix; /* "/sys/devices/.../ADDR/resource" */
    const char *file;   /* "resource0", filled by the scan */
    const char *who;
} bar_t;

/* A device node of a device, as processes name it. */
typedef struct node {
    const char *address; /* the device's */
    const char *label;  /* "block device nvme0n1", "/dev/dri/card0" */
    const char *path;   /* "/dev/nvme0n1" */
    const char *alias;  /* the same node under DevRoot, or NULL */
    unsigned long rdev; /* 0 when unknown */
    int block;
    int vm;             /* a VFIO node: open means a VM holds the device */
    int group;          /* a group's VFIO node: its IOMMU group, else -1 */
    const char *who;    /* "pid 42 (qemu)", filled by the scan */
} node_t;

static const char *cannot(guard_t *g, const char *why)
{
    if (!g->cannot) {
        g->cannot = why;
        g->cannot_addr = g->d->address;
    }
    return NULL;
}

/* Every entry of a class directory with the directory it resolves to,
 * read once per guard: a bind of 256 devices reads /sys/class/block once,
 * not 256 times.  Returns name, dir pairs. */
static const apr_array_header_t *class_dir(guard_t *g, const char *cls)
{
    apr_pool_t *p = g->p;
    apr_array_header_t *all = apr_hash_get(g->classes, cls,
                                           APR_HASH_KEY_STRING);
    const char *dir = apr_pstrcat(p, g->h->sysfs, "/class/", cls, NULL);
    apr_array_header_t *names;

    if (all) {
        return all;
    }
    all = apr_array_make(p, 8, sizeof(const char *));
    names = vv_dir_names(p, dir);
    for (int i = 0; names && i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *target = vv_link_target(p, apr_pstrcat(p, dir, "/", name,
                                                           NULL));
        const char *real = !target ? NULL
            : vv_path_normalize(p, target[0] == '/' ? target
                                : apr_pstrcat(p, dir, "/", target, NULL));
        if (real) {
            APR_ARRAY_PUSH(all, const char *) = name;
            APR_ARRAY_PUSH(all, const char *) = real;
        }
    }
    apr_hash_set(g->classes, cls, APR_HASH_KEY_STRING, all);
    return all;
}

/* The class directory's entries (net, block, drm, ...) whose sysfs
 * directory lies inside the device's, at any depth: a virtio NIC keeps its
 * interface under virtio0/net/, an NVMe its disks under nvme/nvme0/.
 * Returns name, dir pairs. */
static apr_array_header_t *class_members(guard_t *g, const char *cls)
{
    const apr_array_header_t *all = class_dir(g, cls);
    const char *prefix = apr_pstrcat(g->p, g->d->path, "/", NULL);
    size_t n = strlen(prefix);
    apr_array_header_t *found = apr_array_make(g->p, 2, sizeof(const char *));

    for (int i = 0; i + 1 < all->nelts; i += 2) {
        if (strncmp(APR_ARRAY_IDX(all, i + 1, const char *), prefix, n) == 0) {
            APR_ARRAY_PUSH(found, const char *) = APR_ARRAY_IDX(all, i,
                                                                const char *);
            APR_ARRAY_PUSH(found, const char *) = APR_ARRAY_IDX(all, i + 1,
                                                                const char *);
        }
    }
    return found;
}

/* ---- network ------------------------------------------------------------ */

/* One step of the walk from the device's interface to what carries the
 * host's traffic: how this link stands to the one it was reached from. */
typedef struct hop {
    const vv_nl_link_t *l;
    int from;
    const char *how; /* "is a port of bridge vmbr0" */
} hop_t;

static const char *master_words(apr_pool_t *p, const vv_nl_link_t *m)
{
    static const struct { const char *kind, *words; } w[] = {
        { "bridge", "is a port of bridge" },
        { "bond", "is a slave of bond" },
        { "team", "is a port of team" },
        { "openvswitch", "is a port of Open vSwitch datapath" },
    };

    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        if (strcmp(m->kind, w[i].kind) == 0) {
            return apr_psprintf(p, "%s %s", w[i].words, m->name);
        }
    }
    return apr_psprintf(p, "is enslaved to %s%s%s", m->kind,
                        *m->kind ? " " : "", m->name);
}

static const char *upper_words(apr_pool_t *p, const vv_nl_link_t *u)
{
    return *u->kind ? apr_psprintf(p, "is the parent of %s %s", u->kind,
                                   u->name)
                    : apr_psprintf(p, "is the lower device of %s", u->name);
}

static void push(apr_array_header_t *q, const vv_nl_link_t *l, int from,
                 const char *how)
{
    hop_t *h;

    for (int i = 0; i < q->nelts; i++) {
        if (APR_ARRAY_IDX(q, i, hop_t).l->index == l->index) {
            return;
        }
    }
    h = apr_array_push(q);
    h->l = l;
    h->from = from;
    h->how = how;
}

/* A link sysfs names that netlink does not know is a snapshot taken while
 * the host changed: no answer from it. */
static const vv_nl_link_t *named(guard_t *g, const vv_nl_snapshot_t *s,
                                 const char *name)
{
    const vv_nl_link_t *l = vv_nl_by_name(s, name);

    if (!l) {
        cannot(g, apr_psprintf(g->p, "network interface %s is in sysfs but "
                               "not in the helper's network namespace",
                               name));
    }
    return l;
}

/* What sits above l, as the kernel links it in sysfs and in rtnetlink:
 * its master (bridge, bond, team, OVS datapath), its uppers (VLAN,
 * macvlan, ipvlan) and, from an OVS datapath, its internal ports. */
static void walk_from(guard_t *g, const vv_nl_snapshot_t *s,
                      apr_array_header_t *q, int i)
{
    const vv_nl_link_t *l = APR_ARRAY_IDX(q, i, hop_t).l, *m;
    const char *dir = apr_pstrcat(g->p, g->h->sysfs, "/class/net/", l->name,
                                  NULL);
    const char *t = vv_link_target(g->p, apr_pstrcat(g->p, dir, "/master",
                                                     NULL));
    apr_array_header_t *names = vv_dir_names(g->p, dir);

    if ((m = l->master ? vv_nl_by_index(s, l->master) : NULL)
        || (t && (m = named(g, s, strrchr(t, '/') ? strrchr(t, '/') + 1
                                                  : t)))) {
        push(q, m, i, master_words(g->p, m));
    }
    for (int k = 0; names && k < names->nelts; k++) {
        const char *n = APR_ARRAY_IDX(names, k, const char *);
        if (strncmp(n, "upper_", 6) == 0 && (m = named(g, s, n + 6))) {
            push(q, m, i, upper_words(g->p, m));
        }
    }
    for (int k = 0; k < s->links->nelts; k++) {
        const vv_nl_link_t *u = &APR_ARRAY_IDX(s->links, k, vv_nl_link_t);
        if (u->lower == l->index) {
            push(q, u, i, upper_words(g->p, u));
        }
        else if (u->master == l->index && !l->master
                 && strcmp(l->kind, "openvswitch") == 0
                 && strcmp(u->kind, "openvswitch") == 0) {
            push(q, u, i, apr_psprintf(g->p, "has the internal port %s",
                                       u->name));
        }
    }
}

static const char *chain_text(apr_pool_t *p, const apr_array_header_t *q,
                              int i)
{
    const hop_t *h = &APR_ARRAY_IDX(q, i, hop_t);
    const char *text = apr_pstrcat(p, "which carries ", h->l->carries, NULL);
    const char *sep = ", ";

    for (; h->from >= 0; h = &APR_ARRAY_IDX(q, h->from, hop_t)) {
        text = apr_pstrcat(p, h->how, sep, text, NULL);
        sep = ", which ";
    }
    return apr_pstrcat(p, "network interface ", h->l->name, " ", text, NULL);
}

static int carries(const vv_nl_link_t *l)
{
    return (l->flags & IFF_UP) && l->carries;
}

/* Breadth first from the interface: the shortest chain to a carrier. */
static const char *iface_reason(guard_t *g, const vv_nl_snapshot_t *s,
                                const vv_nl_link_t *start)
{
    apr_array_header_t *q = apr_array_make(g->p, 8, sizeof(hop_t));

    if (carries(start)) {
        return apr_psprintf(g->p, "network interface %s is up and carries %s",
                            start->name, start->carries);
    }
    push(q, start, -1, NULL);
    for (int i = 0; i < q->nelts && !g->cannot; i++) {
        if (i > 0 && carries(APR_ARRAY_IDX(q, i, hop_t).l)) {
            return chain_text(g->p, q, i);
        }
        walk_from(g, s, q, i);
    }
    return NULL;
}

static const char *net_reason(guard_t *g)
{
    apr_array_header_t *ifs = class_members(g, "net");
    vv_nl_snapshot_t *s = g->nl;
    vv_err_t *e;

    if (!ifs->nelts) {
        return NULL;
    }
    if (!s && (e = vv_nl_snapshot(g->p, NETLINK_TIMEOUT_MS, &g->nl))) {
        return cannot(g, e->msg);
    }
    s = g->nl;
    for (int i = 0; i + 1 < ifs->nelts && !g->cannot; i += 2) {
        const vv_nl_link_t *l = named(g, s, APR_ARRAY_IDX(ifs, i, char *));
        const char *why = l ? iface_reason(g, s, l) : NULL;
        if (why) {
            return why;
        }
    }
    return NULL;
}

/* ---- disks and device nodes --------------------------------------------- */

/* The node's name below /dev, from the kernel's uevent (DEVNAME=dri/card0);
 * the sysfs name when the kernel does not say. */
static const char *devname(apr_pool_t *p, const char *dir, const char *name)
{
    const char *u = vv_file_read(p, apr_pstrcat(p, dir, "/uevent", NULL));
    const char *v = u ? strstr(u, "DEVNAME=") : NULL;
    size_t n;

    if (!v || (v != u && v[-1] != '\n')) {
        return name;
    }
    v += 8;
    n = strcspn(v, "\n");
    v = apr_pstrmemdup(p, v, n);
    return n && v[0] != '/' && !strstr(v, "..") ? v : name;
}

static node_t *add_node(guard_t *g, apr_array_header_t *nodes,
                        const char *name, const char *dir, int block)
{
    node_t *n = apr_array_push(nodes);
    const char *num = vv_file_read(g->p, apr_pstrcat(g->p, dir, "/dev",
                                                     NULL));
    unsigned maj, min;

    memset(n, 0, sizeof(*n));
    n->address = g->d->address;
    n->group = -1;
    n->path = apr_pstrcat(g->p, "/dev/", devname(g->p, dir, name), NULL);
    n->label = block ? apr_pstrcat(g->p, "block device ", name, NULL)
                     : n->path;
    n->block = block;
    if (num && sscanf(num, "%u:%u", &maj, &min) == 2) {
        n->rdev = (unsigned long)makedev(maj, min);
    }
    return n;
}

typedef struct mount_probe {
    const char *devno;  /* "259:1" */
    const char *source; /* "/dev/nvme0n1p1" */
    char where[512];
} mount_probe_t;

/* /proc/self/mountinfo: "id parent MAJ:MIN root mountpoint opts [tags] -
 * fstype source superopts".  btrfs and ZFS show an anonymous 0:NN there:
 * the source names their disk. */
static int mounted_at(const char *line, void *baton)
{
    mount_probe_t *m = baton;
    const char *dash = strstr(line, " - ");
    char devno[32], fstype[64], source[512];

    if (sscanf(line, "%*s %*s %31s %*s %511s", devno, m->where) != 2) {
        return 0;
    }
    if (strcmp(devno, m->devno) == 0) {
        return 1;
    }
    return dash && sscanf(dash + 3, "%63s %511s", fstype, source) == 2
        && strcmp(source, m->source) == 0;
}

/* /proc/swaps: "Filename Type Size Used Priority". */
static int swap_on(const char *line, void *path)
{
    char name[512];

    return sscanf(line, "%511s", name) == 1 && strcmp(name, path) == 0;
}

/* One disk or partition: what the kernel's listings say holds it. */
static const char *block_named(guard_t *g, const char *name,
                               const node_t *n, const char *dir)
{
    apr_pool_t *p = g->p;
    apr_array_header_t *holders = vv_dir_names(p, apr_pstrcat(p, dir,
                                                "/holders", NULL));
    mount_probe_t m = { vv_file_read(p, apr_pstrcat(p, dir, "/dev", NULL)),
                        n->path, "" };

    if (holders && holders->nelts) {
        return apr_psprintf(p, "block device %s is held by %s (LVM, md or "
                            "device-mapper)", name,
                            APR_ARRAY_IDX(holders, 0, const char *));
    }
    if (!m.devno) {
        return cannot(g, apr_psprintf(p, "cannot read the device number of "
                                      "block device %s", name));
    }
    if (vv_file_lines(apr_pstrcat(p, g->h->proc, "/self/mountinfo", NULL),
                      mounted_at, &m)) {
        return apr_psprintf(p, "block device %s is mounted on %s", name,
                            m.where);
    }
    if (vv_file_lines(apr_pstrcat(p, g->h->proc, "/swaps", NULL), swap_on,
                      (void *)n->path)) {
        return apr_psprintf(p, "block device %s is in use as swap", name);
    }
    return NULL;
}

/* The kernel's own answer for what the listings do not name (a mount in
 * another namespace, bcache, ZFS, an O_EXCL open). */
static const char *block_claimed(guard_t *g, const char *name,
                                 const node_t *n, const char *dir)
{
    apr_pool_t *p = g->p;
    const char *node = apr_pstrcat(p, g->h->dev, n->path + 4, NULL);
    const char *devno = vv_file_read(p, apr_pstrcat(p, dir, "/dev", NULL));
    int rc = vv_dev_claimed(node, devno ? devno : "",
                            strcmp(g->h->dev, "/dev") != 0);

    if (rc == 1) {
        return apr_psprintf(p, "block device %s is claimed by the kernel (an "
                            "exclusive open is refused)", name);
    }
    if (rc == -ENOENT) {
        return cannot(g, apr_psprintf(p, "no device node %s for block "
                                      "device %s", node, name));
    }
    if (rc < 0) {
        return cannot(g, apr_psprintf(p, "cannot open %s exclusively: %s",
                                      node, rc == -ENOTBLK
                                      ? "it is not that block device"
                                      : strerror(-rc)));
    }
    return NULL;
}

/* Every disk and partition of the device, the listings first for all of
 * them: a disk's exclusive open fails while any of its partitions is
 * claimed, and the partition's mount says more than the disk's claim. */
static const char *blocks_reason(guard_t *g, apr_array_header_t *nodes)
{
    apr_array_header_t *blocks = class_members(g, "block");
    int first = nodes->nelts;
    const char *why = NULL;

    for (int i = 0; i + 1 < blocks->nelts; i += 2) {
        add_node(g, nodes, APR_ARRAY_IDX(blocks, i, const char *),
                 APR_ARRAY_IDX(blocks, i + 1, const char *), 1);
    }
    for (int pass = 0; pass < 2 && !why && !g->cannot; pass++) {
        for (int i = 0; i + 1 < blocks->nelts && !why && !g->cannot; i += 2) {
            const char *name = APR_ARRAY_IDX(blocks, i, const char *);
            const char *dir = APR_ARRAY_IDX(blocks, i + 1, const char *);
            const node_t *n = &APR_ARRAY_IDX(nodes, first + i / 2, node_t);
            why = (pass ? block_claimed : block_named)(g, name, n, dir);
        }
    }
    return why;
}

/* The framebuffer console draws on the device: unbinding its driver takes
 * the host's console (and on some drivers hangs in fbcon).  fbcon maps
 * every console to the first framebuffer unless fbcon=map: says
 * otherwise; then any of the device's may carry one. */
static const char *fbcon_reason(guard_t *g, apr_array_header_t *nodes)
{
    apr_array_header_t *fbs = class_members(g, "graphics");
    const char *vt = apr_pstrcat(g->p, g->h->sysfs, "/class/vtconsole", NULL);
    const char *cmdline = vv_file_read(g->p, apr_pstrcat(g->p, g->h->proc,
                                                         "/cmdline", NULL));
    int mapped = cmdline && strstr(cmdline, "fbcon=map:") != NULL;
    apr_array_header_t *cons;
    const char *fb = NULL;

    for (int i = 0; i + 1 < fbs->nelts; i += 2) {
        const char *name = APR_ARRAY_IDX(fbs, i, const char *);
        add_node(g, nodes, name, APR_ARRAY_IDX(fbs, i + 1, const char *), 0);
        if (!fb && (mapped || strcmp(name, "fb0") == 0)) {
            fb = name;
        }
    }
    cons = fb ? vv_dir_names(g->p, vt) : NULL;
    for (int i = 0; cons && i < cons->nelts; i++) {
        const char *c = apr_pstrcat(g->p, vt, "/",
                                    APR_ARRAY_IDX(cons, i, const char *), NULL);
        const char *name = vv_file_read(g->p, apr_pstrcat(g->p, c, "/name",
                                                          NULL));
        const char *bind = vv_file_read(g->p, apr_pstrcat(g->p, c, "/bind",
                                                          NULL));
        if (name && strstr(name, "frame buffer") && bind
            && strcmp(bind, "1") == 0) {
            return apr_psprintf(g->p, "the framebuffer console runs on it "
                                "(%s)", fb);
        }
    }
    return NULL;
}

static int device_minor(const char *line, void *minor)
{
    return sscanf(line, "Device Minor: %d", (int *)minor) == 1;
}

/* Character nodes the device's driver made: DRM card and render nodes,
 * uio, NVMe controller and generic nodes, and NVIDIA's /dev/nvidiaN (its
 * driver says which in procfs). */
static void char_nodes(guard_t *g, apr_array_header_t *nodes)
{
    static const char *const classes[] = { "drm", "uio", "nvme",
                                           "nvme-generic" };
    const char *info = apr_pstrcat(g->p, g->h->proc, "/driver/nvidia/gpus/",
                                   g->d->address, "/information", NULL);
    int minor = -1;

    for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
        apr_array_header_t *m = class_members(g, classes[c]);
        for (int i = 0; i + 1 < m->nelts; i += 2) {
            const char *dir = APR_ARRAY_IDX(m, i + 1, const char *);
            if (vv_host_has(dir, "dev")) {
                add_node(g, nodes, APR_ARRAY_IDX(m, i, const char *), dir, 0);
            }
        }
    }
    if (vv_file_lines(info, device_minor, &minor) && minor >= 0) {
        node_t *n = apr_array_push(nodes);
        memset(n, 0, sizeof(*n));
        n->address = g->d->address;
        n->group = -1;
        n->path = n->label = apr_psprintf(g->p, "/dev/nvidia%d", minor);
        n->rdev = (unsigned long)makedev(NVIDIA_MAJOR, (unsigned)minor);
    }
}

/* ---- processes ---------------------------------------------------------- */

static const char *whois(apr_pool_t *p, int piddir, const char *pid)
{
    char *comm = NULL;
    long n = vv_file_slurp(p, piddir, "comm", &comm);

    if (n > 0 && comm[n - 1] == '\n') {
        comm[--n] = '\0';
    }
    /* Any process names itself: keep its name to one printable line. */
    for (long i = 0; i < n; i++) {
        if (!isprint((unsigned char)comm[i])) {
            comm[i] = '?';
        }
    }
    return apr_psprintf(p, "pid %s (%s)", pid, n > 0 ? comm : "?");
}

static void held_by(apr_pool_t *p, node_t *n, const char *who)
{
    n->who = n->who ? apr_pstrcat(p, n->who, ", ", who, NULL) : who;
}

static int names_node(const node_t *n, const char *t)
{
    const char *paths[2] = { n->path, n->alias };

    for (int i = 0; i < 2; i++) {
        size_t len = paths[i] ? strlen(paths[i]) : 0;
        if (len && strncmp(t, paths[i], len) == 0
            && (!t[len] || strcmp(t + len, " (deleted)") == 0)) {
            return 1;
        }
    }
    return 0;
}

/* One process being scanned. */
typedef struct proc_scan {
    guard_t *g;
    const char *pid;
    int dir;
    const char *who; /* its "pid N (comm)", read on its first hit */
} proc_scan_t;

static const char *proc_who(proc_scan_t *ps)
{
    if (!ps->who) {
        ps->who = whois(ps->g->p, ps->dir, ps->pid);
    }
    return ps->who;
}

/* The node a descriptor's target names, by the path the process opened or,
 * for a node reached under another name (a container's /dev), by device
 * number: then the descriptor is stat-ed, which follows its link. */
static int fd_hit(const char *t, int fddir, const char *name, void *baton)
{
    proc_scan_t *ps = baton;
    apr_array_header_t *nodes = ps->g->nodes;
    unsigned long rdev = 0;
    int block = 0;

    if (t[0] != '/') {
        return 0; /* socket:[N], pipe:[N], anon_inode:... */
    }
    for (int n = 0; n < nodes->nelts; n++) {
        node_t *nd = &APR_ARRAY_IDX(nodes, n, node_t);
        if (names_node(nd, t)) {
            held_by(ps->g->p, nd, proc_who(ps));
            return 0;
        }
    }
    /* Not by its path: a node another mount namespace made (a container's
     * /dev, a bind mount) is the same device by number.  Only a real
     * procfs's links lead to the open file; a simulator's are plain links
     * that would resolve in this host's /dev. */
    for (int n = 0; ps->g->real_proc && n < nodes->nelts; n++) {
        node_t *nd = &APR_ARRAY_IDX(nodes, n, node_t);
        if (nd->rdev && !rdev && !(rdev = vv_rdev_at(fddir, name, &block))) {
            return 0;
        }
        if (nd->rdev && rdev == nd->rdev && block == nd->block) {
            held_by(ps->g->p, nd, proc_who(ps));
            return 0;
        }
    }
    return 0;
}

/* "... /sys/devices/pci0000:00/0000:00:03.0/resource0\n": a user-space
 * driver (DPDK, SPDK with uio) maps the device's BAR. */
static const char *mapped(apr_pool_t *p, const char *maps, const char *res)
{
    size_t n = strlen(res);

    for (const char *m = strstr(maps, res); m; m = strstr(m + 1, res)) {
        if (m > maps && m[-1] == ' ' && isdigit((unsigned char)m[n])) {
            const char *file = m + n - strlen("resource");
            return apr_pstrmemdup(p, file, strcspn(file, " \n"));
        }
    }
    return NULL;
}

/* One process's maps against every device's BARs.  Returns 0 or -errno. */
static int scan_maps(proc_scan_t *ps, apr_pool_t *tmp)
{
    guard_t *g = ps->g;
    char *maps;
    long len = vv_file_slurp(tmp, ps->dir, "maps", &maps);

    for (int i = 0; len >= 0 && i < g->bars->nelts; i++) {
        bar_t *b = &APR_ARRAY_IDX(g->bars, i, bar_t);
        if (!b->file && (b->file = mapped(g->p, maps, b->prefix))) {
            b->who = proc_who(ps);
        }
    }
    return len < 0 ? (int)len : 0;
}

/* One process: its fds when there are nodes to look for, its maps when
 * there are BARs.  Returns 0 or -errno; what names the file that failed. */
static int scan_one(guard_t *g, apr_pool_t *tmp, int procdir,
                    const char *pid, const char **what)
{
    proc_scan_t ps = { g, pid, vv_proc_open(procdir, pid), NULL };
    int rc = ps.dir < 0 ? ps.dir : 0;

    *what = "";
    if (rc == 0 && g->nodes->nelts) {
        *what = "/fd";
        rc = vv_proc_each_fd(ps.dir, fd_hit, &ps);
    }
    if (rc == 0 && g->bars->nelts) {
        *what = "/maps";
        rc = scan_maps(&ps, tmp);
    }
    if (ps.dir >= 0) {
        close(ps.dir);
    }
    return rc;
}

/* A share of the process list, scanned by one thread with a copy of the
 * guard of its own (its own pool, its own hits), merged afterwards. */
typedef struct slice {
    guard_t g;
    const apr_array_header_t *pids;
    int from, to, procdir;
} slice_t;

static void *scan_slice(void *arg)
{
    slice_t *sl = arg;
    guard_t *g = &sl->g;
    apr_pool_t *sub;

    apr_pool_create_unmanaged(&sub);
    for (int i = sl->from; i < sl->to && !g->cannot; i++) {
        const char *pid = APR_ARRAY_IDX(sl->pids, i, const char *);
        const char *what;
        int rc;

        if (!isdigit((unsigned char)pid[0])) {
            continue;
        }
        apr_pool_clear(sub);
        rc = scan_one(g, sub, sl->procdir, pid, &what);
        if (rc < 0 && rc != -ENOENT && rc != -ESRCH) {
            cannot(g, apr_psprintf(g->p, "cannot read %s/%s%s: %s%s",
                                   g->h->proc, pid, what, strerror(-rc),
                                   geteuid() ? apr_psprintf(g->p, " (the "
                                   "privileged helper runs as uid %d; start "
                                   "httpd as root)", (int)geteuid()) : ""));
        }
    }
    apr_pool_destroy(sub);
    return NULL;
}

/* How many threads read /proc: one per CPU, up to 8, none for a handful
 * of processes. */
static int scan_threads(int procs)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;

    return procs / 128 < n ? (procs / 128 > 1 ? procs / 128 : 1) : n;
}

static void merge(guard_t *g, const slice_t *sl)
{
    for (int i = 0; i < g->nodes->nelts; i++) {
        const node_t *from = &APR_ARRAY_IDX(sl->g.nodes, i, node_t);
        if (from->who) {
            held_by(g->p, &APR_ARRAY_IDX(g->nodes, i, node_t),
                    apr_pstrdup(g->p, from->who));
        }
    }
    for (int i = 0; i < g->bars->nelts; i++) {
        const bar_t *from = &APR_ARRAY_IDX(sl->g.bars, i, bar_t);
        bar_t *to = &APR_ARRAY_IDX(g->bars, i, bar_t);
        if (from->file && !to->file) {
            to->file = apr_pstrdup(g->p, from->file);
            to->who = apr_pstrdup(g->p, from->who);
        }
    }
    if (sl->g.cannot && !g->cannot) {
        g->cannot = apr_pstrdup(g->p, sl->g.cannot);
        g->cannot_addr = sl->g.cannot_addr;
    }
}

/* One pass over every process: which holds a node open, which maps a BAR.
 * Reading every process's fds and maps is the guard's cost (about a
 * microsecond per mapping on a 6.x kernel), so the list is shared among
 * threads.  A process that exits meanwhile is skipped; one whose files
 * cannot be read makes the answer unknown. */
static void scan_procs(guard_t *g)
{
    apr_array_header_t *pids;
    int rc = vv_dir_list(g->p, g->h->proc, &pids);
    int procdir = rc < 0 ? -1 : open(g->h->proc, O_PATH | O_DIRECTORY
                                     | O_CLOEXEC);
    int n = procdir < 0 ? 0 : scan_threads(pids->nelts);
    slice_t *sl = apr_pcalloc(g->p, sizeof(*sl) * (size_t)(n ? n : 1));
    pthread_t *tid = apr_pcalloc(g->p, sizeof(*tid) * (size_t)(n ? n : 1));
    int *started = apr_pcalloc(g->p, sizeof(int) * (size_t)(n ? n : 1));

    if (procdir < 0) {
        cannot(g, apr_psprintf(g->p, "cannot read %s: %s", g->h->proc,
                               strerror(rc < 0 ? -rc : errno)));
        return;
    }
    for (int t = 0; t < n; t++) {
        sl[t].g = *g;
        apr_pool_create_unmanaged(&sl[t].g.p);
        sl[t].g.nodes = apr_array_copy(sl[t].g.p, g->nodes);
        sl[t].g.bars = apr_array_copy(sl[t].g.p, g->bars);
        sl[t].pids = pids;
        sl[t].from = (int)((long)pids->nelts * t / n);
        sl[t].to = (int)((long)pids->nelts * (t + 1) / n);
        sl[t].procdir = procdir;
        /* The first share is this thread's; one that cannot start too. */
        started[t] = t > 0 && pthread_create(&tid[t], NULL, scan_slice,
                                             &sl[t]) == 0;
    }
    for (int t = 0; t < n; t++) {
        if (!started[t]) {
            scan_slice(&sl[t]);
        }
    }
    for (int t = 0; t < n; t++) {
        if (started[t]) {
            pthread_join(tid[t], NULL);
        }
        merge(g, &sl[t]);
        apr_pool_destroy(sl[t].g.p);
    }
    close(procdir);
}

/* "/sys/devices/.../ADDR/resource": the BAR files as the kernel names them
 * in a process's maps, whatever root sysfs is read from here. */
static void add_bars(guard_t *g)
{
    size_t n = strcmp(g->h->sysfs, "/") ? strlen(g->h->sysfs) : 0;
    bar_t *b = apr_array_push(g->bars);

    memset(b, 0, sizeof(*b));
    b->address = g->d->address;
    b->prefix = apr_pstrcat(g->p, "/sys", g->d->path + n, "/resource", NULL);
}

/* Every check that needs no process scan; the device's nodes and BARs
 * join the scan's list. */
static const char *reason(guard_t *g)
{
    const char *v, *why;

    v = vv_file_read(g->p, apr_pstrcat(g->p, g->d->path, "/boot_vga", NULL));
    if (v && strcmp(v, "1") == 0) {
        return "it is the boot VGA device (the host console runs on it)";
    }
    v = vv_file_read(g->p, apr_pstrcat(g->p, g->d->path, "/sriov_numvfs",
                                       NULL));
    if (v && atoi(v) > 0) {
        return apr_psprintf(g->p, "it is an SR-IOV physical function with %d "
                            "virtual functions, which unbinding its driver "
                            "would destroy", atoi(v));
    }
    if ((why = net_reason(g)) || g->cannot
        || (why = blocks_reason(g, g->nodes)) || g->cannot
        || (why = fbcon_reason(g, g->nodes))) {
        return why;
    }
    char_nodes(g, g->nodes);
    add_bars(g);
    return NULL;
}

static vv_err_t *cannot_err(guard_t *g)
{
    return vv_err(g->p, VV_E_IN_USE, "cannot tell whether device %s is in "
                  "use: %s", g->cannot_addr, g->cannot);
}

vv_inuse_t *vv_inuse_begin(apr_pool_t *p, const vv_host_t *h)
{
    guard_t *g = apr_pcalloc(p, sizeof(*g));

    g->p = p;
    g->h = h;
    g->nodes = apr_array_make(p, 4, sizeof(node_t));
    g->bars = apr_array_make(p, 2, sizeof(bar_t));
    g->classes = apr_hash_make(p);
    g->real_proc = vv_is_procfs(h->proc);
    return g;
}

vv_err_t *vv_inuse_add(vv_inuse_t *g, const vv_devinfo_t *d)
{
    const char *why;

    g->d = d;
    why = reason(g);
    if (g->cannot) {
        return cannot_err(g);
    }
    return why ? vv_err(g->p, VV_E_IN_USE, "device %s is in use by host: %s",
                        d->address, why)
               : NULL;
}

vv_err_t *vv_inuse_end(vv_inuse_t *g)
{
    if (!g->nodes->nelts && !g->bars->nelts) {
        return NULL;
    }
    scan_procs(g);
    if (g->cannot) {
        return cannot_err(g);
    }
    for (int i = 0; i < g->nodes->nelts; i++) {
        const node_t *n = &APR_ARRAY_IDX(g->nodes, i, node_t);
        if (n->who) {
            return vv_err(g->p, VV_E_IN_USE, "device %s is in use by host: "
                          "%s is open by %s", n->address, n->label, n->who);
        }
    }
    for (int i = 0; i < g->bars->nelts; i++) {
        const bar_t *b = &APR_ARRAY_IDX(g->bars, i, bar_t);
        if (b->file) {
            return vv_err(g->p, VV_E_IN_USE, "device %s is in use by host: "
                          "its %s is mapped by %s", b->address, b->file,
                          b->who);
        }
    }
    return NULL;
}

vv_err_t *vv_inuse_check(apr_pool_t *p, const vv_host_t *h,
                         const vv_devinfo_t *d)
{
    vv_inuse_t *g = vv_inuse_begin(p, h);
    vv_err_t *e = vv_inuse_add(g, d);

    return e ? e : vv_inuse_end(g);
}

const char *vv_inuse_holders(apr_pool_t *p, const vv_host_t *h,
                             const char *path, const char *alias)
{
    static const vv_devinfo_t none = { .address = "" };
    guard_t *g = vv_inuse_begin(p, h);
    node_t *n = apr_array_push(g->nodes);

    g->d = &none;
    memset(n, 0, sizeof(*n));
    n->group = -1;
    n->label = n->path = path;
    n->alias = alias;
    scan_procs(g);
    return n->who;
}

int vv_inuse_group_open(const vv_host_t *h, int group)
{
    char path[64 + 4096];

    snprintf(path, sizeof(path), "%s/vfio/%d", h->dev, group);
    return vv_dev_busy(path);
}

/* ---- the survey: who uses each device, for a read-only view ------------ */

const char *const vv_use_names[] = { "nobody", "host", "vm", "unknown" };

/* A device on VFIO is held by whoever has its group's node, or (iommufd)
 * its own device node, open: both join the one process scan.  A group's
 * node is looked for once, whichever of its members is added first. */
static void vm_nodes(guard_t *g, apr_hash_t *groups)
{
    const vv_devinfo_t *d = g->d;
    const char *x = d->path ? vv_dir_first_entry(g->p, apr_pstrcat(g->p,
                                                 d->path, "/vfio-dev", NULL))
                            : NULL;
    node_t *n;

    if (d->group >= 0 && !apr_hash_get(groups, &d->group, sizeof(int))) {
        apr_hash_set(groups, &d->group, sizeof(int), d);
        n = apr_array_push(g->nodes);
        memset(n, 0, sizeof(*n));
        n->address = d->address;
        n->vm = 1;
        n->group = d->group;
        n->path = apr_psprintf(g->p, "%s/vfio/%d", g->h->dev, d->group);
        n->alias = apr_psprintf(g->p, "/dev/vfio/%d", d->group);
        n->label = apr_psprintf(g->p, "its IOMMU group %d (%s)", d->group,
                                n->alias);
    }
    if (x) {
        n = apr_array_push(g->nodes);
        memset(n, 0, sizeof(*n));
        n->address = d->address;
        n->vm = 1;
        n->group = -1;
        n->path = apr_pstrcat(g->p, g->h->dev, "/vfio/devices/", x, NULL);
        n->alias = apr_pstrcat(g->p, "/dev/vfio/devices/", x, NULL);
        n->label = apr_pstrcat(g->p, "its VFIO device node ", n->alias, NULL);
    }
}

static void decide(vv_usage_t *u, vv_use_t use, const char *reason)
{
    if (u->use == VV_USE_NOBODY) {
        u->use = use;
        u->reason = reason;
    }
}

apr_array_header_t *vv_inuse_survey(apr_pool_t *p, const vv_host_t *h,
                                    const apr_array_header_t *devices,
                                    const char *target_driver)
{
    guard_t *g = vv_inuse_begin(p, h);
    apr_array_header_t *out = apr_array_make(p, devices->nelts,
                                             sizeof(vv_usage_t));
    apr_hash_t *at = apr_hash_make(p);   /* address -> its vv_usage_t */
    apr_hash_t *groups = apr_hash_make(p);
    const char *why;

    for (int i = 0; i < devices->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(devices, i, vv_devinfo_t *);
        vv_usage_t *u = apr_array_push(out);

        memset(u, 0, sizeof(*u));
        u->device = d;
        apr_hash_set(at, d->address, APR_HASH_KEY_STRING, u);
        g->d = d;
        g->cannot = NULL;
        if (vv_device_on_vfio(d, target_driver)) {
            vm_nodes(g, groups);   /* the host's uses are gone with its driver */
            continue;
        }
        why = reason(g);
        if (g->cannot) {
            decide(u, VV_USE_UNKNOWN, g->cannot);
        }
        else if (why) {
            decide(u, VV_USE_HOST, why);
        }
    }
    g->cannot = NULL;
    if (g->nodes->nelts || g->bars->nelts) {
        scan_procs(g);
    }
    for (int i = 0; i < g->nodes->nelts; i++) {
        const node_t *n = &APR_ARRAY_IDX(g->nodes, i, node_t);
        const char *text = n->who ? apr_psprintf(p, "%s is open by %s",
                                                 n->label, n->who)
                                  : NULL;
        for (int k = 0; text && k < out->nelts; k++) {
            vv_usage_t *u = &APR_ARRAY_IDX(out, k, vv_usage_t);
            int mine = n->group >= 0
                ? u->device->group == n->group
                  && vv_device_on_vfio(u->device, target_driver)
                : strcmp(u->device->address, n->address) == 0;
            if (mine) {
                decide(u, n->vm ? VV_USE_VM : VV_USE_HOST, text);
            }
        }
    }
    for (int i = 0; i < g->bars->nelts; i++) {
        const bar_t *b = &APR_ARRAY_IDX(g->bars, i, bar_t);
        vv_usage_t *u = apr_hash_get(at, b->address, APR_HASH_KEY_STRING);
        if (b->file && u) {
            decide(u, VV_USE_HOST, apr_psprintf(p, "its %s is mapped by %s",
                                                b->file, b->who));
        }
    }
    /* A scan that could not read every process leaves the rest unknown. */
    for (int i = 0; g->cannot && i < out->nelts; i++) {
        decide(&APR_ARRAY_IDX(out, i, vv_usage_t), VV_USE_UNKNOWN, g->cannot);
    }
    return out;
}
