#include "vv_api.h"
#include "vv_config.h"
#include "vv_helper.h"
#include "vv_http.h"
#include "core/vv_allow.h"
#include "core/vv_device.h"
#include "core/vv_metrics.h"
#include "core/vv_pci.h"
#include "core/vv_proto.h"
#include "core/vv_ready.h"
#include "core/vv_record.h"
#include "core/vv_request.h"

#include <apr_hash.h>
#include <apr_strings.h>

/* --- request shapes shared by several endpoints --------------------------- */

static vv_err_t *no_group(vv_call_t *c, const vv_devinfo_t *d)
{
    if (!vv_host_has_groups(c->host)) {
        return vv_err(c->p, VV_E_NO_IOMMU, "IOMMU not enabled on this system");
    }
    return vv_err(c->p, VV_E_STATE, "device %s has no IOMMU group",
                  d->address);
}

/* --- replies ------------------------------------------------------------- */

/* The objects below are built by the thousand (GET /devices lists every
 * function): their keys are literals and their values are literals or live
 * in the request's pool, which outlives every reply tree (vv_json_own
 * deletes it in a cleanup of that pool), so cJSON is asked to copy neither.
 * Three allocations a field become one. */
static void put(cJSON *o, const char *key, cJSON *v)
{
    cJSON_AddItemToObjectCS(o, key, v);
}

static cJSON *text_ref(const char *pooled)
{
    return cJSON_CreateStringReference(pooled);
}

static void add_hex(apr_pool_t *p, cJSON *o, const char *name, unsigned v)
{
    put(o, name, text_ref(apr_psprintf(p, "%04x", v)));
}

static void add_name(cJSON *o, const char *name, const char *value)
{
    put(o, name, value ? text_ref(value) : cJSON_CreateNull());
}

static const char *group_text(apr_pool_t *p, int group)
{
    return group < 0 ? "" : apr_itoa(p, group);
}

/* The info object: Volant's six fields first, then ours. */
static cJSON *info_json(apr_pool_t *p, const vv_devinfo_t *d)
{
    cJSON *o = cJSON_CreateObject();

    put(o, "address", text_ref(d->address));
    add_hex(p, o, "vendor", d->vendor);
    add_hex(p, o, "device", d->device);
    put(o, "driver", text_ref(d->driver));
    put(o, "iommu_group", text_ref(group_text(p, d->group)));
    put(o, "numa_node", text_ref(d->numa_node));
    add_name(o, "vendor_name", vv_pci_vendor_name(p, d->vendor));
    add_name(o, "device_name", vv_pci_device_name(p, d->vendor, d->device));
    add_hex(p, o, "class", d->class24 >> 8);
    add_name(o, "class_name", vv_pci_class_name(p, d->class24 >> 8));
    if (d->has_subsys) {
        add_hex(p, o, "subsystem_vendor", d->subsys_vendor);
        add_hex(p, o, "subsystem_device", d->subsys_device);
    }
    else {
        put(o, "subsystem_vendor", cJSON_CreateNull());
        put(o, "subsystem_device", cJSON_CreateNull());
    }
    put(o, "is_bridge", cJSON_CreateBool(d->is_bridge));
    return o;
}

static void add_tri(cJSON *o, const char *name, vv_tri_t v)
{
    put(o, name, v == VV_UNKNOWN ? cJSON_CreateNull()
                 : cJSON_CreateBool(v == VV_YES));
}

static cJSON *strings_json(const apr_array_header_t *list)
{
    cJSON *a = cJSON_CreateArray();

    for (int i = 0; i < list->nelts; i++) {
        cJSON_AddItemToArray(a, text_ref(APR_ARRAY_IDX(list, i,
                                                       const char *)));
    }
    return a;
}

/* Whether a group can go to a VM as it is now: every endpoint on VFIO,
 * pci-stub or no driver.  self is one of them, read already. */
