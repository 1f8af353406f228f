#include "vv_netlink.h"

#include <apr_strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* How strongly a link's "carries" text tells the operator what they would
 * lose: an IPv4 address, then an IPv6 one, then a route. */
enum { CARRY_NONE, CARRY_ROUTE, CARRY_V6, CARRY_V4 };

typedef struct link_ex {
    vv_nl_link_t pub;
    int rank;
} link_ex_t;

/* A route through a nexthop object: resolved once the objects are read. */
typedef struct nh_route {
    unsigned id;
    const char *text;
} nh_route_t;

typedef struct nh_obj {
    unsigned id;
    int oif;
    apr_array_header_t *group; /* unsigned ids */
} nh_obj_t;

typedef struct dump {
    apr_pool_t *p;
    apr_array_header_t *links;    /* link_ex_t * */
    apr_array_header_t *nh_routes; /* nh_route_t */
    apr_array_header_t *nh_objs;  /* nh_obj_t */
} dump_t;

typedef struct attrs {
    const struct nlattr **tb;
    int max;
} attrs_t;

static int keep_attr(const struct nlattr *a, void *data)
{
    attrs_t *t = data;
    int type = mnl_attr_get_type(a);

    if (type <= t->max) {
        t->tb[type] = a;
    }
    return MNL_CB_OK;
}

static int parse(const struct nlmsghdr *nlh, size_t hdr,
                 const struct nlattr **tb, int max)
{
    attrs_t t = { tb, max };

    memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
    return mnl_attr_parse(nlh, (unsigned)hdr, keep_attr, &t) < 0 ? -1 : 0;
}

static int u32_of(const struct nlattr *a, unsigned *out)
{
    if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0) {
        return 0;
    }
    *out = mnl_attr_get_u32(a);
    return 1;
}

static const char *str_of(apr_pool_t *p, const struct nlattr *a)
{
    return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0
        ? apr_pstrdup(p, mnl_attr_get_str(a)) : NULL;
}

static link_ex_t *by_index(const dump_t *d, int index)
{
    for (int i = 0; i < d->links->nelts; i++) {
        link_ex_t *l = APR_ARRAY_IDX(d->links, i, link_ex_t *);
        if (l->pub.index == index) {
            return l;
        }
    }
    return NULL;
}

static void carry(const dump_t *d, int index, int rank, const char *text)
{
    link_ex_t *l = by_index(d, index);

    if (l && rank > l->rank) {
        l->rank = rank;
        l->pub.carries = text;
    }
}

static const char *kind_of(apr_pool_t *p, const struct nlattr *info)
{
    const struct nlattr *a;

    if (!info) {
        return "";
    }
    mnl_attr_for_each_nested(a, info) {
        if (mnl_attr_get_type(a) == IFLA_INFO_KIND) {
            const char *k = str_of(p, a);
            return k ? k : "";
        }
    }
    return "";
}

