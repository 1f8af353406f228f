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

/* In the child: take the device (open or map), report through fd w. */
static int take(const char *mode, const char *arg, FILE *w)
{
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

static int hold(const char *mode, const char *arg)
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
        int rc = take(mode, arg, w);
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
    if (argc == 3 && (strcmp(argv[1], "open") == 0 || strcmp(argv[1], "map") == 0))
        return hold(argv[1], argv[2]);
    if (argc == 3 && strcmp(argv[1], "excl") == 0) {
        int a = try_excl(argv[2], 0);
        int b = try_excl(argv[2], O_NONBLOCK);
        printf("excl=%s\nexcl_nonblock=%s\n", a ? ename(a) : "ok", b ? ename(b) : "ok");
        return 0;
    }
    fprintf(stderr, "usage: vv-use open NODE | map PCIDIR | excl NODE\n");
    return 2;
}
