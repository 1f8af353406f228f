/* The in-use guard against the real kernel's rtnetlink: the test moves into
 * a network namespace of its own (so the host's interfaces are never
 * touched), builds the stacks hypervisor hosts run there with ip(8)
 * (bridge ports, macvlan uppers, routes in other tables, nexthop
 * objects) and checks the reason the guard gives for a device whose sysfs
 * directory names the interface.  Then the disk and process checks on a
 * sysfs and procfs tree of its own.  Bond, VLAN and dummy links need
 * modules this test machine's kernel may lack: make e2e proves those on
 * Debian's kernels. */
#include "tree.h"
#include "core/vv_inuse.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define ADDR "0000:00:03.0"
#define DEVDIR "devices/pci0000:00/" ADDR

static vv_host_t *host;
static vv_devinfo_t dev = { .address = ADDR };

/* The device's interface as the kernel lists it in sysfs. */
static void iface(const char *name)
{
    put(apr_pstrcat(p, "sys/" DEVDIR "/net/", name, "/ifindex", NULL), "1\n");
    link_to(apr_pstrcat(p, "sys/class/net/", name, NULL),
            apr_pstrcat(p, "../../" DEVDIR "/net/", name, NULL));
}

static const char *why(void)
{
    vv_err_t *e = vv_inuse_check(p, host, &dev);
    return e ? e->msg : NULL;
}

#define REFUSED(reason) "device " ADDR " is in use by host: " reason

/* A fresh namespace per case: ens3 is one end of a veth pair (the other
 * end stays up so that carrier, and so IPv6 link-local, come up). */
static void net_case(const char *setup, const char *want, const char *what)
{
    if (unshare(CLONE_NEWNET) != 0) {
        ok(0, "unshare(CLONE_NEWNET)");
        return;
    }
    sh("ip link set lo up && ip link add ens3 type veth peer name peer3"
       " && ip link set peer3 up");
    sh(setup);
    is_str(why(), want, "%s", what);
}

static void network(void)
{
    iface("ens3");
    net_case("ip link set ens3 up", NULL,
             "an interface that is up with only its link-local address is free");
    net_case("ip addr add 10.0.0.5/24 dev ens3", NULL,
             "an interface that is down is free, whatever its address");
    net_case("ip link set ens3 up && ip addr add 10.0.0.5/24 dev ens3"
             " && ip addr add fd00::5/64 dev ens3",
             REFUSED("network interface ens3 is up and carries 10.0.0.5/24"),
             "an address on the interface itself (IPv4 named first)");
    net_case("ip link set ens3 up && ip -6 addr add fd00::5/64 dev ens3"
             " nodad", REFUSED("network interface ens3 is up and carries "
                               "fd00::5/64"),
             "a global IPv6 address alone");
    net_case("ip link set ens3 up && ip route add 10.1.0.0/16 dev ens3"
             " table 100",
             REFUSED("network interface ens3 is up and carries a route to "
                     "10.1.0.0/16 in table 100"),
             "a route in another table, no address (policy routing)");
    net_case("ip link set ens3 up && ip -6 route add default dev ens3"
             " table 200",
             REFUSED("network interface ens3 is up and carries a default "
                     "route in table 200"),
             "an IPv6 default route in another table");
    net_case("ip link set ens3 up && ip nexthop add id 7 dev ens3"
             " && ip route add 10.3.0.0/16 nhid 7",
             REFUSED("network interface ens3 is up and carries a route to "
                     "10.3.0.0/16"),
             "a route through a nexthop object");
    net_case("ip link add vmbr0 type bridge && ip link set ens3 master vmbr0"
             " && ip link set vmbr0 up && ip addr add 10.0.0.5/24 dev vmbr0",
             REFUSED("network interface ens3 is a port of bridge vmbr0, "
                     "which carries 10.0.0.5/24"),
             "a bridge port, the port down, the bridge carrying the address");
    net_case("ip link add vmbr0 type bridge && ip link set ens3 master vmbr0"
             " && ip addr add 10.0.0.5/24 dev vmbr0", NULL,
             "a port of a bridge that is down is free");
    net_case("ip link set ens3 up && ip link add mv0 link ens3 type macvlan"
             " && ip link set mv0 up && ip addr add 10.7.0.2/24 dev mv0",
             REFUSED("network interface ens3 is the parent of macvlan mv0, "
                     "which carries 10.7.0.2/24"),
             "a macvlan upper carrying the address");
    net_case("ip link add br1 type bridge && ip link set ens3 master br1"
             " && ip link set br1 up && ip link add mvb link br1 type macvlan"
             " && ip link set mvb up && ip addr add 10.2.0.1/24 dev mvb",
             REFUSED("network interface ens3 is a port of bridge br1, which "
                     "is the parent of macvlan mvb, which carries "
                     "10.2.0.1/24"),
             "two levels: a macvlan on the bridge the port belongs to");
    /* sysfs says ens3 has an upper the namespace does not show: the
     * snapshot and sysfs disagree, so the guard cannot tell. */
    link_to("sys/" DEVDIR "/net/ens3/upper_ghost0", "../../../virtual/net/ghost0");
    link_to("sys/class/net/ens3", "../../" DEVDIR "/net/ens3");
    net_case("ip link set ens3 up",
             "cannot tell whether device " ADDR " is in use: network interface "
             "ghost0 is in sysfs but not in the helper's network namespace",
             "an upper in sysfs that rtnetlink does not know: no guess");
    sh(apr_psprintf(p, "rm -f '%s/sys/" DEVDIR "/net/ens3/upper_ghost0'",
                    root));
    iface("ghost1");
    net_case("true",
             "cannot tell whether device " ADDR " is in use: network interface "
             "ghost1 is in sysfs but not in the helper's network namespace",
             "an interface in sysfs but not in the namespace: no guess");
    sh(apr_psprintf(p, "rm -rf '%s/sys/class/net' '%s/sys/" DEVDIR "/net'",
                    root, root));
}