static int on_link(const struct nlmsghdr *nlh, void *data)
{
    dump_t *d = data;
    const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[IFLA_MAX + 1];
    link_ex_t *l;
    unsigned v;

    if (nlh->nlmsg_type != RTM_NEWLINK
        || parse(nlh, sizeof(*ifm), tb, IFLA_MAX) < 0) {
        return MNL_CB_ERROR;
    }
    l = apr_pcalloc(d->p, sizeof(*l));
    l->pub.index = ifm->ifi_index;
    l->pub.flags = ifm->ifi_flags;
    l->pub.name = str_of(d->p, tb[IFLA_IFNAME]);
    l->pub.kind = kind_of(d->p, tb[IFLA_LINKINFO]);
    if (u32_of(tb[IFLA_MASTER], &v)) {
        l->pub.master = (int)v;
    }
    /* IFLA_LINK names an ifindex of another namespace when the netns id
     * is given (a veth peer, a macvlan moved away from its parent): not
     * stacked on anything here. */
    l->pub.link_netnsid = -1;
    if (tb[IFLA_LINK_NETNSID]
        && mnl_attr_validate(tb[IFLA_LINK_NETNSID], MNL_TYPE_U32) == 0) {
        l->pub.link_netnsid = (int)mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
        if (u32_of(tb[IFLA_LINK], &v)) {
            l->pub.peer_lower = (int)v;
        }
    }
    else if (u32_of(tb[IFLA_LINK], &v) && (int)v != ifm->ifi_index) {
        l->pub.lower = (int)v;
    }
    l->pub.parent = str_of(d->p, tb[IFLA_PARENT_DEV_NAME]);
    if (!l->pub.name) {
        return MNL_CB_ERROR;
    }
    APR_ARRAY_PUSH(d->links, link_ex_t *) = l;
    return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *data)
{
    dump_t *d = data;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[IFA_MAX + 1];
    const struct nlattr *a;
    char text[INET6_ADDRSTRLEN];
    int v4 = ifa->ifa_family == AF_INET;

    if (nlh->nlmsg_type != RTM_NEWADDR
        || parse(nlh, sizeof(*ifa), tb, IFA_MAX) < 0) {
        return MNL_CB_ERROR;
    }
    /* 127.0.0.1 is host scope; fe80:: exists on any IPv6 link that is up
     * and means nothing to anyone beyond it. */
    if ((!v4 && ifa->ifa_family != AF_INET6)
        || ifa->ifa_scope >= (v4 ? RT_SCOPE_HOST : RT_SCOPE_LINK)) {
        return MNL_CB_OK;
    }
    /* On a point-to-point IPv4 link IFA_ADDRESS is the peer. */
    a = v4 && tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a || mnl_attr_get_payload_len(a) != (v4 ? 4u : 16u)
        || !inet_ntop(ifa->ifa_family, mnl_attr_get_payload(a), text,
                      sizeof(text))) {
        return MNL_CB_OK;
    }
    carry(d, (int)ifa->ifa_index, v4 ? CARRY_V4 : CARRY_V6,
          apr_psprintf(d->p, "%s/%u", text, ifa->ifa_prefixlen));
    return MNL_CB_OK;
}

static const char *route_text(apr_pool_t *p, const struct rtmsg *rt,
                              const struct nlattr *dst, unsigned table)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const char *where = table == RT_TABLE_MAIN ? ""
        : apr_psprintf(p, " in table %u", table);

    if (rt->rtm_dst_len == 0) {
        return apr_pstrcat(p, "a default route", where, NULL);
    }
    if (dst) {
        inet_ntop(rt->rtm_family, mnl_attr_get_payload(dst), text,
                  sizeof(text));
    }
    return apr_psprintf(p, "a route to %s/%u%s", text, rt->rtm_dst_len,
                        where);
}

/* fe80::/10: the link-local prefix every IPv6 interface routes. */
static int link_local_v6(const struct rtmsg *rt, const struct nlattr *dst)
{
    const unsigned char *b;

    if (rt->rtm_family != AF_INET6 || !dst || rt->rtm_dst_len < 10
        || mnl_attr_get_payload_len(dst) != 16) {
        return 0;
    }
    b = mnl_attr_get_payload(dst);
    return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

static void route_multipath(const dump_t *d, const struct nlattr *mp,
                            const char *text)
{
    const struct rtnexthop *nh = mnl_attr_get_payload(mp);
    int left = (int)mnl_attr_get_payload_len(mp);

    while (left >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh)
           && nh->rtnh_len <= left) {
        carry(d, nh->rtnh_ifindex, CARRY_ROUTE, text);
        left -= RTNH_ALIGN(nh->rtnh_len);
        nh = RTNH_NEXT(nh);
    }
}

