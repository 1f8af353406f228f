/* Who gets a bound group's device nodes (VolantVfioGroupOwner).
 *
 * The kernel creates /dev/vfio/N root:root 0600, so a VMM that runs as its
 * own user (libvirt's qemu, Cloud Hypervisor under Volant, a jailed
 * Firecracker) cannot open a group the API bound.  After a bind the helper
 * hands the group's node, and the devices' /dev/vfio/devices/vfioX nodes
 * where the kernel has them, to a configured user (and group); before a
 * release it takes them back.  It changes a node only when the node is the
 * group's own: opened without following links, a character device with the
 * number sysfs gives the group (the simulator's DevRoot, a FUSE mount,
 * has plain files for nodes). */
#ifndef VV_OWNER_H
#define VV_OWNER_H

#include "vv_err.h"
#include "vv_sysfs.h"

#include <apr_pools.h>
#include <apr_tables.h>
#include <sys/types.h>

typedef struct vv_owner {
    const char *text;  /* as configured: "USER" or "USER:GROUP" */
    const char *user;
    const char *group; /* NULL: none, the node's group stays root */
    uid_t uid;
    gid_t gid;
} vv_owner_t;

/* "USER" or "USER:GROUP", both resolved now (the names must exist). */
vv_err_t *vv_owner_parse(apr_pool_t *p, const char *spec, vv_owner_t **out);

/* The owner a bind asked for: asked NULL or "" is the first configured
 * (NULL when none is); otherwise an entry whose text or user is asked.
 * VV_E_BAD_REQUEST naming the directive for anything else. */
vv_err_t *vv_owner_pick(apr_pool_t *p, const apr_array_header_t *owners,
                        const char *asked, const vv_owner_t **out);

/* Hands group's node and the cdev nodes of the devices at paths (sysfs
 * directories of the group's devices on the VFIO driver) to owner, or with
 * owner NULL gives them back to root:root 0600.  A node that does not
 * exist is skipped; one that is not the group's is an error, untouched. */
vv_err_t *vv_owner_apply(apr_pool_t *p, const vv_host_t *h, int group,
                         const apr_array_header_t *paths,
                         const vv_owner_t *owner);

/* "USER:GROUP" of group's node as it is now (numbers where a name is
 * unknown); NULL when there is no node. */
const char *vv_owner_of_node(apr_pool_t *p, const vv_host_t *h, int group);

#endif
