/* What the in-use guard costs per device on a busy host: vv_inuse_check,
 * the function the privileged helper runs for every device a bind moves,
 * timed on a NIC, an NVMe disk, a GPU with DRM nodes, the GPU with its
 * audio function (one bind, one process pass) and all four, with and without
 * PROCS extra processes and IFACES network interfaces (the first rows:
 * none extra, the host's own processes and three links).
 *
 * The interfaces live in a network namespace of this program's own (veth
 * pairs and a bridge, a few carrying addresses and routes in other tables),
 * so the host's are untouched; the processes are real children sleeping
 * in pause(), in a PID namespace of its own with its own procfs, so the
 * guard's /proc pass reads real fd directories and maps of exactly PROCS
 * processes (plus this one), whatever else runs on the machine.
 * The devices' sysfs directories are a small tree in /tmp, as the unit
 * test builds them.  Every device is free: the guard does all its work.
 *
 * Usage: inuse-cost PROCS IFACES ROUNDS     (root)
 * Prints "devices<TAB>procs<TAB>ifaces<TAB>median_ms<TAB>p90_ms<TAB>cpu_ms",
 * the times per device: wall (median, 90th percentile) and the CPU of all
 * the guard's threads (median). */
#include "core/vv_inuse.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static apr_pool_t *p;
static const char *root;

static void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "inuse-cost: failed: %s\n", cmd);
        exit(1);
    }
}

