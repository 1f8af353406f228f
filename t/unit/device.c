/* A device read from a sysfs tree: identity from uevent, the attribute files
 * when uevent is missing or malformed, the bridge check, the driver, the
 * group and numa_node; what a process keeps of it and what it reads each
 * time. */
#include "tap.h"
#include "core/vv_device.h"
#include "core/vv_ready.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static apr_pool_t *p;
static const char *root, *sys;
static vv_host_t *host;

static void put(const char *rel, const char *text)
{
    FILE *f = fopen(apr_pstrcat(p, sys, "/", rel, NULL), "w");
    fputs(text, f);
    fclose(f);
}

/* A device directory with its bus link; the attribute files always say
 * 8086:1533 class 020000 so a reading of them shows up in the results. */
static void device(const char *addr)
{
    const char *dir = apr_pstrcat(p, "devices/pci0000:00/", addr, NULL);
    const char *cmd = apr_psprintf(p, "mkdir -p '%s/%s'", sys, dir);

    if (system(cmd) != 0) {
        exit(1);
    }
    put(apr_pstrcat(p, dir, "/vendor", NULL), "0x8086\n");
    put(apr_pstrcat(p, dir, "/device", NULL), "0x1533\n");
    put(apr_pstrcat(p, dir, "/class", NULL), "0x020000\n");
    put(apr_pstrcat(p, dir, "/subsystem_vendor", NULL), "0x15d9\n");
    put(apr_pstrcat(p, dir, "/subsystem_device", NULL), "0x1533\n");
    if (symlink(apr_pstrcat(p, "../../../", dir, NULL),
                apr_pstrcat(p, sys, "/bus/pci/devices/", addr, NULL)) != 0) {
        exit(1);
    }
}

static void uevent(const char *addr, const char *text)
{
    put(apr_pstrcat(p, "devices/pci0000:00/", addr, "/uevent", NULL), text);
}

static vv_devinfo_t *read_dev(const char *addr)
{
    vv_addr_t a;
    vv_devinfo_t *d = NULL;

    if (!vv_addr_parse(addr, &a) || vv_device_read(p, host, &a, &d)) {
        return NULL;
    }
    return d;
}

/* Out of descriptors is our failure, never "PCI device not found": a
 * listing that met it would otherwise answer 200 with devices missing.
 * And a device read holds no descriptor once it returns. */
static void no_descriptors(void)
{
    struct rlimit saved, tight;
    vv_addr_t a;
    vv_devinfo_t *d = NULL;
    vv_err_t *e;
    int used = 0, fd;
    char taken[64] = { 0 };

    vv_addr_parse("0000:00:1e.0", &a);
    for (fd = 0; fd < 1024; fd++) {
        used += fcntl(fd, F_GETFD) != -1;
    }
    ok(read_dev("0000:00:1e.0") != NULL, "a device read");
    for (fd = 0; fd < 1024; fd++) {
        used -= fcntl(fd, F_GETFD) != -1;
    }
    ok(used == 0, "leaves no descriptor open behind it");

    /* A tight limit, every descriptor below it taken. */
    getrlimit(RLIMIT_NOFILE, &saved);
    tight = saved;
    tight.rlim_cur = 64;
    setrlimit(RLIMIT_NOFILE, &tight);
    while ((fd = dup(0)) >= 0) {
        taken[fd] = 1;
    }
    /* What the process kept would answer without a descriptor. */
    vv_device_forget();
    e = vv_device_read(p, host, &a, &d);
    for (fd = 0; fd < 64; fd++) {
        if (taken[fd]) {
            close(fd);
        }
    }
    setrlimit(RLIMIT_NOFILE, &saved);
    ok(e && e->kind == VV_E_INTERNAL, "no descriptor left: an internal error");
    ok(e && strstr(e->msg, "Too many open files") != NULL,
       "naming the reason (%s)", e ? e->msg : "no error");
}

/* What a process keeps of a device and what it reads every time: the
 * driver and the link's state are read each time; the IDs, the reset
 * methods and the maximum link are read once, until the kernel shows
 * another device there (its directory made again: another inode). */
