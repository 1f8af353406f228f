#include "vv_device.h"

#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vv_device_is_bridge(unsigned class24, int bridge_header)
{
    /* Base class 06 is every kind of bridge; header types 1 and 2 are
     * PCI-to-PCI and CardBus bridges whatever their class says. */
    return (class24 >> 16) == 0x06 || bridge_header;
}

static int read_group(const vv_sysdev_t *sd)
{
    char name[32], *end;
    long g;

    if (vv_sysdev_link_name(sd, "iommu_group", name, sizeof(name)) < 0
        || !name[0]) {
        return -1;
    }
    g = strtol(name, &end, 10);
    return (*end || g < 0 || g > 0x7fffffff) ? -1 : (int)g;
}

/* The identity from uevent, one read instead of five files:
 * PCI_CLASS=30000, PCI_ID=10DE:2204, PCI_SUBSYS_ID=1458:403B. */
static int read_uevent(const vv_sysdev_t *sd, vv_devinfo_t *d)
{
    char buf[512];
    int have = 0;

    if (vv_sysdev_read(sd, "uevent", buf, sizeof(buf)) < 0) {
        return 0;
    }
    for (char *line = buf, *next; line; line = next) {
        if ((next = strchr(line, '\n'))) {
            *next++ = '\0';
        }
        have |= (sscanf(line, "PCI_CLASS=%x", &d->class24) == 1)
              | (sscanf(line, "PCI_ID=%x:%x", &d->vendor, &d->device) == 2) << 1;
        if (sscanf(line, "PCI_SUBSYS_ID=%x:%x", &d->subsys_vendor,
                   &d->subsys_device) == 2) {
            d->has_subsys = 1;
        }
    }
    return have == 3;
}

/* The same from the individual attributes, where uevent lacks them. */
static int read_ids(const vv_sysdev_t *sd, vv_devinfo_t *d)
{
    if (vv_sysdev_read_hex(sd, "vendor", &d->vendor) < 0
        || vv_sysdev_read_hex(sd, "device", &d->device) < 0
        || vv_sysdev_read_hex(sd, "class", &d->class24) < 0) {
        return 0;
    }
    d->has_subsys = vv_sysdev_read_hex(sd, "subsystem_vendor",
                                       &d->subsys_vendor) == 0
        && vv_sysdev_read_hex(sd, "subsystem_device", &d->subsys_device) == 0;
    return 1;
}

vv_err_t *vv_device_read(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_devinfo_t **out)
{
    vv_devinfo_t *d = apr_pcalloc(p, sizeof(*d));
    vv_sysdev_t *sd;
    vv_err_t *e;
    char buf[64];

    if ((e = vv_sysdev_open(p, h, a, &sd))) {
        return e;
    }
    d->address = apr_pstrdup(p, a->text);
    d->path = sd->path;
    if (!read_uevent(sd, d) && !read_ids(sd, d)) {
        /* The directory is there but its identity is not: it is being
         * removed as we look. */
        return vv_err(p, VV_E_NOT_FOUND, "PCI device not found: %s", a->text);
    }
    /* The kernel shows the bus numbers on bridges only (header types 1 and
     * 2): no config-space read, which costs a real device access. */
    d->is_bridge = vv_device_is_bridge(d->class24,
                                       vv_sysdev_has(sd, "secondary_bus_number"));
    d->driver = vv_sysdev_link_name(sd, "driver", buf, sizeof(buf)) == 0
        ? apr_pstrdup(p, buf) : "";
    d->group = read_group(sd);
    d->numa_node = vv_sysdev_read(sd, "numa_node", buf, sizeof(buf)) > 0
        ? apr_pstrdup(p, buf) : "-1";
    d->vfio_dev = vv_sysdev_has(sd, "vfio-dev");
    *out = d;
    return NULL;
}

int vv_device_on_vfio(const vv_devinfo_t *d, const char *target_driver)
{
    return d->vfio_dev || strcmp(d->driver, "vfio-pci") == 0
        || (target_driver && strcmp(d->driver, target_driver) == 0);
}

int vv_device_viable(const vv_devinfo_t *d, const char *target_driver)
{
    return d->is_bridge || !d->driver[0] || vv_device_on_vfio(d, target_driver)
        || strcmp(d->driver, "pci-stub") == 0;
}