static void disk(const char *name, const char *parent, const char *devno)
{
    const char *rel = apr_pstrcat(p, "sys/" DEVDIR "/nvme/nvme0/",
                                  parent ? parent : "", parent ? "/" : "",
                                  name, NULL);

    put(apr_pstrcat(p, rel, "/dev", NULL), devno);
    put(apr_pstrcat(p, rel, "/uevent", NULL),
        apr_psprintf(p, "MAJOR=259\nMINOR=0\nDEVNAME=%s\nDEVTYPE=disk\n",
                     name));
    sh(apr_psprintf(p, "mkdir -p '%s/%s/holders'", root, rel));
    link_to(apr_pstrcat(p, "sys/class/block/", name, NULL),
            apr_pstrcat(p, "../../", rel + 4, NULL));
    put(apr_pstrcat(p, "dev/", name, NULL), "");
}

/* mountinfo with one line: a mount point padded so that what looks like
 * a mount of nvme0n1 starts at column at. */
static const char *why_with_mount(int at)
{
    const char *head = "43 1 0:54 / /home/";
    const char *spoof = "9 1 259:0 / /x rw - ext4 /dev/nvme0n1 rw";
    char *pad = apr_palloc(p, (size_t)at + 1);

    memset(pad, 'a', (size_t)at - strlen(head));
    pad[at - strlen(head)] = '\0';
    put("proc/self/mountinfo", apr_pstrcat(p, head, pad, spoof,
                                           " rw - fuse.x x rw\n", NULL));
    return why();
}

