/* Boot-time claim of a persistent binding (bind's "persist": true), for
 * volant-vfio-claim, which the package's udev rule runs on a PCI device's
 * "add" event: before a host driver's module loads, the device's
 * driver_override names the VFIO driver, so that driver, not the host's,
 * takes it.  It reads the state directory and nothing else there, and
 * writes nothing to a device whose IDs differ from its record's. */
#ifndef VV_CLAIM_H
#define VV_CLAIM_H

#include "vv_sysfs.h"

/* Loads a driver's module (modprobe); returns 0 when it is loaded. */
typedef int vv_claim_load_fn(const char *driver);

/* Claims the device at address for driver if its record in state_dir is a
 * persistent binding (phase bound or unclaimed) made for the card now
 * there (vendor, device, subsystem vendor and device): sets its
 * driver_override, loads the driver (load, when it is not registered),
 * and probes the device if it has no driver yet.  A device a host driver
 * already holds is left to the module's start-up, which re-binds it
 * through an ordinary bind.  *did says what happened in a sentence; an
 * error is returned only for what an operator must fix (a state directory
 * others can write, a damaged record, a write the kernel refused). */
vv_err_t *vv_claim(apr_pool_t *p, const vv_host_t *h, const char *state_dir,
                   const char *driver, const char *address, int timeout_ms,
                   vv_claim_load_fn *load, const char **did);

#endif
