/* The privileged boundary.  Lifecycle (fork in post_config, other-child
 * restart, replacement on every restart), the socket and its peer check,
 * the request loop, and the workers' client. */
#include "vv_helper.h"
#include "vv_config.h"
#include "core/vv_bind.h"
#include "core/vv_device.h"
#include "core/vv_proto.h"
#include "core/vv_metrics.h"
#include "core/vv_record.h"
#include "core/vv_stats.h"
#include "core/vv_usage.h"

#include <ap_listen.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unixd.h>

/* Exit status of a helper that could not start: httpd does not restart it,
 * which would only loop (mod_cgid's convention). */
#define STARTUP_FAILED 254

/* Connections served at once, each by a root child.  Operations run one at
 * a time host-wide anyway; past this a connection is answered "busy" at
 * once by the helper itself, so idle connections cannot pile up root
 * processes. */
#define HELPER_MAX_CHILDREN 16

/* Of those, how many may answer GET /usage at once: it scans every
 * process, and any client allowed to read may ask, so it never takes the
 * capacity that binds and unbinds need. */
#define HELPER_MAX_SURVEYS 8

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* The helper's processes end with _exit (never httpd's atexit handlers);
 * under the sanitizers (make test-asan) they check for leaks first, having
 * let go of the devices they keep: APR maps a pool's memory where the
 * checker does not look, so a kept pool still held would read as leaked. */
static void helper_exit(int code)
{
#if defined(__SANITIZE_ADDRESS__)
    vv_device_forget();
    __lsan_do_recoverable_leak_check();
#endif
    _exit(code);
}

typedef struct helper_proc {
    apr_proc_t proc;
    int gone; /* reaped: never signal this pid again */
} helper_proc_t;

static struct {
    apr_pool_t *pool;        /* pconf of this generation */
    server_rec *main;
    server_rec **servers;    /* index -> virtual host, for the policy */
    int nservers;
    helper_proc_t *proc;     /* the helper of this generation */
    pid_t parent;            /* httpd's parent */
    apr_time_t started;      /* when this helper started */
    volatile sig_atomic_t stop;
    pid_t serving[HELPER_MAX_CHILDREN]; /* children serving a connection,
                                         * by slot; 0 for a free slot */
    int nserving;
    int slot;                /* in a child: its slot */
    apr_time_t busy_logged;  /* the last "too many at once" warning */
    const char *secret;      /* the workers' proof (see workers_secret) */
} hs;

/* Shared by the helper and its children (MAP_SHARED): which slots answer
 * GET /usage, and how many.  A child marks its own slot; the helper, which
 * reaps it, unmarks it, so that a child killed mid-read frees its place. */
static struct helper_shared {
    atomic_int reads;
    atomic_int reading[HELPER_MAX_CHILDREN];
} *shared;

/* --- the helper process ---------------------------------------------------- */

static void on_stop(int sig)
{
    (void)sig;
    hs.stop = 1;
}

static void set_signal(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The MPM's handlers are inherited across fork: replace them. */
static void helper_signals(int stoppable)
{
    sigset_t none;

    set_signal(SIGHUP, stoppable ? on_stop : SIG_IGN);
    set_signal(SIGTERM, stoppable ? on_stop : SIG_IGN);
    set_signal(SIGUSR1, SIG_IGN);  /* graceful */
    set_signal(SIGWINCH, SIG_IGN); /* graceful-stop */
    set_signal(SIGPIPE, SIG_IGN);
    set_signal(SIGCHLD, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The socket's directory decides who may replace the socket: it must be
 * root's or the helper's, and writable by no one else. */
static int socket_dir(const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    const char *dir = slash == path ? "/"
        : apr_pstrndup(hs.pool, path, (apr_size_t)(slash - path));
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    *name = slash + 1;
    if (fd < 0 || fstat(fd, &st) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, hs.main, VV_TAG(20016)
                     "helper: cannot open the socket's directory %s", dir);
    }
    else if ((st.st_uid != 0 && st.st_uid != geteuid())
             || (st.st_mode & 022)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, hs.main, VV_TAG(20017)
                     "helper: refusing to start: the socket's directory %s "
                     "is owned by uid %d with mode %04o; another user could "
                     "replace the socket. Use a directory owned by root and "
                     "writable by no one else (chmod go-w %s), or set "
                     "VolantVfioHelperSocket", dir, (int)st.st_uid,
                     (unsigned)(st.st_mode & 07777), dir);
    }
    else {
        return fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

static int helper_socket(void)
{
    const char *path = vv_conf_helper_socket(), *name;
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int fd, dir = socket_dir(path, &name);

    if (dir < 0) {
        return -1;
    }
    /* What a previous helper left: a socket, and nothing else. */
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, hs.main, VV_TAG(20018)
                         "helper: refusing to start: %s exists and is not a "
                         "socket; remove it or set VolantVfioHelperSocket",
                         path);
            close(dir);
            return -1;
        }
        unlinkat(dir, name, 0);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, path, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    old = umask(0077);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        umask(old);
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, hs.main, VV_TAG(20001)
                     "helper: cannot create socket %s", path);
        close(dir);
        return -1;
    }
    umask(old);
    /* Not every system honours umask for sockets.  Neither call follows a
     * link: the name is the socket just made. */
    if (fchmodat(dir, name, 0600, AT_SYMLINK_NOFOLLOW) != 0
        || (geteuid() == 0
            && fchownat(dir, name, ap_unixd_config.user_id,
                        ap_unixd_config.group_id, AT_SYMLINK_NOFOLLOW))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, hs.main, VV_TAG(20002)
                     "helper: cannot give socket %s to uid %d", path,
                     (int)ap_unixd_config.user_id);
        close(dir);
        return -1;
    }
    close(dir);
    if (listen(fd, 64) != 0) {
        return -1;
    }
    return fd;
}

