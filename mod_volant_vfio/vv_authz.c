#include "vv_authz.h"
#include "vv_config.h"
#include "vv_http.h"

#include <mod_auth.h>
#include <apr_strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <http_log.h>

/* Set once the request has shown the configured key. */
#define NOTE_VERIFIED "volant-vfio-key-verified"
/* Set when authorization asked the key provider for this request. */
#define NOTE_CONSULTED "volant-vfio-key-consulted"
/* Set on a CORS preflight from a listed origin: browsers send no key. */
#define NOTE_PREFLIGHT "volant-vfio-preflight"

/* The headers a key may come in.  Never the query string: keys in URLs end
 * up in access logs. */
static int presented_key_matches(request_rec *r)
{
    static const char *const headers[] = { "X-API-Key", "X-Volant-API-Key" };
    const char *auth = apr_table_get(r->headers_in, "Authorization");

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        const char *v = apr_table_get(r->headers_in, headers[i]);
        if (v && vv_conf_key_matches(r, v)) {
            return 1;
        }
    }
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *v = auth + 7;
        while (*v == ' ') {
            v++;
        }
        return vv_conf_key_matches(r, v);
    }
    return 0;
}

static int key_verified(request_rec *r)
{
    if (apr_table_get(r->notes, NOTE_VERIFIED)) {
        return 1;
    }
    if (presented_key_matches(r)) {
        apr_table_setn(r->notes, NOTE_VERIFIED, "1");
        return 1;
    }
    return 0;
}

static authz_status check_key(request_rec *r, const char *require_line,
                              const void *parsed)
{
    (void)require_line;
    (void)parsed;
    apr_table_setn(r->notes, NOTE_CONSULTED, "1");
    if (apr_table_get(r->notes, NOTE_PREFLIGHT)) {
        return AUTHZ_GRANTED;
    }
    if (!vv_conf_has_key(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, VV_TAG(10501)
                      "Require " VV_AUTHZ_PROVIDER " for %s, but no "
                      "VolantVfioApiKey or VolantVfioApiKeyFile applies "
                      "there", r->uri);
        return AUTHZ_GENERAL_ERROR;
    }
    /* DENIED_NO_USER, not DENIED: httpd then asks authentication, where
     * our hook answers 401.  A `Require ip` denial still wins (403). */
    return key_verified(r) ? AUTHZ_GRANTED : AUTHZ_DENIED_NO_USER;
}

/* Key lines that do not come first in their <RequireAny>, "file:line",
 * of the configuration being read. */
static apr_array_header_t *misordered;

void vv_authz_config_reset(void)
{
    misordered = NULL;
}

/* In <RequireAny>, authorization stops at the first line that grants: a
 * line before ours that admits a client means the key provider is never
 * asked, and then the handler insists on the key (see vv_authz_check).
 * Said where the order can still be changed: at start-up and configtest. */
void vv_authz_config_report(server_rec *s)
{
    for (int i = 0; misordered && i < misordered->nelts; i++) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, VV_TAG(10505)
                     "%s: Require " VV_AUTHZ_PROVIDER " is not the first "
                     "line of its <RequireAny>: a client an earlier line "
                     "admits is still asked for the key; put the key line "
                     "first to let such clients in without it",
                     APR_ARRAY_IDX(misordered, i, const char *));
    }
}

static const char *parse_key(cmd_parms *cmd, const char *require_line,
                             const void **parsed)
{
    const ap_directive_t *d = cmd->directive;

    (void)require_line;
    *parsed = NULL;
    if (d && d->parent && !strcasecmp(d->parent->directive, "<RequireAny")
        && d->parent->first_child != d) {
        if (!misordered) {
            misordered = apr_array_make(cmd->pool, 2, sizeof(const char *));
        }
        APR_ARRAY_PUSH(misordered, const char *) =
            apr_psprintf(cmd->pool, "%s:%d", d->filename, d->line_num);
    }
    return NULL;
}

static const authz_provider key_provider = {
    &check_key,
    &parse_key,
};

/* Reached when authorization needs a user.  Where a key is configured and
 * no other AuthType is in charge, the key is the credential. */
static int check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);

    if ((type && strcasecmp(type, VV_AUTHZ_PROVIDER) != 0)
        || !vv_conf_has_key(r)) {
        return DECLINED;
    }
    if (key_verified(r)) {
        r->user = (char *)"api-key";
        r->ap_auth_type = (char *)VV_AUTHZ_PROVIDER;
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, VV_TAG(10502)
                  "missing or wrong API key for %s", r->uri);
    return HTTP_UNAUTHORIZED;
}

/* --- browsers ----------------------------------------------------------- */

/* The machine's own host name and its fully qualified form, read when the
 * configuration is: names of this server whatever ServerName says (an
 * attacker's DNS cannot make a request carry them). */
static char own_name[256], own_fqdn[256];

void vv_authz_names_init(void)
{
    struct addrinfo hints, *ai = NULL;

    own_name[0] = own_fqdn[0] = '\0';
    if (gethostname(own_name, sizeof(own_name) - 1) != 0) {
        own_name[0] = '\0';
        return;
    }
    own_name[sizeof(own_name) - 1] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_CANONNAME;
    if (getaddrinfo(own_name, NULL, &hints, &ai) == 0 && ai
        && ai->ai_canonname) {
        apr_cpystrn(own_fqdn, ai->ai_canonname, sizeof(own_fqdn));
    }
    if (ai) {
        freeaddrinfo(ai);
    }
}

