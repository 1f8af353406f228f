/*
 * vv-scenario: run one sysfs scenario against a root (the real kernel's "/"
 * or a sysfs-sim mount) and print TAP, one test per step, each with what
 * actually happened. The same file runs on both targets, so a diff of the two
 * outputs lists every place where the simulator disagrees with the kernel.
 *
 * usage: vv-scenario [-s SYSDIR] [-d DEVDIR] [-m MAP] [-D NAME=ADDR]...
 *                    [-T TARGET] ROOT FILE
 *   paths in the scenario start with sys/ or dev/; sys/X is SYSDIR/X
 *   (default ROOT/sys) and dev/X is DEVDIR/X (default ROOT/dev).
 *   MAP: lines "NAME ADDRESS ..." (build/e2e/devices.map); -D adds one.
 *   TARGET (default "kernel") is matched against the scenario's "target"
 *   line; a scenario that does not list it is skipped.
 *
 * Scenario lines (t/fidelity/README.md has the full grammar):
 *   write PATH DATA -> ok|ERRNO|blocked  open(O_WRONLY) + ONE write() + close,
 *                                     in a child: "blocked" if not done in 3 s
 *   finish -> ok|ERRNO                wait (10 s) for the blocked write's result
 *   read PATH -> "TEXT"|ERRNO         whole content, compared exactly
 *   readlink PATH -> NAME|none|ERRNO  basename of the target; none = ENOENT
 *   exists PATH -> yes|no             stat()
 *   wait PATH -> yes|no               poll stat() until true or 5 s pass
 *   open PATH -> ok|ERRNO             open(O_RDWR) + close
 *   hold PATH -> ok|ERRNO             open(O_RDWR), keep the fd
 *   attach PATH [ADDR] -> ok|not viable|ERRNO
 *                                     VFIO container + TYPE1 IOMMU (+ the
 *                                     device fd of ADDR); on -T sim the
 *                                     simulator's "hold N" hook
 *   release PATH -> ok                close what hold/attach keeps
 * DATA is "C string" (\n \t \\ \" \0 \xHH), optionally followed by "* N";
 * $NAME expands to a device address, $GROUP(NAME) to its IOMMU group number.
 * EXPECT may list alternatives: "vfio-pci | none".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 64
#define MAX_HELD 16
#define MAX_DATA 65536
#define STEP_TIMEOUT 20
#define WAIT_TIMEOUT_MS 5000
#define BLOCK_MS 3000
#define FINISH_MS 10000

struct name { char key[32]; char addr[32]; };
/* A group this process keeps: a plain open (fd), or an attach (fd +
 * container + optional device fd; on the simulator a "hold" of its group). */
struct held { char path[PATH_MAX]; int used, fd, container, device, sim_group; };
/* A write that had not returned after BLOCK_MS: its child and result pipe. */
struct pending { pid_t pid; int fd; };

static struct name names[MAX_NAMES];
static int nnames;
static struct held held[MAX_HELD];
#define MAX_PENDING 8
static struct pending pending[MAX_PENDING];
static int npending;
static const char *root = "/", *sysdir, *devdir, *target = "kernel";
static int stepno, failures;
static char cur_step[512];

/* Truncating copy (snprintf "%s" trips -Wformat-truncation at -O2). */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l > n - 1)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
}

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("Bail out! ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(2);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "Bail out! step blocked for " "20" " s: ";
    (void)!write(1, msg, sizeof msg - 1);
    (void)!write(1, cur_step, strlen(cur_step));
    (void)!write(1, "\n", 1);
    _exit(3);
}

static void add_name(const char *key, const char *addr)
{
    if (nnames == MAX_NAMES)
        die("too many device names");
    snprintf(names[nnames].key, sizeof names[0].key, "%s", key);
    snprintf(names[nnames].addr, sizeof names[0].addr, "%s", addr);
    nnames++;
}

static void load_map(const char *file)
{
    char line[512], key[64], addr[64];
    FILE *f = fopen(file, "r");
    if (!f)
        die("cannot open map %s: %s", file, ename(errno));
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%63s %63s", key, addr) == 2)
            add_name(key, addr);
    fclose(f);
}

