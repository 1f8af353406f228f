/*
 * vv-use: a host process using a device the way the in-use tests need, and
 * a probe of the block layer's exclusive open. Built statically on the host
 * and run inside the VM.
 *
 *   vv-use open NODE        open NODE read-only and keep it open
 *   vv-use map PCIDIR       mmap the first resourceN of PCIDIR the kernel lets
 *                           us map (shared, read-only) and keep it mapped
 *   vv-use excl NODE        try open(O_RDONLY|O_EXCL) and the same with
 *                           O_NONBLOCK, close at once, print both results
 *
 * and the ways a hostile local user hides a use from a guard, or makes one
 * costly (the in-use guard's hardening, t/e2e/in_use.t and t/guard):
 *
 *   vv-use thread-open NODE   the leader thread exits; another keeps NODE
 *                             open
 *   vv-use private-open NODE  a thread with a descriptor table of its own
 *                             (unshare(CLONE_FILES)) keeps NODE open
 *   vv-use map-node NODE      open NODE, map its first page, close it: only
 *                             the mapping is left
 *   vv-use dup NODE N         open NODE once and duplicate it to N
 *                             descriptors
 *   vv-use maps FILE N        map the first page of FILE N times
 *   vv-use netns-hide -       make a network namespace, keep only a socket
 *                             in it; on SIGUSR1 go back to the first one:
 *                             then nothing a guard can list holds it (an
 *                             interface moved there meanwhile stays)
 *
 * open and map put the holder in the background (own session, stdio on
 * /dev/null) and print "pid=N" once it holds the device (map also prints
 * "resource=resourceN" and "refused=resourceK ERRNO" for every BAR it could
 * not map); the holder keeps it until SIGTERM. excl prints "excl=ok|ERRNO"
 * and "excl_nonblock=ok|ERRNO". Exit 0 on success, 1 on a failure (printed
 * as "error=STEP ERRNO"), 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static int fail(const char *step, int e)
{
    printf("error=%s %s\n", step, ename(e));
    return 1;
}

static int try_excl(const char *node, int extra)
{
    int fd = open(node, O_RDONLY | O_EXCL | O_CLOEXEC | extra);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

/* Map one BAR file; 0 or the errno of the step that failed. */
static int map_one(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        int e = st.st_size <= 0 ? EINVAL : errno;
        close(fd);
        return e;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = p == MAP_FAILED ? errno : 0;
    close(fd);                       /* the mapping outlives the fd */
    return e;
}

/* The thread modes: the thread opens the node and reports; the leader
 * exits first (thread-open) or the thread unshares its table first. */
static struct { const char *node; FILE *w; int alone; volatile int ready; } th;

static void *holder(void *arg)
{
    (void)arg;
    if (th.alone && unshare(CLONE_FILES) < 0) {
        fprintf(th.w, "error=unshare %s\n", ename(errno));
        fflush(th.w);
        _exit(1);
    }
    th.ready = 1;
    if (!th.alone) {
        /* until the leader is a zombie: /proc/PID/stat says Z */
        char path[64], buf[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)getpid());
        for (int i = 0; i < 500 && !strstr(buf, ") Z "); i++) {
            int fd = open(path, O_RDONLY);
            ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
            buf[n > 0 ? n : 0] = '\0';
            if (fd >= 0)
                close(fd);
            usleep(10000);
        }
    }
    if (open(th.node, O_RDONLY) < 0) {
        fprintf(th.w, "error=open %s\n", ename(errno));
        fflush(th.w);
        _exit(1);
    }
    fprintf(th.w, "pid=%d\n", (int)getpid());
    fclose(th.w);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0)
        dup2(null, 1);              /* the last end of the report pipe */
    for (;;)
        pause();
    return NULL;
}

static int take_threaded(const char *mode, const char *arg, FILE *w)
{
    int wfd = fileno(w);            /* before the thread closes the FILE */
    pthread_t t;

    th.node = arg;
    th.w = w;
    th.alone = strcmp(mode, "private-open") == 0;
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return fail("pthread_create", errno);
    if (!th.alone)
        pthread_exit(NULL);
    /* The thread has a table of its own: this one's report pipe goes. */
    while (!th.ready)
        usleep(1000);
    int null = open("/dev/null", O_RDWR);
    close(wfd);
    if (null >= 0)
        dup2(null, 1);
    for (;;)
        pause();
}

/* Map the first page of path n times (one mapping each: the same offset
 * never merges); the descriptor is closed. */
static int map_pages(const char *path, long n, FILE *w)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("open", errno);
    for (long i = 0; i < n; i++)
        if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) {
            int e = errno;
            close(fd);
            return fail("mmap", e);
        }
    close(fd);
    fprintf(w, "pid=%d\n", (int)getpid());
    return 0;
}

