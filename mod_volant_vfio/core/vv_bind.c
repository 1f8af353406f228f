#include "vv_bind.h"
#include "vv_device.h"
#include "vv_inuse.h"
#include "vv_log.h"
#include "vv_steps.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One device of an operation. */
typedef struct mv {
    vv_devinfo_t *info;
    vv_record_t *rec;        /* what it had, once recorded */
    vv_record_t *prior;      /* a record of ours it had before this bind */
    const char *companion_of;
    int requested;
    int move;                /* bind: must move; unbind: must release */
    int forget;              /* unbind: a persistent record to drop */
    vv_outcome_t *out;
} mv_t;

static vv_op_t *new_op(apr_pool_t *p)
{
    vv_op_t *op = apr_pcalloc(p, sizeof(*op));

    op->devices = apr_array_make(p, 8, sizeof(vv_outcome_t *));
    return op;
}

static vv_outcome_t *outcome(vv_op_t *op, apr_pool_t *p, const mv_t *m,
                             const char *what)
{
    vv_outcome_t *o = apr_pcalloc(p, sizeof(*o));

    o->address = m->info->address;
    o->previous_driver = m->info->driver;
    o->driver = m->info->driver;
    o->group = m->info->group;
    o->outcome = what;
    o->requested = m->requested;
    APR_ARRAY_PUSH(op->devices, vv_outcome_t *) = o;
    return o;
}

/* The client's strings, each distinct address once, canonical. */
static vv_err_t *parse(apr_pool_t *p, const apr_array_header_t *raw,
                       apr_array_header_t **out)
{
    apr_array_header_t *addrs, *list;
    vv_err_t *e;

    if (raw->nelts == 0) {
        return vv_err(p, VV_E_BAD_REQUEST, "pci_addresses must not be empty");
    }
    if ((e = vv_addr_list(p, raw, &addrs))) {
        return e;
    }
    list = apr_array_make(p, addrs->nelts, sizeof(const char *));
    for (int i = 0; i < addrs->nelts; i++) {
        APR_ARRAY_PUSH(list, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(addrs, i, vv_addr_t).text);
    }
    *out = list;
    return NULL;
}

static vv_err_t *read_dev(vv_ctx_t *c, const char *addr, vv_devinfo_t **out)
{
    vv_addr_t a;

    vv_addr_parse(addr, &a);
    return vv_device_read(c->p, c->h, &a, out);
}

static int ids_match(const vv_record_t *r, const vv_devinfo_t *d)
{
    return r->vendor == d->vendor && r->device == d->device
        && (!r->has_subsys || (d->has_subsys
                               && r->subsys_vendor == d->subsys_vendor
                               && r->subsys_device == d->subsys_device));
}

/* "vvvv:dddd ssss:ssss", the IDs a persistent record is tied to. */
static const char *ids_text(apr_pool_t *p, unsigned v, unsigned d, int subsys,
                            unsigned sv, unsigned sd)
{
    return subsys ? apr_psprintf(p, "%04x:%04x %04x:%04x", v, d, sv, sd)
                  : apr_psprintf(p, "%04x:%04x", v, d);
}

/* A record names the device it was written for: another card in that slot
 * since (hardware changed, buses renumbered) is not what it describes.
 * Kept, logged, never acted on. */
static int same_hardware(vv_ctx_t *c, const vv_record_t *r,
                         const vv_devinfo_t *d)
{
    if (ids_match(r, d)) {
        return 1;
    }
    vv_log(VV_LOG_WARNING, VV_TAG(10626) "record of %s kept and not acted "
           "on: it was written for %s, the device there is %s; move it aside "
           "once the device is checked", r->address,
           ids_text(c->p, r->vendor, r->device, r->has_subsys,
                    r->subsys_vendor, r->subsys_device),
           ids_text(c->p, d->vendor, d->device, d->has_subsys,
                    d->subsys_vendor, d->subsys_device));
    return 0;
}

/* --- health ---------------------------------------------------------------- */

/* Whether a device answers as itself: still on the bus, its config space
 * readable and not all ones (what a device that stopped answering reads),
 * its vendor and device IDs those of the record.  NULL when healthy, else
 * why not. */
static const char *health(vv_ctx_t *c, const char *addr, unsigned vendor,
                          unsigned device)
{
    unsigned char cfg[4];
    vv_sysdev_t *sd;
    vv_addr_t a;
    unsigned v, d;
    int n;

    vv_addr_parse(addr, &a);
    if (vv_sysdev_open(c->p, c->h, &a, &sd)) {
        return "it is gone from the bus";
    }
    n = vv_sysdev_read_config(sd, 0, cfg, sizeof(cfg));
    vv_sysdev_close(sd);
    if (n != 0) {
        return apr_psprintf(c->p, "its config space cannot be read (%s)",
                            strerror(-n));
    }
    v = (unsigned)cfg[0] | (unsigned)cfg[1] << 8;
    d = (unsigned)cfg[2] | (unsigned)cfg[3] << 8;
    if (v == 0xffff && d == 0xffff) {
        return "its config space reads all ones (the device no longer "
               "answers)";
    }
    if (v != vendor || d != device) {
        return apr_psprintf(c->p, "it answers as %04x:%04x, not %04x:%04x",
                            v, d, vendor, device);
    }
    return NULL;
}

static void set_phase(vv_ctx_t *c, vv_record_t *r, const char *phase);

/* Keeps a device that failed its health check from the next VM. */
static void quarantine(vv_ctx_t *c, vv_record_t *r, const char *why)
{
    r->reason = why;
    vv_log(VV_LOG_ERR, VV_TAG(10616) "device %s quarantined: %s", r->address,
           why);
    set_phase(c, r, VV_PHASE_QUARANTINED);
}

static const char *how_to_clear(vv_ctx_t *c, const vv_record_t *r)
{
    return apr_psprintf(c->p, "a reset that passes the health check clears "
                        "it (POST /api/v1/vfio/devices/reset, while it is on "
                        "vfio-pci); otherwise, once it answers again (a host "
                        "reboot), remove %s/devices/%s.json", c->pol->state_dir,
                        r->address);
}

static int is_on_target(vv_ctx_t *c, const vv_devinfo_t *d)
{
    return vv_device_on_vfio(d, c->pol->driver);
}

static mv_t *add_mv(apr_array_header_t *plan, apr_pool_t *p,
                    vv_devinfo_t *d, int requested, const char *companion_of)
{
    mv_t *m = apr_pcalloc(p, sizeof(*m));

    m->info = d;
    m->requested = requested;
    m->companion_of = companion_of;
    APR_ARRAY_PUSH(plan, mv_t *) = m;
    return m;
}

static int in_plan(const apr_array_header_t *plan, const char *addr)
{
    for (int i = 0; i < plan->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(plan, i, mv_t *)->info->address, addr)) {
            return 1;
        }
    }
    return 0;
}

static const char *shown_driver(const char *driver)
{
    return driver[0] ? driver : "none";
}

