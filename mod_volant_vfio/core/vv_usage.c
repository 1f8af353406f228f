#include "vv_usage.h"
#include "vv_pci.h"
#include "vv_record.h"

#include <apr_hash.h>
#include <apr_strings.h>

/* The devices worth asking about: those a bind may take, and those an
 * unbind may give back. */
static apr_array_header_t *candidates(apr_pool_t *p,
                                      const apr_array_header_t *all,
                                      const vv_allowlist_t *allow,
                                      const char *state_dir)
{
    apr_array_header_t *records = NULL, *out;
    apr_hash_t *moved = apr_hash_make(p);

    vv_record_list(p, state_dir, &records);
    for (int i = 0; records && i < records->nelts; i++) {
        const vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        apr_hash_set(moved, r->address, APR_HASH_KEY_STRING, r);
    }
    out = apr_array_make(p, all->nelts, sizeof(vv_devinfo_t *));
    for (int i = 0; i < all->nelts; i++) {
        vv_devinfo_t *d = APR_ARRAY_IDX(all, i, vv_devinfo_t *);
        int admitted = allow && !d->is_bridge
            && vv_allowlist_match(allow, d->vendor, d->device);
        if (admitted || apr_hash_get(moved, d->address, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(out, vv_devinfo_t *) = d;
        }
    }
    return out;
}

cJSON *vv_usage_report(apr_pool_t *p, const vv_host_t *h,
                       const vv_allowlist_t *allow, const char *target_driver,
                       const char *state_dir, const vv_inuse_opts_t *opts,
                       vv_err_t **err)
{
    apr_array_header_t *all, *survey;
    cJSON *body, *list;

    if ((*err = vv_pci_scan(p, h, &all))) {
        return NULL;
    }
    survey = vv_inuse_survey(p, h, candidates(p, all, allow, state_dir),
                             target_driver, opts);
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
        cJSON_AddItemToArray(list, o);
    }
    return body;
}
