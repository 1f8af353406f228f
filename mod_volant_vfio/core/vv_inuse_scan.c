/* The one pass over every process the in-use guard makes: which process
 * holds a device node open or mapped, which maps a BAR, which network
 * namespaces exist.  Any local user shapes what it reads, so:
 *  - every thread's descriptor table is read, each distinct table once
 *    (a thread may have its own, and a leader that exited has none);
 *  - a process holding a node a thousand times is counted once, and only
 *    the first few holders are named;
 *  - maps are streamed through a fixed buffer;
 *  - on a real procfs a file is what the kernel says it is (device number,
 *    filesystem and inode), never what its name says: any user can name a
 *    file after a device node, or mount a filesystem named like a disk;
 *  - the pass ends at a deadline even when a read blocks in the kernel:
 *    the threads doing it own everything they touch, so that one still
 *    blocked can be left behind. */
#include "vv_inuse_probe.h"

#include <apr_allocator.h>
#include <apr_strings.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a thread looks at the clock inside one process's files. */
#define CHECK_EVERY 256

static long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- holders ------------------------------------------------------------ */

/* Puts pid among the named if it is one of the lowest; who names it. */
static void holders_name(vv_holders_t *h, long pid, const char *who)
{
    int at = h->shown;

    if (h->shown == VV_HOLDERS_SHOWN) {
        if (pid >= h->pid[h->shown - 1]) {
            return;
        }
        at = --h->shown;
    }
    while (at > 0 && h->pid[at - 1] > pid) {
        h->pid[at] = h->pid[at - 1];
        h->who[at] = h->who[at - 1];
        at--;
    }
    h->pid[at] = pid;
    h->who[at] = who;
    h->shown++;
}

void vv_holders_add(vv_holders_t *h, long pid, const char *(*who)(void *),
                    void *baton)
{
    if (h->last == pid) {
        return;
    }
    h->last = pid;
    h->count++;
    if (h->shown < VV_HOLDERS_SHOWN || pid < h->pid[h->shown - 1]) {
        holders_name(h, pid, who(baton));
    }
}

/* Another thread's holders into ours (strings copied into p). */
static void holders_merge(apr_pool_t *p, vv_holders_t *to,
                          const vv_holders_t *from)
{
    for (int i = 0; i < from->shown; i++) {
        if (to->shown < VV_HOLDERS_SHOWN
            || from->pid[i] < to->pid[to->shown - 1]) {
            holders_name(to, from->pid[i], apr_pstrdup(p, from->who[i]));
        }
    }
    to->count += from->count;
}

const char *vv_holders_text(apr_pool_t *p, const vv_holders_t *h,
                            int anonymous)
{
    const char *text = "";

    if (anonymous || !h->shown) {
        return h->count == 1 ? "a process"
                             : apr_psprintf(p, "%ld processes", h->count);
    }
    for (int i = 0; i < h->shown; i++) {
        text = apr_pstrcat(p, text, i ? ", " : "", h->who[i], NULL);
    }
    if (h->count > h->shown) {
        text = apr_psprintf(p, "%s and %ld more process%s", text,
                            h->count - h->shown,
                            h->count - h->shown > 1 ? "es" : "");
    }
    return text;
}

/* ---- one worker thread and what it owns ---------------------------------- */

typedef struct sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running; /* workers not done */
    int refs;    /* the caller and each worker still holding this */
    atomic_int stop;
} sync_t;

typedef struct worker {
    struct worker *next; /* among the left behind */
    sync_t *sync;
    pthread_t tid;
    int started;       /* in a thread of its own (else it ran inline) */
    int done, abandoned;
    apr_pool_t *pool;  /* its own: it outlives the caller's when left */
    apr_allocator_t *allocator; /* the pool's, held here too: a leak
                                 * checker sees no pointer inside pool
                                 * memory, and this one is in use */
    apr_pool_t *tmp;   /* cleared per process */
    vv_scan_t s;       /* a deep copy of the caller's, and its findings */
    long deadline;     /* CLOCK_MONOTONIC ms */
    int procdir;
    apr_array_header_t *pids;
    apr_hash_t *ns_seen;
    unsigned long own_netns;
    unsigned long nsfs_dev;  /* where namespaces' files live */
    long checks;
    /* the process being scanned */
    long pid;
    const char *pidtxt;
    int piddir;
    const char *who;
    const char *fdpath;  /* "PID/task/TID/fd", for a namespace it holds */
    int fds;             /* descriptors the table being read had */
    int mapdir;          /* its map_files, opened when first needed */
    const char *mapsrc;  /* "PID" or "TID" whose map_files to open */
} worker_t;