static int peer_allowed(int fd, struct ucred *cred)
{
    socklen_t len = sizeof(*cred);
    uid_t worker = geteuid() == 0 ? ap_unixd_config.user_id : geteuid();

    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == 0
        && (cred->uid == worker || cred->uid == 0);
}

/* Where a virtual host is defined: unlike its index, the same across a
 * graceful restart that does not move it in the configuration. */
static long long vhost_id(const server_rec *s)
{
    char key[1024];
    apr_ssize_t n = APR_HASH_KEY_STRING;

    snprintf(key, sizeof(key), "%s:%d:%s:%u",
             s->defn_name ? s->defn_name : "", s->defn_line_number,
             s->server_hostname ? s->server_hostname : "", (unsigned)s->port);
    return (long long)apr_hashfunc_default(key, &n);
}

/* The virtual host whose policy applies: the one the worker named, found
 * by its identity (a worker of the previous generation may finish a
 * request after a graceful restart reordered them); NULL when it is gone.
 * A request without one (a tool on the socket) goes by index. */
/* The virtual host whose policy applies: the one with the identity the
 * worker names, or none (never the main server by default). */
static server_rec *server_for(const vv_request_t *req)
{
    if (req->vhost < 0) {
        return NULL;
    }
    if (req->server < hs.nservers
        && vhost_id(hs.servers[req->server]) == req->vhost) {
        return hs.servers[req->server];
    }
    for (int i = 0; i < hs.nservers; i++) {
        if (vhost_id(hs.servers[i]) == req->vhost) {
            return hs.servers[i];
        }
    }
    return NULL;
}

static vv_policy_t *policy_for(apr_pool_t *p, const vv_request_t *req,
                               server_rec *s)
{
    vv_policy_t *pol = apr_pcalloc(p, sizeof(*pol));


    pol->allow = vv_conf_allow(s);
    pol->companions = vv_conf_group_policy(s) == VV_POLICY_COMPANIONS;
    pol->driver = vv_conf_driver(s);
    pol->timeout_ms = vv_conf_op_timeout(s) * 1000;
    pol->state_dir = vv_conf_state_dir();
    pol->remote = req->remote;
    pol->vhost = vhost_id(s);
    return pol;
}