/* What holds a disk without a holder link, and text any user shapes. */
static void more_storage(void)
{
    put("proc/self/mountinfo", "40 1 0:52 / /home/u/mnt rw - fuse.sshfs "
        "/dev/nvme0n1p1 rw,user_id=1000\n");
    is_str(why(), NULL, "a FUSE filesystem named after the disk is not the "
           "disk: any user can mount one");
    put("proc/self/mountinfo", "41 1 0:53 / /srv/\xff\xfe\x01x rw - ext4 "
        "/dev/nvme0n1p1 rw\n42 1 259:1 / /srv/\xff\xfe\x01x rw - ext4 "
        "/dev/nvme0n1p1 rw\n");
    is_str(why(), REFUSED("block device nvme0n1p1 is mounted on /srv/???x"),
           "a mount point that is not UTF-8 comes back printable");
    /* A mount point longer than a reader's buffer: its tail, which its
     * owner wrote, must never be read as a mount of its own (a reader of
     * 1,023 characters at a time once did). */
    is_str(why_with_mount(2046), NULL, "a long mount point whose tail looks "
           "like a mount of the disk: not a mount of the disk");
    is_str(why_with_mount(65535), NULL, "a line over 64 KiB is passed over "
           "whole, its tail never read as a line");
    put("proc/self/mountinfo", "");
    put("sys/fs/btrfs/6f0c1e2d-aaaa-bbbb-cccc-0123456789ab/devices/nvme0n1",
        "");
    is_str(why(), REFUSED("block device nvme0n1 is part of the mounted btrfs "
                          "filesystem 6f0c1e2d-aaaa-bbbb-cccc-0123456789ab"),
           "a member of a mounted multi-device btrfs that mountinfo does not "
           "name");
    sh(apr_psprintf(p, "rm -rf '%s/sys/fs'", root));
    put("sys/block/loop0/loop/backing_file", "/dev/nvme0n1\n");
    put("dev/loop0", "");
    is_str(why(), REFUSED("block device nvme0n1 is the backing device of loop "
                          "device loop0"),
           "a loop device reading the disk (no holder link)");
    sh(apr_psprintf(p, "rm -rf '%s/sys/block/loop0/loop'", root));
    is_str(why(), NULL, "a loop device not set up holds nothing");
    put("sys/kernel/config/nvmet/subsystems/nqn.2026-12.test:vv/namespaces/1/"
        "device_path", "/dev/nvme0n1p1\n");
    put("sys/kernel/config/nvmet/subsystems/nqn.2026-12.test:vv/namespaces/1/"
        "enable", "1\n");
    is_str(why(), REFUSED("block device nvme0n1p1 is exported by the NVMe-oF "
                          "target (subsystem nqn.2026-12.test:vv, namespace "
                          "1)"), "an NVMe-oF target namespace exporting it");
    put("sys/kernel/config/nvmet/subsystems/nqn.2026-12.test:vv/namespaces/1/"
        "enable", "0\n");
    is_str(why(), NULL, "and free once the namespace is disabled");
    sh(apr_psprintf(p, "rm -rf '%s/sys/kernel'", root));
    put("sys/module/nvmet/refcnt", "0\n");
    ok(why() && strstr(why(), "cannot tell whether device " ADDR " is in use: "
                       "the NVMe-oF target (nvmet) is loaded but "),
       "nvmet loaded without configfs: no guess");
    sh(apr_psprintf(p, "rm -rf '%s/sys/module'", root));
}

