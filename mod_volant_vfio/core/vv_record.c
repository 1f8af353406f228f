#include "vv_record.h"
#include "vv_addr.h"
#include "vv_sysfs.h"
#include "vv_device.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static vv_err_t *sys_err(apr_pool_t *p, const char *what, const char *path)
{
    return vv_err(p, VV_E_INTERNAL, "%s %s: %s", what, path, strerror(errno));
}

/* The state directory, or its devices/ below it, opened once per call:
 * every file in them is then opened relative to it, never following a
 * link.  The caller closes it before returning (a bind of 512 devices makes
 * thousands of these calls in one pool). */
static vv_err_t *state_fd(apr_pool_t *p, const char *state_dir,
                          const char *sub, int *out)
{
    int root = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = root < 0 || !sub ? root
        : openat(root, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;

    if (sub && root >= 0) {
        close(root);
    }
    *out = fd < 0 ? -err : fd;
    if (fd < 0) {
        return vv_err(p, VV_E_INTERNAL, "cannot open %s%s%s: %s", state_dir,
                      sub ? "/" : "", sub ? sub : "", strerror(err));
    }
    return NULL;
}

/* Closes the directory and passes e through. */
static vv_err_t *done(int dir, vv_err_t *e)
{
    close(dir);
    return e;
}

/* Records decide which device is written and which driver it gets back:
 * the directory holding them is the helper's alone. */
static vv_err_t *check_private(apr_pool_t *p, int fd, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        return sys_err(p, "cannot stat", path);
    }
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        return vv_err(p, VV_E_INTERNAL, "%s is owned by uid %d with mode "
                      "%04o; it must belong to the privileged helper (uid %d) "
                      "and be writable by no one else: chown %d %s && chmod "
                      "go-w %s", path, (int)st.st_uid,
                      (unsigned)(st.st_mode & 07777), (int)geteuid(),
                      (int)geteuid(), path, path);
    }
    return NULL;
}

vv_err_t *vv_record_init(apr_pool_t *p, const char *state_dir)
{
    const char *devices = apr_pstrcat(p, state_dir, "/devices", NULL);
    vv_err_t *e;
    int fd;

    /* Parents as an operator's `install -d` would make them. */
    for (char *s = apr_pstrdup(p, state_dir), *slash = s + 1;
         (slash = strchr(slash, '/')); slash++) {
        *slash = '\0';
        if (mkdir(s, 0755) != 0 && errno != EEXIST) {
            return sys_err(p, "cannot create", s);
        }
        *slash = '/';
    }
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        return sys_err(p, "cannot create", state_dir);
    }
    if ((e = state_fd(p, state_dir, NULL, &fd))) {
        return e;
    }
    if ((e = check_private(p, fd, state_dir))) {
        return done(fd, e);
    }
    if (mkdirat(fd, "devices", 0700) != 0 && errno != EEXIST) {
        return done(fd, sys_err(p, "cannot create", devices));
    }
    close(fd);
    if ((e = state_fd(p, state_dir, "devices", &fd))) {
        return e;
    }
    return done(fd, check_private(p, fd, devices));
}

vv_err_t *vv_record_dir_ok(apr_pool_t *p, const char *state_dir)
{
    vv_err_t *e;
    int fd;

    if ((e = state_fd(p, state_dir, NULL, &fd))) {
        return e;
    }
    if ((e = check_private(p, fd, state_dir))) {
        return done(fd, e);
    }
    close(fd);
    if ((e = state_fd(p, state_dir, "devices", &fd))) {
        return e;
    }
    return done(fd, check_private(p, fd, apr_pstrcat(p, state_dir,
                                                     "/devices", NULL)));
}

static vv_err_t *sync_fd(apr_pool_t *p, int fd, const char *what)
{
    return fsync(fd) != 0 ? sys_err(p, "cannot sync", what) : NULL;
}