static const char *lookup(const char *key)
{
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names[i].key, key))
            return names[i].addr;
    return NULL;
}

/* Map a scenario path (sys/..., dev/..., other) onto the target's tree. */
static void real_path(const char *p, char *out, size_t n)
{
    if (!strncmp(p, "sys/", 4) && sysdir)
        snprintf(out, n, "%s/%s", sysdir, p + 4);
    else if (!strncmp(p, "dev/", 4) && devdir)
        snprintf(out, n, "%s/%s", devdir, p + 4);
    else
        snprintf(out, n, "%s/%s", root, p);
}

static void group_of(const char *key, char *out, size_t n)
{
    char path[PATH_MAX], link[PATH_MAX], rel[128];
    const char *addr = lookup(key);
    if (!addr)
        die("unknown device name %s in $GROUP()", key);
    snprintf(rel, sizeof rel, "sys/bus/pci/devices/%s/iommu_group", addr);
    real_path(rel, path, sizeof path);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0)
        die("no IOMMU group for %s (%s): %s", key, path, ename(errno));
    link[len] = 0;
    const char *base = strrchr(link, '/');
    copy_str(out, n, base ? base + 1 : link);
}

/* Expand $NAME and $GROUP(NAME) in s into out. */
static void expand(const char *s, char *out, size_t n)
{
    size_t o = 0;
    while (*s && o + 1 < n) {
        if (*s != '$') {
            out[o++] = *s++;
            continue;
        }
        char key[32], val[64];
        size_t k = 0;
        if (!strncmp(s, "$GROUP(", 7)) {
            s += 7;
            while (*s && *s != ')' && k + 1 < sizeof key)
                key[k++] = *s++;
            key[k] = 0;
            if (*s++ != ')')
                die("unterminated $GROUP( in step: %s", cur_step);
            group_of(key, val, sizeof val);
        } else {
            s++;
            while ((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')
                if (k + 1 < sizeof key)
                    key[k++] = *s++;
            key[k] = 0;
            const char *a = lookup(key);
            if (!a)
                die("unknown device name $%s in step: %s", key, cur_step);
            snprintf(val, sizeof val, "%s", a);
        }
        for (const char *v = val; *v && o + 1 < n; v++)
            out[o++] = *v;
    }
    out[o] = 0;
}

/* Parse one quoted C string at *pp, optionally followed by "* N", and append
 * it to buf at *len. $-expansion is applied to the raw text first. */
static void parse_segment(const char **pp, char *buf, size_t cap, size_t *len)
{
    const char *p = *pp;
    char raw[4096], exp[4096], one[4096];
    size_t r = 0, n = 0;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1] && r + 2 < sizeof raw)
            raw[r++] = *p++;
        if (r + 1 < sizeof raw)
            raw[r++] = *p;
    }
    if (*p != '"')
        die("unterminated string in step: %s", cur_step);
    raw[r] = 0;
    p++;
    expand(raw, exp, sizeof exp);
    for (const char *e = exp; *e; e++) {
        char c = *e;
        if (c == '\\' && e[1]) {
            switch (*++e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '0': c = '\0'; break;
            case 'x':
                if (e[1] && e[2]) {
                    char hex[3] = { e[1], e[2], 0 };
                    c = (char)strtol(hex, NULL, 16);
                    e += 2;
                }
                break;
            default: c = *e;
            }
        }
        if (n < sizeof one)
            one[n++] = c;
    }
    while (*p == ' ')
        p++;
    long times = 1;
    if (*p == '*') {
        times = strtol(p + 1, (char **)&p, 10);
        while (*p == ' ')
            p++;
    }
    if (times < 0 || *len + (size_t)times * n > cap)
        die("data too large in step: %s", cur_step);
    for (long i = 0; i < times; i++, *len += n)
        memcpy(buf + *len, one, n);
    *pp = p;
}

/* DATA: one or more quoted segments, each optionally repeated:
 * "x" * 4094 "\n". Returns the length of the bytes put in buf. */