static void storage(void)
{
    disk("nvme0n1", NULL, "259:0\n");
    disk("nvme0n1p1", "nvme0n1", "259:1\n");
    put("proc/self/mountinfo",
        "22 1 0:21 / /proc rw - proc proc rw\n"
        "29 1 259:7 / / rw - ext4 /dev/nvme1n1p2 rw\n");
    put("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
    is_str(why(), NULL, "an idle disk (no holder, mount, swap, process) is free");

    put("proc/self/mountinfo",
        "29 1 0:45 / /srv rw,relatime - btrfs /dev/nvme0n1p1 rw\n");
    is_str(why(), REFUSED("block device nvme0n1p1 is mounted on /srv"),
           "btrfs: an anonymous 0:NN device number, the source names the disk");
    put("proc/self/mountinfo", "30 1 259:0 / /data rw - ext4 /dev/root rw\n");
    is_str(why(), REFUSED("block device nvme0n1 is mounted on /data"),
           "ext4 by the disk's own device number");
    put("proc/self/mountinfo", "");
    put("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n"
        "/dev/nvme0n1p1                          partition\t8388604\t0\t-2\n");
    is_str(why(), REFUSED("block device nvme0n1p1 is in use as swap"),
           "swap on a partition");
    put("proc/swaps", "");
    put("sys/" DEVDIR "/nvme/nvme0/nvme0n1/holders/dm-0", "");
    is_str(why(), REFUSED("block device nvme0n1 is held by dm-0 (LVM, md or "
                          "device-mapper)"), "a device-mapper holder");
    sh(apr_psprintf(p, "rm -f '%s/sys/" DEVDIR "/nvme/nvme0/nvme0n1/holders/"
                    "dm-0'", root));

    put("proc/4242/comm", "qemu-system-x86\n");
    link_to("proc/4242/fd/7", "/dev/nvme0n1p1 (deleted)");
    is_str(why(), REFUSED("block device nvme0n1p1 is open by pid 4242 "
                          "(qemu-system-x86)"),
           "a process holding a partition raw, its node since deleted");
    sh(apr_psprintf(p, "rm -rf '%s/proc/4242'", root));

    more_storage();
    sh(apr_psprintf(p, "rm -f '%s/dev/nvme0n1'", root));
    is_str(why(), apr_psprintf(p, "cannot tell whether device " ADDR " is in "
                               "use: no device node %s/dev/nvme0n1 for block "
                               "device nvme0n1", root),
           "a disk without its node: no guess");
    put("dev/nvme0n1", "");
    sh(apr_psprintf(p, "rm -rf '%s/sys/class/block' '%s/sys/" DEVDIR "/nvme'",
                    root, root));
}

/* However many processes hold a node, and however often each does, the
 * reason names a few (the lowest pids) and counts the rest. */
static void many_holders(void)
{
    for (int pid = 701; pid <= 706; pid++) {
        put(apr_psprintf(p, "proc/%d/comm", pid), "worker\n");
        for (int fd = 3; fd < (pid == 704 ? 2003 : 5); fd++) {
            link_to(apr_psprintf(p, "proc/%d/fd/%d", pid, fd),
                    "/dev/dri/renderD128");
        }
    }
    is_str(why(), REFUSED("/dev/dri/renderD128 is open by pid 701 (worker), "
                          "pid 702 (worker), pid 703 (worker) and 3 more "
                          "processes"),
           "six holders, one with 2,000 descriptors of it: three named, the "
           "rest counted, each process once");
    sh(apr_psprintf(p, "rm -rf %s/proc/70[1-6]", root));
}

static void nodes(void)
{
    put("sys/" DEVDIR "/drm/renderD128/dev", "226:128\n");
    put("sys/" DEVDIR "/drm/renderD128/uevent",
        "MAJOR=226\nMINOR=128\nDEVNAME=dri/renderD128\n");
    link_to("sys/class/drm/renderD128", "../../" DEVDIR "/drm/renderD128");
    put("proc/77/comm", "Xorg\n");
    link_to("proc/77/fd/12", "/dev/dri/renderD128");
    put("proc/78/comm", "ollama\n");
    link_to("proc/78/fd/3", "/dev/dri/renderD128");
    is_str(why(), REFUSED("/dev/dri/renderD128 is open by pid 77 (Xorg), "
                          "pid 78 (ollama)"),
           "a DRM render node open: every holder named");
    sh(apr_psprintf(p, "rm -rf '%s/proc/77' '%s/proc/78'", root, root));
    is_str(why(), NULL, "and free once they close it");
    many_holders();

    put("proc/88/comm", "dpdk-testpmd\n");
    put("proc/88/fd/.keep", "");
    put("proc/88/maps",
        "7f0000000000-7f0000001000 rw-s 00000000 00:15 99 "
        "/sys/" DEVDIR "/resource0_wc\n"
        "7f0000001000-7f0000002000 rw-s 00000000 00:15 99 "
        "/sys/" DEVDIR "/resource2\n");
    is_str(why(), REFUSED("its resource0_wc is mapped by pid 88 (dpdk-testpmd)"),
           "a user-space driver mapping a BAR");
    put("proc/88/maps", "7f0000000000-7f0000001000 rw-s 00000000 00:15 99 "
        "/sys/" DEVDIR "0/resource0\n");
    is_str(why(), NULL, "another device's BAR (a longer address) is not ours");
    sh(apr_psprintf(p, "rm -rf '%s/proc/88'", root));

    put("sys/" DEVDIR "/graphics/fb0/dev", "29:0\n");
    link_to("sys/class/graphics/fb0", "../../" DEVDIR "/graphics/fb0");
    put("sys/class/vtconsole/vtcon0/name", "(S) dummy device\n");
    put("sys/class/vtconsole/vtcon0/bind", "0\n");
    put("sys/class/vtconsole/vtcon1/name", "(M) frame buffer device\n");
    put("sys/class/vtconsole/vtcon1/bind", "1\n");
    is_str(why(), REFUSED("the framebuffer console runs on it (fb0)"),
           "fbcon bound to the device's framebuffer");
    put("sys/class/vtconsole/vtcon1/bind", "0\n");
    is_str(why(), NULL, "and free once the console is unbound");
}

/* A node opened under another name (a container's /dev, a bind mount) is
 * found by its device number, through the real procfs of a PID namespace
 * of the test's own: its one process holds a char node of /dev/full's
 * number that the device's sysfs calls dri/card9. */
static int by_number_child(void)
{
    const char *procfs = apr_pstrcat(p, root, "/realproc", NULL);
    const char *alt = apr_pstrcat(p, root, "/elsewhere/card", NULL);
    vv_host_t *h2;
    vv_err_t *e;
    int fd;

    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mkdir(procfs, 0755) != 0
        || mount("proc", procfs, "proc", 0, NULL) != 0
        || system(apr_psprintf(p, "mkdir -p '%s/elsewhere'", root)) != 0
        || mknod(alt, S_IFCHR | 0600, makedev(1, 7)) != 0
        || (fd = open(alt, O_RDONLY)) < 0
        || vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL),
                        apr_pstrcat(p, root, "/dev", NULL), procfs, &h2)) {
        return 2;
    }
    e = vv_inuse_check(p, h2, &dev);
    printf("# %s\n", e ? e->msg : "(free)");
    umount(procfs);
    return e && strcmp(e->msg, REFUSED("/dev/dri/card9 is open by pid 1 "
                                       "(inuse)")) == 0 ? 0 : 1;
}