static int on_route(const struct nlmsghdr *nlh, void *data)
{
    dump_t *d = data;
    const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[RTA_MAX + 1];
    unsigned table, v;
    const char *text;

    if (nlh->nlmsg_type != RTM_NEWROUTE
        || parse(nlh, sizeof(*rt), tb, RTA_MAX) < 0) {
        return MNL_CB_ERROR;
    }
    if (!u32_of(tb[RTA_TABLE], &table)) {
        table = rt->rtm_table;
    }
    /* The local table mirrors addresses (counted already); unreachable,
     * blackhole, multicast and broadcast routes send nothing out. */
    if ((rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6)
        || table == RT_TABLE_LOCAL || rt->rtm_type != RTN_UNICAST
        || link_local_v6(rt, tb[RTA_DST])) {
        return MNL_CB_OK;
    }
    text = route_text(d->p, rt, tb[RTA_DST], table);
    if (u32_of(tb[RTA_OIF], &v)) {
        carry(d, (int)v, CARRY_ROUTE, text);
    }
    if (tb[RTA_MULTIPATH]) {
        route_multipath(d, tb[RTA_MULTIPATH], text);
    }
    if (u32_of(tb[RTA_NH_ID], &v)) {
        nh_route_t *r = apr_array_push(d->nh_routes);
        r->id = v;
        r->text = text;
    }
    return MNL_CB_OK;
}

static int on_nexthop(const struct nlmsghdr *nlh, void *data)
{
    dump_t *d = data;
    const struct nhmsg *nhm = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[NHA_MAX + 1];
    nh_obj_t *o;
    unsigned v;

    if (nlh->nlmsg_type != RTM_NEWNEXTHOP
        || parse(nlh, sizeof(*nhm), tb, NHA_MAX) < 0
        || !u32_of(tb[NHA_ID], &v)) {
        return MNL_CB_ERROR;
    }
    o = apr_array_push(d->nh_objs);
    o->id = v;
    o->oif = u32_of(tb[NHA_OIF], &v) ? (int)v : 0;
    o->group = apr_array_make(d->p, 2, sizeof(unsigned));
    if (tb[NHA_GROUP]) {
        const struct nexthop_grp *g = mnl_attr_get_payload(tb[NHA_GROUP]);
        size_t n = mnl_attr_get_payload_len(tb[NHA_GROUP]) / sizeof(*g);
        for (size_t i = 0; i < n; i++) {
            APR_ARRAY_PUSH(o->group, unsigned) = g[i].id;
        }
    }
    return MNL_CB_OK;
}

static const nh_obj_t *nh_find(const dump_t *d, unsigned id)
{
    for (int i = 0; i < d->nh_objs->nelts; i++) {
        const nh_obj_t *o = &APR_ARRAY_IDX(d->nh_objs, i, nh_obj_t);
        if (o->id == id) {
            return o;
        }
    }
    return NULL;
}

/* A route through a nexthop (or a group of them, one level deep: the
 * kernel refuses nested groups) carries traffic out of each member's
 * device. */
static void resolve_nexthops(const dump_t *d)
{
    for (int i = 0; i < d->nh_routes->nelts; i++) {
        const nh_route_t *r = &APR_ARRAY_IDX(d->nh_routes, i, nh_route_t);
        const nh_obj_t *o = nh_find(d, r->id);

        if (o && o->oif) {
            carry(d, o->oif, CARRY_ROUTE, r->text);
        }
        for (int k = 0; o && k < o->group->nelts; k++) {
            const nh_obj_t *m = nh_find(d, APR_ARRAY_IDX(o->group, k,
                                                         unsigned));
            if (m && m->oif) {
                carry(d, m->oif, CARRY_ROUTE, r->text);
            }
        }
    }
}

typedef struct conn {
    struct mnl_socket *nl;
    unsigned seq;
    unsigned portid;
    char *buf;
    size_t size;
    int interrupted; /* the last dump met a change of the tables */
} conn_t;

