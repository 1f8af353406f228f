#include "vv_authz.h"
#include "vv_config.h"
#include "vv_http.h"

#include <mod_auth.h>
#include <apr_strings.h>

/* Set once the request has shown the configured key. */
#define NOTE_VERIFIED "volant-vfio-key-verified"

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

/* At configuration time: the section that names us lets authorization
 * decide alone (see vv_authz_check). */
static const char *parse_key(cmd_parms *cmd, const char *require_line,
                             const void **parsed)
{
    (void)require_line;
    *parsed = NULL;
    vv_conf_note_key_required(cmd);
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

/* The fail-safe for locations whose Require lines do not name the key
 * provider: a configured key is still required.  Where they name it,
 * authorization has decided (`<RequireAny>` of an address or the key
 * admits either). */
vv_err_t *vv_authz_check(request_rec *r)
{
    if (!vv_conf_has_key(r) || vv_conf_key_required(r) || key_verified(r)) {
        return NULL;
    }
    vv_http_challenge(r);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, VV_TAG(10503)
                  "missing or wrong API key for %s", r->uri);
    return vv_err(r->pool, VV_E_AUTH, "invalid api key");
}

void vv_authz_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, VV_AUTHZ_PROVIDER,
                              AUTHZ_PROVIDER_VERSION, &key_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
}
