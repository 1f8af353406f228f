/* What a PCI device is and where it stands: read from sysfs, per device, so a
 * request costs work in proportion to the devices it names. */
#ifndef VV_DEVICE_H
#define VV_DEVICE_H

#include "vv_sysfs.h"

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
} vv_devinfo_t;

vv_err_t *vv_device_read(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_devinfo_t **out);

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

#endif