static vv_tri_t group_viable(vv_call_t *c, const vv_devinfo_t *self)
{
    const char *driver = vv_conf_driver(c->r->server);
    apr_array_header_t *list = NULL;

    if (self->group < 0
        || vv_host_group_members(c->p, c->host, self->group, &list)) {
        return VV_UNKNOWN;
    }
    for (int i = 0; i < list->nelts; i++) {
        const char *m = APR_ARRAY_IDX(list, i, const char *);
        vv_devinfo_t *other;
        vv_addr_t a;
        if (strcmp(m, self->address) == 0 ? !vv_device_viable(self, driver)
            : vv_addr_parse(m, &a)
              && !vv_device_read(c->p, c->host, &a, &other)
              && !vv_device_viable(other, driver)) {
            return VV_NO;
        }
    }
    return VV_YES;
}

/* The readiness fields of an info object: what a VM will meet. */
static void add_readiness(apr_pool_t *p, cJSON *o, const vv_devinfo_t *d,
                          vv_tri_t viable)
{
    vv_devready_t *x = vv_ready_device(p, d);

    put(o, "reset_method", strings_json(x->reset));
    if (x->has_link) {
        cJSON *l = cJSON_CreateObject();
        put(o, "link", l);
        put(l, "speed", text_ref(x->speed));
        put(l, "width", cJSON_CreateNumber(x->width));
        put(l, "max_speed", text_ref(x->max_speed));
        put(l, "max_width", cJSON_CreateNumber(x->max_width));
    }
    else {
        put(o, "link", cJSON_CreateNull());
    }
    put(o, "has_rom", cJSON_CreateBool(x->has_rom));
    if (x->is_pf) {
        cJSON *v = cJSON_CreateObject();
        put(o, "sriov", v);
        put(v, "total_vfs", cJSON_CreateNumber(x->total_vfs));
        put(v, "num_vfs", cJSON_CreateNumber(x->num_vfs));
    }
    else {
        put(o, "sriov", cJSON_CreateNull());
    }
    add_tri(o, "group_viable", viable);
}

static cJSON *reply(vv_call_t *c, cJSON *json)
{
    return c->reply = vv_json_own(c->p, json);
}

/* --- POST /devices/info -------------------------------------------------- */

vv_err_t *vv_api_info(vv_call_t *c)
{
    vv_devinfo_t *d = NULL;
    vv_addr_t a;
    vv_err_t *e;

    if ((e = vv_request_address(c->p, c->req, &a))
        || (e = vv_device_read(c->p, c->host, &a, &d))) {
        return e;
    }
    add_readiness(c->p, reply(c, info_json(c->p, d)), d,
                  group_viable(c, d));
    return NULL;
}

/* --- POST /devices/validate --------------------------------------------- */

/* Every problem of one device, appended to errors. */
static int check_device(vv_call_t *c, const char *raw,
                        const vv_allowlist_t *mine,
                        const vv_allowlist_t *server, cJSON *errors,
                        const vv_ready_t *host, apr_array_header_t *warnings)
{
    int no_group = 0;
    vv_devinfo_t *d = NULL;
    vv_addr_t a;
    vv_err_t *e;

#define PROBLEM(...) \
    cJSON_AddItemToArray(errors, cJSON_CreateString( \
        apr_psprintf(c->p, __VA_ARGS__)))
    if (!vv_addr_parse(raw, &a)) {
        PROBLEM("%s", vv_addr_format_error(c->p, raw));
        return 0;
    }
    if ((e = vv_device_read(c->p, c->host, &a, &d))) {
        PROBLEM("%s", e->msg);
        return 0;
    }
    if (mine && !vv_allowlist_match(mine, d->vendor, d->device)) {
        PROBLEM("device %s (%04x:%04x) not in allowlist", d->address,
                d->vendor, d->device);
    }
    if (server && !vv_allowlist_match(server, d->vendor, d->device)) {
        PROBLEM("device %s (%04x:%04x) not in server allowlist "
                "(VolantVfioAllow)", d->address, d->vendor, d->device);
    }
    if (d->group < 0) {
        PROBLEM("device %s has no IOMMU group", d->address);
        no_group = 1;
    }
    if (d->is_bridge) {
        PROBLEM("device %s is a bridge, not an endpoint: it cannot be "
                "passed through", d->address);
    }
    vv_ready_device_advice(c->p, d, vv_ready_device(c->p, d), host, warnings);
#undef PROBLEM
    return no_group;
}

