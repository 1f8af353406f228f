/* GET /usage: who uses each device now, from the guard's probes and one
 * process scan for all of them.  It changes nothing: no lock, no
 * exclusive open of a disk (that is a claim while it lasts, which could
 * make a concurrent mount or mkfs fail), no open of a group node. */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <string.h>

const char *const vv_use_names[] = { "nobody", "host", "vm", "unknown" };

static void decide(apr_pool_t *p, vv_usage_t *u, vv_use_t use,
                   const char *reason)
{
    if (u->use == VV_USE_NOBODY) {
        u->use = use;
        u->reason = vv_err_printable(p, reason);
    }
}

/* Each device's own checks; a device on VFIO is looked at for a VM only:
 * the host's uses went with its host driver. */
static void each_device(vv_inuse_t *g, const apr_array_header_t *devices,
                        const char *target_driver, apr_array_header_t *out)
{
    apr_hash_t *groups = apr_hash_make(g->p);

    for (int i = 0; i < devices->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(devices, i, vv_devinfo_t *);
        vv_usage_t *u = apr_array_push(out);
        const char *why;

        memset(u, 0, sizeof(*u));
        u->device = d;
        g->d = d;
        g->cannot = NULL;
        if (vv_device_on_vfio(d, target_driver)) {
            vv_probe_vfio_nodes(g, groups);
            continue;
        }
        why = vv_guard_reason(g);
        if (g->cannot) {
            decide(g->p, u, VV_USE_UNKNOWN, g->cannot);
        }
        else if (why) {
            decide(g->p, u, VV_USE_HOST, why);
        }
    }
}

/* A node's holders: a VFIO node's are a VM of every member of its group
 * on VFIO, any other's the host's use of its device. */
static void holders(vv_inuse_t *g, apr_array_header_t *out,
                    const char *target_driver)
{
    for (int i = 0; i < g->scan.nodes->nelts; i++) {
        const vv_node_t *n = &APR_ARRAY_IDX(g->scan.nodes, i, vv_node_t);
        const vv_holders_t *h = n->open.count ? &n->open : &n->mapped;
        const char *text = h->count
            ? apr_psprintf(g->p, "%s is %s by %s", n->label,
                           n->open.count ? "open" : "mapped",
                           vv_holders_text(g->p, h, g->scan.anonymous))
            : NULL;
        for (int k = 0; text && k < out->nelts; k++) {
            vv_usage_t *u = &APR_ARRAY_IDX(out, k, vv_usage_t);
            int mine = n->group >= 0
                ? u->device->group == n->group
                  && vv_device_on_vfio(u->device, target_driver)
                : strcmp(u->device->address, n->address) == 0;
            if (mine) {
                decide(g->p, u, n->vm ? VV_USE_VM : VV_USE_HOST, text);
            }
        }
    }
    for (int i = 0; i < g->scan.bars->nelts; i++) {
        const vv_bar_t *b = &APR_ARRAY_IDX(g->scan.bars, i, vv_bar_t);
        for (int k = 0; b->mapped.count && k < out->nelts; k++) {
            vv_usage_t *u = &APR_ARRAY_IDX(out, k, vv_usage_t);
            if (strcmp(u->device->address, b->address) == 0) {
                decide(g->p, u, VV_USE_HOST, apr_psprintf(g->p, "its %s is "
                       "mapped by %s", b->file, vv_holders_text(g->p,
                       &b->mapped, g->scan.anonymous)));
            }
        }
    }
}

apr_array_header_t *vv_inuse_survey(apr_pool_t *p, const vv_host_t *h,
                                    const apr_array_header_t *devices,
                                    const char *target_driver,
                                    const vv_inuse_opts_t *opts)
{
    vv_inuse_opts_t o = opts ? *opts : (vv_inuse_opts_t){ 0 };
    vv_inuse_t *g;
    apr_array_header_t *out = apr_array_make(p, devices->nelts,
                                             sizeof(vv_usage_t));

    o.no_claims = 1;
    g = vv_inuse_begin(p, h, &o);
    each_device(g, devices, target_driver, out);
    g->cannot = NULL;
    if (g->scan.nodes->nelts || g->scan.bars->nelts || g->scan.want_ns) {
        vv_scan_run(p, &g->scan);
    }
    /* A scan that could not read every process leaves the rest unknown. */
    for (int i = 0; g->scan.cannot && i < out->nelts; i++) {
        decide(p, &APR_ARRAY_IDX(out, i, vv_usage_t), VV_USE_UNKNOWN,
               g->scan.cannot);
    }
    for (int i = 0; !g->scan.cannot && i < g->netdevs->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(g->netdevs, i,
                                              const vv_devinfo_t *);
        const char *why;
        g->cannot = NULL;
        why = vv_probe_net_elsewhere(g, d);
        for (int k = 0; (why || g->cannot) && k < out->nelts; k++) {
            vv_usage_t *u = &APR_ARRAY_IDX(out, k, vv_usage_t);
            if (u->device == d) {
                decide(p, u, g->cannot ? VV_USE_UNKNOWN : VV_USE_HOST,
                       g->cannot ? g->cannot : why);
            }
        }
    }
    holders(g, out, target_driver);
    return out;
}