/* The helper's state for GET /host, GET /metrics and mod_status. */
static cJSON *status_body(apr_pool_t *p, pid_t helper)
{
    cJSON *body = cJSON_CreateObject(), *phases, *moved;
    const char *dir = vv_conf_state_dir();
    apr_array_header_t *records;
    vv_stats_t s;
    long count[VV_METRICS_PHASES] = { 0 };

    vv_stats_read(p, dir, &s);
    /* The readable records, a damaged one left out (its error is logged
     * where it is read for an operation). */
    moved = cJSON_CreateArray();
    vv_record_list(p, dir, &records);
    for (int i = 0; records && i < records->nelts; i++) {
        const vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        for (int k = 0; k < VV_METRICS_PHASES; k++) {
            count[k] += !strcmp(r->phase, vv_metrics_phases[k]);
        }
        cJSON_AddItemToArray(moved, vv_record_to_json(r));
    }
    cJSON_AddNumberToObject(body, "pid", helper);
    cJSON_AddNumberToObject(body, "euid", geteuid());
    cJSON_AddNumberToObject(body, "started",
                            (double)hs.started / APR_USEC_PER_SEC);
    cJSON_AddNumberToObject(body, "uptime",
                            (double)apr_time_sec(apr_time_now() - hs.started));
    cJSON_AddNumberToObject(body, "binds",
                            (double)s.count[VV_OP_BIND][VV_OUT_SUCCESS]);
    cJSON_AddNumberToObject(body, "unbinds",
                            (double)s.count[VV_OP_UNBIND][VV_OUT_SUCCESS]);
    cJSON_AddNumberToObject(body, "refusals",
                            (double)vv_stats_total(&s, VV_OUT_REFUSED));
    cJSON_AddNumberToObject(body, "failures",
                            (double)vv_stats_total(&s, VV_OUT_FAILED));
    cJSON_AddNumberToObject(body, "held", (double)count[VV_METRICS_BOUND]);
    if (s.last_error) {
        char when[APR_RFC822_DATE_LEN];
        apr_rfc822_date(when, s.last_error_time);
        cJSON_AddStringToObject(body, "last_error", s.last_error);
        cJSON_AddStringToObject(body, "last_error_time", when);
    }
    cJSON_AddItemToObject(body, "stats", vv_stats_to_json(&s));
    cJSON_AddItemToObject(body, "moved", moved);
    phases = cJSON_AddObjectToObject(body, "records");
    for (int k = 0; k < VV_METRICS_PHASES; k++) {
        cJSON_AddNumberToObject(phases, vv_metrics_phases[k],
                                (double)count[k]);
    }
    return body;
}

/* GET /usage for the virtual host's allowlist and driver.  The scan ends
 * early when the worker that asked hangs up (its client went away). */
static cJSON *usage_reply(apr_pool_t *p, cJSON *reply,
                          const vv_policy_t *pol, server_rec *s, int fd)
{
    vv_inuse_opts_t o = { .deadline_ms = pol->timeout_ms, .watch_fd = fd,
                          .anonymous = !vv_conf_usage_names(s) };
    cJSON *body;
    vv_err_t *e;

    if (!(body = vv_usage_report(p, vv_conf_host(), pol->allow, pol->driver,
                                 pol->state_dir, &o, &e))) {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "message", e->msg);
    }
    cJSON_AddNumberToObject(reply, "kind", e ? e->kind : 0);
    cJSON_AddItemToObject(reply, "body", body);
    return reply;
}

/* A refusal the helper makes itself. */
static cJSON *refusal(vv_kind_t kind, const char *msg)
{
    cJSON *reply = cJSON_CreateObject(), *body = cJSON_CreateObject();

    cJSON_AddNumberToObject(reply, "kind", kind);
    cJSON_AddFalseToObject(body, "success");
    cJSON_AddStringToObject(body, "message", msg);
    cJSON_AddStringToObject(body, "error", msg);
    cJSON_AddItemToObject(reply, "body", body);
    return reply;
}

/* A survey takes one of its places, or is answered busy. */
static int survey_place(void)
{
    atomic_store(&shared->reading[hs.slot], 1);
    return atomic_fetch_add(&shared->reads, 1) < HELPER_MAX_SURVEYS;
}

static cJSON *reply_for(apr_pool_t *p, const vv_request_t *req, pid_t helper,
                        int fd)
{
    cJSON *reply;
    const vv_policy_t *pol;
    int bind = !strcmp(req->op, "bind");
    vv_op_t *op;
    server_rec *s;
    vv_err_t *e;

    if (!strcmp(req->op, "usage") && !survey_place()) {
        return refusal(VV_E_HELPER, "privileged helper busy: "
                       APR_STRINGIFY(HELPER_MAX_SURVEYS) " GET /usage "
                       "requests are in progress; retry");
    }
    reply = cJSON_CreateObject();
    if (!strcmp(req->op, "ping")) {
        /* GET /healthz: that the helper answers, nothing read. */
        cJSON *body = cJSON_AddObjectToObject(reply, "body");
        cJSON_AddNumberToObject(body, "pid", helper);
        cJSON_AddNumberToObject(body, "euid", geteuid());
        cJSON_AddNumberToObject(reply, "kind", 0);
        return reply;
    }
    if (!strcmp(req->op, "status")) {
        cJSON_AddItemToObject(reply, "body", status_body(p, helper));
        cJSON_AddNumberToObject(reply, "kind", 0);
        return reply;
    }
    if ((s = server_for(req)) && !strcmp(req->op, "usage")) {
        return usage_reply(p, reply, policy_for(p, req, s), s, fd);
    }
    if (!s) {
        pol = policy_for(p, req, hs.main);
        e = vv_err(p, VV_E_HELPER, "the virtual host this request came "
                   "through is not in the configuration httpd now runs "
                   "(restarted with another one); retry");
    }
    else {
        vv_policy_t *mine = policy_for(p, req, s);
        mine->persist = req->persist;
        e = vv_record_init(p, mine->state_dir);
        /* The worker checked the owner; the helper decides again, by its
         * own copy of the configuration. */
        if (!e && bind) {
            e = vv_owner_pick(p, vv_conf_owners(s), req->owner, &mine->owner);
        }
        pol = mine;
    }
    if (e) {
        op = apr_pcalloc(p, sizeof(*op));
        op->err = e;
        op->devices = apr_array_make(p, 1, sizeof(void *));
    }
    else {
        apr_time_t t0 = apr_time_now();

        if (!strcmp(req->op, "reset")) {
            /* Resets are not counted among binds and unbinds. */
            op = vv_reset(p, vv_conf_host(), pol, req->addresses);
        }
        else {
            op = (bind ? vv_bind : vv_unbind)(p, vv_conf_host(), pol,
                                              req->addresses);
            vv_stats_count(p, pol->state_dir, bind ? VV_OP_BIND
                                                   : VV_OP_UNBIND,
                           op->err, apr_time_now() - t0);
        }
    }
    cJSON_AddNumberToObject(reply, "kind", op->err ? op->err->kind : 0);
    cJSON_AddItemToObject(reply, "body", vv_op_json(op, req->op,
                                                    pol->driver));
    return reply;
}

