#include "vv_console.h"

#include <apr_strings.h>

/* Nothing but this server's own script, style and API: no inline script,
 * no other origin, no framing, no form posted anywhere. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
            "connect-src 'self'; img-src 'self'; base-uri 'none'; " \
            "form-action 'none'; frame-ancestors 'none'"

static const vv_console_asset_t *find_asset(const char *name)
{
    for (const vv_console_asset_t *a = vv_console_assets; a->name; a++) {
        if (!strcmp(a->name, name)) {
            return a;
        }
    }
    return NULL;
}

static void security_headers(request_rec *r)
{
    apr_table_t *h = r->err_headers_out; /* on errors and redirects too */

    apr_table_setn(h, "Content-Security-Policy", CSP);
    apr_table_setn(h, "X-Frame-Options", "DENY");
    apr_table_setn(h, "X-Content-Type-Options", "nosniff");
    apr_table_setn(h, "Referrer-Policy", "no-referrer");
    apr_table_setn(h, "Cross-Origin-Opener-Policy", "same-origin");
    apr_table_setn(h, "Cross-Origin-Resource-Policy", "same-origin");
}

int vv_console_handler(request_rec *r)
{
    const char *slash, *name;
    const vv_console_asset_t *a;
    int status;

    if (!r->handler || strcmp(r->handler, VV_CONSOLE_HANDLER) != 0) {
        return DECLINED;
    }
    security_headers(r);
    if (r->method_number != M_GET) {
        apr_table_setn(r->err_headers_out, "Allow", "GET, HEAD");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    slash = strrchr(r->uri, '/');
    name = slash ? slash + 1 : r->uri;
    a = find_asset(*name ? name : "index.html");
    if (!a && !strchr(name, '.')) {
        /* The page's location without its slash: the relative links of
         * the page need it. */
        apr_table_setn(r->headers_out, "Location", ap_construct_url(
                           r->pool, apr_pstrcat(r->pool, ap_escape_uri(
                               r->pool, r->uri), "/", NULL), r));
        return HTTP_MOVED_PERMANENTLY;
    }
    if (!a) {
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, a->type);
    apr_table_setn(r->headers_out, "ETag", a->etag);
    /* Revalidated on each load: a module upgrade changes the page at once. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if ((status = ap_meets_conditions(r)) != OK) {
        return status;
    }
    ap_set_content_length(r, (apr_off_t)a->len);
    if (!r->header_only) {
        ap_rwrite(a->data, (int)a->len, r);
    }
    return OK;
}
