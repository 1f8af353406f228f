/* The in-use guard against a hostile local user, on a real kernel: each
 * case starts a process as an unprivileged uid (65534) that uses a device
 * in a way meant to hide it, to block a device it does not use, or to
 * make the guard itself costly, and checks what the guard answers.  The
 * test runs in a PID, mount and network namespace of its own with its own
 * procfs, so that the guard's pass over /proc reads real descriptor
 * tables, threads and maps of exactly these processes, and nothing of the
 * host changes.  The device is a small sysfs tree in /tmp whose nodes
 * have the numbers of real, harmless devices (/dev/full is 1:7).
 *
 * Bounds on time and memory here are the safety bounds (a guard
 * that grows with what a user chose to open takes the host down), not
 * speed targets; make bench measures speed. */
#include "tree.h"
#include "core/vv_inuse.h"
#include "core/vv_procfs.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ADDR "0000:00:03.0"
#define DEVDIR "devices/pci0000:00/" ADDR
#define NOBODY 65534
#define REFUSED(reason) "device " ADDR " is in use by host: " reason
#define DEEPER 17 /* directories of 250 characters: a path past PATH_MAX */

static vv_host_t *host;
static vv_devinfo_t dev = { .address = ADDR };
static int ready[2];

/* ---- the hostile side: each runs in a child, tells it is ready, waits --- */

/* As a user's own process is: unprivileged, and dumpable (a change of
 * uid without exec leaves it not, which would hide its /proc files from
 * itself). */
static void become_nobody(void)
{
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0
        || setuid(NOBODY) != 0 || prctl(PR_SET_DUMPABLE, 1) != 0) {
        _exit(3);
    }
}

static void say_ready(void)
{
    if (write(ready[1], "r", 1) != 1) {
        _exit(4);
    }
}

static void *hold_full(void *arg)
{
    int fd = open("/dev/full", O_RDONLY);

    (void)arg;
    if (fd < 0) {
        _exit(5);
    }
    say_ready();
    for (;;) {
        pause();
    }
    return NULL;
}

static void *hold_full_alone(void *arg)
{
    if (unshare(CLONE_FILES) != 0) {
        _exit(6);
    }
    return hold_full(arg);
}

/* The node opened once, then duplicated: one process, 8,000 descriptors. */
static void dup_many(void)
{
    int fd = open("/dev/full", O_RDONLY);

    for (int i = 1; fd >= 0 && i < 8000; i++) {
        if (dup(fd) < 0) {
            _exit(7);
        }
    }
    say_ready();
}

/* Once the leader has exited (a zombie), the node is opened. */
static void *hold_full_when_alone(void *arg)
{
    char path[256], stat[256] = "";
    int fd;

    /* This namespace's procfs: the machine's numbers processes otherwise. */
    snprintf(path, sizeof(path), "%s/proc-root/%d/stat", root, (int)getpid());
    for (int i = 0; i < 500 && !strstr(stat, ") Z "); i++) {
        usleep(10000);
        fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, stat, sizeof(stat) - 1);
            stat[n > 0 ? n : 0] = '\0';
            close(fd);
        }
    }
    if (!strstr(stat, ") Z ")) {
        _exit(16);
    }
    return hold_full(arg);
}

/* The leader exits; another thread holds the node open. */
static void leader_gone(void)
{
    pthread_t t;

    pthread_create(&t, NULL, hold_full_when_alone, NULL);
    pthread_exit(NULL);
}

/* A thread with a descriptor table of its own holds the node. */
static void private_table(void)
{
    pthread_t t;

    pthread_create(&t, NULL, hold_full_alone, NULL);
    for (;;) {
        pause();
    }
}

static void map_file(const char *path, int times)
{
    int fd = open(path, O_RDONLY);

    for (int i = 0; fd >= 0 && i < times; i++) {
        if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) {
            _exit(8);
        }
    }
    if (fd < 0) {
        _exit(9);
    }
    close(fd);
    say_ready();
}

