#include "vv_device.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int vv_driver_name_ok(const char *name)
{
    size_t n = strlen(name);

    /* It becomes a path below drivers/: no separators, no dot names, the
     * characters kernel driver names use. */
    return n > 0 && n < 64 && name[0] != '.'
        && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

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

/* "KEY=" at the start of line: what follows, else NULL. */
static const char *field(const char *line, const char *key)
{
    size_t n = strlen(key);
    return strncmp(line, key, n) == 0 ? line + n : NULL;
}

/* A hex number that is the whole of s up to stop ("30000", "10DE"):
 * no sign, no blanks, no 0x, at most 8 digits. */
static int hex_until(const char *s, char stop, unsigned *v, const char **rest)
{
    const char *q = s;

    while (apr_isxdigit(*q) && q - s < 8) {
        q++;
    }
    if (q == s || *q != stop) {
        return 0;
    }
    *v = (unsigned)strtoul(s, NULL, 16);
    *rest = q;
    return 1;
}

/* "10DE:2204" into two IDs. */
static int id_pair(const char *s, unsigned *a, unsigned *b)
{
    const char *rest;

    return hex_until(s, ':', a, &rest) && hex_until(rest + 1, '\0', b, &rest);
}

/* The identity from uevent, one read instead of five files:
 * PCI_CLASS=30000, PCI_ID=10DE:2204, PCI_SUBSYS_ID=1458:403B. */
static int read_uevent(const vv_sysdev_t *sd, vv_devinfo_t *d)
{
    char buf[512];
    int have_class = 0, have_id = 0;
    const char *v;

    if (vv_sysdev_read(sd, "uevent", buf, sizeof(buf)) < 0) {
        return 0;
    }
    for (char *line = buf, *next; line; line = next) {
        if ((next = strchr(line, '\n'))) {
            *next++ = '\0';
        }
        if ((v = field(line, "PCI_CLASS="))) {
            const char *rest;
            have_class = hex_until(v, '\0', &d->class24, &rest);
        }
        else if ((v = field(line, "PCI_ID="))) {
            have_id = id_pair(v, &d->vendor, &d->device);
        }
        else if ((v = field(line, "PCI_SUBSYS_ID="))) {
            d->has_subsys = id_pair(v, &d->subsys_vendor, &d->subsys_device);
        }
    }
    return have_class && have_id;
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
    char buf[NAME_MAX + 1]; /* a driver link's last component */

    if ((e = vv_sysdev_open(p, h, a, &sd))) {
        return e;
    }
    d->address = apr_pstrdup(p, a->text);
    d->path = sd->path;
    if (!read_uevent(sd, d) && !read_ids(sd, d)) {
        int rc = vv_sysdev_read(sd, "vendor", buf, sizeof(buf));
        vv_sysdev_close(sd);
        /* The directory is there but its identity is not: it is being
         * removed as we look.  Any other failure is ours to report. */
        return rc == -ENOENT || rc == -ENODEV
            ? vv_err(p, VV_E_NOT_FOUND, "PCI device not found: %s", a->text)
            : vv_err(p, VV_E_INTERNAL, "cannot read %s/vendor: %s", sd->path,
                     strerror(rc < 0 ? -rc : EIO));
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
    vv_sysdev_close(sd);
    *out = d;
    return NULL;
}

int vv_device_on_vfio(const vv_devinfo_t *d, const char *target_driver)
{
    /* A variant driver (mlx5_vfio_pci, ...) shows vfio-dev/ as vfio-pci
     * does; only looked at when the name does not tell. */
    return strcmp(d->driver, "vfio-pci") == 0
        || (target_driver && strcmp(d->driver, target_driver) == 0)
        || (d->driver[0] && d->path && vv_host_has(d->path, "vfio-dev"));
}

int vv_device_viable(const vv_devinfo_t *d, const char *target_driver)
{
    return d->is_bridge || !d->driver[0] || vv_device_on_vfio(d, target_driver)
        || strcmp(d->driver, "pci-stub") == 0;
}
