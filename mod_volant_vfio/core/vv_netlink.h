/* What the kernel's routing layer says about the host's interfaces: one
 * snapshot of rtnetlink's link, address and route dumps (every table),
 * taken in the caller's network namespace or in another one.  The in-use
 * guard asks it whether an interface, or anything stacked on it, carries
 * the host's traffic.  Part of the kernel-facing layer with vv_sysfs.c. */
#ifndef VV_NETLINK_H
#define VV_NETLINK_H

#include "vv_err.h"

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct vv_nl_link {
    int index;
    const char *name;
    const char *kind;  /* IFLA_INFO_KIND: "bridge", "bond", "vlan", ... or "" */
    unsigned flags;    /* IFF_* */
    int master;        /* ifindex of the master, 0 for none */
    int lower;         /* IFLA_LINK in this namespace (a VLAN's parent), 0 */
    int peer_lower;    /* IFLA_LINK in the namespace link_netnsid names
                        * (a macvlan moved away from its parent), 0 */
    int link_netnsid;  /* IFLA_LINK_NETNSID, -1 without */
    const char *parent; /* the device it belongs to (IFLA_PARENT_DEV_NAME:
                         * "0000:03:00.0", "virtio0"), NULL for none */
    const char *carries; /* what makes it carry traffic, NULL when nothing:
                          * "10.0.0.5/24", "a route to 10.1.0.0/16 in
                          * table 100", "a default route" */
} vv_nl_link_t;

typedef struct vv_nl_snapshot {
    apr_array_header_t *links; /* vv_nl_link_t, in ifindex order of the dump */
    int fd;                    /* its socket, kept for vv_nl_nsid (closed
                                * with the pool) */
} vv_nl_snapshot_t;

/* Dumps links, addresses, routes (and nexthop objects when routes use
 * them) of the namespace netns (an open namespace file; -1: the caller's).
 * Bounded by timeout_ms per reply; any error is an error, never a partial
 * snapshot. */
vv_err_t *vv_nl_snapshot(apr_pool_t *p, int timeout_ms, int netns,
                         vv_nl_snapshot_t **out);

/* The id the snapshot's namespace gives the namespace netns (an open
 * namespace file), as IFLA_LINK_NETNSID names it there; -1 for none. */
int vv_nl_nsid(const vv_nl_snapshot_t *s, int netns, int timeout_ms);

const vv_nl_link_t *vv_nl_by_name(const vv_nl_snapshot_t *s,
                                  const char *name);
const vv_nl_link_t *vv_nl_by_index(const vv_nl_snapshot_t *s, int index);

#endif