static size_t parse_data(const char **pp, char *buf, size_t cap)
{
    size_t len = 0;
    if (**pp != '"')
        die("data must be a quoted string in step: %s", cur_step);
    while (**pp == '"')
        parse_segment(pp, buf, cap, &len);
    return len;
}

/* Print content as a C string; a run of one repeated byte (long overrides)
 * prints as "c" * N. The form is canonical, so expected and actual contents
 * compare as strings. */
static void escape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0, same = 0;
    while (same < n && s[same] == s[0])
        same++;
    int run = n >= 8 && same == n;
    out[o++] = '"';
    for (size_t i = 0; i < (run ? 1 : n) && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') o += sprintf(out + o, "\\n");
        else if (c == '\t') o += sprintf(out + o, "\\t");
        else if (c == '"' || c == '\\') o += sprintf(out + o, "\\%c", c);
        else if (c < 32 || c > 126) o += sprintf(out + o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    if (!run && n > 0 && o + 8 >= cap)
        o += sprintf(out + o, "...");
    out[o++] = '"';
    out[o] = 0;
    if (run)
        snprintf(out + o, cap - o, " * %zu", n);
}

static void do_write(const char *path, const char *data, size_t len, char *got, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(got, n, "%s (open)", ename(errno));
        return;
    }
    ssize_t w = write(fd, data, len);
    int werr = errno;
    int c = close(fd);
    int cerr = errno;
    if (w < 0)
        snprintf(got, n, "%s (write)", ename(werr));
    else if ((size_t)w != len)
        snprintf(got, n, "short write %zd of %zu", w, len);
    else if (c < 0)
        snprintf(got, n, "%s (close)", ename(cerr));
    else
        snprintf(got, n, "ok");
}

static void do_read(const char *path, char *got, size_t n)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(got, n, "%s (open)", ename(errno));
        return;
    }
    ssize_t r = read(fd, buf, sizeof buf);
    int rerr = errno;
    close(fd);
    if (r < 0)
        snprintf(got, n, "%s (read)", ename(rerr));
    else
        escape(buf, (size_t)r, got, n);
}

static void do_readlink(const char *path, char *got, size_t n)
{
    char link[PATH_MAX];
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0) {
        snprintf(got, n, "%s", errno == ENOENT ? "none" : ename(errno));
        return;
    }
    link[len] = 0;
    const char *base = strrchr(link, '/');
    copy_str(got, n, base ? base + 1 : link);
}

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void do_wait(const char *path, int want, char *got, size_t n)
{
    struct timespec t = { 0, 20 * 1000 * 1000 };
    for (int ms = 0; path_exists(path) != want && ms < WAIT_TIMEOUT_MS; ms += 20)
        nanosleep(&t, NULL);
    snprintf(got, n, "%s", path_exists(path) ? "yes" : "no");
}

static struct held *find_held(const char *path)
{
    for (int i = 0; i < MAX_HELD; i++)
        if (held[i].used && !strcmp(held[i].path, path))
            return &held[i];
    return NULL;
}

static struct held *new_held(const char *path)
{
    for (int i = 0; i < MAX_HELD; i++)
        if (!held[i].used) {
            held[i] = (struct held){ .used = 1, .fd = -1, .container = -1,
                                     .device = -1, .sim_group = -1 };
            copy_str(held[i].path, sizeof held[i].path, path);
            return &held[i];
        }
    die("too many held files");
    return NULL;
}

static void close_held(struct held *h)
{
    if (h->device >= 0)
        close(h->device);
    if (h->fd >= 0)
        close(h->fd);
    if (h->container >= 0)
        close(h->container);
    h->used = 0;
}

static const char *container_attach(int group, int *container)
{
    struct vfio_group_status st = { .argsz = sizeof st };
    static char err[64];
    *container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (*container < 0)
        return "container open failed";
    if (ioctl(group, VFIO_GROUP_GET_STATUS, &st) < 0) {
        snprintf(err, sizeof err, "%s (get-status)", ename(errno));
        return err;
    }
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
        return "not viable";
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, container) < 0) {
        snprintf(err, sizeof err, "%s (set-container)", ename(errno));
        return err;
    }
    if (ioctl(*container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
        snprintf(err, sizeof err, "%s (set-iommu)", ename(errno));
        return err;
    }
    return NULL;
}