static void kept_and_read(void)
{
    const char *dir = "devices/pci0000:00/0000:00:1a.0";
    struct stat was, now;
    vv_devready_t *x;
    vv_devinfo_t *d;

    device("0000:00:1a.0");
    uevent("0000:00:1a.0", "PCI_CLASS=30000\nPCI_ID=10DE:2204\n");
    put(apr_pstrcat(p, dir, "/reset_method", NULL), "flr bus\n");
    put(apr_pstrcat(p, dir, "/numa_node", NULL), "0\n");
    put(apr_pstrcat(p, dir, "/max_link_speed", NULL), "16.0 GT/s PCIe\n");
    put(apr_pstrcat(p, dir, "/max_link_width", NULL), "16\n");
    put(apr_pstrcat(p, dir, "/current_link_speed", NULL), "2.5 GT/s PCIe\n");
    put(apr_pstrcat(p, dir, "/current_link_width", NULL), "16\n");
    d = read_dev("0000:00:1a.0");
    x = d ? vv_ready_device(p, d) : NULL;
    ok(x && x->reset->nelts == 2 && x->has_link && !strcmp(x->speed,
       "2.5 GT/s PCIe"), "first read: flr bus, a link idling at 2.5 GT/s");

    put(apr_pstrcat(p, dir, "/current_link_speed", NULL), "16.0 GT/s PCIe\n");
    ok(symlink("../../../bus/pci/drivers/nvidia",
               apr_pstrcat(p, sys, "/", dir, "/driver", NULL)) == 0, "bound");
    d = read_dev("0000:00:1a.0");
    x = d ? vv_ready_device(p, d) : NULL;
    ok(d && !strcmp(d->driver, "nvidia"), "the driver is read each time");
    ok(x && !strcmp(x->speed, "16.0 GT/s PCIe"),
       "so is the link's state (16.0 GT/s under load)");
    /* root may choose the reset methods (reset_method is writable since
     * Linux 5.15) and correct a firmware's NUMA node: a write to a file
     * leaves the directory as it was, so neither is kept. */
    put(apr_pstrcat(p, dir, "/reset_method", NULL), "bus\n");
    put(apr_pstrcat(p, dir, "/numa_node", NULL), "1\n");
    uevent("0000:00:1a.0", "PCI_CLASS=20000\nPCI_ID=8086:1533\n");
    d = read_dev("0000:00:1a.0");
    x = d ? vv_ready_device(p, d) : NULL;
    ok(d && d->vendor == 0x10de && d->class24 == 0x030000,
       "IDs and class are kept: the same directory is the same device");
    ok(x && x->reset->nelts == 1
       && !strcmp(APR_ARRAY_IDX(x->reset, 0, const char *), "bus"),
       "reset methods chosen by root are read each time (bus)");
    ok(d && !strcmp(d->numa_node, "1"), "so is a NUMA node root corrected");

    /* Another card in the slot: the kernel removes the directory and
     * makes a new one, another inode (kernfs never gives a number twice;
     * this file system may, so the new one is changed until it differs). */
    stat(apr_pstrcat(p, sys, "/", dir, NULL), &was);
    ok(system(apr_psprintf(p, "rm -rf '%s/%s' '%s/bus/pci/devices/"
                           "0000:00:1a.0'", sys, dir, sys)) == 0, "removed");
    device("0000:00:1a.0");
    while (stat(apr_pstrcat(p, sys, "/", dir, NULL), &now) == 0
           && now.st_ino == was.st_ino
           && now.st_ctim.tv_sec == was.st_ctim.tv_sec
           && now.st_ctim.tv_nsec == was.st_ctim.tv_nsec) {
        usleep(1000);
        chmod(apr_pstrcat(p, sys, "/", dir, NULL), 0755);
    }
    uevent("0000:00:1a.0", "PCI_CLASS=20000\nPCI_ID=8086:1533\n");
    d = read_dev("0000:00:1a.0");
    x = d ? vv_ready_device(p, d) : NULL;
    ok(d && d->vendor == 0x8086 && d->class24 == 0x020000 && x
       && x->reset->nelts == 0 && !x->has_link && !d->driver[0],
       "a new directory at the address is read afresh: 8086:1533, no reset "
       "method, no link, no driver");
}

