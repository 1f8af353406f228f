#include "vv_http.h"
#include "vv_authz.h"
#include "vv_config.h"
#include "core/vv_request.h"

#include <apr_strings.h>
#include <ctype.h>
#include <string.h>

/* The one table from error kinds to HTTP statuses.  The text is what a
 * client reads when httpd itself produces that status on our locations. */
static const struct {
    vv_kind_t kind;
    int status;
    const char *text;
} kinds[] = {
    { VV_E_BAD_REQUEST, HTTP_BAD_REQUEST, "bad request" },
    { VV_E_BAD_ADDRESS, HTTP_BAD_REQUEST, NULL },
    { VV_E_AUTH, HTTP_UNAUTHORIZED, "invalid api key" },
    { VV_E_DENIED, HTTP_FORBIDDEN, "access denied" },
    { VV_E_NOT_ALLOWED, HTTP_FORBIDDEN, NULL },
    { VV_E_NO_ROUTE, HTTP_NOT_FOUND, "not found" },
    { VV_E_NOT_FOUND, HTTP_NOT_FOUND, NULL },
    { VV_E_METHOD, HTTP_METHOD_NOT_ALLOWED, "method not allowed" },
    { VV_E_NO_IOMMU, HTTP_CONFLICT, NULL },
    { VV_E_STATE, HTTP_CONFLICT, NULL },
    { VV_E_TOO_LARGE, HTTP_REQUEST_ENTITY_TOO_LARGE,
      "request body too large" },
    { VV_E_MEDIA_TYPE, HTTP_UNSUPPORTED_MEDIA_TYPE,
      "request body must be application/json" },
    { VV_E_INTERNAL, HTTP_INTERNAL_SERVER_ERROR, "internal server error" },
    { VV_E_IN_USE, HTTP_INTERNAL_SERVER_ERROR, NULL },
    { VV_E_KERNEL, HTTP_INTERNAL_SERVER_ERROR, NULL },
    { VV_E_HELPER, HTTP_SERVICE_UNAVAILABLE,
      "privileged helper unavailable" },
    { VV_E_TIMEOUT, HTTP_GATEWAY_TIME_OUT, NULL },
};

int vv_http_status(vv_kind_t kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].kind == kind) {
            return kinds[i].status;
        }
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* Text for a status httpd produced: ours when the table has one, else the
 * reason phrase in lower case ("408 Request Timeout" -> "request timeout"). */
static const char *status_text(apr_pool_t *p, int status)
{
    const char *line, *sp;
    char *text;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].status == status && kinds[i].text) {
            return kinds[i].text;
        }
    }
    line = ap_get_status_line(status);
    sp = line ? strchr(line, ' ') : NULL;
    text = apr_pstrdup(p, sp ? sp + 1 : "error");
    for (char *c = text; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return text;
}

static apr_status_t delete_json(void *json)
{
    cJSON_Delete(json);
    return APR_SUCCESS;
}

cJSON *vv_json_own(apr_pool_t *p, cJSON *json)
{
    if (json) {
        apr_pool_cleanup_register(p, json, delete_json,
                                  apr_pool_cleanup_null);
    }
    return json;
}

static void send_typed(request_rec *r, const char *type, const char *text,
                       size_t len)
{
    /* Device state changes under a client's feet: never from a cache
     * (a browser's included). */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(text, (int)len, r);
    }
}

static void send_text(request_rec *r, const char *text, size_t len)
{
    send_typed(r, "application/json", text, len);
}

int vv_http_send_typed(request_rec *r, const char *type, const char *text)
{
    r->status = HTTP_OK;
    send_typed(r, type, text, strlen(text));
    return OK;
}

int vv_http_send(request_rec *r, int status, const cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    r->status = status;
    if (!text) {
        static const char oom[] = "{\"error\":\"internal server error\"}";
        r->status = HTTP_INTERNAL_SERVER_ERROR;
        send_text(r, oom, sizeof(oom) - 1);
        return OK;
    }
    send_text(r, text, strlen(text));
    cJSON_free(text);
    return OK;
}

static cJSON *error_body(const char *msg)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddStringToObject(body, "error", msg);
    return body;
}

int vv_http_send_failure(request_rec *r, const vv_err_t *e,
                         const cJSON *body)
{
    int status = vv_http_status(e->kind);

    ap_log_rerror(APLOG_MARK, status >= 500 ? APLOG_ERR : APLOG_INFO, 0, r,
                  VV_TAG(10401) "%d %s: %s", status, r->uri, e->msg);
    return vv_http_send(r, status, body ? body
                        : vv_json_own(r->pool, error_body(e->msg)));
}

int vv_http_send_error(request_rec *r, const vv_err_t *e)
{
    return vv_http_send_failure(r, e, NULL);
}

