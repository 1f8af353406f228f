/* Is the host using this device?  Checked before any write, so that bind
 * never takes the NIC that carries the management route, the disk the root
 * filesystem lives on, the console's GPU, a GPU a host process holds open,
 * or a PF whose VFs are in use. */
#ifndef VV_INUSE_H
#define VV_INUSE_H

#include "vv_device.h"

/* NULL when the device is free for the host to give up; else the reason,
 * e.g. "network interface eno1 is up and carries routes". */
const char *vv_inuse_reason(apr_pool_t *p, const vv_host_t *h,
                            const vv_devinfo_t *d);

/* The processes holding a path open, e.g. "pid 42 (qemu)", or NULL.
 * Scans <proc>/[pid]/fd: root sees every process. */
const char *vv_inuse_holders(apr_pool_t *p, const vv_host_t *h,
                             const char *path, const char *alias);

/* Whether /dev/vfio/N is open by someone: a second open fails with EBUSY.
 * Returns 1 when busy, 0 when free or absent. */
int vv_inuse_group_open(const vv_host_t *h, int group);

#endif