/* vendor << 16 | device by vv_device_ids, 0 when it answers nothing. */
static unsigned long ids(const char *addr)
{
    vv_addr_t a;
    unsigned v, dv;

    return vv_addr_parse(addr, &a) && vv_device_ids(p, host, &a, &v, &dv) == 0
        ? ((unsigned long)v << 16 | dv) : 0;
}

/* uevent's IDs are taken, not the attribute files'. */
static void from_uevent(const char *addr, const char *text, unsigned vendor,
                        unsigned dev, unsigned class24, int has_subsys)
{
    vv_devinfo_t *d;

    device(addr);
    uevent(addr, text);
    d = read_dev(addr);
    ok(d && d->vendor == vendor && d->device == dev && d->class24 == class24
       && d->has_subsys == has_subsys,
       "%s: %04x:%04x class %06x%s from uevent", addr, vendor, dev, class24,
       has_subsys ? " with subsystem" : "");
    ok(ids(addr) == ((unsigned long)vendor << 16 | dev),
       "%s: the IDs alone say the same", addr);
}

/* uevent unusable: the attribute files are read instead. */
static void from_files(const char *addr, const char *text, const char *why)
{
    vv_devinfo_t *d;

    device(addr);
    if (text) {
        uevent(addr, text);
    }
    d = read_dev(addr);
    ok(d && d->vendor == 0x8086 && d->device == 0x1533
       && d->class24 == 0x020000 && d->has_subsys
       && d->subsys_vendor == 0x15d9,
       "%s: %s: identity from the attribute files", addr, why);
    ok(ids(addr) == 0, "%s: the IDs alone are not taken from it: the caller "
       "reads the device whole", addr);
}