/* A fresh install moves nothing until its operator says which devices. */
static vv_err_t *need_allowlist(apr_pool_t *p, const vv_policy_t *pol,
                                const char *verb)
{
    if (pol->allow) {
        return NULL;
    }
    return vv_err(p, VV_E_NOT_ALLOWED, "%s refused: no device allowlist is "
                  "configured; set VolantVfioAllow to the vendor:device IDs "
                  "bind may take", verb);
}

/* --- bind ----------------------------------------------------------------- */

static vv_err_t *check_requested(vv_ctx_t *c, const vv_devinfo_t *d)
{
    if (d->is_bridge) {
        return vv_err(c->p, VV_E_NOT_ALLOWED, "device %s is a bridge, not an "
                      "endpoint: it cannot be passed through", d->address);
    }
    if (!vv_allowlist_match(c->pol->allow, d->vendor, d->device)) {
        return vv_err(c->p, VV_E_NOT_ALLOWED, "device %s (%04x:%04x) not in "
                      "allowlist (VolantVfioAllow)", d->address, d->vendor,
                      d->device);
    }
    if (d->group < 0) {
        return vv_err(c->p, VV_E_STATE, "device %s has no IOMMU group",
                      d->address);
    }
    return NULL;
}

/* The other endpoints of each touched group: already harmless, bound along
 * (companions), or the reason a strict request is refused. */