cJSON *vv_record_to_json(const vv_record_t *r)
{
    cJSON *o = cJSON_CreateObject();
    char id[8], when[APR_RFC822_DATE_LEN];

    cJSON_AddStringToObject(o, "address", r->address);
    snprintf(id, sizeof(id), "%04x", r->vendor);
    cJSON_AddStringToObject(o, "vendor", id);
    snprintf(id, sizeof(id), "%04x", r->device);
    cJSON_AddStringToObject(o, "device", id);
    if (r->has_subsys) {
        snprintf(id, sizeof(id), "%04x", r->subsys_vendor);
        cJSON_AddStringToObject(o, "subsystem_vendor", id);
        snprintf(id, sizeof(id), "%04x", r->subsys_device);
        cJSON_AddStringToObject(o, "subsystem_device", id);
    }
    cJSON_AddBoolToObject(o, "persist", r->persist);
    if (r->persist && r->vhost >= 0) {
        cJSON_AddNumberToObject(o, "vhost", (double)r->vhost);
    }
    cJSON_AddStringToObject(o, "original_driver", r->driver);
    if (r->override) {
        cJSON_AddStringToObject(o, "original_driver_override", r->override);
    }
    else {
        cJSON_AddNullToObject(o, "original_driver_override");
    }
    cJSON_AddStringToObject(o, "phase", r->phase);
    if (r->reason) {
        cJSON_AddStringToObject(o, "reason", r->reason);
    }
    if (r->found) {
        cJSON_AddStringToObject(o, "found", r->found);
    }
    if (r->companion_of) {
        cJSON_AddStringToObject(o, "companion_of", r->companion_of);
    }
    cJSON_AddStringToObject(o, "remote", r->remote ? r->remote : "");
    if (r->owner) {
        cJSON_AddStringToObject(o, "owner", r->owner);
    }
    else {
        cJSON_AddNullToObject(o, "owner");
    }
    apr_rfc822_date(when, r->time);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddNumberToObject(o, "time_usec", (double)r->time);
    cJSON_AddNumberToObject(o, "pid", (double)r->pid);
    return o;
}

vv_err_t *vv_record_put(apr_pool_t *p, const char *state_dir,
                        const vv_record_t *rec)
{
    const char *name = apr_pstrcat(p, rec->address, ".json", NULL);
    const char *tmp = apr_pstrcat(p, name, ".tmp", NULL);
    const char *where = apr_pstrcat(p, state_dir, "/devices/", name, NULL);
    cJSON *json;
    char *text;
    size_t len;
    vv_err_t *e;
    int dir, fd, ok;

    if ((e = state_fd(p, state_dir, "devices", &dir))) {
        return e;
    }
    json = vv_record_to_json(rec);
    text = cJSON_Print(json);
    len = text ? strlen(text) : 0;
    cJSON_Delete(json);
    if (!text) {
        return done(dir, vv_err(p, VV_E_INTERNAL, "out of memory writing a "
                                "record"));
    }
    fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
                | O_NOFOLLOW, 0600);
    ok = fd >= 0 && write(fd, text, len) == (ssize_t)len
        && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    cJSON_free(text);
    if (fd >= 0 && close(fd) != 0) {
        ok = 0;
    }
    if (!ok || renameat(dir, tmp, dir, name) != 0) {
        e = sys_err(p, "cannot write record", where);
        unlinkat(dir, tmp, 0);
        return done(dir, e);
    }
    return done(dir, sync_fd(p, dir, state_dir));
}

static const char *str_field(apr_pool_t *p, const cJSON *o, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(f) ? apr_pstrdup(p, f->valuestring) : NULL;
}

static int hex4(const char *s)
{
    return strlen(s) == 4 && strspn(s, "0123456789abcdefABCDEF") == 4;
}

