/* What a PCI device is and where it stands: read from sysfs, per device, so a
 * request costs work in proportion to the devices it names.  What cannot
 * change while the device exists (its IDs, class, group, which of its
 * files exist, ROM, SR-IOV total, maximum link) is read once per process
 * and kept, keyed by the identity the kernel gives its sysfs directory
 * (inode and change time: a device removed and added again, or another
 * card at the address, has a new one); what can change (its driver, the
 * link's current state, the VFs enabled, and what root may write: the
 * reset methods, the NUMA node) is read every time. */
#ifndef VV_DEVICE_H
#define VV_DEVICE_H

#include "vv_sysfs.h"

#include <apr_hash.h>

/* The readiness facts that cannot change while the device exists. */
typedef struct vv_devfixed {
    int reset_file;      /* reset_method exists (its text is root's to
                          * change, and read each time) */
    int has_rom;         /* an expansion ROM */
    int is_pf;           /* SR-IOV physical function */
    int total_vfs;
    int link_files;      /* current_link_* and max_link_* exist */
    const char *max_speed;
    int max_width;
} vv_devfixed_t;

typedef struct vv_devinfo {
    const char *address;   /* canonical */
    const char *path;      /* sysfs directory, when read from sysfs */
    unsigned vendor, device;
    int has_subsys;
    unsigned subsys_vendor, subsys_device;
    unsigned class24;      /* 0xCCSSPP */
    int is_bridge;
    const char *driver;    /* "" when no driver is bound */
    int group;             /* -1 without an IOMMU group */
    const char *numa_node; /* the kernel's text; "-1" when unknown */
    const vv_devfixed_t *fixed; /* NULL in a devinfo not read from sysfs */
} vv_devinfo_t;

/* The device at a, with its driver read now.  VV_E_NOT_FOUND when the
 * address has no device. */
vv_err_t *vv_device_read(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_devinfo_t **out);

/* The vendor and device IDs of the function at a and nothing else (its
 * uevent, the directory resolved and confined as vv_device_read does):
 * enough to match an allowlist before reading a device whole.  Returns 0;
 * anything else decides nothing (gone, no uevent, IDs missing or
 * malformed): read the device whole. */
int vv_device_ids(apr_pool_t *p, const vv_host_t *h, const vv_addr_t *a,
                  unsigned *vendor, unsigned *device);

/* Drops what this process keeps of every device: the next read of each
 * reads it all again (a test that changes a tree in place; the helper's
 * children before their leak check). */
void vv_device_forget(void);

/* The same unless another thread holds the cache at this moment, which a
 * cleanup run from a signal handler (prefork's child on SIGTERM) may
 * interrupt: then nothing is dropped, and the process ends anyway. */
void vv_device_let_go(void);

/* A driver name that may become a path below drivers/ (VolantVfioDriver,
 * a record's original driver and driver_override). */
int vv_driver_name_ok(const char *name);

/* Bridges and other non-endpoints cannot be passed through.
 * bridge_header: the device has a bridge's header type (1 or 2). */
int vv_device_is_bridge(unsigned class24, int bridge_header);

/* On a VFIO driver: vfio-pci, the configured driver, or any variant
 * driver (they all expose vfio-dev/). */
int vv_device_on_vfio(const vv_devinfo_t *d, const char *target_driver);

/* Harmless for group viability: on VFIO, on pci-stub, or driverless. */
int vv_device_viable(const vv_devinfo_t *d, const char *target_driver);

/* The same for the many devices of one listing.  Whether a driver that
 * does not tell by its name is a VFIO variant is a property of the driver:
 * it is asked of the first of its devices and kept in seen (driver name to
 * answer, in seen's pool) for the others. */
int vv_device_viable_seen(const vv_devinfo_t *d, const char *target_driver,
                          apr_hash_t *seen);

#endif