static vv_err_t *expand_groups(vv_ctx_t *c, apr_array_header_t *plan)
{
    const char *missing = NULL;
    apr_hash_t *done = apr_hash_make(c->p);
    int n = plan->nelts;

    for (int i = 0; i < n; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        const char *gkey = apr_itoa(c->p, m->info->group);
        apr_array_header_t *members;
        vv_err_t *e;

        if (apr_hash_get(done, gkey, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(done, gkey, APR_HASH_KEY_STRING, gkey);
        if ((e = vv_host_group_members(c->p, c->h, m->info->group, &members))) {
            return e;
        }
        for (int k = 0; k < members->nelts; k++) {
            const char *addr = APR_ARRAY_IDX(members, k, const char *);
            vv_devinfo_t *d;

            if (in_plan(plan, addr) || read_dev(c, addr, &d)
                || vv_device_viable(d, c->pol->driver)) {
                continue;
            }
            if (!c->pol->companions) {
                const char *one = apr_psprintf(c->p, "%s (%s)", addr,
                                               d->driver);
                missing = missing ? apr_pstrcat(c->p, missing, ", ", one,
                                                NULL) : one;
                continue;
            }
            if (!vv_allowlist_match(c->pol->allow, d->vendor, d->device)) {
                return vv_err(c->p, VV_E_NOT_ALLOWED, "device %s (%04x:%04x) "
                              "shares IOMMU group %d with %s but is not in "
                              "allowlist (VolantVfioAllow)", addr, d->vendor,
                              d->device, d->group, m->info->address);
            }
            add_mv(plan, c->p, d, 0, m->info->address);
        }
        if (missing) {
            return vv_err(c->p, VV_E_NOT_ALLOWED, "IOMMU group %d would not "
                          "be viable: its other endpoints stay on host "
                          "drivers: %s; bind them in the same request, or set "
                          "VolantVfioGroupPolicy companions",
                          m->info->group, missing);
        }
    }
    return NULL;
}

/* Everything bind checks before it may write, under the lock. */
static vv_err_t *plan_bind(vv_ctx_t *c, const apr_array_header_t *addrs,
                           apr_array_header_t **out)
{
    apr_array_header_t *plan = apr_array_make(c->p, 8, sizeof(mv_t *));
    vv_err_t *e;

    for (int i = 0; i < addrs->nelts; i++) {
        vv_devinfo_t *d;
        if ((e = read_dev(c, APR_ARRAY_IDX(addrs, i, const char *), &d))) {
            return e;
        }
        add_mv(plan, c->p, d, 1, NULL);
    }
    if (!vv_host_has_groups(c->h)) {
        return vv_err(c->p, VV_E_NO_IOMMU, "IOMMU not enabled on this system");
    }
    if (!vv_host_has(c->h->sysfs, apr_pstrcat(c->p, "bus/pci/drivers/",
                                              c->pol->driver, NULL))) {
        return vv_err(c->p, VV_E_STATE, "driver %s is not loaded (modprobe "
                      "%s)", c->pol->driver, c->pol->driver);
    }
    for (int i = 0; i < plan->nelts; i++) {
        if ((e = check_requested(c, APR_ARRAY_IDX(plan, i, mv_t *)->info))) {
            return e;
        }
    }
    if ((e = expand_groups(c, plan))) {
        return e;
    }
    /* A device that came back broken goes to no VM until cleared. */
    for (int i = 0; i < plan->nelts; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        vv_record_t *r;
        if ((e = vv_record_get(c->p, c->pol->state_dir, m->info->address,
                               &r))) {
            return e;
        }
        if (r && !strcmp(r->phase, VV_PHASE_QUARANTINED)) {
            return vv_err(c->p, VV_E_STATE, "device %s is quarantined: %s; "
                          "%s", m->info->address, r->reason ? r->reason
                          : "it failed its health check", how_to_clear(c, r));
        }
        if (r && !strcmp(r->phase, VV_PHASE_CHANGED)) {
            return vv_err(c->p, VV_E_STATE, "device %s: %s", m->info->address,
                          r->reason ? r->reason : "its persistent binding "
                          "was made for another card");
        }
    }
    *out = plan;
    return NULL;
}

/* Every member of every group the addresses touch, each once: what the
 * lock guards.  Linear in the request: a group is listed once however many
 * of its members are named. */
static apr_array_header_t *lock_set(vv_ctx_t *c,
                                    const apr_array_header_t *addrs)
{
    apr_array_header_t *set = apr_array_make(c->p, addrs->nelts,
                                             sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(c->p), *groups = apr_hash_make(c->p);

    for (int i = 0; i < addrs->nelts; i++) {
        const char *a = APR_ARRAY_IDX(addrs, i, const char *);
        apr_array_header_t *members = NULL;
        vv_devinfo_t *d;

        if (!read_dev(c, a, &d) && d->group >= 0
            && !apr_hash_get(groups, &d->group, sizeof(d->group))) {
            apr_hash_set(groups, &d->group, sizeof(d->group), d);
            vv_host_group_members(c->p, c->h, d->group, &members);
        }
        for (int k = -1; k < (members ? members->nelts : 0); k++) {
            const char *m = k < 0 ? a : APR_ARRAY_IDX(members, k,
                                                      const char *);
            if (!apr_hash_get(seen, m, APR_HASH_KEY_STRING)) {
                apr_hash_set(seen, m, APR_HASH_KEY_STRING, m);
                APR_ARRAY_PUSH(set, const char *) = m;
            }
        }
    }
    return set;
}

static vv_err_t *check_in_use(vv_ctx_t *c, apr_array_header_t *plan)
{
    vv_inuse_opts_t o = { .deadline_ms = c->pol->timeout_ms };
    vv_inuse_t *g = vv_inuse_begin(c->p, c->h, &o);

    for (int i = 0; i < plan->nelts; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        vv_err_t *e;
        if (m->move && (e = vv_inuse_add(g, m->info))) {
            return e;
        }
    }
    return vv_inuse_end(g);
}

static vv_err_t *record_all(vv_ctx_t *c, apr_array_header_t *plan)
{
    for (int i = 0; i < plan->nelts; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        vv_record_t *r, *old;
        char buf[4096];
        vv_sysdev_t *sd;
        vv_addr_t a;
        vv_err_t *e;

        if (!m->move) {
            continue;
        }
        r = m->rec = apr_pcalloc(c->p, sizeof(*r));
        vv_addr_parse(m->info->address, &a);
        if ((e = vv_sysdev_open(c->p, c->h, &a, &sd))
            || (e = vv_record_get(c->p, c->pol->state_dir, m->info->address,
                                  &old))) {
            return e;
        }
        if (old && !same_hardware(c, old, m->info)) {
            return vv_err(c->p, VV_E_STATE, "device %s has a record written "
                          "for another device (%04x:%04x) in %s/devices; it "
                          "is kept: move it aside once the device is checked",
                          m->info->address, old->vendor, old->device,
                          c->pol->state_dir);
        }
        r->address = m->info->address;
        r->vendor = m->info->vendor;
        r->device = m->info->device;
        r->has_subsys = m->info->has_subsys;
        r->subsys_vendor = m->info->subsys_vendor;
        r->subsys_device = m->info->subsys_device;
        /* A re-bind of a persistent binding (at start-up) stays one. */
        r->persist = (c->pol->persist || (old && old->persist))
            && r->has_subsys;
        r->vhost = c->pol->vhost;
        if ((m->prior = old)) {
            /* A release that failed left the device as it is now; what it
             * had before we first moved it is in the old record. */
            r->driver = old->driver;
            r->override = old->override;
        }
        else {
            r->driver = m->info->driver;
            r->override = vv_sysdev_read(sd, "driver_override", buf,
                                         sizeof(buf)) > 0
                && strcmp(buf, "(null)") != 0 ? apr_pstrdup(c->p, buf)
                                              : NULL;
        }
        vv_sysdev_close(sd);
        r->phase = VV_PHASE_BINDING;
        r->companion_of = m->companion_of;
        r->remote = c->pol->remote;
        r->time = apr_time_now();
        r->pid = (long)getpid();
        if ((e = vv_record_put(c->p, c->pol->state_dir, r))) {
            return e;
        }
    }
    return NULL;
}

static void set_phase(vv_ctx_t *c, vv_record_t *r, const char *phase)
{
    vv_err_t *e;

    r->phase = phase;
    r->time = apr_time_now();
    r->pid = (long)getpid();
    if ((e = vv_record_put(c->p, c->pol->state_dir, r))) {
        vv_log(VV_LOG_ERR, VV_TAG(10601) "%s", e->msg);
    }
}

static void drop(vv_ctx_t *c, const char *addr)
{
    vv_err_t *e = vv_record_drop(c->p, c->pol->state_dir, addr);

    if (e) {
        vv_log(VV_LOG_ERR, VV_TAG(10602) "%s", e->msg);
    }
}

/* Undoes moves [0, upto] in reverse: every device goes back to what its
 * record says, and the records of those that made it are dropped. */
static void roll_back(vv_ctx_t *c, apr_array_header_t *plan, int upto)
{
    for (int i = upto; i >= 0; i--) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        const char *now;
        vv_err_t *e;

        if (!m->move) {
            continue;
        }
        if ((e = vv_step_restore(c, m->info->address, m->rec, &now))) {
            set_phase(c, m->rec, VV_PHASE_FAILED);
            m->out->outcome = "failed";
            m->out->error = apr_pstrcat(c->p, "rollback: ", e->msg, NULL);
            vv_log(VV_LOG_ERR, VV_TAG(10603) "rollback of %s failed: %s",
                   m->info->address, e->msg);
        }
        else {
            drop(c, m->info->address);
            if (!m->out->error) {
                m->out->outcome = "rolled_back";
            }
        }
        m->out->driver = now;
    }
}

static const char *group_node(vv_ctx_t *c, int group, int wait)
{
    const char *rel = apr_psprintf(c->p, "vfio/%d", group);
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait ? 2000 : 0);

    /* The node appears with the first member; udev may lag behind. */
    while (!vv_host_has(c->h->dev, rel) && apr_time_now() < deadline) {
        apr_sleep(apr_time_from_msec(10));
    }
    return vv_host_has(c->h->dev, rel)
        ? apr_pstrcat(c->p, c->h->dev, "/", rel, NULL) : NULL;
}

/* A device this bind recorded but never touched: the record it had
 * before (a release that failed, naming its original driver) is put back;
 * without one there is nothing to keep. */
static void keep_prior(vv_ctx_t *c, const mv_t *m)
{
    vv_err_t *e;

    if (!m->prior) {
        drop(c, m->info->address);
    }
    else if ((e = vv_record_put(c->p, c->pol->state_dir, m->prior))) {
        vv_log(VV_LOG_ERR, VV_TAG(10604) "%s", e->msg);
    }
}

/* Each group of the plan, once, with the sysfs directories of its
 * devices: to owner (after a bind), or back to root (owner NULL).  A bind
 * without VolantVfioGroupOwner leaves the nodes as the kernel made them. */
static vv_err_t *hand_over(vv_ctx_t *c, apr_array_header_t *plan,
                           const vv_owner_t *owner)
{
    apr_hash_t *groups = apr_hash_make(c->p);
    vv_err_t *first = NULL;

    for (int i = 0; i < plan->nelts; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        apr_array_header_t *paths;
        if (m->info->group < 0 || m->forget) {
            continue;
        }
        if (!(paths = apr_hash_get(groups, &m->info->group,
                                   sizeof(m->info->group)))) {
            paths = apr_array_make(c->p, 2, sizeof(const char *));
            apr_hash_set(groups, &m->info->group, sizeof(m->info->group),
                         paths);
        }
        APR_ARRAY_PUSH(paths, const char *) = m->info->path;
    }
    for (apr_hash_index_t *hi = apr_hash_first(c->p, groups); hi;
         hi = apr_hash_next(hi)) {
        const void *key;
        void *paths;
        vv_err_t *e;
        apr_hash_this(hi, &key, NULL, &paths);
        if ((e = vv_owner_apply(c->p, c->h, *(const int *)key, paths, owner))
            && !first) {
            first = e;
        }
    }
    return first;
}

/* "USER:GROUP" of a group's node, looked up once per group (a group of
 * 256 functions is one node). */
static const char *node_owner(vv_ctx_t *c, apr_hash_t *seen, int group)
{
    const char *o = apr_hash_get(seen, &group, sizeof(group));

    if (!o) {
        int *key = apr_pmemdup(c->p, &group, sizeof(group));
        o = vv_owner_of_node(c->p, c->h, group);
        apr_hash_set(seen, key, sizeof(*key), o ? o : "");
    }
    return o && *o ? o : NULL;
}

/* A device bind found already on the VFIO driver: a record of ours
 * becomes persistent when this bind asks for it (only unbind makes one
 * forget), and one left unclaimed (claimed at boot after all) is bound. */
static void keep_bound(vv_ctx_t *c, mv_t *m)
{
    vv_record_t *r = NULL;

    if (vv_record_get(c->p, c->pol->state_dir, m->info->address, &r) || !r
        || !ids_match(r, m->info)) {
        return;
    }
    m->rec = r;
    if (!strcmp(r->phase, VV_PHASE_BOUND) && (r->persist || !c->pol->persist
                                              || !m->info->has_subsys)) {
        return;
    }
    if (strcmp(r->phase, VV_PHASE_BOUND) && strcmp(r->phase,
                                                   VV_PHASE_UNCLAIMED)) {
        return;
    }
    r->persist = r->persist || (c->pol->persist && m->info->has_subsys);
    if (r->persist && !r->has_subsys) {
        r->has_subsys = 1;
        r->subsys_vendor = m->info->subsys_vendor;
        r->subsys_device = m->info->subsys_device;
    }
    r->reason = NULL;
    r->vhost = c->pol->vhost;
    if (c->pol->owner) {
        r->owner = c->pol->owner->text;
    }
    set_phase(c, r, VV_PHASE_BOUND);
}

static vv_err_t *run_moves(vv_ctx_t *c, apr_array_header_t *plan)
{
    for (int i = 0; i < plan->nelts; i++) {
        mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
        vv_err_t *e;

        if (!m->move) {
            continue;
        }
        if ((e = vv_step_move(c, m->info->address))) {
            m->out->outcome = "failed";
            m->out->error = e->msg;
            if (e->kind == VV_E_TIMEOUT) {
                /* Its write is still pending in the kernel: undoing now
                 * would race it.  The record stays; recovery finishes it. */
                set_phase(c, m->rec, VV_PHASE_STUCK);
                m->move = 0;
            }
            for (int k = i + 1; k < plan->nelts; k++) {
                mv_t *rest = APR_ARRAY_IDX(plan, k, mv_t *);
                if (rest->move) {
                    rest->out->outcome = "not_attempted";
                    rest->move = 0;
                    keep_prior(c, rest);
                }
            }
            roll_back(c, plan, i);
            return e;
        }
        m->out->outcome = "bound";
        m->out->driver = c->pol->driver;
    }
    return NULL;
}

/* parts[from..to) joined with ", ". */
static const char *joined(apr_pool_t *p, const apr_array_header_t *parts,
                          int from, int to)
{
    apr_array_header_t *pieces = apr_array_make(p, 2 * (to - from),
                                                sizeof(const char *));

    for (int i = from; i < to; i++) {
        if (i > from) {
            APR_ARRAY_PUSH(pieces, const char *) = ", ";
        }
        APR_ARRAY_PUSH(pieces, const char *) = APR_ARRAY_IDX(parts, i,
                                                             const char *);
    }
    return apr_array_pstrcat(p, pieces, 0);
}

/* Who moved which device: one line when it fits, else a summary line and
 * the devices in lines of their own (VFIO10611), each whole: httpd cuts a
 * log line at 8 KiB. */
#define AUDIT_LINE 4096

static void audit(vv_ctx_t *c, const char *verb, const vv_op_t *op)
{
    apr_array_header_t *parts = apr_array_make(c->p, op->devices->nelts,
                                               sizeof(const char *));
    const char *who = c->pol->remote ? c->pol->remote : "?";
    const char *end = op->err ? op->err->msg : "";
    const char *result = op->err ? "failed: " : "ok";
    int level = op->err ? VV_LOG_WARNING : VV_LOG_NOTICE;
    int n = op->devices->nelts, line = 0, split;
    size_t len = 0;

    for (int i = 0; i < n; i++) {
        const vv_outcome_t *o = APR_ARRAY_IDX(op->devices, i, vv_outcome_t *);
        const char *one = apr_psprintf(c->p, "%s %s -> %s (%s)", o->address,
                                       shown_driver(o->previous_driver),
                                       shown_driver(o->driver), o->outcome);
        APR_ARRAY_PUSH(parts, const char *) = one;
        len += strlen(one) + 2;
    }
    split = len >= AUDIT_LINE;
    vv_log(level, VV_TAG(10610) "%s from %s: %s: %s%s", verb, who,
           !n ? "no device moved" : !split
           ? joined(c->p, parts, 0, n)
           : apr_psprintf(c->p, "%d devices, listed in the VFIO10611 lines "
                          "that follow", n), result, end);
    for (int from = 0, to; split && from < n; from = to) {
        for (len = 0, to = from; to < n && (to == from || len + strlen(
                 APR_ARRAY_IDX(parts, to, const char *)) + 2 < AUDIT_LINE);
             to++) {
            len += strlen(APR_ARRAY_IDX(parts, to, const char *)) + 2;
        }
        vv_log(level, VV_TAG(10611) "%s from %s, part %d: %s", verb, who,
               ++line, joined(c->p, parts, from, to));
    }
}

static void reconcile_locked(vv_ctx_t *c, const apr_array_header_t *skip);

/* What every operation does first: the addresses, the allowlist, the lock,
 * and the records an interrupted operation left.  A release finishes the
 * records of the devices it names itself. */
static vv_err_t *begin(vv_ctx_t *c, const char *verb,
                       const apr_array_header_t *raw,
                       apr_array_header_t **addrs, vv_lock_t **lock)
{
    vv_err_t *e;

    if ((e = parse(c->p, raw, addrs))
        || (e = need_allowlist(c->p, c->pol, verb))
        || (e = vv_lock_take(c->p, c->pol->state_dir, lock_set(c, *addrs),
                             c->pol->timeout_ms, lock))) {
        return e;
    }
    reconcile_locked(c, strcmp(verb, "unbind") ? NULL : *addrs);
    return NULL;
}

vv_op_t *vv_bind(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                 const apr_array_header_t *raw)
{
    vv_ctx_t ctx = { p, h, pol }, *c = &ctx;
    vv_op_t *op = new_op(p);
    apr_array_header_t *addrs = NULL, *plan = NULL;
    apr_hash_t *owners = apr_hash_make(p);
    vv_lock_t *lock = NULL;

    if ((op->err = begin(c, "bind", raw, &addrs, &lock))) {
        return op;
    }
    if (!(op->err = plan_bind(c, addrs, &plan))) {
        for (int i = 0; i < plan->nelts; i++) {
            mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
            m->move = !is_on_target(c, m->info);
            m->out = outcome(op, p, m, m->move ? "not_attempted"
                                               : "already_bound");
        }
        if (!(op->err = check_in_use(c, plan))
            && !(op->err = record_all(c, plan))
            && !(op->err = run_moves(c, plan))) {
            for (int i = 0; i < plan->nelts; i++) {
                mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
                m->out->group_path = group_node(c, m->info->group, 1);
            }
            /* Without VolantVfioGroupOwner the nodes stay as the kernel
             * (or udev, or whoever bound a group before) made them. */
            if (c->pol->owner
                && (op->err = hand_over(c, plan, c->pol->owner))) {
                /* Nobody gets a group this bind could not finish. */
                hand_over(c, plan, NULL);
                roll_back(c, plan, plan->nelts - 1);
            }
            for (int i = 0; !op->err && i < plan->nelts; i++) {
                mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
                if (m->move) {
                    m->rec->owner = c->pol->owner ? c->pol->owner->text : NULL;
                    set_phase(c, m->rec, VV_PHASE_BOUND);
                }
                else {
                    keep_bound(c, m);
                }
                m->out->persist = m->rec && m->rec->persist;
                m->out->owner = m->out->group_path
                    ? node_owner(c, owners, m->info->group) : NULL;
            }
        }
        else if (op->err->kind == VV_E_IN_USE) {
            for (int i = 0; i < plan->nelts; i++) {
                vv_outcome_t *o = APR_ARRAY_IDX(plan, i, mv_t *)->out;
                o->outcome = strcmp(o->outcome, "already_bound")
                    ? "refused" : o->outcome;
            }
        }
    }
    audit(c, "bind", op);
    vv_lock_free(lock);
    return op;
}

/* --- unbind ---------------------------------------------------------------- */

static int has_physfn(vv_ctx_t *c, const vv_devinfo_t *d)
{
    return vv_link_target(c->p, apr_pstrcat(c->p, d->path, "/physfn", NULL))
        != NULL;
}

/* A persistent binding that is not in force (its device off the VFIO
 * driver: a host driver took it at boot, or another card answers at its
 * address): unbind forgets it and writes nothing to the device. */
static int forgettable(vv_ctx_t *c, const vv_record_t *r,
                       const vv_devinfo_t *d)
{
    return r && r->persist && !is_on_target(c, d)
        && (!strcmp(r->phase, VV_PHASE_UNCLAIMED)
            || !strcmp(r->phase, VV_PHASE_CHANGED));
}

static vv_err_t *plan_unbind(vv_ctx_t *c, const apr_array_header_t *addrs,
                             apr_array_header_t **out)
{
    apr_array_header_t *plan = apr_array_make(c->p, 8, sizeof(mv_t *));
    apr_array_header_t *records;
    vv_err_t *e;

    for (int i = 0; i < addrs->nelts; i++) {
        vv_devinfo_t *d;
        mv_t *m;
        if ((e = read_dev(c, APR_ARRAY_IDX(addrs, i, const char *), &d))) {
            return e;
        }
        m = add_mv(plan, c->p, d, 1, NULL);
        if ((e = vv_record_get(c->p, c->pol->state_dir, d->address, &m->rec))) {
            return e;
        }
        if ((m->forget = forgettable(c, m->rec, d))) {
            continue;
        }
        if (m->rec && !same_hardware(c, m->rec, d)) {
            m->rec = NULL;
        }
        /* A record in a transitional phase is a release to finish; a
         * quarantined device off the VFIO driver has nothing to release
         * (and its quarantine is not an unbind's to end). */
        if (!is_on_target(c, d)
            && !(m->rec && strcmp(m->rec->phase, VV_PHASE_BOUND)
                 && strcmp(m->rec->phase, VV_PHASE_QUARANTINED))) {
            return vv_err(c->p, VV_E_KERNEL, "device %s not bound to vfio-pci",
                          d->address);
        }
        /* One we did not move (vfio-pci.ids at boot, driverctl, an
         * operator) goes to a host driver only if the operator allows the
         * module to handle it. */
        if (!m->rec && !vv_allowlist_match(c->pol->allow, d->vendor,
                                           d->device)) {
            return vv_err(c->p, VV_E_NOT_ALLOWED, "device %s (%04x:%04x) was "
                          "not bound by this module and is not in the "
                          "allowlist (VolantVfioAllow): unbind refused",
                          d->address, d->vendor, d->device);
        }
    }
    /* Companions bound along with a device are released with it.  A
     * damaged record of some other device must not block every release:
     * the list holds the readable ones. */
    if ((e = vv_record_list(c->p, c->pol->state_dir, &records))) {
        vv_log(VV_LOG_ERR, VV_TAG(10625) "%s", e->msg);
    }
    for (int i = 0; i < records->nelts; i++) {
        vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        vv_devinfo_t *d;
        if (r->companion_of && in_plan(plan, r->companion_of)
            && !in_plan(plan, r->address) && !read_dev(c, r->address, &d)
            && forgettable(c, r, d)) {
            mv_t *m = add_mv(plan, c->p, d, 0, r->companion_of);
            m->rec = r;
            m->forget = 1;
        }
        else if (r->companion_of && in_plan(plan, r->companion_of)
            && !in_plan(plan, r->address) && !read_dev(c, r->address, &d)
            && is_on_target(c, d) && same_hardware(c, r, d)) {
            add_mv(plan, c->p, d, 0, r->companion_of)->rec = r;
        }
    }
    *out = plan;
    return NULL;
}

/* iommufd hands a VM the device through its own node,
 * /dev/vfio/devices/vfioX, without opening the group. */
static vv_err_t *check_cdev_free(vv_ctx_t *c, const vv_devinfo_t *d)
{
    const char *x = d->path ? vv_dir_first_entry(c->p, apr_pstrcat(c->p,
                                                 d->path, "/vfio-dev", NULL))
                            : NULL;
    const char *node = x ? apr_pstrcat(c->p, c->h->dev, "/vfio/devices/", x,
                                       NULL) : NULL;
    const char *who = node && vv_host_has(node, "")
        ? vv_inuse_holders(c->p, c->h, node,
                           apr_pstrcat(c->p, "/dev/vfio/devices/", x, NULL),
                           c->pol->timeout_ms)
        : NULL;

    return who ? vv_err(c->p, VV_E_IN_USE, "device %s is in use: its VFIO "
                        "device node /dev/vfio/devices/%s is open by %s; stop "
                        "the VM using it first", d->address, x, who)
               : NULL;
}

/* A hypervisor holding the group would make the unbind block: refuse at
 * once instead. */
static vv_err_t *check_groups_free(vv_ctx_t *c, apr_array_header_t *plan)
{
    vv_err_t *e;

    for (int i = 0; i < plan->nelts; i++) {
        vv_devinfo_t *d = APR_ARRAY_IDX(plan, i, mv_t *)->info;
        if (d->group >= 0 && is_on_target(c, d)
            && vv_inuse_group_open(c->h, d->group)) {
            const char *node = apr_psprintf(c->p, "%s/vfio/%d", c->h->dev,
                                            d->group);
            const char *who = vv_inuse_holders(c->p, c->h, node,
                apr_psprintf(c->p, "/dev/vfio/%d", d->group),
                c->pol->timeout_ms);
            return vv_err(c->p, VV_E_IN_USE, "device %s is in use: its IOMMU "
                          "group %d is open%s%s; stop the VM using it first",
                          d->address, d->group, who ? " by " : "",
                          who ? who : "");
        }
        if (is_on_target(c, d) && (e = check_cdev_free(c, d))) {
            return e;
        }
    }
    return NULL;
}

/* VFs go before their PF. */
static void order_vfs_first(vv_ctx_t *c, apr_array_header_t *plan)
{
    apr_array_header_t *sorted = apr_array_make(c->p, plan->nelts,
                                                sizeof(mv_t *));

    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < plan->nelts; i++) {
            mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
            if (has_physfn(c, m->info) == !pass) {
                APR_ARRAY_PUSH(sorted, mv_t *) = m;
            }
        }
    }
    memcpy(plan->elts, sorted->elts, sizeof(mv_t *) * (size_t)plan->nelts);
}