int main(void)
{
    char tmpl[] = "/tmp/vv-unit-XXXXXX";
    vv_devinfo_t *d;
    char *cmd;

    apr_initialize();
    apr_pool_create(&p, NULL);
    root = mkdtemp(tmpl);
    sys = apr_pstrcat(p, root, "/sys", NULL);
    cmd = apr_psprintf(p, "mkdir -p '%s/bus/pci/devices' '%s/kernel/iommu_groups/7/devices' '%s/bus/pci/drivers/igb' '%s/dev' '%s/proc'",
                       sys, sys, sys, root, root);
    ok(system(cmd) == 0, "tree made");
    ok(vv_host_make(p, sys, apr_pstrcat(p, root, "/dev", NULL),
                    apr_pstrcat(p, root, "/proc", NULL), &host) == NULL,
       "host roots accepted");

    from_uevent("0000:00:01.0",
                "DRIVER=nvidia\nPCI_CLASS=30000\nPCI_ID=10DE:2204\n"
                "PCI_SUBSYS_ID=1458:403B\nPCI_SLOT_NAME=0000:00:01.0\n"
                "MODALIAS=pci:v000010DEd00002204sv00001458sd0000403Bbc03sc00i00\n",
                0x10de, 0x2204, 0x030000, 1);
    from_uevent("0000:00:02.0", "PCI_ID=144d:a808\nPCI_CLASS=10802",
                0x144d, 0xa808, 0x010802, 0);
    from_uevent("0000:00:03.0",
                "PCI_CLASS=20000\nPCI_ID=8086:10D3\nPCI_SUBSYS_ID=8086:\n",
                0x8086, 0x10d3, 0x020000, 0);

    from_files("0000:00:04.0", NULL, "no uevent");
    from_files("0000:00:05.0", "PCI_ID=10DE:\nPCI_CLASS=30000\n",
               "device ID missing");
    from_files("0000:00:06.0", "PCI_ID=10DE:2204\nPCI_CLASS=\n",
               "class empty");
    from_files("0000:00:07.0", "PCI_ID= 10DE:2204\nPCI_CLASS=30000\n",
               "a blank before the ID");
    from_files("0000:00:08.0", "PCI_ID=0x10DE:2204\nPCI_CLASS=30000\n",
               "a 0x prefix");
    from_files("0000:00:09.0", "PCI_ID=-10DE:2204\nPCI_CLASS=30000\n",
               "a sign");
    from_files("0000:00:0a.0", "PCI_ID=10DE:2204x\nPCI_CLASS=30000\n",
               "trailing junk");
    from_files("0000:00:0b.0", "PCI_ID=10DE:2204\nPCI_CLASS=1234567890\n",
               "class too long");
    from_files("0000:00:0c.0", "PCI_CLASS=30000\n", "no PCI_ID");
    from_files("0000:00:0d.0", "", "empty uevent");

    /* Bridge: class 06 is enough; so is secondary_bus_number on any class
     * (header types 1 and 2 only show it). */
    device("0000:00:1c.0");
    uevent("0000:00:1c.0", "PCI_CLASS=60400\nPCI_ID=8086:A110\n");
    ok((d = read_dev("0000:00:1c.0")) && d->is_bridge, "class 0604 is a bridge");
    device("0000:00:1d.0");
    uevent("0000:00:1d.0", "PCI_CLASS=ff0000\nPCI_ID=1234:5678\n");
    ok((d = read_dev("0000:00:1d.0")) && !d->is_bridge,
       "class ff without bus numbers is an endpoint");
    put("devices/pci0000:00/0000:00:1d.0/secondary_bus_number", "2\n");
    /* A device does not become a bridge while it exists: this tree fakes
     * one that does, so the process must forget what it read. */
    vv_device_forget();
    ok((d = read_dev("0000:00:1d.0")) && d->is_bridge,
       "secondary_bus_number makes it a bridge");

    /* Driver, group, numa_node, vfio. */
    device("0000:00:1e.0");
    uevent("0000:00:1e.0", "PCI_CLASS=20000\nPCI_ID=8086:1533\n");
    ok((d = read_dev("0000:00:1e.0")) && d->driver[0] == '\0' && d->group == -1
       && strcmp(d->numa_node, "-1") == 0,
       "no driver, no group, no numa_node");
    ok(symlink("../../../bus/pci/drivers/igb",
               apr_pstrcat(p, sys, "/devices/pci0000:00/0000:00:1e.0/driver",
                           NULL)) == 0
       && symlink("../../../kernel/iommu_groups/7",
                  apr_pstrcat(p, sys, "/devices/pci0000:00/0000:00:1e.0/"
                              "iommu_group", NULL)) == 0, "links made");
    put("devices/pci0000:00/0000:00:1e.0/numa_node", "1\n");
    vv_device_forget(); /* a group and NUMA node given to a live device */
    d = read_dev("0000:00:1e.0");
    ok(d && strcmp(d->driver, "igb") == 0, "driver igb");
    ok(d && d->group == 7, "group 7");
    ok(d && strcmp(d->numa_node, "1") == 0, "numa_node 1");
    ok(d && !vv_device_on_vfio(d, NULL), "igb is not VFIO");
    ok(d && vv_device_on_vfio(d, "igb"), "the configured target driver counts");
    cmd = apr_psprintf(p, "mkdir '%s/devices/pci0000:00/0000:00:1e.0/vfio-dev'",
                       sys);
    ok(system(cmd) == 0 && d && vv_device_on_vfio(d, NULL),
       "a driver showing vfio-dev/ (a variant driver) counts as VFIO");

    ok(read_dev("0000:00:1f.0") == NULL, "a missing device is not read");
    {
        vv_addr_t a;
        unsigned v, dv;
        ok(vv_addr_parse("0000:00:1f.0", &a)
           && vv_device_ids(p, host, &a, &v, &dv) == -ENOENT,
           "nor are its IDs: ENOENT");
    }
    {
        /* A bus link that leads out of <sysfs>/devices/: its uevent is
         * never taken, as a whole read never takes the device. */
        const char *out = apr_pstrcat(p, root, "/elsewhere/0000:00:19.0", NULL);
        cmd = apr_psprintf(p, "mkdir -p '%s' && printf 'PCI_CLASS=30000\n"
                           "PCI_ID=10DE:2204\n' > '%s/uevent'", out, out);
        ok(system(cmd) == 0
           && symlink(out, apr_pstrcat(p, sys, "/bus/pci/devices/0000:00:19.0",
                                       NULL)) == 0, "a link out of the tree");
        ok(ids("0000:00:19.0") == 0 && read_dev("0000:00:19.0") == NULL,
           "its IDs are not read, nor is it");
    }
    kept_and_read();
    no_descriptors();

    cmd = apr_psprintf(p, "rm -rf '%s'", root);
    ok(system(cmd) == 0, "tree removed");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
