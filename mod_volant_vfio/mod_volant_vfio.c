/* mod_volant_vfio: the front door.  The module record, its hooks, and the
 * one table of routes every request under the API is dispatched from. */
#define VV_MODULE_FILE
#include "vv_private.h"
#include "vv_api.h"
#include "vv_authz.h"
#include "vv_config.h"
#include "vv_console.h"
#include "vv_helper.h"
#include "vv_http.h"
#include "vv_openapi.h"
#include "vv_status.h"
#include "core/vv_device.h"
#include "core/vv_pci.h"

#include <ap_expr.h>
#include <apr_strings.h>

typedef struct vv_route {
    const char *path;
    int method;       /* M_GET (HEAD included) or M_POST */
    vv_endpoint_fn *fn;
    int op_shape;     /* errors as {"success": false, ...}, like Volant */
} vv_route_t;

static const vv_route_t routes[] = {
    { VV_API_BASE "/devices/info", M_POST, vv_api_info, 0 },
    { VV_API_BASE "/devices/validate", M_POST, vv_api_validate, 0 },
    { VV_API_BASE "/devices/iommu-groups", M_POST, vv_api_iommu_groups, 0 },
    { VV_API_BASE "/devices/bind", M_POST, vv_api_bind, 1 },
    { VV_API_BASE "/devices/unbind", M_POST, vv_api_unbind, 1 },
    { VV_API_BASE "/devices/reset", M_POST, vv_api_reset, 1 },
    { VV_API_BASE "/devices/group-paths", M_POST, vv_api_group_paths, 0 },
    { VV_API_BASE "/devices", M_GET, vv_api_devices, 0 },
    { VV_API_BASE "/host", M_GET, vv_api_host, 0 },
    { VV_API_BASE "/metrics", M_GET, vv_api_metrics, 0 },
    { VV_API_BASE "/records", M_GET, vv_api_records, 0 },
    { VV_API_BASE "/usage", M_GET, vv_api_usage, 0 },
    { VV_HEALTHZ_PATH, M_GET, vv_api_healthz, 0 },
    { VV_OPENAPI_PATH, M_GET, NULL, 0 }, /* served as embedded text */
};

static const vv_route_t *find_route(const char *uri)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].path, uri) == 0) {
            return &routes[i];
        }
    }
    return NULL;
}

int vv_is_api_uri(const char *uri)
{
    size_t n = sizeof(VV_API_BASE) - 1;

    return uri && ((!strncmp(uri, VV_API_BASE, n) && (!uri[n] || uri[n] == '/'))
                   || !strcmp(uri, VV_OPENAPI_PATH)
                   || !strcmp(uri, VV_HEALTHZ_PATH));
}

int vv_is_ours(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *h;

    if (!d || !d->expr_handler) {
        return 0;
    }
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    return h && !err && strcmp(h, VV_HANDLER) == 0;
}

static void log_core(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, baton, "%s", msg);
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    vv_config_reset();
    vv_authz_config_reset();
    return OK;
}

/* What a process keeps of devices goes with the process (a child's pool)
 * or with the configuration that read it (a restart's new one reads
 * afresh).  Left to exit, the kept pool reads as leaked in make test-asan:
 * APR maps a pool's memory where the leak checker does not look. */
static apr_status_t forget_devices(void *unused)
{
    (void)unused;
    vv_device_let_go();
    return APR_SUCCESS;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    const char *err;

    (void)plog;
    (void)ptemp;
    vv_log_set(log_core, s);
    apr_pool_cleanup_register(pconf, NULL, forget_devices,
                              apr_pool_cleanup_null);
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        vv_authz_config_report(s);
    }
    vv_authz_names_init();
    if ((err = vv_config_finish(pconf))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, VV_TAG(10001) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Once, in the parent: the children inherit the loaded database. */
    vv_pci_names_load(pconf, vv_conf_pci_ids());
    return vv_helper_init(pconf, s);
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    apr_pool_cleanup_register(pchild, NULL, forget_devices,
                              apr_pool_cleanup_null);
}

/* Our locations have no files behind them.  Claim the URI while the
 * <Location> configuration is known (translate_name), then skip the
 * filesystem walk (map_to_storage, which runs with the server's defaults):
 * a directory of the same name under DocumentRoot cannot get in the way,
 * and httpd's own TRACE answer (a map_to_storage hook) does not apply. */
