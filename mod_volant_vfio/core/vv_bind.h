/* bind and unbind: the sequences of KERNEL.md, run by the privileged helper.
 *
 * bind: validate, expand to the IOMMU group, check the host is not using
 * the devices, take the host-wide lock, record what each device had, then
 * per device: driver_override, unbind the host driver, bind the target,
 * read the link back.  Any failure rolls back every device moved, in
 * reverse.  unbind: refuse a group a hypervisor holds open, then clear the
 * override, unbind the target, reprobe, and check the original driver is
 * back.  Every kernel write is bounded by the policy's timeout. */
#ifndef VV_BIND_H
#define VV_BIND_H

#include "vv_allow.h"
#include "vv_owner.h"
#include "vv_sysfs.h"

#include <cJSON.h>

typedef struct vv_policy {
    const vv_allowlist_t *allow; /* NULL: none configured, bind refused */
    int companions;              /* bind the rest of a group too */
    const char *driver;          /* the target, "vfio-pci" */
    int timeout_ms;              /* one kernel write */
    const char *state_dir;
    const char *remote;          /* who asked, for records and the audit */
    const vv_owner_t *owner;     /* bind: who gets the group nodes; NULL:
                                  * they stay as the kernel made them */
    int persist;                 /* bind: the binding survives reboots */
    long long vhost;             /* the virtual host whose policy this is
                                  * (recorded for a start-up re-bind) */
} vv_policy_t;

/* What happened to one device. */
typedef struct vv_outcome {
    const char *address;
    const char *previous_driver; /* "" for none */
    const char *driver;          /* now */
    int group;
    const char *group_path;      /* NULL when there is none */
    const char *owner;           /* bind: "USER:GROUP" of the group node */
    const char *outcome;         /* "bound", "already_bound", "restored",
                                    "unbound", "rolled_back", "failed",
                                    "not_attempted", "refused", "forgotten"
                                    (unbind of a persistent binding whose
                                    device is not on the VFIO driver: its
                                    record dropped, nothing written) */
    int persist;                 /* bind: the binding survives reboots */
    int requested;               /* 0 for a group companion */
    const char *error;
} vv_outcome_t;

typedef struct vv_op {
    vv_err_t *err;                /* NULL when every device made it */
    apr_array_header_t *devices;  /* vv_outcome_t * */
} vv_op_t;

/* addrs: the client's strings, as sent. */
vv_op_t *vv_bind(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                 const apr_array_header_t *addrs);
vv_op_t *vv_unbind(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                   const apr_array_header_t *addrs);

/* Resets devices the module holds on the VFIO driver (between VMs)
 * through the kernel's reset file, then checks their health; one that
 * fails is quarantined (its record keeps phase quarantined, bind refuses
 * it), one that passes leaves quarantine. */
vv_op_t *vv_reset(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                  const apr_array_header_t *addrs);

/* Brings records left by an interrupted operation (a crash, kill -9) in
 * line with sysfs: an interrupted bind is rolled back, an interrupted
 * release finished.  Takes the lock; for the helper's start-up. */
vv_err_t *vv_recover(apr_pool_t *p, const vv_host_t *h,
                     const vv_policy_t *pol);

/* Re-binds persistent bindings (records, phase unclaimed) through bind, at
 * start-up after vv_recover: allowlist, group policy and in-use guard as for
 * any bind (pol->persist set, pol->owner the owner to hand the nodes to).
 * When it fails, each record stays unclaimed with the reason. */
vv_op_t *vv_reclaim(apr_pool_t *p, const vv_host_t *h, const vv_policy_t *pol,
                    const apr_array_header_t *recs);

/* The HTTP body of an operation, in Volant's shape plus "devices"; verb
 * "bind", "unbind" or "reset". */
cJSON *vv_op_json(const vv_op_t *op, const char *verb, const char *driver);

#endif