/* Workers left behind, still blocked in the kernel: kept reachable (their
 * memory is in use) until they return and free themselves. */
static pthread_mutex_t left_mu = PTHREAD_MUTEX_INITIALIZER;
static struct worker *left_behind;

static void leave_behind(struct worker *w)
{
    pthread_mutex_lock(&left_mu);
    w->next = left_behind;
    left_behind = w;
    pthread_mutex_unlock(&left_mu);
}

static void come_back(struct worker *w)
{
    pthread_mutex_lock(&left_mu);
    for (struct worker **pp = &left_behind; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&left_mu);
}

static void sync_release(sync_t *s)
{
    int last;

    pthread_mutex_lock(&s->mu);
    last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
    }
}

static int stopped(worker_t *w)
{
    if (atomic_load(&w->sync->stop)) {
        return 1;
    }
    if (now_ms() >= w->deadline) {
        atomic_store(&w->sync->stop, 1);
        return 1;
    }
    return 0;
}

/* Every CHECK_EVERY calls, whether to give up. */
static int should_stop(worker_t *w)
{
    return ++w->checks % CHECK_EVERY == 0 && stopped(w);
}

static const char *who_is(void *baton)
{
    worker_t *w = baton;
    char comm[64];
    int n;

    if (w->who) {
        return w->who;
    }
    n = vv_read_at(w->piddir, "comm", comm, sizeof(comm));
    /* Any process names itself: one printable line of ASCII. */
    for (int i = 0; i < n; i++) {
        if (!isprint((unsigned char)comm[i])) {
            comm[i] = '?';
        }
    }
    w->who = apr_psprintf(w->pool, "pid %ld (%s)", w->pid, n > 0 ? comm : "?");
    return w->who;
}

static void note_ns(worker_t *w, apr_array_header_t *list, unsigned long ino,
                    const char *open, const char *what)
{
    char key[48];
    vv_ns_t *ns;

    if (!ino || ino == w->own_netns) {
        return;
    }
    snprintf(key, sizeof(key), "%s:%lu", what, ino);
    if (apr_hash_get(w->ns_seen, key, APR_HASH_KEY_STRING)) {
        return;
    }
    apr_hash_set(w->ns_seen, apr_pstrdup(w->pool, key), APR_HASH_KEY_STRING,
                 "");
    ns = apr_array_push(list);
    ns->ino = ino;
    ns->open = apr_pstrdup(w->pool, open);
    ns->label = apr_psprintf(w->pool, "%s of %s", what, who_is(w));
}

/* ---- what a file is ------------------------------------------------------ */

static int names_node(const vv_node_t *n, const char *t)
{
    const char *paths[2] = { n->path, n->alias };

    for (int i = 0; i < 2; i++) {
        size_t len = paths[i] ? strlen(paths[i]) : 0;
        if (len && strncmp(t, paths[i], len) == 0
            && (!t[len] || strcmp(t + len, " (deleted)") == 0)) {
            return 1;
        }
    }
    return 0;
}

/* The node a file is, by the kernel's identity: its device number, or
 * the node itself under DevRoot. */
static int is_node(const vv_node_t *n, const vv_fileid_t *id)
{
    return (id->node && n->rdev && id->rdev == n->rdev
            && id->block == n->block)
        || (n->has_id && id->dev == n->id.dev && id->ino == n->id.ino);
}