/* Unbind of a persistent binding not in force: the record goes.  The
 * card is not touched, except that an override the boot-time claim left
 * on the very card the binding was made for goes back to what it had
 * (checked here: unbind settles no record it names, so the card may have
 * changed since the record was marked). */
static vv_err_t *forget(vv_ctx_t *c, mv_t *m)
{
    char buf[256] = "";
    vv_sysdev_t *sd;
    vv_addr_t a;
    vv_err_t *e;

    vv_addr_parse(m->info->address, &a);
    if (!strcmp(m->rec->phase, VV_PHASE_UNCLAIMED)
        && ids_match(m->rec, m->info)
        && !vv_sysdev_open(c->p, c->h, &a, &sd)) {
        vv_sysdev_read(sd, "driver_override", buf, sizeof(buf));
        vv_sysdev_close(sd);
        if (!strcmp(buf, c->pol->driver)
            && (e = vv_step_override(c, m->info->address,
                                     m->rec->override))) {
            m->out->outcome = "failed";
            m->out->error = e->msg;
            return e;
        }
    }
    vv_log(VV_LOG_NOTICE, VV_TAG(10627) "persistent binding of %s (%s) "
           "forgotten", m->info->address, m->rec->phase);
    drop(c, m->info->address);
    m->out->outcome = "forgotten";
    return NULL;
}

