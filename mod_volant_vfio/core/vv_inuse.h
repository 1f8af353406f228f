/* Is the host using this device?  Checked in the privileged helper before
 * any write, for every device a bind would move, so that bind never takes
 * the NIC that carries the host's network (itself or through a bridge,
 * bond, VLAN or Open vSwitch stacked on it, in any routing table and any
 * network namespace), a disk the kernel or a process holds (any
 * filesystem, swap, device-mapper, a loop device, the NVMe-oF target, a
 * raw open or mapping), the console's GPU, a device node a process holds
 * open or mapped, a BAR a user-space driver maps, or a PF whose VFs are in
 * use.  A check that cannot be made refuses: the guard never proceeds on a
 * guess.
 *
 * The guard is a family of probes, each in a file of its own:
 * vv_inuse_net.c (interfaces, every namespace), vv_inuse_block.c (disks),
 * vv_inuse_fb.c (the framebuffer console), vv_inuse_nodes.c (the device
 * nodes and BARs processes may hold), sharing one bounded process scan
 * (vv_inuse_scan.c); vv_inuse_survey.c answers GET /usage with them. */
#ifndef VV_INUSE_H
#define VV_INUSE_H

#include "vv_device.h"

/* How the guard runs.  Zeroed, it is a bind's: 10 s for the scan, every
 * check, processes named. */
typedef struct vv_inuse_opts {
    int deadline_ms; /* the process scan's bound (VolantVfioOpTimeout);
                      * past it the answer is "cannot tell" */
    int watch_fd;    /* >0: a client whose hangup ends a survey early */
    int no_claims;   /* skip the exclusive-open probe of disks: it is a
                      * claim for its duration, taken only under the lock */
    int anonymous;   /* name no process ("open by 2 processes") */
} vv_inuse_opts_t;

#define VV_INUSE_DEADLINE_MS 10000

/* The guard over the devices of one bind.  Each device is checked as it
 * is added; the processes are scanned once, at the end, for all of them.
 * Every call returns NULL when the host does not use the devices, else
 * VV_E_IN_USE with "device ADDR is in use by host: REASON" (REASON e.g.
 * "network interface ens3 is a port of bridge vmbr0, which carries
 * 10.0.0.5/24") or "cannot tell whether device ADDR is in use: WHY". */
typedef struct vv_inuse vv_inuse_t;

vv_inuse_t *vv_inuse_begin(apr_pool_t *p, const vv_host_t *h,
                           const vv_inuse_opts_t *opts);
vv_err_t *vv_inuse_add(vv_inuse_t *g, const vv_devinfo_t *d);
vv_err_t *vv_inuse_end(vv_inuse_t *g);

/* begin, add and end for one device, with default options. */
vv_err_t *vv_inuse_check(apr_pool_t *p, const vv_host_t *h,
                         const vv_devinfo_t *d);

/* The processes holding a node open, e.g. "pid 42 (qemu)", or NULL.
 * path: the node under DevRoot ("<devroot>/vfio/3"); alias: as processes
 * name it ("/dev/vfio/3"). */
const char *vv_inuse_holders(apr_pool_t *p, const vv_host_t *h,
                             const char *path, const char *alias,
                             int deadline_ms);

/* Whether /dev/vfio/N is open by someone: a second open fails with EBUSY.
 * Returns 1 when busy, 0 when free or absent. */
int vv_inuse_group_open(const vv_host_t *h, int group);

/* Who uses each device now, for a view that changes nothing (GET /usage):
 * the host (the guard's reason), a VM (a process holds its VFIO group or
 * device node open: "its IOMMU group 3 (/dev/vfio/3) is open by pid 42
 * (qemu-system-x86)"), nobody, or unknown (a check that could not be
 * made, and why).  One process scan for all devices; no lock is taken and
 * no device node is opened, so a VM starting meanwhile never meets EBUSY
 * because of it.  A device on a VFIO driver is looked at for a VM only:
 * the host's uses went with its host driver. */
typedef enum { VV_USE_NOBODY, VV_USE_HOST, VV_USE_VM, VV_USE_UNKNOWN } vv_use_t;

/* "nobody", "host", "vm", "unknown", by vv_use_t. */
extern const char *const vv_use_names[];

typedef struct vv_usage {
    const vv_devinfo_t *device;
    vv_use_t use;
    const char *reason; /* NULL for nobody */
} vv_usage_t;

/* devices: vv_devinfo_t *; returns vv_usage_t, in the same order.  opts:
 * no_claims is implied. */
apr_array_header_t *vv_inuse_survey(apr_pool_t *p, const vv_host_t *h,
                                    const apr_array_header_t *devices,
                                    const char *target_driver,
                                    const vv_inuse_opts_t *opts);

#endif