/* Constant time: the comparison tells nothing about how much matched. */
static int secret_ok(const char *presented)
{
    unsigned char diff = 0;

    if (!hs.secret || strlen(presented) != strlen(hs.secret)) {
        return 0;
    }
    for (size_t i = 0; hs.secret[i]; i++) {
        diff |= (unsigned char)(presented[i] ^ hs.secret[i]);
    }
    return diff == 0;
}

static void serve(int fd, pid_t helper, const struct ucred *cred)
{
    apr_pool_t *p;
    vv_request_t req;
    char *json;
    size_t len;
    vv_err_t *e;
    cJSON *reply;

    helper_signals(0);
    apr_pool_create(&p, hs.pool);
    if ((e = vv_proto_recv(p, fd, VV_PROTO_MAX_FRAME, 5000, &json, &len))
        || (e = vv_proto_decode(p, json, len, &req))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hs.main, VV_TAG(20003)
                     "helper: %s", e->msg);
        reply = refusal(VV_E_BAD_REQUEST, e->msg);
    }
    else if (!secret_ok(req.secret)) {
        /* The workers' uid is shared (php-fpm pools, CGI programs): the
         * secret, inherited in memory only, is what proves a worker. */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hs.main, VV_TAG(20021)
                     "helper: refused a request without the workers' secret "
                     "from uid %d pid %d (another program running as the "
                     "workers' user?)", (int)cred->uid, (int)cred->pid);
        reply = refusal(VV_E_DENIED, "refused: not an httpd worker of this "
                        "server");
    }
    else {
        reply = reply_for(p, &req, helper, fd);
    }
    vv_proto_send(p, fd, reply, VV_PROTO_MAX_REPLY, 5000);
    cJSON_Delete(reply);
    close(fd);
    apr_pool_destroy(p);
    helper_exit(0);
}

/* Each operation runs in a child: what it cost is logged when it ends
 * (at debug level), so an operator or a test can see a request's peak
 * memory in the root helper. */
static void reap_children(void)
{
    struct rusage ru;
    int status;
    pid_t pid;

    while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
        for (int i = 0; i < HELPER_MAX_CHILDREN; i++) {
            if (hs.serving[i] == pid) {
                hs.serving[i] = 0;
                hs.nserving--;
                if (atomic_exchange(&shared->reading[i], 0)) {
                    atomic_fetch_sub(&shared->reads, 1);
                }
                break;
            }
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, hs.main, VV_TAG(20014)
                     "helper: child %d ended (status %d), peak memory %ld "
                     "KiB", (int)pid, status, ru.ru_maxrss);
    }
}

/* Past the cap: a "busy" reply from the helper itself, without reading
 * the request (what the client sent is discarded, so that closing does
 * not reset the connection before the reply is read).  The warning is
 * logged at most once a minute. */
static void answer_busy(int fd)
{
    apr_pool_t *p;
    cJSON *reply;
    char sink[4096];

    while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
    }
    reply = refusal(VV_E_HELPER, "privileged helper busy: " APR_STRINGIFY(
                    HELPER_MAX_CHILDREN) " requests are in progress; retry");
    apr_pool_create(&p, hs.pool);
    vv_proto_send(p, fd, reply, VV_PROTO_MAX_REPLY, 100);
    apr_pool_destroy(p);
    cJSON_Delete(reply);
    if (apr_time_now() - hs.busy_logged > apr_time_from_sec(60)) {
        hs.busy_logged = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hs.main, VV_TAG(20019)
                     "helper: %d connections are being served; further ones "
                     "are answered busy (503) until one ends (logged once a "
                     "minute)", HELPER_MAX_CHILDREN);
    }
}