static const char *dump_one(conn_t *c, int type, size_t hdr, mnl_cb_t cb,
                            void *data)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(c->buf);
    unsigned char *family;
    int n;

    nlh->nlmsg_type = (unsigned short)type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++c->seq;
    /* Every rtnetlink request header starts with its family; zero is
     * AF_UNSPEC: all families, all tables. */
    family = mnl_nlmsg_put_extra_header(nlh, hdr);
    *family = AF_UNSPEC;
    if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0) {
        return strerror(errno);
    }
    do {
        n = (int)mnl_socket_recvfrom(c->nl, c->buf, c->size);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK
                ? "the kernel did not answer in time" : strerror(errno);
        }
        errno = 0;
        n = mnl_cb_run(c->buf, (size_t)n, c->seq, c->portid, cb, data);
    } while (n > MNL_CB_STOP);
    /* EINTR: the kernel's tables changed during the dump (NLM_F_DUMP_INTR);
     * the caller takes the whole snapshot again. */
    c->interrupted = n < 0 && errno == EINTR;
    return n < 0 ? (errno ? strerror(errno) : "a malformed message") : NULL;
}

static const char *run_dumps(conn_t *c, dump_t *d)
{
    const char *why;

    if ((why = dump_one(c, RTM_GETLINK, sizeof(struct ifinfomsg), on_link,
                        d))) {
        return apr_pstrcat(d->p, "links: ", why, NULL);
    }
    if ((why = dump_one(c, RTM_GETADDR, sizeof(struct ifaddrmsg), on_addr,
                        d))) {
        return apr_pstrcat(d->p, "addresses: ", why, NULL);
    }
    if ((why = dump_one(c, RTM_GETROUTE, sizeof(struct rtmsg), on_route,
                        d))) {
        return apr_pstrcat(d->p, "routes: ", why, NULL);
    }
    if (d->nh_routes->nelts
        && (why = dump_one(c, RTM_GETNEXTHOP, sizeof(struct nhmsg),
                           on_nexthop, d))) {
        return apr_pstrcat(d->p, "nexthops: ", why, NULL);
    }
    resolve_nexthops(d);
    return NULL;
}

/* A thread of its own enters the namespace (setns(2) moves only the
 * calling thread) and opens the socket there: the socket stays in that
 * namespace wherever it is used from. */
typedef struct ns_socket {
    int netns;
    int fd;
    int err;
} ns_socket_t;

static void *open_in_ns(void *arg)
{
    ns_socket_t *s = arg;

    if (setns(s->netns, CLONE_NEWNET) != 0) {
        s->err = errno;
        return NULL;
    }
    s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    s->err = s->fd < 0 ? errno : 0;
    return NULL;
}

static int socket_in(int netns)
{
    ns_socket_t s = { netns, -1, 0 };
    pthread_t t;

    if (netns < 0) {
        s.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        return s.fd < 0 ? -errno : s.fd;
    }
    if ((s.err = pthread_create(&t, NULL, open_in_ns, &s)) != 0) {
        return -s.err;
    }
    pthread_join(t, NULL);
    return s.fd < 0 ? -s.err : s.fd;
}

/* One connection, the dumps on it.  NULL or why it failed; the socket is
 * left open in c->nl when it succeeded. */
static const char *snapshot_once(apr_pool_t *p, conn_t *c, dump_t *d,
                                 int timeout_ms, int netns)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int fd = socket_in(netns);
    const char *why;

    errno = 0;
    c->interrupted = 0;
    if (fd < 0) {
        return apr_pstrcat(p, "netlink socket: ", strerror(-fd), NULL);
    }
    if (!(c->nl = mnl_socket_fdopen(fd))
        || mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0
        || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        why = apr_pstrcat(p, "netlink socket: ", strerror(errno), NULL);
    }
    else {
        c->portid = mnl_socket_get_portid(c->nl);
        if (!(why = run_dumps(c, d))) {
            return NULL;
        }
    }
    if (c->nl) {
        mnl_socket_close(c->nl);
        c->nl = NULL;
    }
    else {
        close(fd);
    }
    return why;
}

static apr_status_t close_nl(void *nl)
{
    mnl_socket_close(nl);
    return APR_SUCCESS;
}