/* The first few problems, then how many more: errors lists them all. */
static const char *summary(vv_call_t *c, const cJSON *errors)
{
    enum { SHOWN = 5 };
    int n = cJSON_GetArraySize(errors), i = 0;
    const char *out = "";
    const cJSON *it;

    cJSON_ArrayForEach(it, errors) {
        if (i == SHOWN) {
            return apr_psprintf(c->p, "%s; and %d more problems", out, n - i);
        }
        out = apr_pstrcat(c->p, out, i++ ? "; " : "", it->valuestring, NULL);
    }
    return out;
}

vv_err_t *vv_api_validate(vv_call_t *c)
{
    const vv_allowlist_t *server = vv_conf_allow(c->r->server);
    apr_array_header_t *raw = NULL;
    vv_allowlist_t *mine = NULL;
    apr_array_header_t *warnings;
    const vv_ready_t *host;
    cJSON *out, *errors;
    int missing_groups = 0;
    vv_err_t *e;

    if ((e = vv_request_addresses(c->p, c->req, &raw))
        || (e = vv_request_allowlist(c->p, c->req, &mine))) {
        return e;
    }
    out = reply(c, cJSON_CreateObject());
    errors = cJSON_CreateArray();
    host = vv_ready_host(c->p, c->host);
    warnings = apr_array_make(c->p, 4, sizeof(const char *));
    for (int i = 0; i < raw->nelts; i++) {
        missing_groups += check_device(c, APR_ARRAY_IDX(raw, i, const char *),
                                       mine, server, errors, host, warnings);
    }
    if (missing_groups && !vv_host_has_groups(c->host)) {
        cJSON_InsertItemInArray(errors, 0, cJSON_CreateString(
                                    "IOMMU not enabled on this system"));
    }
    if (cJSON_GetArraySize(errors) == 0) {
        cJSON_Delete(errors);
        cJSON_AddTrueToObject(out, "valid");
        cJSON_AddStringToObject(out, "message", "All devices are valid and "
                                "available for passthrough");
        cJSON_AddItemToObject(out, "warnings", strings_json(warnings));
        return NULL;
    }
    cJSON_AddFalseToObject(out, "valid");
    cJSON_AddStringToObject(out, "message", summary(c, errors));
    cJSON_AddItemToObject(out, "errors", errors);
    cJSON_AddItemToObject(out, "warnings", strings_json(warnings));
    return NULL;
}

/* --- POST /devices/iommu-groups ----------------------------------------- */

/* Each requested device, read (the callers decide what a missing group
 * means for them). */
static vv_err_t *grouped_devices(vv_call_t *c, apr_array_header_t **out)
{
    apr_array_header_t *addrs = NULL, *devs = NULL;
    vv_err_t *e;

    if ((e = vv_request_parsed(c->p, c->req, &addrs))) {
        return e;
    }
    devs = apr_array_make(c->p, addrs->nelts, sizeof(vv_devinfo_t *));
    for (int i = 0; i < addrs->nelts; i++) {
        vv_devinfo_t *d;
        if ((e = vv_device_read(c->p, c->host,
                                &APR_ARRAY_IDX(addrs, i, vv_addr_t), &d))) {
            return e;
        }
        APR_ARRAY_PUSH(devs, vv_devinfo_t *) = d;
    }
    *out = devs;
    return NULL;
}