/* Opened, mapped, closed: only the mapping is left. */
static void mapped_only(void)
{
    map_file(apr_pstrcat(p, root, "/dev/dri/card1", NULL), 1);
}

/* A BAR-like name in a file of the user's own. */
static void bar_named(void)
{
    map_file(apr_pstrcat(p, root, "/spoof/x /sys/" DEVDIR "/resource0",
                         NULL), 1);
}

static void bar_mapped(void)
{
    map_file(apr_pstrcat(p, root, "/sys/" DEVDIR "/resource0", NULL), 1);
}

/* 60,000 mappings of a file whose path is 3,800 characters long. */
static void long_maps(void)
{
    map_file(apr_pstrcat(p, root, "/deep/file", NULL), 60000);
}

/* The node, mapped through a hard link whose path is longer than PATH_MAX:
 * the kernel cannot name that mapping in a buffer of PATH_MAX. */
static void long_name_mapped(void)
{
    if (chdir(apr_pstrcat(p, root, "/deeper", NULL)) != 0) {
        _exit(17);
    }
    for (int i = 0; i < DEEPER; i++) {
        if (chdir(apr_psprintf(p, "%0250d", i)) != 0) {
            _exit(17);
        }
    }
    map_file("card1", 1);
}

/* In a user and mount namespace of its own, a regular file where the
 * device's node would be. */
static void fake_node(void)
{
    char map[64];
    int fd;

    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        _exit(10);
    }
    fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd < 0 || write(fd, "deny", 4) != 4) {
        _exit(11);
    }
    close(fd);
    snprintf(map, sizeof(map), "0 %d 1", NOBODY);
    fd = open("/proc/self/uid_map", O_WRONLY);
    if (fd < 0 || write(fd, map, strlen(map)) < 0) {
        _exit(12);
    }
    close(fd);
    fd = open("/proc/self/gid_map", O_WRONLY);
    if (fd < 0 || write(fd, map, strlen(map)) < 0) {
        _exit(13);
    }
    close(fd);
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount("tmpfs", "/dev", "tmpfs", 0, NULL) != 0
        || mkdir("/dev/dri", 0755) != 0
        || open("/dev/dri/renderD130", O_RDWR | O_CREAT, 0644) < 0) {
        _exit(14);
    }
    say_ready();
}

/* Starts fn in a child (as uid 65534 unless as_root) and waits until it
 * says it is ready; a child that dies first is reported. */