static int dup_node(const char *node, long n, FILE *w)
{
    struct rlimit r = { (rlim_t)n + 64, (rlim_t)n + 64 };
    int fd;

    setrlimit(RLIMIT_NOFILE, &r);   /* up to the hard limit as a user */
    if ((fd = open(node, O_RDONLY)) < 0)
        return fail("open", errno);
    for (long i = 1; i < n; i++)
        if (dup(fd) < 0)
            return fail("dup", errno);
    fprintf(w, "pid=%d\n", (int)getpid());
    return 0;
}

static int home_ns = -1;

static void go_home(int sig)
{
    (void)sig;
    setns(home_ns, CLONE_NEWNET);
    close(home_ns);
}

/* A namespace held by a socket alone (no process in it, no descriptor of
 * the namespace itself, no mount). */
static int hide_netns(FILE *w)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = go_home;
    if ((home_ns = open("/proc/self/ns/net", O_RDONLY)) < 0)
        return fail("open", errno);
    if (unshare(CLONE_NEWNET) < 0)
        return fail("unshare", errno);
    if (socket(AF_INET, SOCK_DGRAM, 0) < 0)
        return fail("socket", errno);
    sigaction(SIGUSR1, &sa, NULL);
    fprintf(w, "pid=%d\n", (int)getpid());
    return 0;
}

/* In the child: take the device (open or map), report through fd w. */
static int take(const char *mode, const char *arg, const char *count,
                FILE *w)
{
    if (!strcmp(mode, "thread-open") || !strcmp(mode, "private-open"))
        return take_threaded(mode, arg, w);
    if (!strcmp(mode, "map-node"))
        return map_pages(arg, 1, w);
    if (!strcmp(mode, "maps"))
        return map_pages(arg, atol(count), w);
    if (!strcmp(mode, "dup"))
        return dup_node(arg, atol(count), w);
    if (!strcmp(mode, "netns-hide"))
        return hide_netns(w);
    if (strcmp(mode, "open") == 0) {
        int fd = open(arg, O_RDONLY);   /* kept: no O_CLOEXEC, never closed */
        if (fd < 0)
            return fail("open", errno);
        fprintf(w, "pid=%d\n", (int)getpid());
        return 0;
    }
    for (int i = 0; i < 6; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/resource%d", arg, i);
        if (access(path, F_OK) != 0)
            continue;
        int e = map_one(path);
        if (e == 0) {
            fprintf(w, "pid=%d\nresource=resource%d\n", (int)getpid(), i);
            return 0;
        }
        fprintf(w, "refused=resource%d %s\n", i, ename(e));
    }
    fprintf(w, "error=map no resource could be mapped\n");
    return 1;
}

static int hold(const char *mode, const char *arg, const char *count)
{
    int p[2];
    if (pipe(p) < 0)
        return fail("pipe", errno);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork", errno);
    if (pid == 0) {
        close(p[0]);
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 2);
        }
        FILE *w = fdopen(p[1], "w");
        if (!w)
            _exit(1);
        dup2(p[1], 1);                  /* error lines from take() too */
        int rc = take(mode, arg, count, w);
        fflush(stdout);
        fclose(w);
        if (null >= 0)
            dup2(null, 1);
        if (rc)
            _exit(1);
        for (;;)
            pause();                    /* until SIGTERM */
    }
    close(p[1]);
    char buf[512];
    ssize_t n;
    int held = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        if (memmem(buf, (size_t)n, "pid=", 4))
            held = 1;
    }
    close(p[0]);
    if (!held) {
        int st;
        waitpid(pid, &st, 0);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const one[] = { "open", "map", "thread-open",
                                       "private-open", "map-node",
                                       "netns-hide" };
    for (size_t i = 0; argc == 3 && i < sizeof one / sizeof *one; i++)
        if (strcmp(argv[1], one[i]) == 0)
            return hold(argv[1], argv[2], NULL);
    if (argc == 4 && (!strcmp(argv[1], "dup") || !strcmp(argv[1], "maps")))
        return hold(argv[1], argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "excl") == 0) {
        int a = try_excl(argv[2], 0);
        int b = try_excl(argv[2], O_NONBLOCK);
        printf("excl=%s\nexcl_nonblock=%s\n", a ? ename(a) : "ok", b ? ename(b) : "ok");
        return 0;
    }
    fprintf(stderr, "usage: vv-use open|thread-open|private-open|map-node "
            "NODE | map PCIDIR | excl NODE | dup NODE N | maps FILE N\n");
    return 2;
}