/* A namespace kept open by a descriptor: only its link says which kind. */
static void fd_namespace(worker_t *w, int fddir, const char *name)
{
    char t[64];
    unsigned long ns;

    if (vv_link_text_at(fddir, name, t, sizeof(t)) > 0
        && (ns = vv_ns_inode(t, "net"))) {
        note_ns(w, w->s.netns, ns, apr_pstrcat(w->tmp, w->fdpath, "/", name,
                                               NULL),
                "a network namespace held open by");
    }
}

/* One descriptor.  On a real procfs, what the file is (one statx through
 * the descriptor's link); on a simulator's tree, what its link names. */
static int fd_hit(int fddir, const char *name, void *baton)
{
    worker_t *w = baton;
    apr_array_header_t *nodes = w->s.nodes;
    vv_fileid_t id;
    char t[PATH_MAX];

    w->fds++;
    if (should_stop(w)) {
        return 1;
    }
    if (!w->s.real_proc) {
        if (vv_link_text_at(fddir, name, t, sizeof(t)) <= 0 || t[0] != '/') {
            return 0; /* closed since the listing; socket:[N], pipe:[N] */
        }
        for (int i = 0; i < nodes->nelts; i++) {
            vv_node_t *n = &APR_ARRAY_IDX(nodes, i, vv_node_t);
            if (names_node(n, t)) {
                vv_holders_add(&n->open, w->pid, who_is, w);
            }
        }
        return 0;
    }
    if (vv_file_id_at(fddir, name, &id) != 0) {
        return 0; /* closed since the listing */
    }
    if (w->s.want_ns && id.dev == w->nsfs_dev) {
        fd_namespace(w, fddir, name);
        return 0;
    }
    for (int i = 0; i < nodes->nelts; i++) {
        vv_node_t *n = &APR_ARRAY_IDX(nodes, i, vv_node_t);
        if (is_node(n, &id)) {
            vv_holders_add(&n->open, w->pid, who_is, w);
        }
    }
    return 0;
}

/* map_files/RANGE is the mapped file itself (root may open it). */
static int map_files(worker_t *w)
{
    if (w->mapdir == -1) {
        int fd = openat(w->procdir, apr_pstrcat(w->tmp, w->mapsrc,
                                                "/map_files", NULL),
                        O_PATH | O_DIRECTORY | O_CLOEXEC);
        w->mapdir = fd < 0 ? -2 : fd;
    }
    return w->mapdir;
}

/* A BAR mapped: the inode of one of its resource files, on this sysfs or
 * (a container's own sysfs mount, another superblock with the same
 * inodes) on a sysfs that the mapping itself proves. */
static void bar_hit(worker_t *w, const vv_map_t *m)
{
    for (int i = 0; i < w->s.bars->nelts; i++) {
        vv_bar_t *b = &APR_ARRAY_IDX(w->s.bars, i, vv_bar_t);
        for (int k = 0; k < b->files->nelts; k++) {
            const vv_barfile_t *f = &APR_ARRAY_IDX(b->files, k, vv_barfile_t);
            unsigned long dev;
            char range[40];
            int dir;
            if (m->ino != f->ino
                || (vv_map_where(m, &dev, range, sizeof(range)) == 0
                    && dev != f->dev && (dir = map_files(w)) >= 0
                    && vv_on_sysfs_at(dir, range) == 0)) {
                continue;
            }
            if (!b->file) {
                b->file = apr_pstrdup(w->pool, f->name);
            }
            vv_holders_add(&b->mapped, w->pid, who_is, w);
        }
    }
}

/* "... /sys/devices/pci0000:00/0000:00:03.0/resource0": how a simulator's
 * maps name a BAR; it has no inodes to go by. */
static void bar_named(worker_t *w, const vv_map_t *m)
{
    for (int i = 0; i < w->s.bars->nelts; i++) {
        vv_bar_t *b = &APR_ARRAY_IDX(w->s.bars, i, vv_bar_t);
        size_t n = strlen(b->prefix);
        if (strncmp(m->path, b->prefix, n) == 0
            && isdigit((unsigned char)m->path[n])) {
            if (!b->file) {
                const char *f = m->path + n - strlen("resource");
                b->file = apr_pstrmemdup(w->pool, f, strcspn(f, " "));
            }
            vv_holders_add(&b->mapped, w->pid, who_is, w);
        }
    }
}

