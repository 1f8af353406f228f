#include "vv_usage.h"
#include "vv_pci.h"
#include "vv_record.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

/* Whether a function's IDs may put it on the allowlist.  One whose
 * uevent does not tell (unreadable, gone, or without the IDs) is read
 * whole, which decides, skips it if it has gone, or reports. */
static int may_admit(apr_pool_t *p, const vv_host_t *h, const vv_addr_t *a,
                     const vv_allowlist_t *allow)
{
    unsigned vendor, device;

    return vv_device_ids(p, h, a, &vendor, &device) != 0
        || vv_allowlist_match(allow, vendor, device);
}

/* The functions to look at: with an allowlist, every function of the bus
 * (listed, not read); without one, only those the module moved. */
static vv_err_t *to_look_at(apr_pool_t *p, const vv_host_t *h,
                            const vv_allowlist_t *allow, apr_hash_t *moved,
                            apr_array_header_t **out)
{
    apr_hash_index_t *hi;

    if (allow && allow->items->nelts) {
        return vv_pci_addresses(p, h, out);
    }
    *out = apr_array_make(p, (int)apr_hash_count(moved) + 1,
                          sizeof(vv_addr_t));
    for (hi = apr_hash_first(p, moved); hi; hi = apr_hash_next(hi)) {
        vv_addr_t a;
        if (vv_addr_parse(apr_hash_this_key(hi), &a)) {
            APR_ARRAY_PUSH(*out, vv_addr_t) = a;
        }
    }
    qsort((*out)->elts, (size_t)(*out)->nelts, sizeof(vv_addr_t),
          vv_addr_cmp);
    return NULL;
}

/* The devices worth asking about: those a bind may take, and those an
 * unbind may give back.  A function is read whole only when its record or
 * its IDs make it one of them: a survey costs a listing of the bus and one
 * small read per function when there is an allowlist, nothing per
 * function when there is none. */
static vv_err_t *candidates(apr_pool_t *p, const vv_host_t *h,
                            const vv_allowlist_t *allow,
                            const char *state_dir, apr_array_header_t **out)
{
    apr_array_header_t *records = NULL, *addrs;
    apr_hash_t *moved = apr_hash_make(p);
    vv_err_t *e;

    vv_record_list(p, state_dir, &records);
    for (int i = 0; records && i < records->nelts; i++) {
        const vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        apr_hash_set(moved, r->address, APR_HASH_KEY_STRING, r);
    }
    if ((e = to_look_at(p, h, allow, moved, &addrs))) {
        return e;
    }
    *out = apr_array_make(p, 8, sizeof(vv_devinfo_t *));
    for (int i = 0; i < addrs->nelts; i++) {
        const vv_addr_t *a = &APR_ARRAY_IDX(addrs, i, vv_addr_t);
        int held = apr_hash_get(moved, a->text, APR_HASH_KEY_STRING) != NULL;
        vv_devinfo_t *d;
        if (!held && !(allow && may_admit(p, h, a, allow))) {
            continue;
        }
        if ((e = vv_device_read(p, h, a, &d))) {
            if (e->kind == VV_E_NOT_FOUND) {
                continue; /* gone since the listing */
            }
            return e;
        }
        if (held || (allow && !d->is_bridge
                     && vv_allowlist_match(allow, d->vendor, d->device))) {
            APR_ARRAY_PUSH(*out, vv_devinfo_t *) = d;
        }
    }
    return NULL;
}

cJSON *vv_usage_report(apr_pool_t *p, const vv_host_t *h,
                       const vv_allowlist_t *allow, const char *target_driver,
                       const char *state_dir, const vv_inuse_opts_t *opts,
                       vv_err_t **err)
{
    apr_array_header_t *wanted, *survey, *records = NULL;
    apr_hash_t *quarantined = apr_hash_make(p), *changed = apr_hash_make(p);
    cJSON *body, *list;

    if ((*err = candidates(p, h, allow, state_dir, &wanted))) {
        return NULL;
    }
    /* A device kept from VMs says why. */
    vv_record_list(p, state_dir, &records);
    for (int i = 0; records && i < records->nelts; i++) {
        const vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        if (!strcmp(r->phase, VV_PHASE_QUARANTINED)) {
            apr_hash_set(quarantined, r->address, APR_HASH_KEY_STRING,
                         r->reason ? r->reason : "it failed its health "
                         "check");
        }
        if (r->persist && !strcmp(r->phase, VV_PHASE_CHANGED)) {
            apr_hash_set(changed, r->address, APR_HASH_KEY_STRING,
                         r->reason ? r->reason : "another card");
        }
    }
    survey = vv_inuse_survey(p, h, wanted, target_driver, opts);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "devices");
    for (int i = 0; i < survey->nelts; i++) {
        const vv_usage_t *u = &APR_ARRAY_IDX(survey, i, vv_usage_t);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "address", u->device->address);
        cJSON_AddStringToObject(o, "driver", u->device->driver);
        cJSON_AddStringToObject(o, "iommu_group", u->device->group < 0 ? ""
                                : apr_itoa(p, u->device->group));
        cJSON_AddStringToObject(o, "held_by", vv_use_names[u->use]);
        if (u->reason) {
            cJSON_AddStringToObject(o, "reason", u->reason);
        }
        else {
            cJSON_AddNullToObject(o, "reason");
        }
        if (apr_hash_get(quarantined, u->device->address,
                         APR_HASH_KEY_STRING)) {
            cJSON_AddStringToObject(o, "quarantined", apr_hash_get(
                quarantined, u->device->address, APR_HASH_KEY_STRING));
        }
        if (apr_hash_get(changed, u->device->address, APR_HASH_KEY_STRING)) {
            cJSON_AddStringToObject(o, "hardware_changed", apr_hash_get(
                changed, u->device->address, APR_HASH_KEY_STRING));
        }
        cJSON_AddItemToArray(list, o);
    }
    return body;
}