static int on_sim(void)
{
    return !strcmp(target, "sim");
}

/* What VFIO_GROUP_GET_STATUS computes, read from sysfs: every member of the
 * group is on vfio-pci, pci-stub, pcieport (a bridge) or no driver. */
static int group_viable_sysfs(const char *group)
{
    char rel[320], path[PATH_MAX], link[PATH_MAX];
    snprintf(rel, sizeof rel, "sys/kernel/iommu_groups/%d/devices", atoi(group));
    real_path(rel, path, sizeof path);
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    int viable = 1;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(rel, sizeof rel, "sys/bus/pci/devices/%s/driver", e->d_name);
        real_path(rel, path, sizeof path);
        ssize_t l = readlink(path, link, sizeof link - 1);
        if (l < 0)
            continue;
        link[l] = 0;
        const char *drv = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
        if (strcmp(drv, "vfio-pci") && strcmp(drv, "pci-stub") && strcmp(drv, "pcieport"))
            viable = 0;
    }
    closedir(dir);
    return viable;
}

/* The simulator cannot run VFIO ioctls; its test hook "hold N" stands for a
 * hypervisor that attached the group and opened its devices. */
static int sim_control(const char *cmd, char *got, size_t n)
{
    char path[PATH_MAX];
    real_path("sim/control", path, sizeof path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, cmd, strlen(cmd)) < 0) {
        snprintf(got, n, "%s (sim/control)", ename(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void do_hold(const char *path, char *got, size_t n)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(got, n, "%s (open)", ename(errno));
        return;
    }
    new_held(path)->fd = fd;
    snprintf(got, n, "ok");
}

/* attach GROUP [ADDR]: a hypervisor's start; with ADDR it also opens the
 * device, which is what makes a vfio-pci unbind of ADDR block. */
static void do_attach(const char *path, const char *addr, char *got, size_t n)
{
    if (on_sim()) {
        const char *group = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char cmd[128];
        if (!group_viable_sysfs(group)) {
            new_held(path);
            snprintf(got, n, "not viable");
            return;
        }
        /* The simulator's attach owns the group and opens only ADDR, as
         * a hypervisor attaching that device does. */
        snprintf(cmd, sizeof cmd, "attach %d%s%.32s\n", atoi(group),
                 addr ? " " : "", addr ? addr : "");
        if (sim_control(cmd, got, n) == 0) {
            new_held(path)->sim_group = atoi(group);
            snprintf(got, n, "ok");
        }
        return;
    }
    struct held *h = new_held(path);
    h->fd = open(path, O_RDWR | O_CLOEXEC);
    if (h->fd < 0) {
        snprintf(got, n, "%s (open)", ename(errno));
        h->used = 0;
        return;
    }
    const char *err = container_attach(h->fd, &h->container);
    if (!err && addr && (h->device = ioctl(h->fd, VFIO_GROUP_GET_DEVICE_FD, addr)) < 0) {
        snprintf(got, n, "%s (get-device-fd)", ename(errno));
        return;
    }
    snprintf(got, n, "%s", err ? err : "ok");
}

static void do_release(const char *path, char *got, size_t n)
{
    struct held *h = find_held(path);
    if (!h) {
        snprintf(got, n, "not held");
        return;
    }
    snprintf(got, n, "ok");
    if (h->sim_group >= 0) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "release %d\n", h->sim_group);
        sim_control(cmd, got, n);
    }
    close_held(h);
}

/* One write in a child, so that a write the kernel blocks shows up as
 * "blocked" after BLOCK_MS instead of hanging the run; "finish" collects the
 * oldest blocked write's result. The child drops every held fd first (a
 * device fd it inherited would make its own unbind wait for itself) and
 * writes nothing but its result, on a pipe. */
