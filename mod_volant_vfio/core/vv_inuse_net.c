/* Network interfaces of the device: does any of them, or anything stacked
 * on it (bridge, bond, team, Open vSwitch, VLAN, macvlan, ipvlan), carry
 * the host's traffic: up, with an address or a route in any table?
 * rtnetlink says, in every network namespace the host has: an interface
 * moved into a container (an SR-IOV VF in a pod) or a macvlan moved away
 * from its parent is invisible from the helper's own.  The kernel tells
 * which device an interface belongs to (IFLA_PARENT_DEV_NAME) and in which
 * namespace a moved upper's parent is (IFLA_LINK_NETNSID); the process
 * scan tells which namespaces exist.  A device whose interface is in a
 * namespace nothing visible holds is refused: "cannot tell". */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETLINK_TIMEOUT_MS 2000

/* One network namespace as rtnetlink shows it.  View 0 is the helper's. */
typedef struct view {
    const char *label; /* "the network namespace of pid 42 (sleep)" */
    int fd;            /* its namespace file; our own for view 0 */
    unsigned long ino;
    vv_nl_snapshot_t *s;
} view_t;

typedef struct vv_netviews {
    apr_array_header_t *views; /* view_t */
    apr_hash_t *nsids;         /* "w:v" -> the id view w gives view v + 1 */
    int taken;                 /* every namespace's view taken */
    const char *broken;        /* why one could not be: no answer then */
    const char *local_err;     /* why the helper's own could not be */
} netviews_t;

/* One step of the walk from the device's interface to what carries the
 * host's traffic: how this link stands to the one it was reached from. */
typedef struct hop {
    int v;
    const vv_nl_link_t *l;
    int from;
    const char *how; /* "is a port of bridge vmbr0" */
} hop_t;

/* ---- the helper's own namespace ----------------------------------------- */

static view_t *view(vv_inuse_t *g, int v)
{
    return &APR_ARRAY_IDX(g->net->views, v, view_t);
}


static vv_nl_snapshot_t *local(vv_inuse_t *g)
{
    view_t *v0;
    vv_err_t *e;

    if (!g->net) {
        g->net = apr_pcalloc(g->p, sizeof(*g->net));
        g->net->views = apr_array_make(g->p, 4, sizeof(view_t));
        g->net->nsids = apr_hash_make(g->p);
        v0 = apr_array_push(g->net->views);
        memset(v0, 0, sizeof(*v0));
        v0->fd = -1;
        if ((e = vv_nl_snapshot(g->p, NETLINK_TIMEOUT_MS, -1, &v0->s))) {
            g->net->local_err = e->msg;
        }
    }
    if (g->net->local_err) {
        vv_guard_cannot(g, g->net->local_err);
        return NULL;
    }
    return view(g, 0)->s;
}

/* A link sysfs names that netlink does not know is a snapshot taken while
 * the host changed: no answer from it. */
static const vv_nl_link_t *named(vv_inuse_t *g, const vv_nl_snapshot_t *s,
                                 const char *name)
{
    const vv_nl_link_t *l = vv_nl_by_name(s, name);

    if (!l) {
        vv_guard_cannot(g, apr_psprintf(g->p, "network interface %s is in "
                                        "sysfs but not in the helper's "
                                        "network namespace", name));
    }
    return l;
}

/* ---- the walk ------------------------------------------------------------ */

static const char *master_words(apr_pool_t *p, const vv_nl_link_t *m)
{
    static const struct { const char *kind, *words; } w[] = {
        { "bridge", "is a port of bridge" },
        { "bond", "is a slave of bond" },
        { "team", "is a port of team" },
        { "openvswitch", "is a port of Open vSwitch datapath" },
    };

    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        if (strcmp(m->kind, w[i].kind) == 0) {
            return apr_psprintf(p, "%s %s", w[i].words, m->name);
        }
    }
    return apr_psprintf(p, "is enslaved to %s%s%s", m->kind,
                        *m->kind ? " " : "", m->name);
}

static const char *upper_words(apr_pool_t *p, const vv_nl_link_t *u)
{
    return *u->kind ? apr_psprintf(p, "is the parent of %s %s", u->kind,
                                   u->name)
                    : apr_psprintf(p, "is the lower device of %s", u->name);
}

static void push(apr_array_header_t *q, int v, const vv_nl_link_t *l,
                 int from, const char *how)
{
    hop_t *h;

    for (int i = 0; i < q->nelts; i++) {
        const hop_t *o = &APR_ARRAY_IDX(q, i, hop_t);
        if (o->v == v && o->l->index == l->index) {
            return;
        }
    }
    h = apr_array_push(q);
    h->v = v;
    h->l = l;
    h->from = from;
    h->how = how;
}