static void by_number(void)
{
    int status = -1;
    pid_t pid;

    put("sys/" DEVDIR "/drm/card9/dev", "1:7\n");
    put("sys/" DEVDIR "/drm/card9/uevent", "DEVNAME=dri/card9\n");
    link_to("sys/class/drm/card9", "../../" DEVDIR "/drm/card9");
    fflush(stdout);
    if ((pid = fork()) == 0) {
        pid_t inner;
        if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) {
            _exit(2);
        }
        if ((inner = fork()) == 0) {
            _exit(by_number_child());
        }
        _exit(waitpid(inner, &status, 0) == inner && WIFEXITED(status)
              ? WEXITSTATUS(status) : 2);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "a node opened under another path is found by its device number");
    sh(apr_psprintf(p, "rm -rf '%s/sys/class/drm/card9' '%s/sys/" DEVDIR
                    "/drm/card9'", root, root));
}

/* The survey behind GET /usage: one pass for several devices, each with
 * who holds it.  A VM is whoever has the group's node, or the device's
 * iommufd node, open; the group's other members on VFIO are held with it;
 * a device the host uses keeps the reason a bind would give. */
static vv_devinfo_t *survey_dev(const char *addr, const char *driver,
                                int group)
{
    vv_devinfo_t *d = apr_pcalloc(p, sizeof(*d));
    const char *dir = apr_pstrcat(p, "sys/devices/pci0000:00/", addr, NULL);

    put(apr_pstrcat(p, dir, "/vendor", NULL), "0x10de\n");
    d->address = addr;
    d->path = apr_pstrcat(p, root, "/", dir, NULL);
    d->driver = driver;
    d->group = group;
    d->numa_node = "-1";
    return d;
}

static void survey(void)
{
    apr_array_header_t *devs = apr_array_make(p, 5, sizeof(vv_devinfo_t *));
    apr_array_header_t *u;
    const char *want[][2] = {
        { "vm", "its IOMMU group 7 (/dev/vfio/7) is open by pid 4343 "
                "(qemu-system-x86)" },
        { "vm", "its IOMMU group 7 (/dev/vfio/7) is open by pid 4343 "
                "(qemu-system-x86)" },
        { "vm", "its VFIO device node /dev/vfio/devices/vfio3 is open by pid "
                "4344 (cloud-hyperviso)" },
        { "host", "it is the boot VGA device (the host console runs on it)" },
        { "nobody", NULL },
        { "nobody", NULL },
    };

    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:04.0",
                                                      "vfio-pci", 7);
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:04.1",
                                                      "vfio-pci", 7);
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:05.0",
                                                      "vfio-pci", 8);
    put("sys/devices/pci0000:00/0000:00:05.0/vfio-dev/vfio3/dev", "511:3\n");
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:06.0",
                                                      "nouveau", 9);
    put("sys/devices/pci0000:00/0000:00:06.0/boot_vga", "1\n");
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:07.0",
                                                      "vfio-pci", 10);
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = survey_dev("0000:00:08.0", "", 11);
    put("proc/4343/comm", "qemu-system-x86\n");
    link_to("proc/4343/fd/20", "/dev/vfio/7");
    put("proc/4344/comm", "cloud-hyperviso\n");
    link_to("proc/4344/fd/9", "/dev/vfio/devices/vfio3");
    u = vv_inuse_survey(p, host, devs, "vfio-pci", NULL);
    ok(u->nelts == devs->nelts, "one answer per device, in order");
    for (int i = 0; i < u->nelts && i < devs->nelts; i++) {
        const vv_usage_t *x = &APR_ARRAY_IDX(u, i, vv_usage_t);
        is_str(vv_use_names[x->use], want[i][0], "%s: held by",
               x->device->address);
        is_str(x->reason, want[i][1], "%s: why", x->device->address);
    }
    sh(apr_psprintf(p, "rm -rf '%s/proc/4343' '%s/proc/4344'", root, root));
    u = vv_inuse_survey(p, host, devs, "vfio-pci", NULL);
    is_str(vv_use_names[APR_ARRAY_IDX(u, 0, vv_usage_t).use], "nobody",
           "the hypervisor gone: nobody holds the group");
}