static void accept_one(int lfd, pid_t helper)
{
    struct ucred cred;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    pid_t pid;

    if (fd < 0) {
        return;
    }
    if (!peer_allowed(fd, &cred)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hs.main, VV_TAG(20004)
                     "helper: refused a connection from uid %d pid %d",
                     (int)cred.uid, (int)cred.pid);
        close(fd);
        return;
    }
    /* Children that ended while the helper waited in poll() are not
     * serving anyone: count only the living. */
    reap_children();
    if (hs.nserving >= HELPER_MAX_CHILDREN) {
        answer_busy(fd);
        close(fd);
        return;
    }
    for (hs.slot = 0; hs.serving[hs.slot]; hs.slot++) {
    }
    if ((pid = fork()) == 0) {
        close(lfd);
        serve(fd, helper, &cred);
    }
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, hs.main, VV_TAG(20005)
                     "helper: cannot fork");
    }
    else {
        hs.serving[hs.slot] = pid;
        hs.nserving++;
    }
    close(fd);
}

/* A persistent binding in force whose group node should be handed to an
 * owner but is root's: the kernel made it at boot. */
static int node_is_roots(apr_pool_t *p, const vv_record_t *r)
{
    vv_devinfo_t *d;
    const char *now;
    vv_addr_t a;

    if (strcmp(r->phase, VV_PHASE_BOUND) || !r->owner
        || !vv_addr_parse(r->address, &a)
        || vv_device_read(p, vv_conf_host(), &a, &d) || d->group < 0) {
        return 0;
    }
    now = vv_owner_of_node(p, vv_conf_host(), d->group);
    return now && !strcmp(now, "root:root");
}

/* Persistent bindings a host driver took at boot (a built-in driver, one
 * loaded before the udev rule ran, or no rule installed) go back to the
 * VFIO driver through the ordinary bind, under the main server's policy,
 * one bind per group-node owner their records name; and those the rule
 * claimed get their nodes handed to that owner (the kernel made them
 * root's).  Each is logged by the bind's audit line. */
static void reclaim(apr_pool_t *p, vv_request_t *req)
{
    apr_array_header_t *records = NULL;
    apr_hash_t *by_owner = apr_hash_make(p);
    const char *dir = vv_conf_state_dir();

    vv_record_list(p, dir, &records);
    for (int i = 0; records && i < records->nelts; i++) {
        vv_record_t *r = APR_ARRAY_IDX(records, i, vv_record_t *);
        const char *key = apr_psprintf(p, "%" APR_INT64_T_FMT " %s",
                                       (apr_int64_t)r->vhost,
                                       r->owner ? r->owner : "");
        apr_array_header_t *list;
        if (!r->persist || (strcmp(r->phase, VV_PHASE_UNCLAIMED)
                            && !node_is_roots(p, r))) {
            continue;
        }
        if (!(list = apr_hash_get(by_owner, key, APR_HASH_KEY_STRING))) {
            list = apr_array_make(p, 4, sizeof(vv_record_t *));
            apr_hash_set(by_owner, key, APR_HASH_KEY_STRING, list);
        }
        APR_ARRAY_PUSH(list, vv_record_t *) = r;
    }
    for (apr_hash_index_t *hi = apr_hash_first(p, by_owner); hi;
         hi = apr_hash_next(hi)) {
        const void *key;
        void *list;
        const vv_record_t *first;
        server_rec *s = hs.main;
        vv_policy_t *pol;
        vv_op_t *op;
        apr_hash_this(hi, &key, NULL, &list);
        first = APR_ARRAY_IDX((apr_array_header_t *)list, 0, vv_record_t *);
        /* The policy of the virtual host the binding was made through
         * while it is configured, else the main server's. */
        for (int i = 0; i < hs.nservers; i++) {
            if (vhost_id(hs.servers[i]) == first->vhost) {
                s = hs.servers[i];
            }
        }
        pol = policy_for(p, req, s);
        pol->persist = 1;
        /* The owner entry it was made with while it is configured, else
         * the default one (none without VolantVfioGroupOwner). */
        if (vv_owner_pick(p, vv_conf_owners(s), first->owner, &pol->owner)) {
            vv_owner_pick(p, vv_conf_owners(s), NULL, &pol->owner);
        }
        op = vv_reclaim(p, vv_conf_host(), pol, list);

        if (op->err) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, hs.main, VV_TAG(20026)
                         "helper: persistent bindings not re-established at "
                         "start-up: %s", op->err->msg);
        }
    }
}