/* The id view w gives view v's namespace, asked once. */
static int nsid(vv_inuse_t *g, int w, int v)
{
    const char *key = apr_psprintf(g->p, "%d:%d", w, v);
    void *have = apr_hash_get(g->net->nsids, key, APR_HASH_KEY_STRING);
    int id;

    if (have) {
        return (int)(long)have - 1;
    }
    id = vv_nl_nsid(view(g, w)->s, view(g, v)->fd, NETLINK_TIMEOUT_MS);
    apr_hash_set(g->net->nsids, key, APR_HASH_KEY_STRING, (void *)(long)(id + 1));
    return id;
}

/* In the helper's namespace sysfs also links masters and uppers. */
static void walk_sysfs(vv_inuse_t *g, apr_array_header_t *q, int i)
{
    const vv_nl_link_t *l = APR_ARRAY_IDX(q, i, hop_t).l, *m;
    const vv_nl_snapshot_t *s = view(g, 0)->s;
    const char *dir = apr_pstrcat(g->p, g->h->sysfs, "/class/net/", l->name,
                                  NULL);
    const char *t = vv_link_target(g->p, apr_pstrcat(g->p, dir, "/master",
                                                     NULL));
    apr_array_header_t *names = vv_dir_names(g->p, dir);

    if (t && (m = named(g, s, strrchr(t, '/') ? strrchr(t, '/') + 1 : t))) {
        push(q, 0, m, i, master_words(g->p, m));
    }
    for (int k = 0; names && k < names->nelts; k++) {
        const char *n = APR_ARRAY_IDX(names, k, const char *);
        if (strncmp(n, "upper_", 6) == 0 && (m = named(g, s, n + 6))) {
            push(q, 0, m, i, upper_words(g->p, m));
        }
    }
}

/* What sits above a link: its master (bridge, bond, team, OVS datapath),
 * its uppers (VLAN, macvlan, ipvlan) in its namespace or moved to another
 * one, and, from an OVS datapath, its internal ports. */
static void walk_from(vv_inuse_t *g, apr_array_header_t *q, int i)
{
    const hop_t *h = &APR_ARRAY_IDX(q, i, hop_t);
    int v = h->v;
    const vv_nl_link_t *l = h->l, *m;
    const vv_nl_snapshot_t *s = view(g, v)->s;

    if (l->master && (m = vv_nl_by_index(s, l->master))) {
        push(q, v, m, i, master_words(g->p, m));
    }
    if (v == 0) {
        walk_sysfs(g, q, i);
    }
    for (int w = 0; w < g->net->views->nelts; w++) {
        const vv_nl_snapshot_t *ws = view(g, w)->s;
        for (int k = 0; ws && k < ws->links->nelts; k++) {
            const vv_nl_link_t *u = &APR_ARRAY_IDX(ws->links, k,
                                                   vv_nl_link_t);
            if (w == v && u->lower == l->index) {
                push(q, w, u, i, upper_words(g->p, u));
            }
            else if (w == v && u->master == l->index && !l->master
                     && strcmp(l->kind, "openvswitch") == 0
                     && strcmp(u->kind, "openvswitch") == 0) {
                push(q, w, u, i, apr_psprintf(g->p, "has the internal port "
                                              "%s", u->name));
            }
            else if (w != v && u->link_netnsid >= 0
                     && u->peer_lower == l->index
                     && nsid(g, w, v) == u->link_netnsid) {
                push(q, w, u, i, apr_psprintf(g->p, "%s in %s",
                                              upper_words(g->p, u),
                                              view(g, w)->label));
            }
        }
    }
}

static const char *chain_text(vv_inuse_t *g, const apr_array_header_t *q,
                              int i)
{
    const hop_t *h = &APR_ARRAY_IDX(q, i, hop_t);
    const char *text = apr_pstrcat(g->p, "which carries ", h->l->carries,
                                   NULL);
    const char *sep = ", ";

    for (; h->from >= 0; h = &APR_ARRAY_IDX(q, h->from, hop_t)) {
        text = apr_pstrcat(g->p, h->how, sep, text, NULL);
        sep = ", which ";
    }
    return apr_pstrcat(g->p, "network interface ", h->l->name,
                       h->v ? apr_pstrcat(g->p, " (in ", view(g, h->v)->label,
                                          ")", NULL) : "",
                       " ", text, NULL);
}

static int carries(const vv_nl_link_t *l)
{
    return (l->flags & IFF_UP) && l->carries;
}

/* Breadth first from the device's interfaces: the shortest chain to a
 * carrier. */