static pid_t start(void (*fn)(void), int as_root)
{
    struct rlimit files = { 8300, 8300 };
    struct pollfd pfd = { 0, POLLIN, 0 };
    int status;
    char c;
    pid_t pid = fork();

    if (pid == 0) {
        close(ready[0]);
        setrlimit(RLIMIT_NOFILE, &files);
        if (!as_root) {
            become_nobody();
        }
        fn();
        for (;;) {
            pause();
        }
    }
    pfd.fd = ready[0];
    for (int i = 0; pid > 0 && i < 600; i++) {
        if (poll(&pfd, 1, 100) == 1 && read(ready[0], &c, 1) == 1) {
            return pid;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            printf("# the hostile process ended first (status %d)\n",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            break;
        }
    }
    tap_failed++;
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- the guard's side ----------------------------------------------------- */

typedef struct check {
    char text[8192];
    double seconds;
    long peak_kib;
} check_t;

/* vv_inuse_check in a child of its own, so that its peak memory is its
 * own: the text, the time, the peak. */
static check_t guard(void)
{
    static check_t c;
    check_t *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct rusage ru;
    int status;
    pid_t pid;

    memset(shared, 0, sizeof(*shared));
    fflush(stdout);
    if ((pid = fork()) == 0) {
        struct timespec t0, t1;
        vv_err_t *e;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        e = vv_inuse_check(p, host, &dev);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        snprintf(shared->text, sizeof(shared->text), "%s",
                 e ? e->msg : "(free)");
        shared->seconds = (double)(t1.tv_sec - t0.tv_sec)
                          + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        _exit(0);
    }
    wait4(pid, &status, 0, &ru);
    c = *shared;
    c.peak_kib = ru.ru_maxrss;
    munmap(shared, sizeof(*shared));
    return c;
}

static void expect(pid_t hostile, const char *want, const char *what)
{
    check_t c = guard();
    const char *w = apr_psprintf(p, want, (int)hostile);

    is_str(c.text, w, "%s", what);
    stop(hostile);
}

static void descriptors(void)
{
    pid_t h = start(dup_many, 0);
    check_t c = guard();
    const char *want = apr_psprintf(p, REFUSED("/dev/dri/renderD130 is open "
                                               "by pid %d (inuse_hostile)"),
                                    (int)h);

    is_str(c.text, want, "8,000 descriptors of the node in one process: "
           "counted once, named once");
    ok(strlen(c.text) < 4096, "the reason stays short (%zu bytes)",
       strlen(c.text));
    ok(c.seconds < 1.0 * slowdown(), "answered within 1 s (%.3f s)",
       c.seconds);
    ok(c.peak_kib < 64 * 1024, "in under 64 MB (%.1f MB)",
       (double)c.peak_kib / 1024);
    stop(h);
}

static void threads(void)
{
    expect(start(leader_gone, 0),
           REFUSED("/dev/dri/renderD130 is open by pid %d (inuse_hostile)"),
           "the leader thread exited, another thread holds the node open");
    expect(start(private_table, 0),
           REFUSED("/dev/dri/renderD130 is open by pid %d (inuse_hostile)"),
           "a thread with a descriptor table of its own holds it open");
}

static int seen_map(const vv_map_t *m, void *baton)
{
    apr_array_header_t *list = baton;
    unsigned long dev;
    char range[40];

    if (vv_map_where(m, &dev, range, sizeof(range)) != 0) {
        return 1;
    }
    APR_ARRAY_PUSH(list, const char *) = apr_psprintf(p, "%s %lu %lu %s%s",
        range, dev, m->ino, m->path, m->path_cut ? "(not named)" : "");
    return 0;
}

/* A process's file mappings as vv_proc_each_map reports them: asked of the
 * kernel (procfs 1; the text on a kernel before 6.11) or read as text. */
static const char *maps_seen(pid_t pid, int procfs)
{
    apr_array_header_t *list = apr_array_make(p, 64, sizeof(const char *));
    long n = vv_proc_each_map(AT_FDCWD, apr_psprintf(p, "%s/proc-root/%d/maps",
                                                     root, (int)pid),
                              procfs, seen_map, list);

    return n < 0 ? apr_psprintf(p, "error %ld", n)
                 : apr_array_pstrcat(p, list, '\n');
}

static void mappings(void)
{
    pid_t h;
    check_t c;
    const char *text, *asked;

    h = start(mapped_only, 0);
    text = maps_seen(h, 0);
    asked = maps_seen(h, 1);
    is_str(asked, text, "each mapping asked of the kernel (PROCMAP_QUERY) is "
           "the maps text's: range, filesystem, inode and path");
    ok(strstr(text, "/dev/dri/card1") != NULL, "and the node's mapping is "
       "among them");
    stop(h);
    h = start(long_name_mapped, 0);
    asked = maps_seen(h, 1);
    ok(strstr(asked, "(not named)") || strstr(asked, "/card1"),
       "a path past PATH_MAX: the mapping is reported, named or not");
    stop(h);
    expect(start(long_name_mapped, 0),
           REFUSED("/dev/dri/card1 is mapped by pid %d (inuse_hostile)"),
           "the node mapped through a path longer than PATH_MAX: found by "
           "its inode all the same");

    expect(start(mapped_only, 0),
           REFUSED("/dev/dri/card1 is mapped by pid %d (inuse_hostile)"),
           "the node opened, mapped and closed: the mapping is found");
    expect(start(bar_mapped, 0),
           REFUSED("its resource0 is mapped by pid %d (inuse_hostile)"),
           "a BAR mapped: found by the file's inode");
    expect(start(bar_named, 0), "(free)",
           "a file of the user's own named like the BAR: not the BAR");
    h = start(long_maps, 0);
    c = guard();
    is_str(c.text, "(free)", "60,000 mappings of a file with a 3,800-"
           "character path: read through, nothing of the device's");
    ok(c.seconds < 2.0 * slowdown(), "within 2 s (%.3f s)", c.seconds);
    ok(c.peak_kib < 64 * 1024, "in under 64 MB (%.1f MB)",
       (double)c.peak_kib / 1024);
    stop(h);
}

static void spoofs(void)
{
    expect(start(fake_node, 0), "(free)",
           "a regular file at the node's path in a user's own mount "
           "namespace: not the node");
}

/* ---- other network namespaces --------------------------------------------- */

static void own_netns(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        _exit(15);
    }
    say_ready();
}

/* A macvlan on ens3, moved into pid's network namespace, up with addr
 * there.  nsenter by this namespace's procfs: the machine's /proc numbers
 * processes otherwise. */
static void macvlan_into(const char *name, pid_t pid, const char *addr)
{
    sh(apr_psprintf(p, "ip link add %s link ens3 type macvlan && ip link set "
                    "%s netns %d && nsenter --net=%s/proc-root/%d/ns/net sh "
                    "-c 'ip addr add %s dev %s && ip link set %s up'", name,
                    name, (int)pid, root, (int)pid, addr, name, name));
}

/* The device's interface ens3 (one end of a veth pair here) has a macvlan
 * upper that was moved into another network namespace: from the helper's
 * namespace nothing links the two. */
static void namespaces(void)
{
    const char *nsfile = apr_pstrcat(p, root, "/netns-blue", NULL);
    pid_t c;

    put("sys/" DEVDIR "/net/ens3/ifindex", "1\n");
    sh(apr_psprintf(p, "mkdir -p '%s/sys/class/net' && ln -s '../../" DEVDIR
                    "/net/ens3' '%s/sys/class/net/ens3'", root, root));
    sh("ip link set lo up && ip link add ens3 type veth peer name peer3"
       " && ip link set peer3 up && ip link set ens3 up");
    is_str(guard().text, "(free)", "ens3 up with nothing on it: free");

    c = start(own_netns, 1);
    macvlan_into("mv0", c, "10.9.0.2/24");
    expect(c, REFUSED("network interface ens3 is the parent of macvlan mv0 in "
                      "the network namespace of pid %d (inuse_hostile), which "
                      "carries 10.9.0.2/24"),
           "a macvlan upper moved into a process's network namespace");

    c = start(own_netns, 1);
    macvlan_into("mv1", c, "10.9.1.2/24");
    sh(apr_psprintf(p, "touch '%s' && mount --bind %s/proc-root/%d/ns/net '%s'",
                    nsfile, root, (int)c, nsfile));
    stop(c);
    is_str(guard().text, apr_psprintf(p, REFUSED("network interface ens3 is "
           "the parent of macvlan mv1 in the network namespace mounted on %s, "
           "which carries 10.9.1.2/24"), nsfile),
           "one in a namespace no process is in, kept by a bind mount (ip "
           "netns add)");
    umount2(nsfile, MNT_DETACH);
    sh("ip link del ens3");
}

/* ---- the stage ------------------------------------------------------------ */

/* deeper/<17 directories of 250 characters>/card1, a hard link of card1,
 * made a directory at a time: no system call takes the whole path. */
static void deeper(void)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY), next;
    const char *name = "deeper";

    for (int i = 0; dir >= 0 && i <= DEEPER; i++) {
        next = mkdirat(dir, name, 0755) == 0
               ? openat(dir, name, O_RDONLY | O_DIRECTORY) : -1;
        close(dir);
        dir = next;
        name = apr_psprintf(p, "%0250d", i);
    }
    if (dir < 0 || linkat(AT_FDCWD, apr_pstrcat(p, root, "/dev/dri/card1",
                                                NULL), dir, "card1", 0)) {
        printf("# cannot make the deep link: %s\n", strerror(errno));
        tap_failed++;
    }
    if (dir >= 0) {
        close(dir);
    }
}

