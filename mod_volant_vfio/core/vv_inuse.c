/* The guard itself: which probes a device goes through and in what order,
 * the one process scan they share, and the verdict.  The probes are in
 * vv_inuse_*.c, one kind of host use each. */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device's own attributes: the console's GPU, a PF whose VFs its
 * driver's unbind would destroy. */
static const char *device_reason(vv_inuse_t *g)
{
    const char *v;

    v = vv_file_read(g->p, apr_pstrcat(g->p, g->d->path, "/boot_vga", NULL));
    if (v && strcmp(v, "1") == 0) {
        return "it is the boot VGA device (the host console runs on it)";
    }
    v = vv_file_read(g->p, apr_pstrcat(g->p, g->d->path, "/sriov_numvfs",
                                       NULL));
    if (v && atoi(v) > 0) {
        return apr_psprintf(g->p, "it is an SR-IOV physical function with %d "
                            "virtual function%s, which unbinding its driver "
                            "would destroy", atoi(v), atoi(v) > 1 ? "s" : "");
    }
    return NULL;
}

const char *vv_guard_reason(vv_inuse_t *g)
{
    const char *why;

    if ((why = device_reason(g)) || (why = vv_probe_net(g)) || g->cannot
        || (why = vv_probe_blocks(g)) || g->cannot
        || (why = vv_probe_fbcon(g)) || g->cannot) {
        return why;
    }
    vv_probe_nodes(g);
    return NULL;
}

/* Host text (mount points, interface and process names) is anyone's to
 * shape: what reaches a reply or a log is printable UTF-8. */
static vv_err_t *in_use(vv_inuse_t *g, const char *addr, const char *why)
{
    return vv_err(g->p, VV_E_IN_USE, "device %s is in use by host: %s", addr,
                  vv_err_printable(g->p, why));
}

static vv_err_t *cannot_err(vv_inuse_t *g)
{
    return vv_err(g->p, VV_E_IN_USE, "cannot tell whether device %s is in "
                  "use: %s", g->cannot_addr,
                  vv_err_printable(g->p, g->cannot));
}

vv_inuse_t *vv_inuse_begin(apr_pool_t *p, const vv_host_t *h,
                           const vv_inuse_opts_t *opts)
{
    vv_inuse_t *g = apr_pcalloc(p, sizeof(*g));

    g->p = p;
    g->h = h;
    if (opts) {
        g->opts = *opts;
    }
    g->scan.h = h;
    g->scan.real_proc = vv_is_procfs(h->proc);
    g->scan.own_pidns = g->scan.real_proc && vv_procfs_is_ours(h->proc);
    g->scan.anonymous = g->opts.anonymous;
    g->scan.deadline_ms = g->opts.deadline_ms;
    g->scan.watch_fd = g->opts.watch_fd;
    g->scan.nodes = apr_array_make(p, 4, sizeof(vv_node_t));
    g->scan.bars = apr_array_make(p, 2, sizeof(vv_bar_t));
    g->classes = apr_hash_make(p);
    g->netdevs = apr_array_make(p, 2, sizeof(const vv_devinfo_t *));
    return g;
}

vv_err_t *vv_inuse_add(vv_inuse_t *g, const vv_devinfo_t *d)
{
    const char *why;

    g->d = d;
    why = vv_guard_reason(g);
    if (g->cannot) {
        return cannot_err(g);
    }
    return why ? in_use(g, d->address, why) : NULL;
}

/* What the scan found, first the devices' interfaces in other network
 * namespaces, then nodes open, nodes mapped, BARs mapped. */
vv_err_t *vv_inuse_end(vv_inuse_t *g)
{
    vv_scan_t *s = &g->scan;

    if (!s->nodes->nelts && !s->bars->nelts && !s->want_ns) {
        return NULL;
    }
    vv_scan_run(g->p, s);
    if (s->cannot) {
        g->cannot = s->cannot;
        g->cannot_addr = g->d ? g->d->address : "";
        return cannot_err(g);
    }
    for (int i = 0; i < g->netdevs->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(g->netdevs, i,
                                              const vv_devinfo_t *);
        const char *why = vv_probe_net_elsewhere(g, d);
        if (g->cannot) {
            return cannot_err(g);
        }
        if (why) {
            return in_use(g, d->address, why);
        }
    }
    for (int i = 0; i < s->nodes->nelts; i++) {
        const vv_node_t *n = &APR_ARRAY_IDX(s->nodes, i, vv_node_t);
        if (n->open.count || n->mapped.count) {
            return in_use(g, n->address, apr_psprintf(g->p, "%s is %s by %s",
                          n->label, n->open.count ? "open" : "mapped",
                          vv_holders_text(g->p, n->open.count ? &n->open
                                          : &n->mapped, s->anonymous)));
        }
    }
    for (int i = 0; i < s->bars->nelts; i++) {
        const vv_bar_t *b = &APR_ARRAY_IDX(s->bars, i, vv_bar_t);
        if (b->mapped.count) {
            return in_use(g, b->address, apr_psprintf(g->p, "its %s is mapped "
                          "by %s", b->file, vv_holders_text(g->p, &b->mapped,
                                                            s->anonymous)));
        }
    }
    return NULL;
}

vv_err_t *vv_inuse_check(apr_pool_t *p, const vv_host_t *h,
                         const vv_devinfo_t *d)
{
    vv_inuse_t *g = vv_inuse_begin(p, h, NULL);
    vv_err_t *e = vv_inuse_add(g, d);

    return e ? e : vv_inuse_end(g);
}

const char *vv_inuse_holders(apr_pool_t *p, const vv_host_t *h,
                             const char *path, const char *alias,
                             int deadline_ms)
{
    static const vv_devinfo_t none = { .address = "" };
    vv_inuse_opts_t o = { .deadline_ms = deadline_ms };
    vv_inuse_t *g = vv_inuse_begin(p, h, &o);
    vv_node_t *n = apr_array_push(g->scan.nodes);

    g->d = &none;
    memset(n, 0, sizeof(*n));
    n->group = -1;
    n->label = n->alias = path;
    n->path = alias;
    n->has_id = vv_file_id_at(AT_FDCWD, path, &n->id) == 0;
    if (n->has_id && n->id.node) {
        n->rdev = n->id.rdev;
        n->block = n->id.block;
    }
    vv_scan_run(p, &g->scan);
    return n->open.count ? vv_err_printable(p, vv_holders_text(p, &n->open, 0))
                         : NULL;
}

int vv_inuse_group_open(const vv_host_t *h, int group)
{
    char path[64 + 4096];

    snprintf(path, sizeof(path), "%s/vfio/%d", h->dev, group);
    return vv_dev_busy(path);
}