/* Records an interrupted operation left behind are settled in the
 * background, under the lock, while the helper already answers. */
static void start_recovery(int lfd)
{
    apr_pool_t *p;
    vv_request_t req;
    vv_err_t *e;

    if (fork() != 0) {
        return;
    }
    close(lfd);
    helper_signals(0);
    apr_pool_create(&p, hs.pool);
    memset(&req, 0, sizeof(req));
    req.remote = "recovery";
    if ((e = vv_recover(p, vv_conf_host(), policy_for(p, &req, hs.main)))) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hs.main, VV_TAG(20006)
                     "helper: recovery: %s", e->msg);
    }
    else {
        reclaim(p, &req);
    }
    apr_pool_destroy(p);
    helper_exit(0);
}

/* The records decide which device the helper writes and what it gets
 * back: a state directory another user can write refuses the start. */
static int state_dir_ok(void)
{
    apr_pool_t *p;
    vv_err_t *e;

    apr_pool_create(&p, hs.pool);
    if ((e = vv_record_init(p, vv_conf_state_dir()))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, hs.main, VV_TAG(20015)
                     "helper: refusing to start: %s", e->msg);
    }
    apr_pool_destroy(p);
    return !e;
}

static void helper_main(void)
{
    pid_t self = getpid();
    int lfd;

    hs.started = apr_time_now();
    helper_signals(1);
    /* Go with httpd, and adopt writers left blocked in the kernel. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (getppid() != hs.parent) {
        _exit(0);
    }
    ap_close_listeners();
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || !state_dir_ok()
        || (lfd = helper_socket()) < 0) {
        _exit(STARTUP_FAILED);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, hs.main, VV_TAG(20007)
                 "helper %d listening on %s as uid %d", (int)self,
                 vv_conf_helper_socket(), (int)geteuid());
    if (geteuid() != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hs.main, VV_TAG(20013)
                     "helper runs as uid %d, not root: the kernel will refuse "
                     "its sysfs writes, so bind and unbind will fail with "
                     "permission denied; start httpd as root (workers still "
                     "run as User)", (int)geteuid());
    }
    start_recovery(lfd);
    while (!hs.stop) {
        struct pollfd pfd = { lfd, POLLIN, 0 };
        reap_children();
        if (poll(&pfd, 1, 1000) > 0) {
            accept_one(lfd, self);
        }
    }
    close(lfd);
    helper_exit(0);
}

/* --- lifecycle in httpd's parent ------------------------------------------ */

static void maintenance(int reason, void *data, apr_wait_t status);

/* One helper_proc_t per generation, its pid replaced on each restart: the
 * pool kills only the current helper at the end of the generation, never a
 * dead helper's pid that another process may have been given since. */
static int helper_start(void)
{
    helper_proc_t *hp = hs.proc;
    pid_t pid = fork();

    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, hs.main, VV_TAG(20010)
                     "cannot fork the privileged helper");
        return DECLINED;
    }
    if (pid == 0) {
        helper_main();
    }
    if (hp->proc.pid == 0) {
        apr_pool_note_subprocess(hs.pool, &hp->proc, APR_KILL_AFTER_TIMEOUT);
    }
    hp->proc.pid = pid;
    hp->gone = 0;
    apr_proc_other_child_register(&hp->proc, maintenance, hp, NULL, hs.pool);
    return OK;
}

/* At the end of a generation: the socket, never a file that took its
 * name. */
static void remove_socket(void)
{
    const char *path = vv_conf_helper_socket();
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
}

static void maintenance(int reason, void *data, apr_wait_t status)
{
    helper_proc_t *hp = data;
    int mpm_state = AP_MPMQ_STOPPING;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        hp->gone = 1;
        apr_proc_other_child_unregister(hp);
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if (mpm_state == AP_MPMQ_STOPPING) {
            break;
        }
        if (reason == APR_OC_REASON_DEATH && status == STARTUP_FAILED) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, hs.main, VV_TAG(20011)
                         "privileged helper could not start; bind and "
                         "unbind answer 503 until httpd is restarted");
            break;
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hs.main, VV_TAG(20012)
                     "privileged helper %d died (status %d); restarting",
                     (int)hp->proc.pid, (int)status);
        helper_start();
        break;
    case APR_OC_REASON_RESTART:
        apr_proc_other_child_unregister(hp);
        break;
    case APR_OC_REASON_UNREGISTER:
        if (!hp->gone && hp->proc.pid > 0) {
            kill(hp->proc.pid, SIGHUP);
        }
        remove_socket();
        break;
    }
}

