#include "vv_device.h"
#include "vv_procfs.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
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
static int parse_uevent(char *buf, vv_devinfo_t *d)
{
    int have_class = 0, have_id = 0;
    const char *v;

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

static int read_uevent(const vv_sysdev_t *sd, vv_devinfo_t *d)
{
    char buf[512];

    return vv_sysdev_read(sd, "uevent", buf, sizeof(buf)) >= 0
        && parse_uevent(buf, d);
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

int vv_device_ids(apr_pool_t *p, const vv_host_t *h, const vv_addr_t *a,
                  unsigned *vendor, unsigned *device)
{
    char buf[512];
    vv_devinfo_t d = { 0 };
    vv_sysdev_t *sd;
    vv_err_t *e;
    int n;

    /* Resolved and confined as every device read is. */
    if ((e = vv_sysdev_open(p, h, a, &sd))) {
        return e->kind == VV_E_NOT_FOUND ? -ENOENT : -EIO;
    }
    n = vv_sysdev_read(sd, "uevent", buf, sizeof(buf));
    vv_sysdev_close(sd);
    if (n < 0) {
        return n;
    }
    /* What a whole read would take from uevent, or nothing: where it
     * would fall back on the attribute files, so does the caller. */
    if (!parse_uevent(buf, &d)) {
        return -EINVAL;
    }
    *vendor = d.vendor;
    *device = d.device;
    return 0;
}

/* The readiness facts that cannot change while the device exists. */
static vv_devfixed_t *read_fixed(apr_pool_t *p, const vv_sysdev_t *sd)
{
    vv_devfixed_t *f = apr_pcalloc(p, sizeof(*f));
    char buf[256];

    f->reset_file = vv_sysdev_has(sd, "reset_method");
    f->has_rom = vv_sysdev_has(sd, "rom");
    f->is_pf = vv_sysdev_read(sd, "sriov_totalvfs", buf, sizeof(buf)) >= 0;
    f->total_vfs = f->is_pf ? atoi(buf) : 0;
    if (vv_sysdev_read(sd, "max_link_speed", buf, sizeof(buf)) >= 0) {
        f->max_speed = apr_pstrdup(p, buf);
        f->max_width = vv_sysdev_read(sd, "max_link_width", buf,
                                      sizeof(buf)) >= 0 ? atoi(buf) : 0;
        f->link_files = vv_sysdev_has(sd, "current_link_speed");
    }
    return f;
}

/* Everything but the driver, from the device's directory. */
static vv_err_t *read_device(apr_pool_t *p, const vv_host_t *h,
                             const vv_addr_t *a, vv_devinfo_t **out,
                             vv_fileid_t *id)
{
    vv_devinfo_t *d = apr_pcalloc(p, sizeof(*d));
    vv_sysdev_t *sd;
    vv_err_t *e;
    char buf[NAME_MAX + 1];

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
    d->group = read_group(sd);
    d->fixed = read_fixed(p, sd);
    if (vv_file_id_at(sd->fd, ".", id) != 0) {
        memset(id, 0, sizeof(*id));
    }
    vv_sysdev_close(sd);
    *out = d;
    return NULL;
}

/* ---- what each process keeps ------------------------------------------- */

/* One device as first read, the driver aside. */
typedef struct kept {
    const char *key;         /* "<devices root>\n<address>" */
    vv_fileid_t id;          /* its directory, as the kernel identifies it */
    vv_devinfo_t *d;
} kept_t;

/* Entries kept, and replaced ones left in the pool, before it is all
 * dropped and read again: a bound on memory whatever the host does. */
#define KEPT_MAX 16384

static struct {
    pthread_mutex_t mu;
    apr_pool_t *pool;        /* the table and every entry */
    apr_hash_t *table;       /* key -> kept_t */
    int spent;               /* entries made since the pool was */
} cache = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0 };

static void forget_all(void)
{
    if (cache.pool) {
        apr_pool_destroy(cache.pool);
    }
    cache.pool = NULL;
    cache.table = NULL;
    cache.spent = 0;
}

void vv_device_forget(void)
{
    pthread_mutex_lock(&cache.mu);
    forget_all();
    pthread_mutex_unlock(&cache.mu);
}

void vv_device_let_go(void)
{
    if (pthread_mutex_trylock(&cache.mu) == 0) {
        forget_all();
        pthread_mutex_unlock(&cache.mu);
    }
}

static vv_devinfo_t *copy_device(apr_pool_t *p, const vv_devinfo_t *from)
{
    vv_devinfo_t *d = apr_pmemdup(p, from, sizeof(*d));
    vv_devfixed_t *f = apr_pmemdup(p, from->fixed, sizeof(*f));

    d->address = apr_pstrdup(p, from->address);
    d->path = apr_pstrdup(p, from->path);
    f->max_speed = f->max_speed ? apr_pstrdup(p, f->max_speed) : NULL;
    d->fixed = f;
    return d;
}

/* A copy of what is kept for key, if the device is still the one read:
 * its directory has the same identity. */
static vv_devinfo_t *kept_copy(apr_pool_t *p, const char *key)
{
    vv_devinfo_t *d = NULL;
    const char *path = NULL;
    vv_fileid_t now;
    kept_t *k;

    pthread_mutex_lock(&cache.mu);
    k = cache.table ? apr_hash_get(cache.table, key, APR_HASH_KEY_STRING)
                    : NULL;
    path = k ? apr_pstrdup(p, k->d->path) : NULL;
    pthread_mutex_unlock(&cache.mu);
    if (!path || vv_file_id_at(AT_FDCWD, path, &now) != 0) {
        return NULL;
    }
    pthread_mutex_lock(&cache.mu);
    k = cache.table ? apr_hash_get(cache.table, key, APR_HASH_KEY_STRING)
                    : NULL;
    if (k && now.dev == k->id.dev && now.ino == k->id.ino
        && now.ctime == k->id.ctime) {
        d = copy_device(p, k->d);
    }
    pthread_mutex_unlock(&cache.mu);
    return d;
}

static void keep(const char *key, const vv_devinfo_t *d, const vv_fileid_t *id)
{
    kept_t *k;

    if (!id->ino) {
        return;
    }
    pthread_mutex_lock(&cache.mu);
    if (!cache.pool || cache.spent >= KEPT_MAX) {
        forget_all();
        apr_pool_create_unmanaged(&cache.pool);
        cache.table = apr_hash_make(cache.pool);
    }
    k = apr_palloc(cache.pool, sizeof(*k));
    k->key = apr_pstrdup(cache.pool, key);
    k->id = *id;
    k->d = copy_device(cache.pool, d);
    apr_hash_set(cache.table, k->key, APR_HASH_KEY_STRING, k);
    cache.spent++;
    pthread_mutex_unlock(&cache.mu);
}

vv_err_t *vv_device_read(apr_pool_t *p, const vv_host_t *h,
                         const vv_addr_t *a, vv_devinfo_t **out)
{
    const char *key = apr_pstrcat(p, h->devices, "\n", a->text, NULL);
    vv_devinfo_t *d = kept_copy(p, key);
    char buf[NAME_MAX + 1]; /* a driver link's last component */
    vv_fileid_t id;
    vv_err_t *e;

    if (!d) {
        if ((e = read_device(p, h, a, &d, &id))) {
            return e;
        }
        keep(key, d, &id);
    }
    d->driver = vv_link_name(d->path, "driver", buf, sizeof(buf)) == 0
        ? apr_pstrdup(p, buf) : "";
    /* root may correct a firmware's node: read each time. */
    d->numa_node = vv_read_at(AT_FDCWD, apr_pstrcat(p, d->path, "/numa_node",
                                                   NULL), buf, sizeof(buf)) > 0
        ? apr_pstrdup(p, buf) : "-1";
    *out = d;
    return NULL;
}

static int named_vfio(const vv_devinfo_t *d, const char *target_driver)
{
    return strcmp(d->driver, "vfio-pci") == 0
        || (target_driver && strcmp(d->driver, target_driver) == 0);
}

/* A variant driver (mlx5_vfio_pci, ...) shows vfio-dev/ as vfio-pci does;
 * only looked at when the name does not tell. */
static int shows_vfio_dev(const vv_devinfo_t *d)
{
    return d->driver[0] && d->path && vv_host_has(d->path, "vfio-dev");
}

int vv_device_on_vfio(const vv_devinfo_t *d, const char *target_driver)
{
    return named_vfio(d, target_driver) || shows_vfio_dev(d);
}

static int harmless(const vv_devinfo_t *d, const char *target_driver)
{
    return d->is_bridge || !d->driver[0] || named_vfio(d, target_driver)
        || strcmp(d->driver, "pci-stub") == 0;
}

int vv_device_viable(const vv_devinfo_t *d, const char *target_driver)
{
    return harmless(d, target_driver) || shows_vfio_dev(d);
}

int vv_device_viable_seen(const vv_devinfo_t *d, const char *target_driver,
                          apr_hash_t *seen)
{
    const char *known;

    if (harmless(d, target_driver)) {
        return 1;
    }
    if (!(known = apr_hash_get(seen, d->driver, APR_HASH_KEY_STRING))) {
        apr_pool_t *p = apr_hash_pool_get(seen);
        known = shows_vfio_dev(d) ? "y" : "n";
        apr_hash_set(seen, apr_pstrdup(p, d->driver), APR_HASH_KEY_STRING,
                     known);
    }
    return *known == 'y';
}