#define FILENAME_PREFIX VV_HANDLER ":"

static int translate_name(request_rec *r)
{
    if (!vv_is_ours(r)) {
        return DECLINED;
    }
    r->filename = apr_pstrcat(r->pool, FILENAME_PREFIX, r->uri, NULL);
    return OK;
}

/* An operator's server-level Redirect, RewriteRule [F] or [R] decides
 * before the API claims the URI: translate_name stops at the first hook
 * that answers. */
static const char *const url_rules_first[] = { "mod_alias.c",
                                               "mod_rewrite.c", NULL };

static int map_to_storage(request_rec *r)
{
    return r->filename && !strncmp(r->filename, FILENAME_PREFIX,
                                   sizeof(FILENAME_PREFIX) - 1)
        ? OK : DECLINED;
}

static const char *allow_header(int method)
{
    return method == M_POST ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

static int serve_openapi(request_rec *r)
{
    int status;

    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "ETag", vv_openapi_etag);
    if ((status = ap_meets_conditions(r)) != OK) {
        return status;
    }
    ap_set_content_length(r, (apr_off_t)vv_openapi_len);
    if (!r->header_only) {
        ap_rwrite(vv_openapi_json, (int)vv_openapi_len, r);
    }
    return OK;
}

static int dispatch(request_rec *r, const vv_route_t *route)
{
    vv_call_t call = { r, r->pool, vv_conf_host(), NULL, NULL, NULL, NULL };
    int pass = OK;
    vv_err_t *e = NULL;

    if (route->method == M_POST
        && (e = vv_http_read_json(r, &call.req, &pass)) && pass != OK) {
        return pass;
    }
    if (!e && !(e = route->fn(&call))) {
        return call.text ? vv_http_send_typed(r, call.text_type, call.text)
                         : vv_http_send(r, HTTP_OK, call.reply);
    }
    /* bind and unbind answer in their own shape, whoever failed. */
    if (!call.reply && route->op_shape) {
        call.reply = vv_json_own(r->pool, vv_api_op_failure(e->msg));
    }
    return vv_http_send_failure(r, e, call.reply);
}

static int handler(request_rec *r)
{
    const vv_route_t *route;
    vv_err_t *e;
    int rc;

    if (!r->handler || strcmp(r->handler, VV_HANDLER) != 0) {
        return DECLINED;
    }
    if (!(route = find_route(r->uri))) {
        return vv_http_send_error(r, vv_err(r->pool, VV_E_NO_ROUTE,
                                            "no such endpoint: %s",
                                            vv_err_quote(r->pool, r->uri)));
    }
    if (r->method_number == M_OPTIONS) {
        apr_table_setn(r->headers_out, "Allow", allow_header(route->method));
        r->status = HTTP_NO_CONTENT;
        return OK;
    }
    if (r->method_number != route->method) {
        apr_table_setn(r->err_headers_out, "Allow",
                       allow_header(route->method));
        return vv_http_send_error(r, vv_err(r->pool, VV_E_METHOD,
                                            "method %s not allowed on %s",
                                            vv_err_quote(r->pool, r->method),
                                            route->path));
    }
    if ((e = vv_authz_check(r))) {
        return vv_http_send_error(r, e);
    }
    if (!route->fn) {
        return serve_openapi(r);
    }
    rc = dispatch(r, route);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, VV_TAG(10002)
                  "%s %s: %d in %" APR_TIME_T_FMT " us", r->method,
                  route->path, r->status, apr_time_now() - r->request_time);
    return rc;
}

static void test_config(apr_pool_t *pconf, server_rec *s)
{
    (void)pconf;
    vv_authz_config_report(s);
    vv_helper_check_exposure(s);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_test_config(test_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(translate_name, url_rules_first, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(vv_console_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(vv_http_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    vv_http_register_filters();
    vv_authz_register(p);
    vv_status_register();
}

AP_DECLARE_MODULE(volant_vfio) = {
    STANDARD20_MODULE_STUFF,
    vv_create_dir_conf,
    vv_merge_dir_conf,
    vv_create_srv_conf,
    vv_merge_srv_conf,
    vv_cmds,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