/* The proof that a request comes from a worker of this httpd: random
 * bytes made once by the parent and kept in its process pool (which
 * outlives restarts, so workers of an older generation still finishing a
 * request carry the same).  Workers and the helper inherit it in memory;
 * it is in no file and no environment, so a CGI program (exec'd) or a
 * php-fpm pool sharing the workers' uid does not have it.  Its page is
 * left out of core dumps; while workers are not dumpable (httpd's default)
 * no process of their uid may read their memory (see
 * vv_helper_check_exposure). */
static const char *workers_secret(server_rec *s)
{
    static const char key[] = "volant_vfio_workers_secret";
    apr_pool_t *proc = s->process->pool;
    unsigned char raw[VV_PROTO_SECRET_LEN / 2];
    void *have = NULL;
    char *hex;

    apr_pool_userdata_get(&have, key, proc);
    if (have) {
        return have;
    }
    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        return NULL;
    }
    hex = mmap(NULL, VV_PROTO_SECRET_LEN + 1, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hex == MAP_FAILED) {
        return NULL;
    }
    madvise(hex, VV_PROTO_SECRET_LEN + 1, MADV_DONTDUMP);
    for (size_t i = 0; i < sizeof(raw); i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    apr_pool_userdata_set(hex, key, apr_pool_cleanup_null, proc);
    return hex;
}

/* With CoreDumpDirectory httpd makes its workers dumpable, and then any
 * process of their uid may read their memory (ptrace, /proc/PID/mem)
 * unless Yama forbids reading a process that is not one's descendant. */
void vv_helper_check_exposure(server_rec *s)
{
    const char *scope = NULL;
    apr_pool_t *p;
    int n;

    if (!ap_coredumpdir_configured) {
        return;
    }
    apr_pool_create(&p, NULL);
    scope = vv_file_read(p, "/proc/sys/kernel/yama/ptrace_scope");
    n = scope ? atoi(scope) : 0;
    if (n < 1) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, VV_TAG(20024)
                     "CoreDumpDirectory makes httpd's workers dumpable and "
                     "kernel.yama.ptrace_scope is %s: other processes "
                     "running as the workers' user (CGI programs, php-fpm "
                     "pools) can read the workers' memory and with it the "
                     "secret that lets them ask the privileged helper to bind "
                     "and unbind devices. Remove CoreDumpDirectory, set "
                     "kernel.yama.ptrace_scope to 1, or give httpd's workers "
                     "a user of their own", scope ? scope : "absent (no Yama)");
    }
    apr_pool_destroy(p);
}

int vv_helper_init(apr_pool_t *pconf, server_rec *s)
{
    int n = 0;

    /* httpd reads its configuration twice at start-up and daemonises in
     * between: a helper forked on the first pass would be orphaned. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    hs.pool = pconf;
    hs.main = s;
    hs.parent = getpid();
    vv_helper_check_exposure(s);
    if (!(hs.secret = workers_secret(s))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, VV_TAG(20022)
                     "cannot make the workers' secret: no random source");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    hs.proc = apr_pcalloc(pconf, sizeof(*hs.proc));
    for (server_rec *v = s; v; v = v->next) {
        n++;
    }
    hs.servers = apr_palloc(pconf, sizeof(server_rec *) * (size_t)n);
    hs.nservers = 0;
    for (server_rec *v = s; v; v = v->next) {
        hs.servers[hs.nservers++] = v;
    }
    return helper_start();
}

/* --- the workers' side ----------------------------------------------------- */

static int server_index(const server_rec *s)
{
    for (int i = 0; i < hs.nservers; i++) {
        if (hs.servers[i] == s) {
            return i;
        }
    }
    return 0;
}

/* Across a restart the socket is briefly absent: retry like mod_cgid. */
static vv_err_t *connect_helper(apr_pool_t *p, int patient, int *out)
{
    const char *path = vv_conf_helper_socket();
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(patient ? 5 : 0);
    apr_interval_time_t pause = apr_time_from_msec(20);
    struct sockaddr_un sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, path, sizeof(sa.sun_path));
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;
        if (fd < 0) {
            return vv_err(p, VV_E_HELPER, "privileged helper unavailable: "
                          "socket: %s", strerror(errno));
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            *out = fd;
            return NULL;
        }
        err = errno;
        close(fd);
        if ((err != ENOENT && err != ECONNREFUSED)
            || apr_time_now() + pause > deadline) {
            return vv_err(p, VV_E_HELPER, "privileged helper unavailable "
                          "(%s: %s)", path, strerror(err));
        }
        apr_sleep(pause);
        pause = pause * 2 > apr_time_from_msec(500) ? apr_time_from_msec(500)
                                                    : pause * 2;
    }
}