static cJSON *group_json(vv_call_t *c, int group, vv_err_t **err)
{
    const char *driver = vv_conf_driver(c->r->server);
    cJSON *o = cJSON_CreateObject(), *devices, *members;
    apr_array_header_t *list = NULL;
    int viable = 1;

    if ((*err = vv_host_group_members(c->p, c->host, group, &list))) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", apr_itoa(c->p, group));
    devices = cJSON_AddArrayToObject(o, "devices");
    members = cJSON_CreateArray();
    for (int i = 0; i < list->nelts; i++) {
        const char *addr = APR_ARRAY_IDX(list, i, const char *);
        cJSON *m = cJSON_CreateObject();
        vv_devinfo_t *d;
        vv_addr_t a;

        cJSON_AddItemToArray(devices, cJSON_CreateString(addr));
        cJSON_AddItemToArray(members, m);
        cJSON_AddStringToObject(m, "address", addr);
        vv_addr_parse(addr, &a);
        if (vv_device_read(c->p, c->host, &a, &d)) {
            /* Listed but unreadable: being removed.  Say so. */
            cJSON_AddNullToObject(m, "driver");
            cJSON_AddNullToObject(m, "is_bridge");
            continue;
        }
        cJSON_AddStringToObject(m, "driver", d->driver);
        cJSON_AddBoolToObject(m, "is_bridge", d->is_bridge);
        viable &= vv_device_viable(d, driver);
    }
    cJSON_AddBoolToObject(o, "viable", viable);
    cJSON_AddItemToObject(o, "members", members);
    return o;
}

vv_err_t *vv_api_iommu_groups(vv_call_t *c)
{
    apr_array_header_t *devs = NULL;
    apr_hash_t *seen = apr_hash_make(c->p);
    cJSON *out;
    vv_err_t *e;

    if ((e = grouped_devices(c, &devs))) {
        return e;
    }
    for (int i = 0; i < devs->nelts; i++) {
        vv_devinfo_t *d = APR_ARRAY_IDX(devs, i, vv_devinfo_t *);
        if (d->group < 0) {
            return no_group(c, d);
        }
    }
    out = vv_json_own(c->p, cJSON_CreateArray());
    for (int i = 0; i < devs->nelts; i++) {
        vv_devinfo_t *d = APR_ARRAY_IDX(devs, i, vv_devinfo_t *);
        const char *key = apr_itoa(c->p, d->group);
        cJSON *g;

        if (apr_hash_get(seen, key, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, key);
        if (!(g = group_json(c, d->group, &e))) {
            return e;
        }
        cJSON_AddItemToArray(out, g);
    }
    c->reply = out;
    return NULL;
}

/* --- POST /devices/group-paths ------------------------------------------ */

static cJSON *paths_json(vv_call_t *c, const vv_devinfo_t *d,
                         const char *group_path)
{
    const char *vfio = vv_dir_first_entry(c->p,
        apr_pstrcat(c->p, d->path, "/vfio-dev", NULL));
    const char *cdev = vfio ? apr_pstrcat(c->p, c->host->dev,
                                          "/vfio/devices/", vfio, NULL) : NULL;
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "address", d->address);
    cJSON_AddStringToObject(o, "group_path", group_path);
    add_name(o, "cdev_path", cdev && vv_host_has(cdev, "") ? cdev : NULL);
    /* Who may open the group node now (VolantVfioGroupOwner). */
    add_name(o, "owner", vv_owner_of_node(c->p, c->host, d->group));
    cJSON_AddStringToObject(o, "sysfs_path",
                            apr_pstrcat(c->p, c->host->sysfs,
                                        "/bus/pci/devices/", d->address,
                                        NULL));
    return o;
}