static void tree(void)
{
    const char *deep = "deep";

    put("sys/" DEVDIR "/vendor", "0x8086\n");
    /* renderD130 has /dev/full's number: the kernel's node for it is one
     * any user may open. */
    put("sys/" DEVDIR "/drm/renderD130/dev", "1:7\n");
    put("sys/" DEVDIR "/drm/renderD130/uevent", "DEVNAME=dri/renderD130\n");
    put("sys/" DEVDIR "/drm/card1/dev", "226:1\n");
    put("sys/" DEVDIR "/drm/card1/uevent", "DEVNAME=dri/card1\n");
    sh(apr_psprintf(p, "mkdir -p '%s/sys/class/drm' && ln -s "
                    "'../../" DEVDIR "/drm/renderD130' '../../" DEVDIR
                    "/drm/card1' '%s/sys/class/drm/'", root, root));
    /* card1's node under DevRoot: what a process maps is this file. */
    sh(apr_psprintf(p, "mkdir -p '%s/dev/dri' && head -c 4096 /dev/zero > "
                    "'%s/dev/dri/card1' && head -c 4096 /dev/zero > '%s/sys/"
                    DEVDIR "/resource0'", root, root, root));
    sh(apr_psprintf(p, "mkdir -p '%s/spoof/x /sys/" DEVDIR "' && head -c "
                    "4096 /dev/zero > '%s/spoof/x /sys/" DEVDIR "/resource0'",
                    root, root));
    for (int i = 0; i < 15; i++) {
        deep = apr_pstrcat(p, deep, "/", apr_psprintf(p, "%0250d", i), NULL);
    }
    sh(apr_psprintf(p, "mkdir -p '%s/%s' && head -c 4096 /dev/zero > "
                    "'%s/%s/file' && ln -s '%s/%s/file' '%s/deep/file'",
                    root, deep, root, deep, root, deep, root));
    deeper();
    put("proc-root/.keep", "");
    sh(apr_psprintf(p, "chmod -R a+rX '%s'", root));
    dev.path = apr_pstrcat(p, root, "/sys/" DEVDIR, NULL);
}