/* --- request bodies ----------------------------------------------------- */

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (!ct || strncasecmp(ct, want, n) != 0) {
        return 0;
    }
    ct += n;
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}

static vv_err_t *too_large(request_rec *r, apr_off_t cap)
{
    /* Do not drain a body we refuse; close the connection instead. */
    r->connection->keepalive = AP_CONN_CLOSE;
    return vv_err(r->pool, VV_E_TOO_LARGE, "request body too large (limit "
                  "%" APR_OFF_T_FMT " bytes, VolantVfioMaxBodySize)", cap);
}

static vv_err_t *read_body(request_rec *r, apr_off_t cap, char **out,
                           apr_size_t *outlen, int *pass)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                r->connection->bucket_alloc);
    apr_size_t len = 0, size = 8192;
    char *buf = apr_palloc(r->pool, size);
    int eos = 0;

    while (!eos) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            *pass = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            return vv_err(r->pool, VV_E_BAD_REQUEST, "cannot read body");
        }
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb);
             b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t n;

            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS) {
                *pass = HTTP_BAD_REQUEST;
                return vv_err(r->pool, VV_E_BAD_REQUEST, "cannot read body");
            }
            if ((apr_off_t)(len + n) > cap) {
                apr_brigade_cleanup(bb);
                return too_large(r, cap);
            }
            while (len + n + 1 > size) {
                char *bigger = apr_palloc(r->pool, size * 2);
                memcpy(bigger, buf, len);
                buf = bigger;
                size *= 2;
            }
            memcpy(buf + len, data, n);
            len += n;
        }
        apr_brigade_cleanup(bb);
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return NULL;
}

vv_err_t *vv_http_read_json(request_rec *r, cJSON **out, int *pass)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t cap = vv_conf_max_body(r), declared;
    apr_size_t len = 0;
    char *text = NULL;
    vv_err_t *e;
    cJSON *json;

    *pass = OK;
    if (!is_json_type(apr_table_get(r->headers_in, "Content-Type"))) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return vv_err(r->pool, VV_E_MEDIA_TYPE,
                      "Content-Type must be application/json");
    }
    if (cl && ap_parse_strict_length(&declared, cl) && declared > cap) {
        return too_large(r, cap);
    }
    if ((e = read_body(r, cap, &text, &len, pass))) {
        return e;
    }
    if ((e = vv_request_json(r->pool, text, len, &json))) {
        return e;
    }
    *out = vv_json_own(r->pool, json);
    return NULL;
}

/* --- httpd's own errors ------------------------------------------------- */

static const char error_filter_name[] = "VOLANT_VFIO_JSON_ERROR";

/* Swallows httpd's HTML error page and sends {"error": ...} in its place. */
static apr_status_t error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    apr_bucket_brigade *out;
    char *text;
    cJSON *body;

    for (apr_bucket *b = APR_BRIGADE_FIRST(bb);
         b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (!APR_BUCKET_IS_EOS(b)) {
            continue;
        }
        body = error_body(apr_table_get(r->notes, VV_NOTE_ERROR)
                          ? apr_table_get(r->notes, VV_NOTE_ERROR)
                          : r->status == HTTP_UNAUTHORIZED
                          ? vv_authz_denied_text(r)
                          : status_text(r->pool, r->status));
        text = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        out = apr_brigade_create(r->pool, f->c->bucket_alloc);
        ap_set_content_type(r, "application/json");
        if (text) {
            ap_set_content_length(r, (apr_off_t)strlen(text));
            if (!r->header_only) {
                APR_BRIGADE_INSERT_TAIL(out, apr_bucket_transient_create(
                    text, strlen(text), f->c->bucket_alloc));
            }
        }
        APR_BRIGADE_INSERT_TAIL(out, apr_bucket_eos_create(f->c->bucket_alloc));
        apr_brigade_cleanup(bb);
        ap_remove_output_filter(f);
        {
            apr_status_t rv = ap_pass_brigade(f->next, out);
            cJSON_free(text);
            return rv;
        }
    }
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

/* Errors httpd raises before it has walked the <Location>s (an encoded
 * slash, an oversized header) carry the server's defaults only: then the
 * URI decides. */
static int ours_or_our_uri(request_rec *r)
{
    if (vv_is_ours(r)) {
        return 1;
    }
    return r->per_dir_config == r->server->lookup_defaults
        && vv_is_api_uri(r->uri);
}

void vv_http_challenge(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   "Bearer realm=\"volant-vfio\"");
}

void vv_http_insert_error_filter(request_rec *r)
{
    if (ap_is_HTTP_ERROR(r->status) && ours_or_our_uri(r)) {
        if (r->status == HTTP_UNAUTHORIZED) {
            vv_http_challenge(r);
        }
        ap_add_output_filter(error_filter_name, NULL, r, r->connection);
    }
}

void vv_http_register_filters(void)
{
    ap_register_output_filter(error_filter_name, error_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
}