vv_err_t *vv_api_group_paths(vv_call_t *c)
{
    const char *driver = vv_conf_driver(c->r->server);
    apr_array_header_t *devs = NULL;
    apr_hash_t *seen = apr_hash_make(c->p);
    cJSON *out, *paths, *details;
    vv_err_t *e;

    if ((e = grouped_devices(c, &devs))) {
        return e;
    }
    /* Owned by the pool, but the reply only once every device passed. */
    out = vv_json_own(c->p, cJSON_CreateObject());
    paths = cJSON_AddArrayToObject(out, "group_paths");
    details = cJSON_AddArrayToObject(out, "devices");
    for (int i = 0; i < devs->nelts; i++) {
        vv_devinfo_t *d = APR_ARRAY_IDX(devs, i, vv_devinfo_t *);
        const char *path;

        if (!vv_device_on_vfio(d, driver)) {
            return vv_err(c->p, VV_E_STATE, "device %s is not bound to "
                          "vfio-pci (current driver: %s)", d->address,
                          d->driver[0] ? d->driver : "none");
        }
        if (d->group < 0) {
            return no_group(c, d);
        }
        path = apr_psprintf(c->p, "%s/vfio/%d", c->host->dev, d->group);
        if (!vv_host_has(path, "")) {
            return vv_err(c->p, VV_E_STATE, "device %s is bound to %s but %s "
                          "does not exist (is devtmpfs mounted on %s?)",
                          d->address, d->driver, path, c->host->dev);
        }
        if (!apr_hash_get(seen, path, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, path, APR_HASH_KEY_STRING, path);
            cJSON_AddItemToArray(paths, cJSON_CreateString(path));
        }
        cJSON_AddItemToArray(details, paths_json(c, d, path));
    }
    c->reply = out;
    return NULL;
}

/* --- POST /devices/bind and /devices/unbind -------------------------------- */

cJSON *vv_api_op_failure(const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddFalseToObject(o, "success");
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "error", msg);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "errors"),
                         cJSON_CreateString(msg));
    return o;
}

/* The worker checks what it can without privilege, then the helper decides
 * (re-checking everything) and builds the reply. */
static vv_err_t *operate(vv_call_t *c, const char *op)
{
    apr_array_header_t *addrs, *canon;
    const char *owner = NULL;
    const vv_owner_t *to;
    cJSON *body;
    vv_err_t *e;
    int kind, persist = 0;

    if (!(e = vv_request_parsed(c->p, c->req, &addrs))
        && addrs->nelts > VV_PROTO_MAX_ADDRESSES) {
        e = vv_err(c->p, VV_E_BAD_REQUEST, "too many devices in one request "
                   "(%d; at most %d)", addrs->nelts, VV_PROTO_MAX_ADDRESSES);
    }
    /* Who gets the group nodes: a bind may name one of the configured
     * owners (the helper checks again). */
    if (!e && !strcmp(op, "bind")
        && !(e = vv_request_owner(c->p, c->req, &owner))
        && !(e = vv_request_persist(c->p, c->req, &persist))) {
        e = vv_owner_pick(c->p, vv_conf_owners(c->r->server), owner, &to);
    }
    if (e) {
        return e;
    }
    canon = apr_array_make(c->p, addrs->nelts, sizeof(const char *));
    for (int i = 0; i < addrs->nelts; i++) {
        APR_ARRAY_PUSH(canon, const char *) =
            APR_ARRAY_IDX(addrs, i, vv_addr_t).text;
    }
    if ((e = vv_helper_call_bind(c->r, op, canon, owner, persist, &kind,
                                 &body))) {
        return e;
    }
    reply(c, body);
    if (kind) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");
        return vv_err(c->p, (vv_kind_t)kind, "%s",
                      cJSON_IsString(m) ? m->valuestring : "failed");
    }
    return NULL;
}

vv_err_t *vv_api_bind(vv_call_t *c)
{
    return operate(c, "bind");
}

vv_err_t *vv_api_unbind(vv_call_t *c)
{
    return operate(c, "unbind");
}

vv_err_t *vv_api_reset(vv_call_t *c)
{
    return operate(c, "reset");
}

/* --- GET /devices --------------------------------------------------------- */