static vv_record_t *from_json(apr_pool_t *p, const cJSON *o)
{
    vv_record_t *r = apr_pcalloc(p, sizeof(*r));
    const char *v = str_field(p, o, "vendor"), *d = str_field(p, o, "device");
    const char *sv = str_field(p, o, "subsystem_vendor");
    const char *sd = str_field(p, o, "subsystem_device");
    const cJSON *persist = cJSON_GetObjectItemCaseSensitive(o, "persist");
    const cJSON *vhost = cJSON_GetObjectItemCaseSensitive(o, "vhost");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time_usec");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    vv_addr_t a;

    r->address = str_field(p, o, "address");
    r->driver = str_field(p, o, "original_driver");
    r->phase = str_field(p, o, "phase");
    r->override = str_field(p, o, "original_driver_override");
    r->companion_of = str_field(p, o, "companion_of");
    /* The names become paths below drivers/ when the device is restored:
     * what VolantVfioDriver would accept, nothing else. */
    if (!r->address || !vv_addr_parse(r->address, &a) || !r->driver
        || (*r->driver && !vv_driver_name_ok(r->driver))
        || (r->override && !vv_driver_name_ok(r->override))
        || (r->companion_of && !vv_addr_parse(r->companion_of, &a))
        || !r->phase || !v || !d || !hex4(v) || !hex4(d)
        || !sv != !sd || (sv && (!hex4(sv) || !hex4(sd)))
        || (persist && !cJSON_IsBool(persist))
        /* What persists is the four IDs together (the boot-time claimer
         * compares them all). */
        || (cJSON_IsTrue(persist) && !sv)) {
        return NULL;
    }
    r->persist = cJSON_IsTrue(persist);
    /* Only picks the policy a start-up re-bind runs under; a value that is
     * no identity picks the main server's. */
    r->vhost = cJSON_IsNumber(vhost) && vhost->valuedouble >= 0
        && vhost->valuedouble <= 4294967295.0
        ? (long long)vhost->valuedouble : -1;
    if ((r->has_subsys = sv != NULL)) {
        r->subsys_vendor = (unsigned)strtoul(sv, NULL, 16);
        r->subsys_device = (unsigned)strtoul(sd, NULL, 16);
    }
    r->found = str_field(p, o, "found");
    vv_addr_parse(r->address, &a);
    r->address = apr_pstrdup(p, a.text);
    r->vendor = (unsigned)strtoul(v, NULL, 16);
    r->device = (unsigned)strtoul(d, NULL, 16);
    r->remote = str_field(p, o, "remote");
    /* Shown, never acted on: the nodes are handed over by the policy in
     * force, and given back to root whoever the record names. */
    r->owner = str_field(p, o, "owner");
    r->reason = str_field(p, o, "reason");
    r->time = cJSON_IsNumber(t) ? (apr_time_t)t->valuedouble : 0;
    r->pid = cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0;
    return r;
}

static vv_err_t *read_record(apr_pool_t *p, int dir, const char *name,
                             const char *state_dir, vv_record_t **out)
{
    const char *path = apr_pstrcat(p, state_dir, "/devices/", name, NULL);
    char *text;
    long n = vv_file_slurp(p, dir, name, &text);
    cJSON *json;

    *out = NULL;
    if (n < 0) {
        errno = (int)-n;
        return n == -ENOENT ? NULL : sys_err(p, "cannot read", path);
    }
    json = cJSON_Parse(text);
    *out = json ? from_json(p, json) : NULL;
    cJSON_Delete(json);
    if (!*out) {
        return vv_err(p, VV_E_INTERNAL, "record %s is damaged; move it "
                      "aside after checking the device by hand", path);
    }
    return NULL;
}

vv_err_t *vv_record_get(apr_pool_t *p, const char *state_dir,
                        const char *address, vv_record_t **out)
{
    vv_err_t *e;
    int dir;

    *out = NULL;
    if ((e = state_fd(p, state_dir, "devices", &dir))) {
        return e;
    }
    return done(dir, read_record(p, dir, apr_pstrcat(p, address, ".json",
                                                     NULL), state_dir, out));
}

vv_err_t *vv_record_drop(apr_pool_t *p, const char *state_dir,
                         const char *address)
{
    const char *name = apr_pstrcat(p, address, ".json", NULL);
    vv_err_t *e;
    int dir;

    if ((e = state_fd(p, state_dir, "devices", &dir))) {
        return e;
    }
    if (unlinkat(dir, name, 0) != 0 && errno != ENOENT) {
        return done(dir, sys_err(p, "cannot remove", apr_pstrcat(p, state_dir,
                                 "/devices/", name, NULL)));
    }
    return done(dir, sync_fd(p, dir, state_dir));
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp((*(vv_record_t *const *)a)->address,
                  (*(vv_record_t *const *)b)->address);
}

vv_err_t *vv_record_list(apr_pool_t *p, const char *state_dir,
                         apr_array_header_t **out)
{
    apr_array_header_t *list = apr_array_make(p, 4, sizeof(vv_record_t *));
    apr_array_header_t *names = NULL;
    vv_err_t *first = NULL;
    int dir, rc;

    *out = list;
    if ((first = state_fd(p, state_dir, "devices", &dir))) {
        return dir == -ENOENT ? NULL : first;
    }
    if ((rc = vv_dir_list_at(p, dir, ".", &names)) < 0) {
        errno = -rc;
        return done(dir, sys_err(p, "cannot list", apr_pstrcat(p, state_dir,
                                 "/devices", NULL)));
    }
    for (int i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        size_t n = strlen(name);
        vv_record_t *r;
        vv_err_t *e;

        if (n < 6 || strcmp(name + n - 5, ".json") != 0) {
            continue;
        }
        e = read_record(p, dir, name, state_dir, &r);
        if (e && !first) {
            first = e;
        }
        if (r) {
            APR_ARRAY_PUSH(list, vv_record_t *) = r;
        }
    }
    qsort(list->elts, (size_t)list->nelts, sizeof(vv_record_t *), cmp_rec);
    return done(dir, first);
}