/* Whether a mapping is the node under DevRoot itself. */
static int maps_node_itself(const vv_node_t *n, const vv_map_t *m)
{
    unsigned long dev;
    char range[40];

    return n->has_id && m->ino == n->id.ino
        && vv_map_where(m, &dev, range, sizeof(range)) == 0
        && dev == n->id.dev;
}

static int map_hit(const vv_map_t *m, void *baton)
{
    worker_t *w = baton;
    apr_array_header_t *nodes = w->s.nodes;
    vv_fileid_t id = { 0 };
    int known = 0, dir;

    if (should_stop(w)) {
        return 1;
    }
    if (!w->s.real_proc) {
        bar_named(w, m);
    }
    else {
        bar_hit(w, m);
    }
    for (int i = 0; i < nodes->nelts; i++) {
        vv_node_t *n = &APR_ARRAY_IDX(nodes, i, vv_node_t);
        int hit;
        if (!w->s.real_proc) {
            hit = names_node(n, m->path);
        }
        else if (maps_node_itself(n, m)) {
            hit = 1;
        }
        else {
            /* Another mount namespace's node (a container's /dev): the
             * mapping's own file says which device it is. */
            if (!known && (strncmp(m->path, "/dev/", 5) == 0
                           || m->path_cut || names_node(n, m->path))) {
                unsigned long dev;
                char range[40];
                known = vv_map_where(m, &dev, range, sizeof(range)) == 0
                        && (dir = map_files(w)) >= 0
                        && vv_file_id_at(dir, range, &id) == 0 ? 1 : -1;
            }
            hit = known == 1 && is_node(n, &id);
        }
        if (hit) {
            vv_holders_add(&n->mapped, w->pid, who_is, w);
        }
    }
    return 0;
}

/* ---- one process ---------------------------------------------------------- */

/* The network namespace a thread is in (rel: "ns/net" or
 * "task/TID/ns/net" below the process's directory). */
static void thread_ns(worker_t *w, const char *rel)
{
    char target[64];
    ssize_t n;

    if (w->s.want_ns
        && (n = readlinkat(w->piddir, rel, target, sizeof(target) - 1)) > 0) {
        target[n] = '\0';
        note_ns(w, w->s.netns, vv_ns_inode(target, "net"),
                apr_pstrcat(w->tmp, w->pidtxt, "/", rel, NULL),
                "the network namespace");
    }
}

/* One descriptor table (rel: "fd" or "task/TID/fd").  Returns how many
 * descriptors it had, or -errno. */
static int read_fds(worker_t *w, const char *rel)
{
    int rc;

    if (!w->s.nodes->nelts && !w->s.want_ns) {
        return 1;
    }
    w->fdpath = apr_pstrcat(w->tmp, w->pidtxt, "/", rel, NULL);
    w->fds = 0;
    rc = vv_proc_each_fd(w->piddir, rel, fd_hit, w);
    return rc < 0 ? rc : w->fds;
}

/* Each distinct descriptor table of the process, once: threads share
 * their leader's unless one unshared it, and a leader that exited has
 * none left.  Without kcmp(2) every thread's is read. */
static int scan_tables(worker_t *w, const apr_array_header_t *tids,
                       const char **what)
{
    apr_array_header_t *seen = apr_array_make(w->tmp, 2, sizeof(long));
    int kcmp_ok = w->s.own_pidns;

    for (int i = 0; i < tids->nelts && !stopped(w); i++) {
        const char *tid = APR_ARRAY_IDX(tids, i, const char *);
        long t = atol(tid);
        int shared = 0, rc;

        thread_ns(w, apr_pstrcat(w->tmp, "task/", tid, "/ns/net", NULL));
        for (int k = 0; kcmp_ok && !shared && k < seen->nelts; k++) {
            rc = vv_proc_same_files(APR_ARRAY_IDX(seen, k, long), t);
            shared = rc == 1;
            kcmp_ok = rc >= 0 || rc == -ESRCH;
        }
        if (shared) {
            continue;
        }
        rc = read_fds(w, apr_pstrcat(w->tmp, "task/", tid, "/fd", NULL));
        if (rc < 0 && rc != -ENOENT && rc != -ESRCH) {
            *what = "/fd";
            return rc;
        }
        APR_ARRAY_PUSH(seen, long) = t;
    }
    return 0;
}