vv_err_t *vv_api_devices(vv_call_t *c)
{
    const char *driver = vv_conf_driver(c->r->server);
    apr_hash_t *blocked = apr_hash_make(c->p), *seen = apr_hash_make(c->p);
    apr_array_header_t *all = NULL;
    vv_filter_t f;
    cJSON *out;
    vv_err_t *e;

    if ((e = vv_request_filter(c->p, c->r->args, &f))
        || (e = vv_pci_scan(c->p, c->host, &all))) {
        return e;
    }
    /* Group viability from the listing itself: no second read. */
    for (int i = 0; i < all->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(all, i, vv_devinfo_t *);
        const char *key = apr_itoa(c->p, d->group);
        if (d->group >= 0 && !vv_device_viable_seen(d, driver, seen)) {
            apr_hash_set(blocked, key, APR_HASH_KEY_STRING, key);
        }
    }
    out = reply(c, cJSON_CreateArray());
    for (int i = 0; i < all->nelts; i++) {
        const vv_devinfo_t *d = APR_ARRAY_IDX(all, i, vv_devinfo_t *);
        if (vv_filter_match(&f, d)) {
            cJSON *o = info_json(c->p, d);
            add_readiness(c->p, o, d, d->group < 0 ? VV_UNKNOWN
                          : apr_hash_get(blocked, apr_itoa(c->p, d->group),
                                         APR_HASH_KEY_STRING) ? VV_NO
                          : VV_YES);
            cJSON_AddItemToArray(out, o);
        }
    }
    return NULL;
}

/* --- GET /host ------------------------------------------------------------ */

static void problem(cJSON *list, const char *text)
{
    cJSON_AddItemToArray(list, cJSON_CreateString(text));
}

/* Persistent bindings that are not in force after a boot: a card that
 * changed (never claimed), or one a host driver kept. */
static void persistent_warnings(apr_pool_t *p, const cJSON *status,
                                apr_array_header_t *warnings)
{
    const cJSON *moved = cJSON_GetObjectItemCaseSensitive(status, "moved");
    const cJSON *r;

    cJSON_ArrayForEach(r, moved) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "address");
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(r, "phase");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(r, "reason");
        if (!cJSON_IsString(a) || !cJSON_IsString(ph)
            || (strcmp(ph->valuestring, VV_PHASE_CHANGED)
                && strcmp(ph->valuestring, VV_PHASE_UNCLAIMED))) {
            continue;
        }
        APR_ARRAY_PUSH(warnings, const char *) = apr_psprintf(p,
            "persistent binding of %s not in force (%s): %s", a->valuestring,
            ph->valuestring, cJSON_IsString(why) ? why->valuestring : "");
    }
}