static void do_write_bounded(const char *path, const char *data, size_t len,
                             char *got, size_t n)
{
    int p[2];
    if (npending == MAX_PENDING)
        die("too many blocked writes");
    if (pipe(p) < 0)
        die("pipe: %s", ename(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", ename(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        for (int i = 0; i < MAX_HELD; i++)
            if (held[i].used)
                close_held(&held[i]);
        for (int i = 0; i < npending; i++)
            close(pending[i].fd);
        close(p[0]);
        do_write(path, data, len, got, n);
        (void)!write(p[1], got, strlen(got));
        _exit(0);
    }
    close(p[1]);
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    if (poll(&pf, 1, BLOCK_MS) == 0) {
        pending[npending++] = (struct pending){ pid, p[0] };
        snprintf(got, n, "blocked");
        return;
    }
    ssize_t r = read(p[0], got, n - 1);
    got[r > 0 ? r : 0] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
}

static void do_finish(char *got, size_t n)
{
    if (!npending) {
        snprintf(got, n, "nothing blocked");
        return;
    }
    struct pollfd pf = { .fd = pending[0].fd, .events = POLLIN };
    if (poll(&pf, 1, FINISH_MS) == 0) {
        snprintf(got, n, "still blocked");
        return;
    }
    ssize_t r = read(pending[0].fd, got, n - 1);
    got[r > 0 ? r : 0] = 0;
    close(pending[0].fd);
    waitpid(pending[0].pid, NULL, 0);
    memmove(pending, pending + 1, --npending * sizeof *pending);
}

/* At the end: let go of simulator holds (so its blocked writers wake) and
 * of anything still blocked, which is reported. */
static void cleanup(void)
{
    for (int i = 0; i < MAX_HELD; i++)
        if (held[i].used && held[i].sim_group >= 0) {
            char cmd[64], got[128];
            snprintf(cmd, sizeof cmd, "release %d\n", held[i].sim_group);
            sim_control(cmd, got, sizeof got);
        }
    for (int i = 0; i < MAX_HELD; i++)
        if (held[i].used)
            close_held(&held[i]);
    for (int i = 0; i < npending; i++) {
        printf("# a write was still blocked at the end (pid %ld)\n", (long)pending[i].pid);
        kill(pending[i].pid, SIGKILL);
    }
}

/* got matches want when it equals one of want's "|" alternatives; an errno
 * expectation also matches "ERRNO (stage)". A content is one string. */
static int matches(const char *want, const char *got)
{
    char alts[1024];
    if (want[0] == '"')
        return !strcmp(want, got);
    copy_str(alts, sizeof alts, want);
    for (char *save, *a = strtok_r(alts, "|", &save); a; a = strtok_r(NULL, "|", &save)) {
        while (*a == ' ')
            a++;
        size_t l = strlen(a);
        while (l && a[l - 1] == ' ')
            a[--l] = 0;
        if (!strcmp(a, got))
            return 1;
        if (a[0] == 'E' && !strncmp(a, got, l) && !strncmp(got + l, " (", 2))
            return 1;
    }
    return 0;
}

/* Normalise an expected quoted string the same way do_read prints one. */
static void normalise_want(const char *want, char *out, size_t n)
{
    if (want[0] != '"') {
        expand(want, out, n);
        return;
    }
    char buf[MAX_DATA];
    const char *p = want;
    size_t len = parse_data(&p, buf, sizeof buf);
    escape(buf, len, out, n);
}

static void run_step(char *line, int lineno)
{
    static char data[MAX_DATA];
    static char got[32768], want[32768];
    char path[PATH_MAX], exp_path[PATH_MAX];
    char op[16], spath[PATH_MAX];
    char *arrow = strstr(line, " -> ");
    if (!arrow)
        die("line %d: no \" -> \" in: %s", lineno, line);
    *arrow = 0;
    normalise_want(arrow + 4, want, sizeof want);
    const char *p = line;
    int used = 0;
    if (sscanf(p, "%15s %n", op, &used) < 1)
        die("line %d: expected OP: %s", lineno, line);
    p += used;
    used = 0;
    if (strcmp(op, "finish") && sscanf(p, "%4095s %n", spath, &used) < 1)
        die("line %d: expected OP PATH: %s", lineno, line);
    if (!strcmp(op, "finish"))
        strcpy(spath, "-");
    p += used;
    expand(spath, exp_path, sizeof exp_path);
    real_path(exp_path, path, sizeof path);
    alarm(STEP_TIMEOUT);
    if (!strcmp(op, "write")) {
        size_t len = parse_data(&p, data, sizeof data);
        do_write_bounded(path, data, len, got, sizeof got);
    } else if (!strcmp(op, "read"))
        do_read(path, got, sizeof got);
    else if (!strcmp(op, "readlink"))
        do_readlink(path, got, sizeof got);
    else if (!strcmp(op, "exists"))
        snprintf(got, sizeof got, "%s", path_exists(path) ? "yes" : "no");
    else if (!strcmp(op, "wait"))
        do_wait(path, !strcmp(want, "yes"), got, sizeof got);
    else if (!strcmp(op, "open")) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        snprintf(got, sizeof got, "%s", fd < 0 ? ename(errno) : "ok");
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(op, "hold"))
        do_hold(path, got, sizeof got);
    else if (!strcmp(op, "attach")) {
        char addr[64] = "";
        if (sscanf(p, "%63s", addr) == 1)
            expand(addr, data, sizeof data);
        do_attach(path, *addr ? data : NULL, got, sizeof got);
    } else if (!strcmp(op, "finish"))
        do_finish(got, sizeof got);
    else if (!strcmp(op, "release"))
        do_release(path, got, sizeof got);
    else
        die("line %d: unknown operation %s", lineno, op);
    alarm(0);
    int ok = matches(want, got);
    failures += !ok;
    printf("%sok %d - L%d: %s -> %s # got %s\n", ok ? "" : "not ", ++stepno,
           lineno, cur_step, arrow + 4, got);
    fflush(stdout);
}