static vv_err_t *release(vv_ctx_t *c, mv_t *m)
{
    const char *now;
    vv_err_t *e;

    if (m->forget) {
        return forget(c, m);
    }
    if (m->rec) {
        set_phase(c, m->rec, VV_PHASE_UNBINDING);
    }
    e = vv_step_restore(c, m->info->address, m->rec, &now);
    m->out->driver = now;
    if (e) {
        m->out->outcome = "failed";
        m->out->error = e->msg;
        if (m->rec) {
            set_phase(c, m->rec, e->kind == VV_E_TIMEOUT ? VV_PHASE_STUCK
                                                         : VV_PHASE_FAILED);
        }
        return e;
    }
    m->out->outcome = m->rec ? "restored" : "unbound";
    if (m->rec) {
        /* Back from a VM: is it still the device it was? */
        const char *why = health(c, m->info->address, m->rec->vendor,
                                 m->rec->device);
        if (why) {
            quarantine(c, m->rec, why);
            m->out->outcome = "quarantined";
            m->out->error = apr_psprintf(c->p, "device %s was released to %s "
                                         "but failed its health check: %s; it "
                                         "is quarantined: %s",
                                         m->info->address, shown_driver(now),
                                         why, how_to_clear(c, m->rec));
            return vv_err(c->p, VV_E_KERNEL, "%s", m->out->error);
        }
        drop(c, m->info->address);
    }
    return NULL;
}