/* A process's threads and tables.  The common case, one thread with
 * descriptors, costs one stat more than a plain read of its table; a
 * leader that exited (no descriptors left) or several threads are read
 * thread by thread. */
static int scan_real(worker_t *w, apr_array_header_t **tids,
                     const char **what)
{
    int rc;

    *what = "/fd";
    if (vv_proc_threads(w->piddir) == 1) {
        thread_ns(w, "ns/net");
        if ((rc = read_fds(w, "fd")) != 0) {
            return rc < 0 ? rc : 0;
        }
    }
    *what = "/task";
    if ((rc = vv_proc_tasks(w->tmp, w->piddir, tids)) < 0) {
        return rc;
    }
    return scan_tables(w, *tids, what);
}

/* The process's maps.  A leader that exited has none: a living thread
 * shows the memory they all share. */
static int scan_maps(worker_t *w, const apr_array_header_t *tids,
                     const char **what)
{
    long n;

    *what = "/maps";
    w->mapsrc = w->pidtxt;
    n = vv_proc_each_map(w->piddir, "maps", w->s.real_proc, map_hit, w);
    for (int i = 0; w->s.real_proc && n == 0 && tids && i < tids->nelts; i++) {
        const char *tid = APR_ARRAY_IDX(tids, i, const char *);
        if (strcmp(tid, w->pidtxt) != 0) {
            if (w->mapdir >= 0) {
                close(w->mapdir);
            }
            w->mapdir = -1;
            w->mapsrc = tid;
            n = vv_proc_each_map(w->procdir, apr_pstrcat(w->tmp, tid,
                                                         "/maps", NULL),
                                 w->s.real_proc, map_hit, w);
        }
    }
    return n < 0 && n != -ENOENT && n != -ESRCH ? (int)n : 0;
}

static int scan_process(worker_t *w, const char *pid, const char **what)
{
    apr_array_header_t *tids = NULL;
    int rc;
    char target[64];
    ssize_t n;

    *what = "";
    w->pidtxt = pid;
    w->pid = atol(pid);
    w->who = NULL;
    w->mapdir = -1;
    if ((w->piddir = vv_proc_open(w->procdir, pid)) < 0) {
        return w->piddir;
    }
    if (w->s.real_proc) {
        if (w->s.want_ns
            && (n = readlinkat(w->piddir, "ns/mnt", target,
                               sizeof(target) - 1)) > 0) {
            target[n] = '\0';
            note_ns(w, w->s.mntns, vv_ns_inode(target, "mnt"), pid,
                    "the mount namespace");
        }
        rc = scan_real(w, &tids, what);
    }
    else if (w->s.nodes->nelts) {
        *what = "/fd";
        w->fdpath = apr_pstrcat(w->tmp, pid, "/fd", NULL);
        rc = vv_proc_each_fd(w->piddir, "fd", fd_hit, w);
    }
    else {
        rc = 0;
    }
    if (rc == 0 && (w->s.nodes->nelts || w->s.bars->nelts)) {
        rc = scan_maps(w, tids, what);
    }
    if (w->mapdir >= 0) {
        close(w->mapdir);
    }
    close(w->piddir);
    return rc;
}

static const char *deadline_text(apr_pool_t *p, int ms)
{
    return apr_psprintf(p, "the process scan took longer than %d %s (a "
                        "process with a great many open files or "
                        "mappings, or a read the kernel held up)",
                        ms % 1000 ? ms : ms / 1000, ms % 1000 ? "ms" : "s");
}