static int wants_target(char *line)
{
    for (char *save, *t = strtok_r(line + 6, " \t\n", &save); t;
         t = strtok_r(NULL, " \t\n", &save))
        if (!strcmp(t, target))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int opt;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((opt = getopt(argc, argv, "s:d:m:D:T:")) != -1) {
        char *eq;
        switch (opt) {
        case 's': sysdir = optarg; break;
        case 'd': devdir = optarg; break;
        case 'm': load_map(optarg); break;
        case 'T': target = optarg; break;
        case 'D':
            if (!(eq = strchr(optarg, '=')))
                die("-D wants NAME=ADDR");
            *eq = 0;
            add_name(optarg, eq + 1);
            break;
        default:
            fprintf(stderr, "usage: vv-scenario [-s SYSDIR] [-d DEVDIR] [-m MAP] "
                            "[-D NAME=ADDR]... [-T TARGET] ROOT FILE\n");
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: vv-scenario [options] ROOT FILE\n");
        return 2;
    }
    root = argv[optind];
    FILE *f = fopen(argv[optind + 1], "r");
    if (!f)
        die("cannot open %s: %s", argv[optind + 1], ename(errno));
    signal(SIGALRM, on_alarm);
    atexit(cleanup);
    printf("# scenario %s on target %s, root %s\n", argv[optind + 1], target, root);
    char line[8192];
    for (int lineno = 1; fgets(line, sizeof line, f); lineno++) {
        line[strcspn(line, "\n")] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (!strncmp(s, "target ", 7) || !strcmp(s, "target")) {
            char copy[512];
            copy_str(copy, sizeof copy, s);
            if (!wants_target(copy)) {
                printf("1..0 # SKIP scenario is not for target %s\n", target);
                return 0;
            }
            continue;
        }
        copy_str(cur_step, sizeof cur_step, s);
        char *arrow = strstr(cur_step, " -> ");
        if (arrow)
            *arrow = 0;
        run_step(s, lineno);
    }
    fclose(f);
    printf("1..%d\n", stepno);
    return failures ? 1 : 0;
}