vv_op_t *vv_unbind(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                   const apr_array_header_t *raw)
{
    vv_ctx_t ctx = { p, h, pol }, *c = &ctx;
    vv_op_t *op = new_op(p);
    apr_array_header_t *addrs = NULL, *plan = NULL;
    vv_lock_t *lock = NULL;

    if ((op->err = begin(c, "unbind", raw, &addrs, &lock))) {
        return op;
    }
    if (!(op->err = plan_unbind(c, addrs, &plan))) {
        order_vfs_first(c, plan);
        for (int i = 0; i < plan->nelts; i++) {
            mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
            m->out = outcome(op, p, m, "not_attempted");
        }
        if ((op->err = check_groups_free(c, plan))) {
            for (int i = 0; i < plan->nelts; i++) {
                APR_ARRAY_IDX(plan, i, mv_t *)->out->outcome = "refused";
            }
        }
        else {
            vv_err_t *e = hand_over(c, plan, NULL);
            if (e) {
                vv_log(VV_LOG_WARNING, VV_TAG(10615) "release of %s: group "
                       "node not given back to root: %s",
                       APR_ARRAY_IDX(plan, 0, mv_t *)->info->address, e->msg);
            }
            /* Devices are independent here: release each, report each. */
            for (int i = 0; i < plan->nelts; i++) {
                vv_err_t *e = release(c, APR_ARRAY_IDX(plan, i, mv_t *));
                if (e && (!op->err || e->kind == VV_E_TIMEOUT)) {
                    op->err = e;
                }
            }
        }
    }
    audit(c, "unbind", op);
    vv_lock_free(lock);
    return op;
}

/* --- reset ------------------------------------------------------------------ */

/* What reset checks before it writes: each device one this module holds
 * on the VFIO driver, admitted by the allowlist, with a reset method. */
static vv_err_t *plan_reset(vv_ctx_t *c, const apr_array_header_t *addrs,
                            apr_array_header_t **out)
{
    apr_array_header_t *plan = apr_array_make(c->p, 8, sizeof(mv_t *));
    vv_err_t *e;

    for (int i = 0; i < addrs->nelts; i++) {
        const char *methods;
        vv_devinfo_t *d;
        mv_t *m;
        if ((e = read_dev(c, APR_ARRAY_IDX(addrs, i, const char *), &d))) {
            return e;
        }
        if (!vv_allowlist_match(c->pol->allow, d->vendor, d->device)) {
            return vv_err(c->p, VV_E_NOT_ALLOWED, "device %s (%04x:%04x) not "
                          "in allowlist (VolantVfioAllow)", d->address,
                          d->vendor, d->device);
        }
        m = add_mv(plan, c->p, d, 1, NULL);
        if ((e = vv_record_get(c->p, c->pol->state_dir, d->address,
                               &m->rec))) {
            return e;
        }
        if (!is_on_target(c, d) || !m->rec || !same_hardware(c, m->rec, d)) {
            return vv_err(c->p, VV_E_STATE, "device %s is not held by this "
                          "module on %s (driver: %s): reset resets devices it "
                          "bound, between VMs", d->address, c->pol->driver,
                          shown_driver(d->driver));
        }
        methods = vv_file_read(c->p, apr_pstrcat(c->p, d->path,
                                                 "/reset_method", NULL));
        if (!methods || !*methods || !vv_host_has(d->path, "reset")) {
            return vv_err(c->p, VV_E_STATE, "device %s has no reset method "
                          "(its reset_method is %s): it cannot be reset "
                          "between VMs", d->address, methods ? "empty"
                          : "absent");
        }
    }
    *out = plan;
    return NULL;
}