static void scan_share(worker_t *w)
{
    for (int i = 0; i < w->pids->nelts && !w->s.cannot; i++) {
        const char *pid = APR_ARRAY_IDX(w->pids, i, const char *);
        const char *what;
        int rc;

        if (stopped(w)) {
            w->s.cannot = deadline_text(w->pool, w->s.deadline_ms);
            break;
        }
        apr_pool_clear(w->tmp);
        rc = scan_process(w, pid, &what);
        if (rc < 0 && rc != -ENOENT && rc != -ESRCH && !stopped(w)) {
            w->s.cannot = apr_psprintf(w->pool, "cannot read %s/%s%s: %s%s",
                w->s.h->proc, pid, what, strerror(-rc), geteuid()
                ? apr_psprintf(w->pool, " (the privileged helper runs as "
                               "uid %d; start httpd as root)", (int)geteuid())
                : "");
        }
    }
    if (!w->s.cannot && atomic_load(&w->sync->stop)) {
        w->s.cannot = deadline_text(w->pool, w->s.deadline_ms);
    }
}

static void worker_free(worker_t *w)
{
    close(w->procdir);
    apr_pool_destroy(w->pool);
    sync_release(w->sync);
    free(w);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    int left;

    scan_share(w);
    pthread_mutex_lock(&w->sync->mu);
    w->done = 1;
    w->sync->running--;
    left = w->abandoned;
    pthread_cond_broadcast(&w->sync->cv);
    pthread_mutex_unlock(&w->sync->mu);
    if (left) {
        come_back(w);
        worker_free(w);
    }
    return NULL;
}

/* ---- the caller's side ----------------------------------------------------- */

static apr_array_header_t *nodes_copy(apr_pool_t *p,
                                      const apr_array_header_t *from)
{
    apr_array_header_t *to = apr_array_copy(p, from);

    for (int i = 0; i < to->nelts; i++) {
        vv_node_t *n = &APR_ARRAY_IDX(to, i, vv_node_t);
        n->path = n->path ? apr_pstrdup(p, n->path) : NULL;
        n->alias = n->alias ? apr_pstrdup(p, n->alias) : NULL;
        n->label = n->address = NULL; /* the caller's, not needed */
        memset(&n->open, 0, sizeof(n->open));
        memset(&n->mapped, 0, sizeof(n->mapped));
    }
    return to;
}

static apr_array_header_t *bars_copy(apr_pool_t *p,
                                     const apr_array_header_t *from)
{
    apr_array_header_t *to = apr_array_copy(p, from);

    for (int i = 0; i < to->nelts; i++) {
        vv_bar_t *b = &APR_ARRAY_IDX(to, i, vv_bar_t);
        b->address = NULL;
        b->prefix = apr_pstrdup(p, b->prefix);
        b->files = apr_array_copy(p, b->files);
        for (int k = 0; k < b->files->nelts; k++) {
            vv_barfile_t *f = &APR_ARRAY_IDX(b->files, k, vv_barfile_t);
            f->name = apr_pstrdup(p, f->name);
        }
        b->file = NULL;
        memset(&b->mapped, 0, sizeof(b->mapped));
    }
    return to;
}

static worker_t *worker_new(const vv_scan_t *s, sync_t *sync, int procdir,
                            const apr_array_header_t *pids, int from, int to,
                            long deadline, unsigned long own_netns,
                            unsigned long nsfs_dev)
{
    worker_t *w = calloc(1, sizeof(*w));
    vv_host_t *h;

    if (!w || (w->procdir = dup(procdir)) < 0) {
        free(w);
        return NULL;
    }
    apr_pool_create_unmanaged(&w->pool);
    w->allocator = apr_pool_allocator_get(w->pool);
    apr_pool_create(&w->tmp, w->pool);
    w->sync = sync;
    w->deadline = deadline;
    w->own_netns = own_netns;
    w->nsfs_dev = nsfs_dev;
    w->s = *s;
    h = apr_pmemdup(w->pool, s->h, sizeof(*h));
    h->proc = apr_pstrdup(w->pool, s->h->proc);
    w->s.h = h;
    w->s.nodes = nodes_copy(w->pool, s->nodes);
    w->s.bars = bars_copy(w->pool, s->bars);
    w->s.netns = apr_array_make(w->pool, 2, sizeof(vv_ns_t));
    w->s.mntns = apr_array_make(w->pool, 2, sizeof(vv_ns_t));
    w->s.cannot = NULL;
    w->ns_seen = apr_hash_make(w->pool);
    w->pids = apr_array_make(w->pool, to - from, sizeof(const char *));
    for (int i = from; i < to; i++) {
        APR_ARRAY_PUSH(w->pids, const char *) =
            apr_pstrdup(w->pool, APR_ARRAY_IDX(pids, i, const char *));
    }
    return w;
}