static const char *walk(vv_inuse_t *g, apr_array_header_t *q)
{
    int roots = q->nelts;

    for (int i = 0; i < q->nelts && !g->cannot; i++) {
        const hop_t *h = &APR_ARRAY_IDX(q, i, hop_t);
        if (carries(h->l)) {
            return i >= roots ? chain_text(g, q, i)
                : apr_psprintf(g->p, "network interface %s%s is up and "
                               "carries %s", h->l->name, h->v
                               ? apr_pstrcat(g->p, " (in ", view(g, h->v)
                                             ->label, ")", NULL) : "",
                               h->l->carries);
        }
        walk_from(g, q, i);
    }
    return NULL;
}

/* Whether the kernel made a net directory for the device (its own or a
 * virtio child's), which stays while any of its interfaces exists, in
 * whichever namespace: sysfs shows the helper only its own namespace's
 * entries in it. */
static int has_net_dir(vv_inuse_t *g, const vv_devinfo_t *d)
{
    apr_array_header_t *kids;

    if (vv_host_has(d->path, "net")) {
        return 1;
    }
    kids = vv_dir_names(g->p, d->path);
    for (int i = 0; kids && i < kids->nelts; i++) {
        const char *k = APR_ARRAY_IDX(kids, i, const char *);
        if (strncmp(k, "virtio", 6) == 0
            && vv_host_has(d->path, apr_pstrcat(g->p, k, "/net", NULL))) {
            return 1;
        }
    }
    return 0;
}

/* Whether a link belongs to the device, as the kernel says: its parent is
 * the PCI function or a virtio device below it. */
static int belongs(const vv_devinfo_t *d, const vv_nl_link_t *l)
{
    return l->parent && (strcmp(l->parent, d->address) == 0
                         || (strncmp(l->parent, "virtio", 6) == 0
                             && vv_host_has(d->path, l->parent)));
}

/* The device's interfaces in the helper's namespace, as sysfs lists them,
 * checked as soon as the device is added. */
const char *vv_probe_net(vv_inuse_t *g)
{
    apr_array_header_t *ifs = vv_guard_class_members(g, "net");
    apr_array_header_t *q;
    vv_nl_snapshot_t *s;

    if (!ifs->nelts && !has_net_dir(g, g->d)) {
        return NULL;
    }
    APR_ARRAY_PUSH(g->netdevs, const vv_devinfo_t *) = g->d;
    g->scan.want_ns = 1;
    if (!ifs->nelts || !(s = local(g))) {
        return NULL;
    }
    q = apr_array_make(g->p, 8, sizeof(hop_t));
    for (int i = 0; i + 1 < ifs->nelts && !g->cannot; i += 2) {
        const vv_nl_link_t *l = named(g, s, APR_ARRAY_IDX(ifs, i, char *));
        if (l) {
            push(q, 0, l, -1, NULL);
        }
    }
    return g->cannot ? NULL : walk(g, q);
}

/* ---- every other namespace ------------------------------------------------ */

/* "/run/netns/blue" from mountinfo's octal escapes ("\040" a space). */
static const char *unescape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) + 1), *o = out;

    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0'
            && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
            s += 4;
        }
        else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

typedef struct nsfs_mounts {
    apr_pool_t *p;
    const char *pid;
    apr_array_header_t *found; /* vv_ns_t */
} nsfs_mounts_t;

/* A namespace kept by a bind mount (ip netns add): mountinfo's root field
 * names it, "net:[4026532281]". */
static int nsfs_line(const char *line, void *baton)
{
    nsfs_mounts_t *m = baton;
    char root[64], where[4096];
    const char *dash = strstr(line, " - nsfs ");
    unsigned long ino;
    vv_ns_t *ns;

    if (!dash || sscanf(line, "%*s %*s %*s %63s %4095s", root, where) != 2
        || !(ino = vv_ns_inode(root, "net"))) {
        return 0;
    }
    ns = apr_array_push(m->found);
    ns->ino = ino;
    ns->open = apr_pstrcat(m->p, m->pid, "/root", unescape(m->p, where),
                           NULL);
    ns->label = apr_pstrcat(m->p, "the network namespace mounted on ",
                            where, NULL);
    return 0;
}

/* Every namespace the scan found, and those mounted in any mount
 * namespace, each once. */
static apr_array_header_t *candidates(vv_inuse_t *g)
{
    nsfs_mounts_t m = { g->p, NULL, apr_array_copy(g->p, g->scan.netns) };

    for (int i = 0; i < g->scan.mntns->nelts; i++) {
        m.pid = APR_ARRAY_IDX(g->scan.mntns, i, vv_ns_t).open;
        vv_file_lines(apr_pstrcat(g->p, g->h->proc, "/", m.pid, "/mountinfo",
                                  NULL), nsfs_line, &m);
    }
    return m.found;
}

