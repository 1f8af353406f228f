/* One function per endpoint: request JSON -> core -> reply JSON. */
#ifndef VV_API_H
#define VV_API_H

#include "vv_private.h"
#include "core/vv_sysfs.h"

typedef struct vv_call {
    request_rec *r;
    apr_pool_t *p;
    const vv_host_t *host;
    cJSON *req;   /* the parsed body of a POST */
    cJSON *reply; /* set by the endpoint; an error reply may set it too */
    const char *text, *text_type; /* a reply that is not JSON */
} vv_call_t;

typedef vv_err_t *vv_endpoint_fn(vv_call_t *c);

vv_endpoint_fn vv_api_info, vv_api_validate, vv_api_iommu_groups,
    vv_api_group_paths, vv_api_bind, vv_api_unbind, vv_api_reset,
    vv_api_devices,
    vv_api_host, vv_api_metrics, vv_api_records, vv_api_usage,
    vv_api_healthz;

/* The failure body of bind and unbind: {"success": false, ...}. */
cJSON *vv_api_op_failure(const char *msg);

#endif