static void ns_merge(apr_pool_t *p, apr_array_header_t *to,
                     const apr_array_header_t *from)
{
    for (int i = 0; i < from->nelts; i++) {
        const vv_ns_t *f = &APR_ARRAY_IDX(from, i, vv_ns_t);
        int have = 0;
        for (int k = 0; k < to->nelts && !have; k++) {
            have = APR_ARRAY_IDX(to, k, vv_ns_t).ino == f->ino;
        }
        if (!have) {
            vv_ns_t *n = apr_array_push(to);
            n->ino = f->ino;
            n->open = apr_pstrdup(p, f->open);
            n->label = apr_pstrdup(p, f->label);
        }
    }
}

static void merge(apr_pool_t *p, vv_scan_t *s, const worker_t *w)
{
    for (int i = 0; i < s->nodes->nelts; i++) {
        vv_node_t *to = &APR_ARRAY_IDX(s->nodes, i, vv_node_t);
        const vv_node_t *from = &APR_ARRAY_IDX(w->s.nodes, i, vv_node_t);
        holders_merge(p, &to->open, &from->open);
        holders_merge(p, &to->mapped, &from->mapped);
    }
    for (int i = 0; i < s->bars->nelts; i++) {
        vv_bar_t *to = &APR_ARRAY_IDX(s->bars, i, vv_bar_t);
        const vv_bar_t *from = &APR_ARRAY_IDX(w->s.bars, i, vv_bar_t);
        if (from->file && !to->file) {
            to->file = apr_pstrdup(p, from->file);
        }
        holders_merge(p, &to->mapped, &from->mapped);
    }
    ns_merge(p, s->netns, w->s.netns);
    ns_merge(p, s->mntns, w->s.mntns);
    if (w->s.cannot && !s->cannot) {
        s->cannot = apr_pstrdup(p, w->s.cannot);
    }
}

/* How many threads read /proc: one per CPU, up to 8, one for a handful
 * of processes. */
static int scan_threads(int procs)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;

    return procs / 128 < n ? (procs / 128 > 1 ? procs / 128 : 1) : n;
}

static int hung_up(int fd)
{
    struct pollfd pfd = { fd, POLLRDHUP, 0 };

    return fd > 0 && poll(&pfd, 1, 0) > 0
        && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits for the workers until the deadline or the client's hangup.
 * Returns with sync->mu held. */
static void wait_workers(vv_scan_t *s, sync_t *sync, long deadline)
{
    pthread_mutex_lock(&sync->mu);
    while (sync->running > 0) {
        long left = deadline - now_ms(), step = left < 100 ? left : 100;
        struct timespec t;
        if (left <= 0) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += step * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&sync->cv, &sync->mu, &t);
        if (sync->running > 0 && s->watch_fd > 0) {
            pthread_mutex_unlock(&sync->mu);
            s->gone = hung_up(s->watch_fd);
            pthread_mutex_lock(&sync->mu);
            if (s->gone) {
                break;
            }
        }
    }
    atomic_store(&sync->stop, 1);
}