static int own_host(const char *h)
{
    return (own_name[0] && !strcasecmp(h, own_name))
        || (own_fqdn[0] && !strcasecmp(h, own_fqdn));
}

/* A literal address (DNS rebinding cannot make one), localhost, the
 * machine's own name, or one of the virtual host's own names (ServerName,
 * ServerAlias). */
static int host_ok(request_rec *r)
{
    const server_rec *s = r->server;
    char *h = r->hostname ? apr_pstrdup(r->pool, r->hostname) : NULL;
    unsigned char addr[16];
    size_t n;

    if (!h) {
        return 1; /* HTTP/1.0 without Host: no browser sends that */
    }
    n = strlen(h);
    if (n > 2 && h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = '\0';
        h++;
    }
    if (inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1
        || !strcasecmp(h, "localhost") || own_host(h)
        || (s->server_hostname && !strcasecmp(h, s->server_hostname))) {
        return 1;
    }
    for (int i = 0; s->names && i < s->names->nelts; i++) {
        if (!strcasecmp(h, APR_ARRAY_IDX(s->names, i, const char *))) {
            return 1;
        }
    }
    for (int i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        if (!ap_strcasecmp_match(h, APR_ARRAY_IDX(s->wild_names, i,
                                                  const char *))) {
            return 1;
        }
    }
    return 0;
}

static int refuse(request_rec *r, const char *msg)
{
    apr_table_setn(r->notes, VV_NOTE_ERROR, msg);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, VV_TAG(10504) "%s", msg);
    return HTTP_FORBIDDEN;
}

/* Before authentication, for the API's locations: a page in a browser on
 * this host must not drive the API.  The Host must be ours (a rebinding
 * name is refused); a request a browser marks as coming from another
 * origin is refused unless VolantVfioCorsOrigin lists that origin, which
 * then gets CORS headers (and its preflights are answered without a key,
 * as browsers send none). */
static int browser_check(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *host = apr_table_get(r->headers_in, "Host");
    int listed, same;

    if (!vv_is_ours(r)) {
        return DECLINED;
    }
    if (!host_ok(r)) {
        return refuse(r, apr_psprintf(r->pool, "host %s is not a name of "
                                      "this server (DNS rebinding?): use its "
                                      "name or address", vv_err_quote(
                                      r->pool, r->hostname)));
    }
    listed = origin && vv_conf_origin_allowed(r->server, origin);
    same = origin && host
        && !strcasecmp(origin, apr_pstrcat(r->pool, ap_http_scheme(r), "://",
                                           host, NULL));
    if ((origin && !same && !listed)
        || (!origin && site && !strcasecmp(site, "cross-site"))) {
        return refuse(r, apr_psprintf(r->pool, "cross-origin request from %s "
                                      "refused: list the origin with "
                                      "VolantVfioCorsOrigin to let its pages "
                                      "call the API", origin
                                      ? vv_err_quote(r->pool, origin)
                                      : "another site"));
    }
    if (listed) {
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Origin",
                       origin);
        apr_table_mergen(r->err_headers_out, "Vary", "Origin");
        if (r->method_number == M_OPTIONS
            && apr_table_get(r->headers_in,
                             "Access-Control-Request-Method")) {
            apr_table_setn(r->err_headers_out,
                           "Access-Control-Allow-Methods",
                           "GET, POST, OPTIONS");
            apr_table_setn(r->err_headers_out,
                           "Access-Control-Allow-Headers", "Content-Type, "
                           "X-API-Key, X-Volant-API-Key, Authorization");
            apr_table_setn(r->err_headers_out, "Access-Control-Max-Age",
                           "600");
            apr_table_setn(r->notes, NOTE_PREFLIGHT, "1");
        }
    }
    return DECLINED;
}

/* The fail-safe: where a key is configured, the request shows it, or
 * authorization asked the key provider and granted anyway (a <RequireAny>
 * that admits by address too).  A section whose own Require lines do not
 * name the provider (a nested <Location> with Require ip alone) never
 * asks it, so the key is still required there. */
vv_err_t *vv_authz_check(request_rec *r)
{
    if (!vv_conf_has_key(r) || apr_table_get(r->notes, NOTE_CONSULTED)
        || key_verified(r)) {
        return NULL;
    }
    vv_http_challenge(r);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, VV_TAG(10503)
                  "missing or wrong API key for %s", r->uri);
    return vv_err(r->pool, VV_E_AUTH, "%s", vv_authz_denied_text(r));
}

const char *vv_authz_denied_text(const request_rec *r)
{
    const char *a = r->args;

    while (a && *a) {
        if (!strncasecmp(a, "api_key=", 8) || !strcasecmp(a, "api_key")
            || !strncasecmp(a, "api_key&", 8)) {
            return "invalid api key: a key in the URL (?api_key=) is not "
                   "taken, because URLs end up in access logs; send it in "
                   "the X-API-Key header (or X-Volant-API-Key, or "
                   "Authorization: Bearer)";
        }
        a = strchr(a, '&');
        a = a ? a + 1 : NULL;
    }
    return "invalid api key";
}

void vv_authz_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, VV_AUTHZ_PROVIDER,
                              AUTHZ_PROVIDER_VERSION, &key_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_access(browser_check, NULL, NULL, APR_HOOK_FIRST,
                         AP_AUTH_INTERNAL_PER_CONF);
}
