/* Passthrough readiness: what the host's firmware, kernel command line and
 * IOMMU say about the VMs to come, read before the first one fails.  Read
 * only, by the workers: sysfs, /proc and /dev under the configured roots. */
#ifndef VV_READY_H
#define VV_READY_H

#include "vv_device.h"
#include "vv_sysfs.h"

#include <apr_pools.h>
#include <apr_tables.h>

/* A tri-state: unknown where the host does not say. */
typedef enum { VV_UNKNOWN = -1, VV_NO = 0, VV_YES = 1 } vv_tri_t;

typedef struct vv_ready {
    const char *firmware;      /* "DMAR", "IVRS" or NULL: the ACPI table */
    int iommu_enabled;         /* the kernel made IOMMU groups */
    vv_tri_t ir_supported;     /* every IOMMU unit can remap interrupts */
    vv_tri_t ir_enabled;       /* /proc/interrupts shows IR- chips */
    vv_tri_t unsafe_interrupts; /* vfio_iommu_type1 allow_unsafe_interrupts */
    const char *acs_override;  /* pcie_acs_override=VALUE, or NULL */
    int passthrough;           /* iommu=pt */
    const char *iommu_off;     /* "intel_iommu=off" and the like, or NULL */
    const char *intremap_off;  /* "intremap=off" and the like, or NULL */
    apr_array_header_t *vfio_ids; /* vfio-pci.ids= entries (const char *) */
    int kvm;                   /* /dev/kvm exists */
} vv_ready_t;

vv_ready_t *vv_ready_host(apr_pool_t *p, const vv_host_t *h);

/* What blocks passthrough (problems) and what will hurt a VM (warnings),
 * in words a person can act on; appended to the arrays (const char *). */
void vv_ready_host_advice(apr_pool_t *p, const vv_ready_t *r,
                          apr_array_header_t *problems,
                          apr_array_header_t *warnings);

/* What a VM will meet beyond the bind, per device. */
typedef struct vv_devready {
    apr_array_header_t *reset; /* reset_method names in order; empty: none */
    int has_link;              /* a PCIe link the kernel describes */
    const char *speed, *max_speed; /* "8.0 GT/s PCIe" */
    int width, max_width;      /* lanes */
    int has_rom;               /* an expansion ROM */
    int is_pf;                 /* SR-IOV physical function */
    int total_vfs, num_vfs;
} vv_devready_t;

vv_devready_t *vv_ready_device(apr_pool_t *p, const vv_devinfo_t *d);

/* A device's problems that do not block a bind but will hurt its VM:
 * appended to warnings (const char *). */
void vv_ready_device_advice(apr_pool_t *p, const vv_devinfo_t *d,
                            const vv_devready_t *x, const vv_ready_t *host,
                            apr_array_header_t *warnings);

#endif