static sync_t *sync_new(void)
{
    sync_t *s = calloc(1, sizeof(*s));
    pthread_condattr_t a;

    if (!s) {
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    s->refs = 1;
    return s;
}

/* The helper's own network namespace, and the file system namespaces'
 * files are on (a descriptor there is a namespace kept open). */
static unsigned long own_netns(unsigned long *nsfs_dev)
{
    vv_fileid_t id;

    if (vv_file_id_at(AT_FDCWD, "/proc/thread-self/ns/net", &id) != 0) {
        *nsfs_dev = 0;
        return 0;
    }
    *nsfs_dev = id.dev;
    return id.ino;
}

/* The workers that finished are merged; one still in the kernel is left
 * to free itself when it returns. */
static void collect(apr_pool_t *p, vv_scan_t *s, worker_t **w, int n,
                    sync_t *sync)
{
    for (int t = 0; t < n; t++) {
        if (w[t] && !w[t]->done) {
            w[t]->abandoned = 1;
            leave_behind(w[t]);
            pthread_detach(w[t]->tid);
            w[t] = NULL;
        }
    }
    pthread_mutex_unlock(&sync->mu);
    for (int t = 0; t < n; t++) {
        if (w[t]) {
            if (w[t]->started) {
                pthread_join(w[t]->tid, NULL);
            }
            merge(p, s, w[t]);
            worker_free(w[t]);
        }
    }
}

/* The numeric entries of ProcRoot: its processes. */
static apr_array_header_t *processes(apr_pool_t *p, const char *proc, int *rc)
{
    apr_array_header_t *all, *pids;

    if ((*rc = vv_dir_list(p, proc, &all)) < 0) {
        return NULL;
    }
    pids = apr_array_make(p, all->nelts, sizeof(const char *));
    for (int i = 0; i < all->nelts; i++) {
        const char *name = APR_ARRAY_IDX(all, i, const char *);
        if (isdigit((unsigned char)name[0])) {
            APR_ARRAY_PUSH(pids, const char *) = name;
        }
    }
    return pids;
}

void vv_scan_run(apr_pool_t *p, vv_scan_t *s)
{
    int rc;
    apr_array_header_t *pids = processes(p, s->h->proc, &rc);
    int procdir = !pids ? -1 : open(s->h->proc, O_PATH | O_DIRECTORY
                                    | O_CLOEXEC);
    long deadline;
    int n = procdir < 0 ? 0 : scan_threads(pids->nelts);
    worker_t **w = apr_pcalloc(p, sizeof(*w) * (size_t)(n ? n : 1));
    unsigned long nsfs_dev, own = own_netns(&nsfs_dev);
    sync_t *sync = procdir < 0 ? NULL : sync_new();

    s->netns = apr_array_make(p, 2, sizeof(vv_ns_t));
    s->mntns = apr_array_make(p, 2, sizeof(vv_ns_t));
    if (s->deadline_ms <= 0) {
        s->deadline_ms = VV_INUSE_DEADLINE_MS;
    }
    deadline = now_ms() + s->deadline_ms;
    if (!sync) {
        s->cannot = apr_psprintf(p, "cannot read %s: %s", s->h->proc,
                                 strerror(rc < 0 ? -rc : errno ? errno
                                          : ENOMEM));
        if (procdir >= 0) {
            close(procdir);
        }
        return;
    }
    for (int t = 0; t < n; t++) {
        w[t] = worker_new(s, sync, procdir, pids,
                          (int)((long)pids->nelts * t / n),
                          (int)((long)pids->nelts * (t + 1) / n), deadline,
                          own, nsfs_dev);
        if (!w[t]) {
            s->cannot = apr_pstrdup(p, "cannot start the process scan: out "
                                    "of memory or descriptors");
            atomic_store(&sync->stop, 1);
            break;
        }
        pthread_mutex_lock(&sync->mu);
        sync->refs++;
        sync->running++;
        pthread_mutex_unlock(&sync->mu);
        /* A thread that cannot start runs here, bounded by its own clock. */
        w[t]->started = pthread_create(&w[t]->tid, NULL, worker_main,
                                       w[t]) == 0;
        if (!w[t]->started) {
            worker_main(w[t]);
        }
    }
    close(procdir);
    wait_workers(s, sync, deadline);
    if (s->gone) {
        s->cannot = "the client went away";
    }
    else if (sync->running > 0 && !s->cannot) {
        s->cannot = deadline_text(p, s->deadline_ms);
    }
    collect(p, s, w, n, sync);
    sync_release(sync);
}
