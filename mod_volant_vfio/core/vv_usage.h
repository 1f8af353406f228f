/* GET /usage: who uses each device a bind could take, before anyone tries.
 * Built by the privileged helper (reading every process's open files and
 * mappings needs root); changes nothing and takes no lock. */
#ifndef VV_USAGE_H
#define VV_USAGE_H

#include "vv_allow.h"
#include "vv_inuse.h"

#include <apr_pools.h>
#include <cJSON.h>

/* {"devices": [{"address", "driver", "iommu_group", "held_by", "reason"}]}
 * for every endpoint the allowlist admits and every device the records in
 * state_dir say the module moved, in address order.  held_by is one of
 * vv_use_names; reason is null for "nobody".  A device outside both is
 * not looked at: its use is none of this API's business.  opts bound the
 * process scan, name no process when the operator asked so, and end the
 * scan when the asking client hangs up.  NULL and *err when the devices
 * cannot be listed. */
cJSON *vv_usage_report(apr_pool_t *p, const vv_host_t *h,
                       const vv_allowlist_t *allow, const char *target_driver,
                       const char *state_dir, const vv_inuse_opts_t *opts,
                       vv_err_t **err);

#endif