vv_op_t *vv_reset(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                  const apr_array_header_t *raw)
{
    vv_ctx_t ctx = { p, h, pol }, *c = &ctx;
    vv_op_t *op = new_op(p);
    apr_array_header_t *addrs = NULL, *plan = NULL;
    vv_lock_t *lock = NULL;

    if ((op->err = begin(c, "reset", raw, &addrs, &lock))) {
        return op;
    }
    if (!(op->err = plan_reset(c, addrs, &plan))) {
        for (int i = 0; i < plan->nelts; i++) {
            mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
            m->out = outcome(op, p, m, "not_attempted");
            m->out->group_path = group_node(c, m->info->group, 0);
        }
        /* A VM holding the group would have its device reset under it. */
        if ((op->err = check_groups_free(c, plan))) {
            for (int i = 0; i < plan->nelts; i++) {
                APR_ARRAY_IDX(plan, i, mv_t *)->out->outcome = "refused";
            }
        }
        for (int i = 0; !op->err && i < plan->nelts; i++) {
            mv_t *m = APR_ARRAY_IDX(plan, i, mv_t *);
            const char *why;
            vv_err_t *e = vv_step_reset(c, m->info->address);
            if (!e && (why = health(c, m->info->address, m->rec->vendor,
                                    m->rec->device))) {
                quarantine(c, m->rec, why);
                e = vv_err(p, VV_E_KERNEL, "device %s failed its health check "
                           "after the reset: %s; it is quarantined: %s",
                           m->info->address, why, how_to_clear(c, m->rec));
                m->out->outcome = "quarantined";
            }
            else if (!e) {
                if (!strcmp(m->rec->phase, VV_PHASE_QUARANTINED)) {
                    vv_log(VV_LOG_NOTICE, VV_TAG(10617) "device %s passed its "
                           "health check after a reset: out of quarantine",
                           m->info->address);
                    m->rec->reason = NULL;
                    set_phase(c, m->rec, VV_PHASE_BOUND);
                }
                m->out->outcome = "reset";
            }
            else {
                m->out->outcome = "failed";
            }
            if (e) {
                m->out->error = e->msg;
                op->err = e;
            }
        }
    }
    audit(c, "reset", op);
    vv_lock_free(lock);
    return op;
}

/* --- recovery --------------------------------------------------------------- */

/* Another card answers where a persistent binding's device was (swapped,
 * or the buses renumbered when a card was added): the record is kept and
 * marked, nothing is written to that card. */
static void changed(vv_ctx_t *c, vv_record_t *r, const vv_devinfo_t *d)
{
    const char *now = ids_text(c->p, d->vendor, d->device, d->has_subsys,
                               d->subsys_vendor, d->subsys_device);

    if (!strcmp(r->phase, VV_PHASE_CHANGED) && r->found
        && !strcmp(r->found, now)) {
        return;
    }
    r->found = now;
    r->reason = apr_psprintf(c->p, "its persistent binding was made for "
                             "%s, but the card at this address is now %s "
                             "(swapped, or the buses renumbered): it is left "
                             "on its own driver; if the binding should go, "
                             "POST /api/v1/vfio/devices/unbind of %s forgets "
                             "it without touching the card (or put the card "
                             "back)", ids_text(c->p, r->vendor, r->device,
                             r->has_subsys, r->subsys_vendor,
                             r->subsys_device), now, r->address);
    vv_log(VV_LOG_WARNING, VV_TAG(10628) "device %s: %s", r->address,
           r->reason);
    set_phase(c, r, VV_PHASE_CHANGED);
}

/* A persistent binding whose card is the one it was made for: bound while
 * it is on the VFIO driver, otherwise unclaimed until the start-up re-binds
 * it (a host driver took it at boot: built in, or loaded early). */
static void persistent(vv_ctx_t *c, vv_record_t *r, const vv_devinfo_t *d)
{
    const char *phase = is_on_target(c, d) ? VV_PHASE_BOUND
                                           : VV_PHASE_UNCLAIMED;

    if (!strcmp(r->phase, phase)) {
        return;
    }
    r->found = NULL;
    r->reason = !strcmp(phase, VV_PHASE_BOUND) ? NULL
        : apr_psprintf(c->p, "on %s, not %s: a host driver took it (at boot, "
                       "or by hand); httpd re-binds it when it starts, or "
                       "bind it now", shown_driver(d->driver), c->pol->driver);
    vv_log(VV_LOG_NOTICE, VV_TAG(10629) "persistent binding of %s: %s%s%s",
           r->address, phase, r->reason ? ": " : "",
           r->reason ? r->reason : "");
    set_phase(c, r, phase);
}

static void reconcile_one(vv_ctx_t *c, vv_record_t *r)
{
    vv_devinfo_t *d;
    const char *now;
    vv_err_t *e;

    if (read_dev(c, r->address, &d)) {
        vv_log(VV_LOG_WARNING, VV_TAG(10620) "record of %s kept: the device "
               "is not present", r->address);
        return;
    }
    if (r->persist && !ids_match(r, d)
        && (!strcmp(r->phase, VV_PHASE_BOUND)
            || !strcmp(r->phase, VV_PHASE_UNCLAIMED)
            || !strcmp(r->phase, VV_PHASE_CHANGED))) {
        changed(c, r, d);
        return;
    }
    if (!same_hardware(c, r, d)) {
        return;
    }
    if (r->persist && (!strcmp(r->phase, VV_PHASE_BOUND)
                       || !strcmp(r->phase, VV_PHASE_UNCLAIMED)
                       || !strcmp(r->phase, VV_PHASE_CHANGED))) {
        persistent(c, r, d);
        return;
    }
    if (!strcmp(r->phase, VV_PHASE_BOUND)) {
        if (!is_on_target(c, d) && !strcmp(d->driver, r->driver)) {
            vv_log(VV_LOG_NOTICE, VV_TAG(10621) "%s is back on %s without "
                   "us; record dropped", r->address, shown_driver(r->driver));
            drop(c, r->address);
        }
        return;
    }
    if (!strcmp(r->phase, VV_PHASE_FAILED)
        || !strcmp(r->phase, VV_PHASE_QUARANTINED)
        || !strcmp(r->phase, VV_PHASE_UNCLAIMED)
        || !strcmp(r->phase, VV_PHASE_CHANGED)
        || (d->group >= 0 && vv_inuse_group_open(c->h, d->group))) {
        return; /* an operator's turn, or still held: leave it */
    }
    /* binding, unbinding, stuck: the operation that wrote it is gone, but
     * a write it started may still be in the kernel (a killed writer dies
     * only when its write returns).  Writing the override first is the
     * barrier: the kernel holds the device lock for each of these writes,
     * so this one returns after any earlier one, and what restore reads
     * next is final.  Its failure is restore's to report. */
    vv_step_override(c, r->address, r->override);
    if ((e = vv_step_restore(c, r->address, r, &now))) {
        vv_log(VV_LOG_ERR, VV_TAG(10622) "recovering %s (%s) failed: %s",
               r->address, r->phase, e->msg);
        set_phase(c, r, VV_PHASE_FAILED);
        return;
    }
    vv_log(VV_LOG_NOTICE, VV_TAG(10623) "recovered %s after an interrupted "
           "operation (%s): back on %s", r->address, r->phase,
           shown_driver(now));
    drop(c, r->address);
}