/* In the new namespaces, as their pid 1. */
static int stage(void)
{
    const char *proc = apr_pstrcat(p, root, "/proc-root", NULL);

    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount("proc", proc, "proc", 0, NULL) != 0
        || vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL),
                        apr_pstrcat(p, root, "/dev", NULL), proc, &host)
        || pipe(ready) != 0) {
        printf("# cannot set the stage up: %s\n", strerror(errno));
        return 2;
    }
    descriptors();
    threads();
    mappings();
    spoofs();
    namespaces();
    umount2(proc, MNT_DETACH);
    return done_testing();
}

int main(void)
{
    char tmpl[] = "/tmp/vv-hostile-XXXXXX";
    int status = -1;
    pid_t pid;

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (namespaces, an unprivileged uid)\n");
        return 0;
    }
    root = mkdtemp(tmpl);
    chmod(root, 0755);
    tree();
    fflush(stdout);
    /* A child makes the namespaces (the pid namespace takes the next fork
     * of whoever unshares it), this process cleans up after it. */
    if ((pid = fork()) == 0) {
        pid_t stage_pid;
        if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET) != 0) {
            printf("1..0 # SKIP cannot make namespaces: %s\n",
                   strerror(errno));
            _exit(0);
        }
        if ((stage_pid = fork()) == 0) {
            int rc = stage();
            fflush(stdout);
            _exit(rc);
        }
        waitpid(stage_pid, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
    waitpid(pid, &status, 0);
    sh(apr_psprintf(p, "rm -rf '%s'", root));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