/* A device whose net directory shows no interface here: its interface
 * is in a network namespace the helper did not find.  No guess. */
static void hidden_interface(void)
{
    sh(apr_psprintf(p, "mkdir -p '%s/sys/" DEVDIR "/net'", root));
    is_str(why(), "cannot tell whether device " ADDR " is in use: it has a "
           "network interface in a network namespace that no process, "
           "descriptor or mount the helper can see holds",
           "an interface in a namespace nobody visible holds: no guess");
    sh(apr_psprintf(p, "rmdir '%s/sys/" DEVDIR "/net'", root));
}

/* A read of a process's files that the kernel holds up (its maps behind a
 * lock, a FUSE server that never answers) ends at the scan's deadline;
 * the thread still blocked is left behind and cleans up after itself. */
static void deadline(void)
{
    const char *fifo = apr_pstrcat(p, root, "/proc/909/maps", NULL);
    vv_inuse_opts_t o = { .deadline_ms = 500 };
    struct timespec t0, t1;
    vv_inuse_t *g;
    vv_err_t *e;
    double took;
    int fd;

    put("proc/909/comm", "stuck\n");
    put("proc/909/fd/.keep", "");
    sh(apr_psprintf(p, "mkfifo '%s'", fifo));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g = vv_inuse_begin(p, host, &o);
    e = vv_inuse_add(g, &dev);
    e = e ? e : vv_inuse_end(g);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec)
           + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    is_str(e ? e->msg : NULL, "cannot tell whether device " ADDR " is in use: "
           "the process scan took longer than 500 ms (a process with a great "
           "many open files or mappings, or a read the kernel held up)",
           "a read that never returns: refused at the deadline");
    ok(took < 0.5 + 2.0 * slowdown(), "within the deadline and a margin (%.2f s)",
       took);
    /* Let the thread left behind finish. */
    fd = open(fifo, O_WRONLY | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
    }
    sh(apr_psprintf(p, "rm -rf '%s/proc/909'", root));
}

/* GET /usage opens no disk: an exclusive open is a claim while it lasts
 * (a concurrent mount or mkfs would fail).  A bind under the lock does. */
static void survey_opens_nothing(void)
{
    apr_array_header_t *devs = apr_array_make(p, 1, sizeof(vv_devinfo_t *));
    char ev[4096];
    int in = inotify_init1(IN_NONBLOCK), opened;

    disk("nvme0n1", NULL, "259:0\n");
    inotify_add_watch(in, apr_pstrcat(p, root, "/dev/nvme0n1", NULL),
                      IN_OPEN);
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = &dev;
    dev.driver = "nvme";
    dev.group = 40;
    vv_inuse_survey(p, host, devs, "vfio-pci", NULL);
    opened = read(in, ev, sizeof(ev)) > 0;
    ok(!opened, "the survey did not open the disk's node");
    is_str(why(), NULL, "the bind's check of the same disk: free");
    ok(read(in, ev, sizeof(ev)) > 0, "and it did open it (the claim probe)");
    close(in);
    sh(apr_psprintf(p, "rm -rf '%s/sys/class/block' '%s/sys/" DEVDIR "/nvme' "
                    "'%s/dev/nvme0n1'", root, root, root));
}

int main(void)
{
    char tmpl[] = "/tmp/vv-inuse-XXXXXX";

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (network namespaces)\n");
        return 0;
    }
    root = mkdtemp(tmpl);
    put("sys/" DEVDIR "/vendor", "0x8086\n");
    put("dev/.keep", "");
    put("proc/self/mountinfo", "");
    dev.path = apr_pstrcat(p, root, "/sys/" DEVDIR, NULL);
    if (vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL),
                     apr_pstrcat(p, root, "/dev", NULL),
                     apr_pstrcat(p, root, "/proc", NULL), &host)) {
        ok(0, "host roots");
        return done_testing();
    }
    network();
    storage();
    nodes();
    by_number();
    survey();
    hidden_interface();
    deadline();
    survey_opens_nothing();
    sh(apr_psprintf(p, "rm -rf '%s'", root));
    return done_testing();
}