static int listed(const apr_array_header_t *list, const char *addr)
{
    for (int i = 0; list && i < list->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(list, i, const char *), addr)) {
            return 1;
        }
    }
    return 0;
}

/* Under the lock no other operation runs: a record in a transitional phase
 * belongs to one that died. */
static void reconcile_locked(vv_ctx_t *c, const apr_array_header_t *skip)
{
    apr_array_header_t *records;
    vv_err_t *e = vv_record_list(c->p, c->pol->state_dir, &records);

    if (e) {
        vv_log(VV_LOG_ERR, VV_TAG(10624) "%s", e->msg);
    }
    for (int i = 0; i < records->nelts; i++) {
        vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        if (!listed(skip, r->address)) {
            reconcile_one(c, r);
        }
    }
}

vv_err_t *vv_recover(apr_pool_t *p, const vv_host_t *h,
                     const vv_policy_t *pol)
{
    vv_ctx_t ctx = { p, h, pol };
    apr_array_header_t *none = apr_array_make(p, 1, sizeof(const char *));
    vv_lock_t *lock;
    vv_err_t *e;

    if ((e = vv_record_init(p, pol->state_dir))
        || (e = vv_lock_take(p, pol->state_dir, none, 3600 * 1000, &lock))) {
        return e;
    }
    reconcile_locked(&ctx, NULL);
    vv_lock_free(lock);
    return NULL;
}

vv_op_t *vv_reclaim(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                    const apr_array_header_t *recs)
{
    apr_array_header_t *addrs = apr_array_make(p, recs->nelts,
                                               sizeof(const char *));
    vv_op_t *op;

    for (int i = 0; i < recs->nelts; i++) {
        APR_ARRAY_PUSH(addrs, const char *) =
            APR_ARRAY_IDX(recs, i, const vv_record_t *)->address;
    }
    op = vv_bind(p, h, pol, addrs);
    for (int i = 0; op->err && i < recs->nelts; i++) {
        const vv_record_t *was = APR_ARRAY_IDX(recs, i, const vv_record_t *);
        vv_record_t *now = NULL;
        vv_err_t *e;

        /* A refused bind left the record as it was; one rolled back dropped
         * it with the move: either way the binding still persists, and
         * says why it is not in force. */
        if (vv_record_get(p, pol->state_dir, was->address, &now)) {
            continue;
        }
        if (now && strcmp(now->phase, VV_PHASE_UNCLAIMED)) {
            continue;
        }
        now = now ? now : apr_pmemdup(p, was, sizeof(*was));
        now->phase = VV_PHASE_UNCLAIMED;
        now->reason = apr_psprintf(p, "re-binding it at start-up failed: %s",
                                   op->err->msg);
        now->time = apr_time_now();
        now->pid = (long)getpid();
        if ((e = vv_record_put(p, pol->state_dir, now))) {
            vv_log(VV_LOG_ERR, VV_TAG(10630) "%s", e->msg);
        }
    }
    return op;
}

/* --- replies ---------------------------------------------------------------- */

static cJSON *outcome_json(const vv_outcome_t *o, int bind)
{
    cJSON *j = cJSON_CreateObject();
    char group[16];

    snprintf(group, sizeof(group), "%d", o->group);
    cJSON_AddStringToObject(j, "address", o->address);
    cJSON_AddStringToObject(j, "previous_driver", o->previous_driver);
    cJSON_AddStringToObject(j, "driver", o->driver);
    cJSON_AddStringToObject(j, "iommu_group", o->group < 0 ? "" : group);
    if (o->group_path) {
        cJSON_AddStringToObject(j, "group_path", o->group_path);
    }
    else {
        cJSON_AddNullToObject(j, "group_path");
    }
    if (o->owner) {
        cJSON_AddStringToObject(j, "owner", o->owner);
    }
    cJSON_AddStringToObject(j, "outcome", o->outcome);
    cJSON_AddBoolToObject(j, "requested", o->requested);
    if (bind) {
        cJSON_AddBoolToObject(j, "persist", o->persist);
    }
    if (o->error) {
        cJSON_AddStringToObject(j, "error", o->error);
    }
    return j;
}

cJSON *vv_op_json(const vv_op_t *op, const char *verb, const char *driver)
{
    int bind = !strcmp(verb, "bind"), reset = !strcmp(verb, "reset");
    cJSON *j = cJSON_CreateObject(), *list, *devices;

    cJSON_AddBoolToObject(j, "success", op->err == NULL);
    if (op->err) {
        cJSON_AddStringToObject(j, "message", op->err->msg);
        cJSON_AddStringToObject(j, "error", op->err->msg);
        list = cJSON_AddArrayToObject(j, "errors");
        for (int i = 0; i < op->devices->nelts; i++) {
            const vv_outcome_t *o = APR_ARRAY_IDX(op->devices, i,
                                                  vv_outcome_t *);
            if (o->error) {
                cJSON_AddItemToArray(list, cJSON_CreateString(o->error));
            }
        }
        if (cJSON_GetArraySize(list) == 0) {
            cJSON_AddItemToArray(list, cJSON_CreateString(op->err->msg));
        }
    }
    else {
        char msg[160];
        snprintf(msg, sizeof(msg), bind ? "Devices successfully bound to %s "
                 "driver" : "Devices successfully unbound from %s driver",
                 driver);
        cJSON_AddStringToObject(j, "message", reset ? "Devices successfully "
                                "reset" : msg);
        list = cJSON_AddArrayToObject(j, reset ? "reset_devices" : bind
                                      ? "bound_devices" : "unbound_devices");
        for (int i = 0; i < op->devices->nelts; i++) {
            cJSON_AddItemToArray(list, cJSON_CreateString(
                APR_ARRAY_IDX(op->devices, i, vv_outcome_t *)->address));
        }
    }
    devices = cJSON_AddArrayToObject(j, "devices");
    for (int i = 0; i < op->devices->nelts; i++) {
        cJSON_AddItemToArray(devices, outcome_json(
            APR_ARRAY_IDX(op->devices, i, vv_outcome_t *), bind));
    }
    return j;
}
