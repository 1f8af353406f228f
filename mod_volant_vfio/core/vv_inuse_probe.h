/* What the in-use guard's probes share: the guard's state, the device
 * nodes and BARs the one process scan looks for, and the holders it finds.
 * Private to core/vv_inuse*.c. */
#ifndef VV_INUSE_PROBE_H
#define VV_INUSE_PROBE_H

#include "vv_inuse.h"
#include "vv_netlink.h"
#include "vv_procfs.h"

#include <apr_hash.h>

/* Processes named in a reason; the rest are counted ("and 7 more"): the
 * text stays short however many hold a node, or how often. */
#define VV_HOLDERS_SHOWN 3

/* The processes found holding one thing, each counted once; the lowest
 * pids are the ones named, so that the text does not depend on the order
 * the scan met them in. */
typedef struct vv_holders {
    long count;
    int shown;
    long pid[VV_HOLDERS_SHOWN];        /* ascending */
    const char *who[VV_HOLDERS_SHOWN]; /* "pid 42 (qemu)" */
    long last;                         /* the pid counted last */
} vv_holders_t;

/* A device node the host may use: looked for among every process's open
 * files and mappings. */
typedef struct vv_node {
    const char *address;  /* the device's */
    const char *label;    /* "block device nvme0n1", "/dev/dri/card0" */
    const char *path;     /* "/dev/nvme0n1", as processes name it */
    const char *alias;    /* the same node under DevRoot, or NULL */
    unsigned long rdev;   /* its number, from sysfs; 0 when unknown */
    int block;
    vv_fileid_t id;       /* the node under DevRoot, when it exists */
    int has_id;
    int vm;               /* a VFIO node: open means a VM holds the device */
    int group;            /* a group's VFIO node: its IOMMU group, else -1 */
    vv_holders_t open, mapped;
} vv_node_t;

/* One of a device's BAR files (resourceN, resourceN_wc) by identity. */
typedef struct vv_barfile {
    const char *name;
    unsigned long dev, ino;
} vv_barfile_t;

/* A device's BARs, which a user-space driver (DPDK, SPDK) maps. */
typedef struct vv_bar {
    const char *address;
    const char *prefix;        /* "/sys/devices/.../ADDR/resource": how a
                                * simulator's maps name them */
    apr_array_header_t *files; /* vv_barfile_t */
    const char *file;          /* the first found mapped */
    vv_holders_t mapped;
} vv_bar_t;

/* A namespace some process, descriptor or mount keeps alive. */
typedef struct vv_ns {
    unsigned long ino;
    const char *open;  /* what opens it, relative to ProcRoot */
    const char *label; /* "the network namespace of pid 42 (sleep)" */
} vv_ns_t;

/* What one process scan looks for, and what it found. */
typedef struct vv_scan {
    const vv_host_t *h;
    int real_proc;   /* ProcRoot is a procfs: match by identity, not name */
    int own_pidns;   /* ... of this PID namespace: kcmp(2) applies */
    int anonymous;
    int deadline_ms;
    int watch_fd;
    int want_ns;     /* collect network and mount namespaces */
    apr_array_header_t *nodes; /* vv_node_t */
    apr_array_header_t *bars;  /* vv_bar_t */
    /* found */
    const char *cannot;
    int gone;                  /* the watched client hung up */
    apr_array_header_t *netns; /* vv_ns_t, the helper's own left out */
    apr_array_header_t *mntns; /* vv_ns_t: "PID" whose mountinfo to read */
} vv_scan_t;

/* One pass over every process (threads, descriptor tables, maps), bounded
 * by the scan's deadline. */
void vv_scan_run(apr_pool_t *p, vv_scan_t *s);

/* "pid 42 (qemu), pid 43 (qemu) and 5 more processes". */
const char *vv_holders_text(apr_pool_t *p, const vv_holders_t *h,
                            int anonymous);

/* Counts pid once (calls for one process come together); who is called
 * only when the pid is among the lowest. */
void vv_holders_add(vv_holders_t *h, long pid, const char *(*who)(void *),
                    void *baton);

/* The guard: the checks of each device as it is added, then the one scan
 * and what needs it. */
struct vv_inuse {
    apr_pool_t *p;
    const vv_host_t *h;
    vv_inuse_opts_t opts;
    const vv_devinfo_t *d;       /* the device being added */
    vv_scan_t scan;
    apr_hash_t *classes;         /* class name -> its entries, read once */
    apr_array_header_t *netdevs; /* devices with network interfaces */
    struct vv_netviews *net;     /* every namespace's snapshot, taken once */
    const char *cannot;          /* set when a check could not be made */
    const char *cannot_addr;
};

/* Every check of g->d that needs no process scan, cheapest first; its
 * nodes and BARs join the scan's list. */
const char *vv_guard_reason(vv_inuse_t *g);

/* Notes that a check about g->d could not be made; returns NULL. */
const char *vv_guard_cannot(vv_inuse_t *g, const char *why);

/* Entries of a sysfs class (net, block, drm, ...) whose directory lies
 * inside g->d's: name, dir pairs. */
apr_array_header_t *vv_guard_class_members(vv_inuse_t *g, const char *cls);

/* A node of g->d for the scan; dir: its sysfs directory. */
vv_node_t *vv_guard_node(vv_inuse_t *g, const char *name, const char *dir,
                         int block);

/* The probes.  Each returns why the host uses g->d, or NULL (with
 * vv_guard_cannot called when it could not tell). */
const char *vv_probe_net(vv_inuse_t *g);
const char *vv_probe_net_elsewhere(vv_inuse_t *g, const vv_devinfo_t *d);
const char *vv_probe_blocks(vv_inuse_t *g);
const char *vv_probe_fbcon(vv_inuse_t *g);
void vv_probe_nodes(vv_inuse_t *g);
void vv_probe_vfio_nodes(vv_inuse_t *g, apr_hash_t *groups);

#endif