/* --- the lock -------------------------------------------------------------- */

struct vv_lock {
    int fd;
    int dir;              /* the state directory */
    int held;             /* the flock is ours: so is the inflight file */
    const char *inflight; /* its path, for messages */
};

void vv_lock_free(vv_lock_t *lock)
{
    if (lock && lock->fd >= 0) {
        if (lock->held) {
            unlinkat(lock->dir, "inflight", 0);
        }
        close(lock->fd); /* releases the flock */
        close(lock->dir);
        lock->fd = -1;
        lock->held = 0;
    }
}

static apr_status_t lock_cleanup(void *data)
{
    vv_lock_free(data);
    return APR_SUCCESS;
}

/* The address of addrs another operation is working on, or NULL.  The
 * note is read whole, whatever its size. */
static const char *overlap(apr_pool_t *p, int dir,
                           const apr_array_header_t *addrs)
{
    apr_hash_t *busy = apr_hash_make(p);
    char *text, *line, *state;

    if (vv_file_slurp(p, dir, "inflight", &text) <= 0) {
        return NULL;
    }
    for (line = apr_strtok(text, "\n", &state); line;
         line = apr_strtok(NULL, "\n", &state)) {
        apr_hash_set(busy, line, APR_HASH_KEY_STRING, line);
    }
    for (int i = 0; i < addrs->nelts; i++) {
        const char *a = APR_ARRAY_IDX(addrs, i, const char *);
        if (apr_hash_get(busy, a, APR_HASH_KEY_STRING)) {
            return a;
        }
    }
    return NULL;
}

static vv_err_t *note_inflight(apr_pool_t *p, int dir, const char *inflight,
                               const apr_array_header_t *addrs)
{
    /* Built once: one line per address, in one allocation. */
    const char *text = apr_pstrcat(p, "\n", apr_array_pstrcat(p, addrs, '\n'),
                                   "\n", NULL);
    vv_err_t *e;
    int fd, ok;

    fd = openat(dir, "inflight.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
                | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return sys_err(p, "cannot write", inflight);
    }
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    ok = (close(fd) == 0) && ok;
    if (!ok || renameat(dir, "inflight.tmp", dir, "inflight") != 0) {
        e = sys_err(p, "cannot write", inflight);
        unlinkat(dir, "inflight.tmp", 0);
        return e;
    }
    return NULL;
}

vv_err_t *vv_lock_take(apr_pool_t *p, const char *state_dir,
                       const apr_array_header_t *addrs, int wait_ms,
                       vv_lock_t **out)
{
    const char *path = apr_pstrcat(p, state_dir, "/lock", NULL);
    vv_lock_t *lock = apr_palloc(p, sizeof(*lock));
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait_ms);
    vv_err_t *e;

    lock->inflight = apr_pstrcat(p, state_dir, "/inflight", NULL);
    lock->held = 0;
    lock->dir = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    lock->fd = lock->dir < 0 ? -1
        : openat(lock->dir, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                 0600);
    if (lock->fd < 0) {
        e = sys_err(p, "cannot open", path);
        if (lock->dir >= 0) {
            close(lock->dir);
        }
        return e;
    }
    apr_pool_cleanup_register(p, lock, lock_cleanup, apr_pool_cleanup_null);
    while (flock(lock->fd, LOCK_EX | LOCK_NB) != 0) {
        const char *busy;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return sys_err(p, "cannot lock", path);
        }
        if ((busy = overlap(p, lock->dir, addrs))) {
            return vv_err(p, VV_E_STATE, "device %s is being bound or "
                          "unbound by another request; retry when it ends",
                          busy);
        }
        if (apr_time_now() >= deadline) {
            return vv_err(p, VV_E_STATE, "another bind or unbind is still "
                          "running after %d s; retry later", wait_ms / 1000);
        }
        apr_sleep(apr_time_from_msec(20));
    }
    lock->held = 1;
    if ((e = note_inflight(p, lock->dir, lock->inflight, addrs))) {
        return e;
    }
    *out = lock;
    return NULL;
}