vv_err_t *vv_api_host(vv_call_t *c)
{
    const vv_host_t *h = c->host;
    const char *driver = vv_conf_driver(c->r->server);
    const vv_allowlist_t *allow = vv_conf_allow(c->r->server);
    int groups = vv_host_group_count(h);
    int have_driver = vv_host_has(h->sysfs, apr_pstrcat(c->p,
                                  "bus/pci/drivers/", driver, NULL));
    int container = vv_host_has(h->dev, "vfio/vfio");
    const char *kernel = vv_host_read(c->p, h->proc, "sys/kernel/osrelease");
    cJSON *out = reply(c, cJSON_CreateObject()), *problems, *helper, *list;
    cJSON *status = NULL, *ir;
    const vv_ready_t *ready = vv_ready_host(c->p, h);
    apr_array_header_t *said = apr_array_make(c->p, 4, sizeof(const char *));
    apr_array_header_t *warnings = apr_array_make(c->p, 4,
                                                  sizeof(const char *));
    const cJSON *pid, *euid;
    int running, kind;

    cJSON_AddBoolToObject(out, "iommu_enabled", groups > 0);
    cJSON_AddNumberToObject(out, "iommu_group_count", groups);
    cJSON_AddBoolToObject(out, "vfio_pci_available", have_driver);
    cJSON_AddBoolToObject(out, "vfio_container", container);
    cJSON_AddBoolToObject(out, "cdev_supported",
                          vv_host_has(h->dev, "vfio/devices")
                          || vv_host_has(h->dev, "iommu"));
    add_name(out, "kernel", kernel);
    add_name(out, "iommu_firmware", ready->firmware);
    ir = cJSON_AddObjectToObject(out, "interrupt_remapping");
    add_tri(ir, "supported", ready->ir_supported);
    add_tri(ir, "enabled", ready->ir_enabled);
    add_tri(ir, "unsafe_interrupts_allowed", ready->unsafe_interrupts);
    cJSON_AddBoolToObject(out, "acs_override", ready->acs_override != NULL);
    cJSON_AddBoolToObject(out, "iommu_passthrough", ready->passthrough);
    cJSON_AddItemToObject(out, "vfio_pci_ids", strings_json(ready->vfio_ids));
    cJSON_AddBoolToObject(out, "kvm", ready->kvm);
    cJSON_AddStringToObject(out, "driver", driver);
    cJSON_AddStringToObject(out, "group_policy",
                            vv_conf_group_policy(c->r->server)
                            == VV_POLICY_COMPANIONS ? "companions" : "strict");
    list = cJSON_AddArrayToObject(out, "allowlist");
    for (int i = 0; allow && i < allow->items->nelts; i++) {
        const vv_pattern_t *pat = &APR_ARRAY_IDX(allow->items, i,
                                                 vv_pattern_t);
        cJSON_AddItemToArray(list, cJSON_CreateString(vv_pattern_text(c->p,
                                                                      pat)));
    }
    helper = cJSON_AddObjectToObject(out, "helper");
    running = !vv_helper_call(c->r, "status", NULL, &kind, &status);
    status = vv_json_own(c->p, status);
    pid = running ? cJSON_GetObjectItemCaseSensitive(status, "pid") : NULL;
    cJSON_AddBoolToObject(helper, "running", running);
    if (cJSON_IsNumber(pid)) {
        cJSON_AddNumberToObject(helper, "pid", pid->valuedouble);
    }
    else {
        cJSON_AddNullToObject(helper, "pid");
    }
    problems = cJSON_AddArrayToObject(out, "problems");
    vv_ready_host_advice(c->p, ready, said, warnings);
    for (int i = 0; i < said->nelts; i++) {
        problem(problems, APR_ARRAY_IDX(said, i, const char *));
    }
    if (!have_driver) {
        problem(problems, apr_psprintf(c->p, "driver %s is not loaded: run "
                "modprobe %s (list it in /etc/modules to load it at boot)",
                driver, driver));
    }
    if (!container) {
        problem(problems, apr_psprintf(c->p, "%s/vfio/vfio does not exist: "
                "load the vfio modules (modprobe vfio-pci)", h->dev));
    }
    if (!allow) {
        problem(problems, "no device allowlist: bind and unbind refuse every device "
                "until VolantVfioAllow names the vendor:device IDs it may "
                "take");
    }
    if (!running) {
        problem(problems, "privileged helper not running: bind and unbind "
                "are unavailable (see the error log)");
    }
    euid = running ? cJSON_GetObjectItemCaseSensitive(status, "euid") : NULL;
    if (cJSON_IsNumber(euid) && euid->valuedouble != 0) {
        problem(problems, apr_psprintf(c->p, "privileged helper runs as uid "
                "%d, not root: bind and unbind will fail with permission "
                "denied; start httpd as root", (int)euid->valuedouble));
    }
    persistent_warnings(c->p, status, warnings);
    cJSON_AddItemToObject(out, "warnings", strings_json(warnings));
    return NULL;
}

/* --- GET /metrics --------------------------------------------------------- */

/* The helper's counters and records come from its status reply (the state
 * directory is root's); the devices from this worker's own scan. */
vv_err_t *vv_api_metrics(vv_call_t *c)
{
    cJSON *status = NULL;
    const cJSON *records;
    apr_array_header_t *devices = NULL;
    vv_metrics_t m = { 0 };
    vv_stats_t stats;
    vv_err_t *e;
    int kind;

    m.helper_up = !vv_helper_call(c->r, "status", NULL, &kind, &status);
    status = vv_json_own(c->p, status);
    if (m.helper_up) {
        const cJSON *started = cJSON_GetObjectItemCaseSensitive(status,
                                                                "started");
        m.helper_started = cJSON_IsNumber(started) ? started->valuedouble : 0;
        vv_stats_from_json(c->p, cJSON_GetObjectItemCaseSensitive(status,
                                                                  "stats"),
                           &stats);
        m.stats = &stats;
        records = cJSON_GetObjectItemCaseSensitive(status, "records");
        for (int i = 0; i < VV_METRICS_PHASES; i++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(
                records, vv_metrics_phases[i]);
            m.records[i] = cJSON_IsNumber(n) ? (long)n->valuedouble : 0;
        }
    }
    m.iommu_groups = vv_host_group_count(c->host);
    /* A scrape that cannot list the devices still says whether the helper
     * is up: the device series are left out, and the log says why. */
    if ((e = vv_pci_scan(c->p, c->host, &devices))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, c->r, VV_TAG(10640)
                      "metrics without the device series: %s", e->msg);
        devices = NULL;
    }
    m.devices = devices;
    c->text = vv_metrics_text(c->p, &m);
    c->text_type = VV_METRICS_TYPE;
    return NULL;
}

