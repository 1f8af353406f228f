#include "vv_proto.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static const char *const ops[] = { "bind", "unbind", "reset", "status",
                                   "usage", "ping" };

static vv_err_t *bad(apr_pool_t *p, const char *why)
{
    return vv_err(p, VV_E_BAD_REQUEST, "helper request refused: %s", why);
}

static int printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static vv_err_t *decode_addresses(apr_pool_t *p, const cJSON *a,
                                  vv_request_t *out)
{
    const cJSON *it;

    if (!cJSON_IsArray(a)) {
        return bad(p, "addresses must be an array");
    }
    if (cJSON_GetArraySize(a) > VV_PROTO_MAX_ADDRESSES) {
        return bad(p, "too many addresses");
    }
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > VV_PROTO_MAX_STRING
            || !printable(it->valuestring)) {
            return bad(p, "addresses must be short printable strings");
        }
        APR_ARRAY_PUSH(out->addresses, const char *) =
            apr_pstrdup(p, it->valuestring);
    }
    return NULL;
}

static vv_err_t *decode_field(apr_pool_t *p, const cJSON *f,
                              vv_request_t *out)
{
    if (!strcmp(f->string, "op")) {
        for (size_t i = 0; cJSON_IsString(f) && i < sizeof(ops) / sizeof(*ops);
             i++) {
            if (!strcmp(f->valuestring, ops[i])) {
                out->op = ops[i];
                return NULL;
            }
        }
        return bad(p, "unknown op");
    }
    if (!strcmp(f->string, "addresses")) {
        return decode_addresses(p, f, out);
    }
    if (!strcmp(f->string, "remote")) {
        if (!cJSON_IsString(f) || strlen(f->valuestring) > VV_PROTO_MAX_STRING
            || !printable(f->valuestring)) {
            return bad(p, "remote must be a short printable string");
        }
        out->remote = apr_pstrdup(p, f->valuestring);
        return NULL;
    }
    if (!strcmp(f->string, "server")) {
        if (!cJSON_IsNumber(f) || f->valuedouble < 0
            || f->valuedouble > 65535 || f->valuedouble != (int)f->valuedouble) {
            return bad(p, "server must be an integer from 0 to 65535");
        }
        out->server = (int)f->valuedouble;
        return NULL;
    }
    if (!strcmp(f->string, "secret")) {
        if (!cJSON_IsString(f)
            || strlen(f->valuestring) != VV_PROTO_SECRET_LEN
            || strspn(f->valuestring, "0123456789abcdef")
               != VV_PROTO_SECRET_LEN) {
            return bad(p, "secret must be 64 lowercase hex digits");
        }
        out->secret = apr_pstrdup(p, f->valuestring);
        return NULL;
    }
    if (!strcmp(f->string, "owner")) {
        if (!cJSON_IsString(f) || !*f->valuestring
            || strlen(f->valuestring) > VV_PROTO_MAX_STRING
            || !printable(f->valuestring)) {
            return bad(p, "owner must be a short printable string");
        }
        out->owner = apr_pstrdup(p, f->valuestring);
        return NULL;
    }
    if (!strcmp(f->string, "persist")) {
        if (!cJSON_IsTrue(f)) {
            return bad(p, "persist must be true when sent");
        }
        out->persist = 1;
        return NULL;
    }
    if (!strcmp(f->string, "vhost")) {
        if (!cJSON_IsNumber(f) || f->valuedouble < 0
            || f->valuedouble > 4294967295.0
            || f->valuedouble != (double)(long long)f->valuedouble) {
            return bad(p, "vhost must be an integer from 0 to 2^32-1");
        }
        out->vhost = (long long)f->valuedouble;
        return NULL;
    }
    return bad(p, "unknown field");
}

vv_err_t *vv_proto_decode(apr_pool_t *p, const char *json, size_t len,
                          vv_request_t *out)
{
    cJSON *root, *f;
    vv_err_t *e = NULL;

    memset(out, 0, sizeof(*out));
    out->addresses = apr_array_make(p, 8, sizeof(const char *));
    out->remote = "";
    out->secret = "";
    out->owner = "";
    out->vhost = -1;
    if (len > VV_PROTO_MAX_FRAME || memchr(json, '\0', len)) {
        return bad(p, "malformed frame");
    }
    /* json[len] is the NUL: counting it makes trailing bytes an error. */
    root = cJSON_ParseWithLengthOpts(json, len + 1, NULL, 1);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(p, "not a JSON object");
    }
    cJSON_ArrayForEach(f, root) {
        int dup = 0;
        for (cJSON *g = root->child; g != f; g = g->next) {
            dup |= !strcmp(g->string, f->string);
        }
        if ((e = dup ? bad(p, "duplicate field") : decode_field(p, f, out))) {
            break;
        }
    }
    cJSON_Delete(root);
    if (!e && !out->op) {
        e = bad(p, "no op");
    }
    if (!e && vv_proto_op_reads(out->op) && out->addresses->nelts) {
        e = bad(p, "addresses in a request that takes none");
    }
    if (!e && !vv_proto_op_reads(out->op) && out->addresses->nelts == 0) {
        e = bad(p, "no addresses");
    }
    if (!e && *out->owner && strcmp(out->op, "bind")) {
        e = bad(p, "owner in a request other than bind");
    }
    if (!e && out->persist && strcmp(out->op, "bind")) {
        e = bad(p, "persist in a request other than bind");
    }
    return e;
}