/* A read's reply, or the client leaving: then this worker hangs up on the
 * helper, whose child ends its scan instead of finishing it for no one. */
static vv_err_t *wait_reply(request_rec *r, int fd, int wait_ms)
{
    apr_socket_t *csd = ap_get_conn_socket(r->connection);
    apr_os_sock_t client = -1;
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait_ms);

    if (!csd || apr_os_sock_get(&client, csd) != APR_SUCCESS) {
        return NULL;
    }
    for (;;) {
        struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { client, POLLRDHUP, 0 } };
        apr_interval_time_t left = deadline - apr_time_now();
        int n = poll(pfd, 2, left <= 0 ? 0 : left > apr_time_from_msec(250)
                     ? 250 : (int)apr_time_as_msec(left) + 1);
        if (n < 0 && errno != EINTR) {
            return NULL;
        }
        if (pfd[0].revents || left <= 0) {
            return NULL; /* the reply, a hangup, or vv_proto_recv's timeout */
        }
        if (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, VV_TAG(20023)
                          "the client went away; the helper's scan for it "
                          "is ended");
            return vv_err(r->pool, VV_E_HELPER, "the client went away");
        }
    }
}

vv_err_t *vv_helper_call(request_rec *r, const char *op,
                         const apr_array_header_t *addrs, int *kind,
                         cJSON **body)
{
    return vv_helper_call_bind(r, op, addrs, NULL, 0, kind, body);
}

vv_err_t *vv_helper_call_bind(request_rec *r, const char *op,
                              const apr_array_header_t *addrs,
                              const char *owner, int persist, int *kind,
                              cJSON **body)
{
    int n = addrs ? addrs->nelts : 0, fd = -1;
    /* The helper bounds each write; this only guards against a helper that
     * stops answering: the lock wait, then a few writes per device. */
    apr_int64_t wait = (apr_int64_t)vv_conf_op_timeout(r->server) * 1000
                       * (2 + 4 * n) + 5000;
    /* A ping (GET /healthz) reports a helper that does not answer at once
     * as down: its pollers have timeouts of their own. */
    int wait_ms = !strcmp(op, "ping") ? 3000
        : wait > INT_MAX ? INT_MAX : (int)wait;
    cJSON *req, *reply, *k;
    char *json;
    size_t len;
    vv_err_t *e;

    /* A status query is answered at once: no waiting out a restart. */
    if ((e = connect_helper(r->pool, strcmp(op, "status") != 0
                            && strcmp(op, "ping") != 0, &fd))) {
        return e;
    }
    req = vv_proto_request(op, addrs, r->useragent_ip, server_index(r->server),
                           vhost_id(r->server), hs.secret, owner, persist);
    e = vv_proto_send(r->pool, fd, req, VV_PROTO_MAX_FRAME, 5000);
    cJSON_Delete(req);
    /* A helper at its limit answers "busy" without reading the request:
     * its reply may be waiting even though sending failed. */
    if (!e && vv_proto_op_reads(op)) {
        e = wait_reply(r, fd, wait_ms);
    }
    if (!e) {
        e = vv_proto_recv(r->pool, fd, VV_PROTO_MAX_REPLY, wait_ms, &json,
                          &len);
        /* The helper had the request: an operation may have run.  Never a
         * 503, which says nothing happened. */
        if (e && e->kind == VV_E_HELPER && !vv_proto_op_reads(op)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, VV_TAG(20020)
                          "%s: the helper's reply was lost: %s", op, e->msg);
            e = vv_err(r->pool, VV_E_INTERNAL, "the %s request reached the "
                       "privileged helper but its reply was lost (%s): the "
                       "operation may have run; see the audit log "
                       "(VFIO10610) and GET /devices", op, e->msg);
        }
    }
    else if (!vv_proto_recv(r->pool, fd, VV_PROTO_MAX_REPLY, 100, &json,
                            &len)) {
        e = NULL;
    }
    close(fd);
    if (e) {
        return e;
    }
    reply = cJSON_ParseWithLength(json, len);
    k = cJSON_GetObjectItemCaseSensitive(reply, "kind");
    *body = cJSON_DetachItemFromObjectCaseSensitive(reply, "body");
    *kind = cJSON_IsNumber(k) ? k->valueint : VV_E_INTERNAL;
    cJSON_Delete(reply);
    if (!cJSON_IsObject(*body)) {
        cJSON_Delete(*body);
        *body = NULL;
        return vv_err(r->pool, VV_E_HELPER, "privileged helper sent a "
                      "malformed reply");
    }
    return NULL;
}