static int open_ns(vv_inuse_t *g, const char *rel, unsigned long ino)
{
    int fd = open(apr_pstrcat(g->p, g->h->proc, "/", rel, NULL),
                  O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd >= 0 && (fstat(fd, &st) != 0 || (unsigned long)st.st_ino != ino)) {
        close(fd);
        return -ESTALE;
    }
    return fd < 0 ? -errno : fd;
}

static apr_status_t close_fd(void *fd)
{
    close((int)(long)fd);
    return APR_SUCCESS;
}

/* Snapshots of every namespace, taken once per guard.  One that exists
 * but cannot be read makes the answer "cannot tell". */
static int views(vv_inuse_t *g)
{
    apr_array_header_t *c;
    apr_hash_t *seen = apr_hash_make(g->p);
    netviews_t *n;
    int fd;

    if (!local(g)) {
        return 0;
    }
    n = g->net;
    if (!n->taken) {
        int limit = g->opts.deadline_ms > 0 ? g->opts.deadline_ms
                                            : VV_INUSE_DEADLINE_MS;
        apr_time_t until = apr_time_now() + apr_time_from_msec(limit);
        n->taken = 1;
        view(g, 0)->label = "the helper's network namespace";
        c = candidates(g);
        if ((fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0
            && c->nelts) {
            n->broken = apr_psprintf(g->p, "cannot open the helper's own "
                                     "network namespace: %s", strerror(errno));
        }
        if (fd >= 0) {
            view(g, 0)->fd = fd;
            apr_pool_cleanup_register(g->p, (void *)(long)fd, close_fd,
                                      apr_pool_cleanup_null);
        }
        for (int i = 0; i < c->nelts && !n->broken; i++) {
            const vv_ns_t *ns = &APR_ARRAY_IDX(c, i, vv_ns_t);
            view_t *v;
            vv_err_t *e;
            /* A host with a great many namespaces (any user may make them)
             * is read within the guard's bound too. */
            if (apr_time_now() > until) {
                n->broken = apr_psprintf(g->p, "reading the host's %d network "
                                         "namespaces took longer than %d %s",
                                         c->nelts, limit % 1000 ? limit
                                         : limit / 1000,
                                         limit % 1000 ? "ms" : "s");
                break;
            }
            /* One gone with the process that held it is skipped: another
             * holder, if any, comes later in the list. */
            if (apr_hash_get(seen, &ns->ino, sizeof(ns->ino))
                || (fd = open_ns(g, ns->open, ns->ino)) < 0) {
                continue;
            }
            apr_hash_set(seen, &ns->ino, sizeof(ns->ino), ns);
            apr_pool_cleanup_register(g->p, (void *)(long)fd, close_fd,
                                      apr_pool_cleanup_null);
            v = apr_array_push(n->views);
            v->label = ns->label;
            v->fd = fd;
            v->ino = ns->ino;
            if ((e = vv_nl_snapshot(g->p, NETLINK_TIMEOUT_MS, fd, &v->s))) {
                v->s = NULL;
                n->broken = apr_psprintf(g->p, "cannot read %s: %s",
                                         ns->label, e->msg);
            }
        }
    }
    if (n->broken) {
        vv_guard_cannot(g, n->broken);
    }
    return !g->cannot;
}

const char *vv_probe_net_elsewhere(vv_inuse_t *g, const vv_devinfo_t *d)
{
    apr_array_header_t *ifs, *q;
    const vv_devinfo_t *was = g->d;
    const char *why;

    g->d = d;
    if (!views(g)) {
        g->d = was;
        return NULL;
    }
    ifs = vv_guard_class_members(g, "net");
    q = apr_array_make(g->p, 8, sizeof(hop_t));
    for (int i = 0; i + 1 < ifs->nelts; i += 2) {
        const vv_nl_link_t *l = vv_nl_by_name(view(g, 0)->s,
                                              APR_ARRAY_IDX(ifs, i, char *));
        if (l) {
            push(q, 0, l, -1, NULL);
        }
    }
    for (int v = 0; v < g->net->views->nelts; v++) {
        const vv_nl_snapshot_t *s = view(g, v)->s;
        for (int k = 0; s && k < s->links->nelts; k++) {
            const vv_nl_link_t *l = &APR_ARRAY_IDX(s->links, k, vv_nl_link_t);
            if (belongs(d, l)) {
                push(q, v, l, -1, NULL);
            }
        }
    }
    why = walk(g, q);
    if (!why && !g->cannot && !q->nelts && has_net_dir(g, d)) {
        vv_guard_cannot(g, "it has a network interface in a network "
                        "namespace that no process, descriptor or mount the "
                        "helper can see holds");
    }
    g->d = was;
    return why;
}