int vv_proto_op_reads(const char *op)
{
    return !strcmp(op, "status") || !strcmp(op, "usage")
        || !strcmp(op, "ping");
}

cJSON *vv_proto_request(const char *op, const apr_array_header_t *addresses,
                        const char *remote, int server, long long vhost,
                        const char *secret, const char *owner, int persist)
{
    cJSON *j = cJSON_CreateObject(), *list;

    cJSON_AddStringToObject(j, "op", op);
    if (addresses) {
        list = cJSON_AddArrayToObject(j, "addresses");
        for (int i = 0; i < addresses->nelts; i++) {
            cJSON_AddItemToArray(list, cJSON_CreateString(
                APR_ARRAY_IDX(addresses, i, const char *)));
        }
    }
    cJSON_AddStringToObject(j, "remote", remote ? remote : "");
    cJSON_AddNumberToObject(j, "server", server);
    cJSON_AddNumberToObject(j, "vhost", (double)vhost);
    cJSON_AddStringToObject(j, "secret", secret ? secret : "");
    if (owner && *owner) {
        cJSON_AddStringToObject(j, "owner", owner);
    }
    if (persist) {
        cJSON_AddTrueToObject(j, "persist");
    }
    return j;
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, apr_time_t deadline)
{
    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();
        struct pollfd pfd = { fd, events, 0 };
        int rc;

        if (left <= 0) {
            return -ETIMEDOUT;
        }
        rc = poll(&pfd, 1, (int)apr_time_as_msec(left) + 1);
        if (rc > 0) {
            return 0;
        }
        if (rc < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int io_all(int fd, char *buf, size_t len, int writing,
                  apr_time_t deadline)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n;
        int rc = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);
        if (rc) {
            return rc;
        }
        n = writing ? write(fd, buf + done, len - done)
                    : read(fd, buf + done, len - done);
        if (n == 0) {
            return -EPIPE;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

static vv_err_t *io_err(apr_pool_t *p, int rc, const char *what)
{
    return vv_err(p, rc == -ETIMEDOUT ? VV_E_TIMEOUT : VV_E_HELPER,
                  "privileged helper: %s: %s", what,
                  rc == -EPIPE ? "connection closed" : strerror(-rc));
}

vv_err_t *vv_proto_send(apr_pool_t *p, int fd, const cJSON *json,
                        size_t max, int timeout_ms)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    char *text = cJSON_PrintUnformatted(json), head[8];
    size_t len = text ? strlen(text) : 0;
    int rc;

    if (!text || len > max) {
        cJSON_free(text);
        return vv_err(p, VV_E_INTERNAL, "privileged helper: frame too large");
    }
    memcpy(head, VV_PROTO_MAGIC, 4);
    head[4] = (char)(len >> 24);
    head[5] = (char)(len >> 16);
    head[6] = (char)(len >> 8);
    head[7] = (char)len;
    rc = io_all(fd, head, sizeof(head), 1, deadline);
    if (!rc) {
        rc = io_all(fd, text, len, 1, deadline);
    }
    cJSON_free(text);
    return rc ? io_err(p, rc, "sending") : NULL;
}

vv_err_t *vv_proto_header(apr_pool_t *p, const unsigned char head[8],
                          size_t max, size_t *len)
{
    size_t n = ((size_t)head[4] << 24) | ((size_t)head[5] << 16)
               | ((size_t)head[6] << 8) | head[7];

    if (memcmp(head, VV_PROTO_MAGIC, 4) != 0) {
        return bad(p, "bad magic or version");
    }
    if (n == 0 || n > max) {
        return bad(p, "bad frame length");
    }
    *len = n;
    return NULL;
}

vv_err_t *vv_proto_recv(apr_pool_t *p, int fd, size_t max, int timeout_ms,
                        char **json, size_t *len)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    unsigned char head[8];
    size_t n;
    vv_err_t *e;
    int rc = io_all(fd, (char *)head, sizeof(head), 0, deadline);

    if (rc) {
        return io_err(p, rc, "receiving");
    }
    if ((e = vv_proto_header(p, head, max, &n))) {
        return e;
    }
    *json = apr_palloc(p, n + 1);
    if ((rc = io_all(fd, *json, n, 0, deadline))) {
        return io_err(p, rc, "receiving");
    }
    (*json)[n] = '\0';
    *len = n;
    return NULL;
}