static void put(const char *rel, const char *text)
{
    const char *path = apr_pstrcat(p, root, "/", rel, NULL);
    FILE *f;

    sh(apr_psprintf(p, "mkdir -p \"$(dirname '%s')\"", path));
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void class_link(const char *cls, const char *name, const char *rel)
{
    sh(apr_psprintf(p, "mkdir -p '%s/sys/class/%s' && ln -sfn '../../%s' "
                    "'%s/sys/class/%s/%s'", root, cls, rel, root, cls, name));
}

static vv_devinfo_t *device(const char *addr)
{
    vv_devinfo_t *d = apr_pcalloc(p, sizeof(*d));

    d->address = addr;
    d->path = apr_pstrcat(p, root, "/sys/devices/pci0000:00/", addr, NULL);
    put(apr_pstrcat(p, "sys/devices/pci0000:00/", addr, "/vendor", NULL),
        "0x8086\n");
    return d;
}

static void node(const char *cls, const char *addr, const char *sub,
                 const char *name, const char *devname, const char *num)
{
    const char *rel = apr_pstrcat(p, "devices/pci0000:00/", addr, "/", sub,
                                  name, NULL);

    put(apr_pstrcat(p, "sys/", rel, "/dev", NULL), num);
    put(apr_pstrcat(p, "sys/", rel, "/uevent", NULL),
        apr_pstrcat(p, "DEVNAME=", devname, "\n", NULL));
    sh(apr_psprintf(p, "mkdir -p '%s/sys/%s/holders'", root, rel));
    class_link(cls, name, rel);
    put(apr_pstrcat(p, "dev/", devname, NULL), "");
}

/* IFACES links: veth pairs, every tenth pair's first end in a bridge that
 * carries an address, every seventh with a route in table 100. */
static void interfaces(int n)
{
    sh("ip link set lo up");
    sh("ip link add ens3 type veth peer name ens3p && ip link set ens3 up");
    sh("ip link add vmbr9 type bridge && ip link set vmbr9 up"
       " && ip addr add 10.99.0.1/24 dev vmbr9");
    for (int i = 0; i + 2 <= n - 3; i += 2) {
        sh(apr_psprintf(p, "ip link add v%d type veth peer name w%d"
                        " && ip link set v%d up", i, i, i));
        if (i % 20 == 0) {
            sh(apr_psprintf(p, "ip link set v%d master vmbr9", i));
        }
        if (i % 14 == 0) {
            sh(apr_psprintf(p, "ip route add 10.%d.0.0/16 dev v%d table 100",
                            i / 2 % 250, i));
        }
    }
}

static pid_t *children(int n)
{
    pid_t *kids = calloc((size_t)n + 1, sizeof(pid_t));

    for (int i = 0; i < n; i++) {
        if ((kids[i] = fork()) == 0) {
            pause();
            _exit(0);
        }
    }
    return kids;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3
           + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The guard over n devices, as one bind runs it; prints the time per
 * device. */
static void measure(const char *what, const vv_host_t *h,
                    vv_devinfo_t **d, int n, int procs, int ifaces,
                    int rounds)
{
    double *t = calloc((size_t)rounds, sizeof(double));
    double *c = calloc((size_t)rounds, sizeof(double));

    for (int i = 0; i < rounds; i++) {
        apr_pool_t *sub;
        vv_inuse_t *g;
        vv_err_t *e = NULL;
        double t0, c0;

        apr_pool_create(&sub, p);
        c0 = cpu_ms();
        t0 = now_ms();
        g = vv_inuse_begin(sub, h, NULL);
        for (int k = 0; k < n && !e; k++) {
            e = vv_inuse_add(g, d[k]);
        }
        e = e ? e : vv_inuse_end(g);
        t[i] = (now_ms() - t0) / n;
        c[i] = (cpu_ms() - c0) / n;
        if (e) {
            fprintf(stderr, "inuse-cost: %s: %s\n", what, e->msg);
            exit(1);
        }
        apr_pool_destroy(sub);
    }
    qsort(t, (size_t)rounds, sizeof(double), cmp);
    qsort(c, (size_t)rounds, sizeof(double), cmp);
    printf("%s\t%d\t%d\t%.3f\t%.3f\t%.3f\n", what, procs, ifaces,
           t[rounds / 2], t[rounds * 9 / 10], c[rounds / 2]);
    fflush(stdout);
    free(t);
    free(c);
}

static void measure_all(const vv_host_t *h, vv_devinfo_t **d, int procs,
                        int ifaces, int rounds)
{
    measure("nic", h, d, 1, procs, ifaces, rounds);
    measure("nvme", h, d + 1, 1, procs, ifaces, rounds);
    measure("gpu", h, d + 2, 1, procs, ifaces, rounds);
    measure("gpu+audio", h, d + 2, 2, procs, ifaces, rounds);
    measure("nic+nvme+gpu+audio", h, d, 4, procs, ifaces, rounds);
}

static int run(int procs, int ifaces, int rounds);

int main(int argc, char **argv)
{
    int procs = argc > 1 ? atoi(argv[1]) : 1000;
    int ifaces = argc > 2 ? atoi(argv[2]) : 200;
    int rounds = argc > 3 ? atoi(argv[3]) : 50;
    int status;
    pid_t pid;

    if (geteuid() != 0
        || unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) != 0) {
        fprintf(stderr, "inuse-cost: needs root (namespaces)\n");
        return 1;
    }
    if ((pid = fork()) == 0) {
        exit(run(procs, ifaces, rounds));
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status)
        ? WEXITSTATUS(status) : 1;
}

/* PID 1 of the new namespace: its own procfs, its own children. */
static int run(int procs, int ifaces, int rounds)
{
    char tmpl[] = "/tmp/vv-inuse-cost-XXXXXX";
    vv_devinfo_t *d[4];
    const char *procfs;
    vv_host_t *h;
    pid_t *kids;

    apr_initialize();
    apr_pool_create(&p, NULL);
    root = mkdtemp(tmpl);
    procfs = apr_pstrcat(p, root, "/proc", NULL);
    sh(apr_psprintf(p, "mkdir -p '%s'", procfs));
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount("proc", procfs, "proc", 0, NULL) != 0) {
        fprintf(stderr, "inuse-cost: cannot mount a procfs\n");
        return 1;
    }
    d[0] = device("0000:00:03.0");
    put("sys/devices/pci0000:00/0000:00:03.0/net/ens3/ifindex", "2\n");
    class_link("net", "ens3", "devices/pci0000:00/0000:00:03.0/net/ens3");
    d[1] = device("0000:00:04.0");
    node("block", "0000:00:04.0", "nvme/nvme0/", "nvme0n1", "nvme0n1",
         "259:0\n");
    node("block", "0000:00:04.0", "nvme/nvme0/nvme0n1/", "nvme0n1p1",
         "nvme0n1p1", "259:1\n");
    node("nvme", "0000:00:04.0", "nvme/", "nvme0", "nvme0", "240:0\n");
    d[2] = device("0000:00:05.0");
    d[3] = device("0000:00:05.1");
    node("drm", "0000:00:05.0", "drm/", "card0", "dri/card0", "226:0\n");
    node("drm", "0000:00:05.0", "drm/", "renderD128", "dri/renderD128",
         "226:128\n");
    if (vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL),
                     apr_pstrcat(p, root, "/dev", NULL), procfs, &h)) {
        return 1;
    }
    interfaces(3);
    measure_all(h, d, 0, 3, rounds);
    if (unshare(CLONE_NEWNET) != 0) {
        return 1;
    }
    interfaces(ifaces);
    kids = children(procs);
    measure_all(h, d, procs, ifaces, rounds);
    for (int i = 0; i < procs; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    umount(procfs);
    sh(apr_psprintf(p, "rm -rf '%s'", root));
    return 0;
}