vv_err_t *vv_nl_snapshot(apr_pool_t *p, int timeout_ms, int netns,
                         vv_nl_snapshot_t **out)
{
    dump_t d = { p, apr_array_make(p, 16, sizeof(link_ex_t *)),
                 apr_array_make(p, 2, sizeof(nh_route_t)),
                 apr_array_make(p, 2, sizeof(nh_obj_t)) };
    /* Large enough for any one message of a link dump (the kernel sizes
     * its dump messages to what the reader's buffer takes). */
    conn_t c = { NULL, 0, 0, apr_palloc(p, 1 << 16), 1 << 16, 0 };
    vv_nl_snapshot_t *s;
    const char *why = NULL;

    /* A dump the kernel marks interrupted (its tables changed meanwhile)
     * is taken again, on a fresh socket, a few times. */
    for (int attempt = 0; attempt < 3; attempt++) {
        d.links->nelts = d.nh_routes->nelts = d.nh_objs->nelts = 0;
        if (!(why = snapshot_once(p, &c, &d, timeout_ms, netns))
            || !c.interrupted) {
            break;
        }
    }
    if (why) {
        return vv_err(p, VV_E_IN_USE, "rtnetlink %s", why);
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->fd = mnl_socket_get_fd(c.nl);
    apr_pool_cleanup_register(p, c.nl, close_nl, apr_pool_cleanup_null);
    s->links = apr_array_make(p, d.links->nelts, sizeof(vv_nl_link_t));
    for (int i = 0; i < d.links->nelts; i++) {
        APR_ARRAY_PUSH(s->links, vv_nl_link_t) =
            APR_ARRAY_IDX(d.links, i, link_ex_t *)->pub;
    }
    *out = s;
    return NULL;
}

static int on_nsid(const struct nlmsghdr *nlh, void *data)
{
    const struct nlattr *tb[NETNSA_MAX + 1];
    unsigned v;

    if (nlh->nlmsg_type == RTM_NEWNSID
        && parse(nlh, sizeof(struct rtgenmsg), tb, NETNSA_MAX) == 0
        && u32_of(tb[NETNSA_NSID], &v)) {
        *(int *)data = (int)v;
    }
    return MNL_CB_OK;
}

int vv_nl_nsid(const vv_nl_snapshot_t *s, int netns, int timeout_ms)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct rtgenmsg *g;
    struct sockaddr_nl to = { .nl_family = AF_NETLINK };
    int nsid = -1;
    ssize_t n;

    (void)timeout_ms; /* the socket's receive timeout bounds the reply */
    nlh->nlmsg_type = RTM_GETNSID;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = 1;
    g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->rtgen_family = AF_UNSPEC;
    mnl_attr_put_u32(nlh, NETNSA_FD, (unsigned)netns);
    if (sendto(s->fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to,
               sizeof(to)) < 0
        || (n = recv(s->fd, buf, sizeof(buf), 0)) <= 0) {
        return -1;
    }
    mnl_cb_run(buf, (size_t)n, 1, 0, on_nsid, &nsid);
    /* NETNSA_NSID_NOT_ASSIGNED (-1) comes back as such */
    return nsid;
}

const vv_nl_link_t *vv_nl_by_name(const vv_nl_snapshot_t *s, const char *name)
{
    for (int i = 0; i < s->links->nelts; i++) {
        const vv_nl_link_t *l = &APR_ARRAY_IDX(s->links, i, vv_nl_link_t);
        if (strcmp(l->name, name) == 0) {
            return l;
        }
    }
    return NULL;
}

const vv_nl_link_t *vv_nl_by_index(const vv_nl_snapshot_t *s, int index)
{
    for (int i = 0; i < s->links->nelts; i++) {
        const vv_nl_link_t *l = &APR_ARRAY_IDX(s->links, i, vv_nl_link_t);
        if (l->index == index) {
            return l;
        }
    }
    return NULL;
}
