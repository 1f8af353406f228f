/*
 * vv-vfio: what a hypervisor does with a VFIO group, reduced to the checks
 * the e2e tests need. Built statically on the host and run inside the VM.
 *
 *   vv-vfio attach GROUP [ADDR]  open the container and the group, require a
 *                                viable group, SET_CONTAINER, SET_IOMMU(TYPE1);
 *                                with ADDR also GET_DEVICE_FD + GET_INFO
 *   vv-vfio status GROUP         print viable=1|0 (open + GET_STATUS only)
 *   vv-vfio open GROUP           open and close: prints ok or the errno name
 *   vv-vfio hold GROUP READY [attach]
 *                                open (and attach) the group, then write our
 *                                pid to READY and keep it open until SIGTERM
 *
 * Output is "key=value" lines; errors are "error=STEP ERRNO-NAME". Exit 0 on
 * success, 1 on a failed step, 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static int fail(const char *step)
{
    printf("error=%s %s\n", step, ename(errno));
    return 1;
}

/* Open the container, attach group fd to it and select the type1 IOMMU:
 * the sequence QEMU and Cloud Hypervisor run before touching a device. */
static int attach_group(int group, int *container_out)
{
    struct vfio_group_status st = { .argsz = sizeof st };
    int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (container < 0)
        return fail("open-container");
    int api = ioctl(container, VFIO_GET_API_VERSION);
    printf("api_version=%d\n", api);
    if (api != VFIO_API_VERSION) {
        errno = EPROTO;
        return fail("api-version");
    }
    int type1 = ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU);
    printf("type1_supported=%d\n", type1 > 0);
    if (type1 <= 0) {
        errno = ENOTSUP;
        return fail("check-extension");
    }
    if (ioctl(group, VFIO_GROUP_GET_STATUS, &st) < 0)
        return fail("group-get-status");
    printf("viable=%d\n", !!(st.flags & VFIO_GROUP_FLAGS_VIABLE));
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        errno = EPERM;
        return fail("group-not-viable");
    }
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
        return fail("group-set-container");
    printf("container_set=1\n");
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
        return fail("set-iommu");
    printf("iommu_set=1\n");
    *container_out = container;
    return 0;
}

static int open_device(int group, const char *addr)
{
    struct vfio_device_info info = { .argsz = sizeof info };
    int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, addr);
    if (dev < 0)
        return fail("group-get-device-fd");
    if (ioctl(dev, VFIO_DEVICE_GET_INFO, &info) < 0)
        return fail("device-get-info");
    printf("device_fd=1\nnum_regions=%u\nnum_irqs=%u\n", info.num_regions,
           info.num_irqs);
    close(dev);
    return 0;
}

static int cmd_attach(const char *path, const char *addr)
{
    int container = -1;
    int group = open(path, O_RDWR | O_CLOEXEC);
    if (group < 0)
        return fail("open-group");
    if (attach_group(group, &container))
        return 1;
    if (addr && open_device(group, addr))
        return 1;
    printf("attached=1\n");
    return 0;
}

static int cmd_status(const char *path)
{
    struct vfio_group_status st = { .argsz = sizeof st };
    int group = open(path, O_RDWR | O_CLOEXEC);
    if (group < 0)
        return fail("open-group");
    if (ioctl(group, VFIO_GROUP_GET_STATUS, &st) < 0)
        return fail("group-get-status");
    printf("viable=%d\ncontainer_set=%d\n",
           !!(st.flags & VFIO_GROUP_FLAGS_VIABLE),
           !!(st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET));
    return 0;
}

static int cmd_open(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("%s\n", ename(errno));
        return 1;
    }
    close(fd);
    printf("ok\n");
    return 0;
}

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

/* Publish the pid only once the group is held, so that a waiter polling for
 * READY knows the group is busy from then on. */
static int publish_ready(const char *ready)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        return fail("write-ready");
    if (rename(tmp, ready) < 0)
        return fail("rename-ready");
    return 0;
}

static int cmd_hold(const char *path, const char *ready, int attach)
{
    int container = -1;
    struct sigaction sa = { .sa_handler = on_stop };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int group = open(path, O_RDWR | O_CLOEXEC);
    if (group < 0)
        return fail("open-group");
    if (attach && attach_group(group, &container))
        return 1;
    printf("holding=%s\n", path);
    fflush(stdout);
    if (publish_ready(ready))
        return 1;
    while (!stop)
        pause();
    close(group);
    if (container >= 0)
        close(container);
    printf("released=%s\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "attach"))
        return cmd_attach(argv[2], argc > 3 ? argv[3] : NULL);
    if (argc == 3 && !strcmp(argv[1], "status"))
        return cmd_status(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "open"))
        return cmd_open(argv[2]);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "hold"))
        return cmd_hold(argv[2], argv[3], argc == 5 && !strcmp(argv[4], "attach"));
    fprintf(stderr, "usage: vv-vfio attach|status|open GROUP [ADDR] | "
                    "hold GROUP READY [attach]\n");
    return 2;
}
