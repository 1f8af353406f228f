/* The sysfs part of bind and unbind, done directly: the writes the module's
 * helper makes (as the simulator's write log shows them) and the driver
 * link read back, nothing else.  The benchmark subtracts this from the
 * API's time to get what the module adds.
 *
 * Usage: sysfs-direct SYSFS ADDR HOST_DRIVER CYCLES [fork]
 * Prints "bind_us unbind_us" (means per cycle).  With "fork", every write is
 * made from a forked child reporting through a pipe, as the helper bounds a
 * kernel write (vv_sysfs_write): the difference is the cost of that bound. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sysfs, *addr;
static int forked;

static void die(const char *what, const char *path, int err)
{
    fprintf(stderr, "sysfs-direct: %s %s: %s\n", what, path, strerror(err));
    exit(1);
}

static int plain_write(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY), err = 0;

    if (fd < 0) {
        return errno;
    }
    if (write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
        err = errno ? errno : EIO;
    }
    if (close(fd) != 0 && !err) {
        err = errno;
    }
    return err;
}

static int forked_write(const char *path, const char *data)
{
    int fds[2], err = 0;
    struct pollfd pfd;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
        return errno;
    }
    if (pid == 0) {
        err = plain_write(path, data);
        _exit(write(fds[1], &err, sizeof(err)) == sizeof(err) ? 0 : 2);
    }
    close(fds[1]);
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    while (poll(&pfd, 1, 10000) < 0 && errno == EINTR) {
    }
    if (read(fds[0], &err, sizeof(err)) != sizeof(err)) {
        err = EIO;
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return err;
}

static void kwrite(const char *rel, const char *data)
{
    char path[PATH_MAX];
    int err;

    snprintf(path, sizeof(path), "%s/%s", sysfs, rel);
    err = forked ? forked_write(path, data) : plain_write(path, data);
    if (err) {
        die("write", path, err);
    }
}

static void expect_driver(const char *want)
{
    char path[PATH_MAX], target[PATH_MAX];
    const char *base;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", sysfs, addr);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        die("readlink", path, errno);
    }
    target[n] = '\0';
    base = strrchr(target, '/');
    if (strcmp(base ? base + 1 : target, want) != 0) {
        fprintf(stderr, "sysfs-direct: %s is on %s, expected %s\n", addr,
                target, want);
        exit(1);
    }
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    char rel[PATH_MAX];
    double t0, t_bind = 0, t_unbind = 0;
    int cycles;

    if (argc < 5) {
        fprintf(stderr, "usage: sysfs-direct SYSFS ADDR HOST_DRIVER CYCLES "
                "[fork]\n");
        return 2;
    }
    sysfs = argv[1];
    addr = argv[2];
    cycles = atoi(argv[4]);
    forked = argc > 5 && strcmp(argv[5], "fork") == 0;
    for (int i = 0; i < cycles; i++) {
        /* bind: override, unbind the host driver, bind vfio-pci, check */
        t0 = now_us();
        snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", addr);
        kwrite(rel, "vfio-pci\n");
        snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/unbind", argv[3]);
        kwrite(rel, addr);
        kwrite("bus/pci/drivers/vfio-pci/bind", addr);
        expect_driver("vfio-pci");
        t_bind += now_us() - t0;
        /* release: clear the override, unbind vfio-pci, probe, check */
        t0 = now_us();
        snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", addr);
        kwrite(rel, "\n");
        kwrite("bus/pci/drivers/vfio-pci/unbind", addr);
        kwrite("bus/pci/drivers_probe", addr);
        expect_driver(argv[3]);
        t_unbind += now_us() - t0;
    }
    printf("%.1f %.1f\n", t_bind / cycles, t_unbind / cycles);
    return 0;
}
