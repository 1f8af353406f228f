/* What each sysfs step of POST /devices/info costs, alone: the calls
 * vv_device_read makes (resolve, open the directory, read the attributes,
 * one byte of config space, two links, one existence check), and a few
 * alternatives, each timed over many rounds on one device.
 *
 * Usage: sysfs-cost SYSFS ADDR ROUNDS
 * Prints "step<TAB>syscalls<TAB>microseconds per step". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int dirfd_;
static char link_[PATH_MAX], devdir[PATH_MAX];

static void read_attr(const char *name)
{
    char buf[4096];
    int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd >= 0) {
        if (read(fd, buf, sizeof(buf) - 1) < 0) {
            buf[0] = 0;
        }
        close(fd);
    }
}

static void s_resolve(void)
{
    char t[PATH_MAX];
    if (readlink(link_, t, sizeof(t)) < 0) {
        t[0] = 0;
    }
}
static void s_opendir(void)
{
    close(open(devdir, O_PATH | O_DIRECTORY | O_CLOEXEC));
}
static void s_vendor(void) { read_attr("vendor"); }
static void s_class(void) { read_attr("class"); }
static void s_subsys(void) { read_attr("subsystem_vendor"); }
static void s_numa(void) { read_attr("numa_node"); }
static void s_uevent(void) { read_attr("uevent"); }
static void s_config(void)
{
    unsigned char b;
    int fd = openat(dirfd_, "config", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (pread(fd, &b, 1, 0x0e) < 0) {
            b = 0;
        }
        close(fd);
    }
}
static void s_driver(void)
{
    char t[PATH_MAX];
    if (readlinkat(dirfd_, "driver", t, sizeof(t)) < 0) {
        t[0] = 0;
    }
}
static void s_group(void)
{
    char t[PATH_MAX];
    if (readlinkat(dirfd_, "iommu_group", t, sizeof(t)) < 0) {
        t[0] = 0;
    }
}
static void s_vfio(void) { faccessat(dirfd_, "vfio-dev", F_OK, AT_SYMLINK_NOFOLLOW); }
static void s_secbus(void)
{
    faccessat(dirfd_, "secondary_bus_number", F_OK, AT_SYMLINK_NOFOLLOW);
}

static const struct step {
    const char *name;
    int calls;
    void (*fn)(void);
} steps[] = {
    { "readlink bus/pci/devices/ADDR (resolve)", 1, s_resolve },
    { "open ADDR O_PATH + close", 2, s_opendir },
    { "openat+read+close vendor", 3, s_vendor },
    { "openat+read+close class", 3, s_class },
    { "openat+read+close subsystem_vendor", 3, s_subsys },
    { "openat+read+close numa_node", 3, s_numa },
    { "openat+pread(1 byte @0x0e)+close config", 3, s_config },
    { "readlinkat driver", 1, s_driver },
    { "readlinkat iommu_group", 1, s_group },
    { "faccessat vfio-dev", 1, s_vfio },
    { "alternative: openat+read+close uevent", 3, s_uevent },
    { "alternative: faccessat secondary_bus_number", 1, s_secbus },
};

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    int rounds;

    if (argc != 4) {
        fprintf(stderr, "usage: sysfs-cost SYSFS ADDR ROUNDS\n");
        return 2;
    }
    rounds = atoi(argv[3]);
    snprintf(link_, sizeof(link_), "%s/bus/pci/devices/%s", argv[1], argv[2]);
    if (!realpath(link_, devdir)) {
        perror(link_);
        return 1;
    }
    dirfd_ = open(devdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_ < 0) {
        perror(devdir);
        return 1;
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        double t0;

        for (int r = 0; r < rounds / 10; r++) {
            steps[i].fn();                    /* warm */
        }
        t0 = now_us();
        for (int r = 0; r < rounds; r++) {
            steps[i].fn();
        }
        printf("%s\t%d\t%.2f\n", steps[i].name, steps[i].calls,
               (now_us() - t0) / rounds);
    }
    return 0;
}