/* --- GET /records --------------------------------------------------------- */

/* The devices the module moved and what they had, as the helper's records
 * say (the state directory is root's: the helper reads it). */
vv_err_t *vv_api_records(vv_call_t *c)
{
    cJSON *status = NULL, *moved;
    vv_err_t *e;
    int kind;

    if ((e = vv_helper_call(c->r, "status", NULL, &kind, &status))) {
        return e;
    }
    status = vv_json_own(c->p, status);
    moved = cJSON_DetachItemFromObjectCaseSensitive(status, "moved");
    reply(c, cJSON_IsArray(moved) ? moved : cJSON_CreateArray());
    if (moved && !cJSON_IsArray(moved)) {
        cJSON_Delete(moved);
    }
    return NULL;
}

/* --- GET /healthz --------------------------------------------------------- */

/* Volant's installation guide polls it: 200 while the privileged helper
 * answers (every operation goes through it), 503 with the reason when it
 * does not.  Nothing is scanned or read: a ping of the helper. */
vv_err_t *vv_api_healthz(vv_call_t *c)
{
    cJSON *body = NULL, *out;
    const cJSON *euid;
    vv_err_t *e;
    int kind;

    if ((e = vv_helper_call(c->r, "ping", NULL, &kind, &body))) {
        out = reply(c, cJSON_CreateObject());
        cJSON_AddStringToObject(out, "status", "unavailable");
        cJSON_AddStringToObject(out, "error", e->kind == VV_E_TIMEOUT
                                ? "the privileged helper did not answer "
                                  "within 3 s (stopped or overloaded; see "
                                  "the error log)"
                                : apr_pstrcat(c->p, e->msg, " (see the error "
                                              "log)", NULL));
        return vv_err(c->p, VV_E_HELPER, "%s", e->msg);
    }
    body = vv_json_own(c->p, body);
    euid = cJSON_GetObjectItemCaseSensitive(body, "euid");
    if (!cJSON_IsNumber(euid) || euid->valuedouble != 0) {
        out = reply(c, cJSON_CreateObject());
        cJSON_AddStringToObject(out, "status", "unavailable");
        cJSON_AddStringToObject(out, "error", "the privileged helper does "
                                "not run as root: bind and unbind would fail; "
                                "start httpd as root");
        return vv_err(c->p, VV_E_HELPER, "privileged helper not root");
    }
    out = reply(c, cJSON_CreateObject());
    cJSON_AddStringToObject(out, "status", "ok");
    return NULL;
}

/* --- GET /usage ----------------------------------------------------------- */

/* Who uses each device a bind could take (the host, and why; a VM, and
 * which process), from the helper: only root sees every process's files. */
vv_err_t *vv_api_usage(vv_call_t *c)
{
    cJSON *body = NULL;
    const cJSON *m;
    vv_err_t *e;
    int kind;

    if ((e = vv_helper_call(c->r, "usage", NULL, &kind, &body))) {
        return e;
    }
    body = vv_json_own(c->p, body);
    if (!kind) {
        c->reply = body;
        return NULL;
    }
    m = cJSON_GetObjectItemCaseSensitive(body, "message");
    return vv_err(c->p, (vv_kind_t)kind, "%s",
                  cJSON_IsString(m) ? m->valuestring : "failed");
}
