/* Directives.  Everything is parsed and checked here, at configuration time,
 * so that a typo fails `apache2ctl configtest` instead of a request. */
#include "vv_config.h"
#include "core/vv_device.h"

#include <apr_crypto.h>
#include <apr_sha1.h>
#include <apr_strings.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY 65536
#define DEFAULT_OP_TIMEOUT 10
#define DEFAULT_DRIVER "vfio-pci"

typedef struct vv_srv_conf {
    vv_allowlist_t *allow; /* NULL: not configured */
    apr_array_header_t *origins; /* VolantVfioCorsOrigin, lowercase; NULL */
    int group_policy;      /* 0: unset */
    const char *driver;
    int op_timeout;        /* 0: unset */
    int usage_names;       /* VolantVfioShowHolders: 1 On, -1 Off, 0 unset */
    apr_array_header_t *owners; /* VolantVfioGroupOwner (vv_owner_t *); NULL */
} vv_srv_conf_t;

typedef struct vv_dir_conf {
    int has_key;
    unsigned char key_hash[APR_SHA1_DIGESTSIZE];
    apr_off_t max_body; /* 0: unset */
} vv_dir_conf_t;

/* GLOBAL_ONLY settings: one per configuration generation. */
static struct {
    const char *sysfs, *dev, *proc, *state_dir, *socket, *pci_ids;
    const vv_host_t *host;
} g;

void vv_config_reset(void)
{
    memset(&g, 0, sizeof(g));
}

void *vv_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(vv_srv_conf_t));
}

void *vv_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    vv_srv_conf_t *base = basev, *add = addv;
    vv_srv_conf_t *c = apr_palloc(p, sizeof(*c));

    c->allow = add->allow ? add->allow : base->allow;
    c->origins = add->origins ? add->origins : base->origins;
    c->group_policy = add->group_policy ? add->group_policy
                                        : base->group_policy;
    c->driver = add->driver ? add->driver : base->driver;
    c->op_timeout = add->op_timeout ? add->op_timeout : base->op_timeout;
    c->usage_names = add->usage_names ? add->usage_names : base->usage_names;
    c->owners = add->owners ? add->owners : base->owners;
    return c;
}

void *vv_create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(vv_dir_conf_t));
}

void *vv_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    vv_dir_conf_t *base = basev, *add = addv;
    vv_dir_conf_t *c = apr_palloc(p, sizeof(*c));

    *c = add->has_key ? *add : *base;
    c->max_body = add->max_body ? add->max_body : base->max_body;
    return c;
}

static const vv_srv_conf_t *srv_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &volant_vfio_module);
}

static const vv_dir_conf_t *dir_conf(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &volant_vfio_module);
}

/* --- the API key ------------------------------------------------------ */

static const char *check_key(apr_pool_t *p, const char *what,
                             const char *key)
{
    if (!*key) {
        return apr_psprintf(p, "%s: the key is empty", what);
    }
    if (strncmp(key, "${", 2) == 0) {
        return apr_psprintf(p, "%s: %s is not defined (export it in the "
                            "environment httpd starts with, e.g. envvars)",
                            what, key);
    }
    for (const char *c = key; *c; c++) {
        if (!isgraph((unsigned char)*c)) {
            return apr_psprintf(p, "%s: the key may only contain printable "
                                "characters without spaces", what);
        }
    }
    return NULL;
}

static void store_key(vv_dir_conf_t *c, const char *key)
{
    apr_sha1_ctx_t ctx;

    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, key, (unsigned)strlen(key));
    apr_sha1_final(c->key_hash, &ctx);
    c->has_key = 1;
}

static const char *set_api_key(cmd_parms *cmd, void *dconf, const char *key)
{
    const char *err = check_key(cmd->pool, cmd->cmd->name, key);

    if (err) {
        return err;
    }
    if (strlen(key) < 16) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     VV_TAG(10301) "%s in %s:%d is shorter than 16 "
                     "characters; use a long random key",
                     cmd->cmd->name, cmd->directive->filename,
                     cmd->directive->line_num);
    }
    store_key(dconf, key);
    return NULL;
}

/* Read at start-up, while httpd is still root: the file can (and must) be
 * readable by root alone. */
static const char *set_api_key_file(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    const char *path = ap_server_root_relative(cmd->temp_pool, arg);
    char buf[4097];
    struct stat st;
    ssize_t n;
    int fd;

    if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        return apr_psprintf(cmd->pool, "%s: cannot open %s: %s",
                            cmd->cmd->name, arg, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        close(fd);
        return apr_psprintf(cmd->pool, "%s: %s must be a regular file "
                            "readable by its owner only (chmod 600)",
                            cmd->cmd->name, path);
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0 || n == (ssize_t)sizeof(buf) - 1) {
        return apr_psprintf(cmd->pool, "%s: %s: unreadable or over 4096 "
                            "bytes", cmd->cmd->name, path);
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1])) {
        n--;
    }
    buf[n] = '\0';
    if ((arg = check_key(cmd->pool, cmd->cmd->name, buf))) {
        return arg;
    }
    store_key(dconf, buf);
    memset(buf, 0, sizeof(buf));
    return NULL;
}

int vv_conf_has_key(const request_rec *r)
{
    return dir_conf(r)->has_key;
}

int vv_conf_key_matches(const request_rec *r, const char *presented)
{
    const vv_dir_conf_t *c = dir_conf(r);
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;

    /* Comparing digests of equal length hides the key's length; the
     * comparison itself takes the same time wherever they differ. */
    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, presented, (unsigned)strlen(presented));
    apr_sha1_final(digest, &ctx);
    return c->has_key && apr_crypto_equals(digest, c->key_hash,
                                           sizeof(digest));
}

/* --- per virtual host ---------------------------------------------------- */

static vv_srv_conf_t *srv_conf_w(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &volant_vfio_module);
}

static const char *add_allow(cmd_parms *cmd, void *dconf, const char *pat)
{
    vv_srv_conf_t *c = srv_conf_w(cmd);

    (void)dconf;
    if (!c->allow) {
        c->allow = vv_allowlist_make(cmd->pool);
    }
    if (!vv_allowlist_add(c->allow, pat)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ",
                           vv_pattern_error(cmd->pool, pat), NULL);
    }
    return NULL;
}

/* Users are looked up now: a VMM user that does not exist fails
 * configtest, not a bind. */
static const char *add_owner(cmd_parms *cmd, void *dconf, const char *arg)
{
    vv_srv_conf_t *c = srv_conf_w(cmd);
    vv_owner_t *o;
    vv_err_t *e;

    (void)dconf;
    if ((e = vv_owner_parse(cmd->pool, arg, &o))) {
        return e->msg;
    }
    if (!c->owners) {
        c->owners = apr_array_make(cmd->pool, 2, sizeof(vv_owner_t *));
    }
    APR_ARRAY_PUSH(c->owners, vv_owner_t *) = o;
    return NULL;
}

const apr_array_header_t *vv_conf_owners(const server_rec *s)
{
    return srv_conf(s)->owners;
}

static const char *set_group_policy(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    (void)dconf;
    if (!strcasecmp(arg, "strict")) {
        srv_conf_w(cmd)->group_policy = VV_POLICY_STRICT;
    }
    else if (!strcasecmp(arg, "companions")) {
        srv_conf_w(cmd)->group_policy = VV_POLICY_COMPANIONS;
    }
    else {
        return apr_psprintf(cmd->pool, "%s must be strict or companions, "
                            "not %s", cmd->cmd->name, arg);
    }
    return NULL;
}

static const char *set_driver(cmd_parms *cmd, void *dconf, const char *arg)
{
    (void)dconf;
    if (!vv_driver_name_ok(arg)) {
        return apr_psprintf(cmd->pool, "%s: invalid driver name %s",
                            cmd->cmd->name, arg);
    }
    srv_conf_w(cmd)->driver = arg;
    return NULL;
}

static const char *parse_number(cmd_parms *cmd, const char *arg,
                                apr_int64_t min, apr_int64_t max,
                                apr_int64_t *out)
{
    char *end;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);

    if (!*arg || *end || errno == ERANGE || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s must be a number from %"
                            APR_INT64_T_FMT " to %" APR_INT64_T_FMT
                            ", not %s", cmd->cmd->name, min, max, arg);
    }
    *out = v;
    return NULL;
}

static const char *set_op_timeout(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    apr_int64_t v;
    const char *err = parse_number(cmd, arg, 1, 3600, &v);

    (void)dconf;
    if (!err) {
        srv_conf_w(cmd)->op_timeout = (int)v;
    }
    return err;
}

static const char *set_max_body(cmd_parms *cmd, void *dconf, const char *arg)
{
    apr_int64_t v;
    const char *err = parse_number(cmd, arg, 16, 1 << 30, &v);

    if (!err) {
        ((vv_dir_conf_t *)dconf)->max_body = (apr_off_t)v;
    }
    return err;
}

const vv_allowlist_t *vv_conf_allow(const server_rec *s)
{
    return srv_conf(s)->allow;
}

int vv_conf_origin_allowed(const server_rec *s, const char *origin)
{
    const apr_array_header_t *list = srv_conf(s)->origins;

    for (int i = 0; list && i < list->nelts; i++) {
        if (strcasecmp(APR_ARRAY_IDX(list, i, const char *), origin) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An origin as browsers send it: scheme://host[:port], nothing more. */
static const char *add_origin(cmd_parms *cmd, void *dconf, const char *arg)
{
    vv_srv_conf_t *c = srv_conf_w(cmd);
    const char *host = !strncasecmp(arg, "https://", 8) ? arg + 8
        : !strncasecmp(arg, "http://", 7) ? arg + 7 : NULL;

    (void)dconf;
    if (!host || !*host || strcspn(host, "/?#@ \t*") != strlen(host)) {
        return apr_psprintf(cmd->pool, "VolantVfioCorsOrigin: %s is not an "
                            "origin (expected scheme://host[:port], e.g. "
                            "https://console.example:8443; no path, no "
                            "wildcard)", arg);
    }
    if (!c->origins) {
        c->origins = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->origins, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

int vv_conf_group_policy(const server_rec *s)
{
    int v = srv_conf(s)->group_policy;
    return v ? v : VV_POLICY_COMPANIONS;
}

const char *vv_conf_driver(const server_rec *s)
{
    const char *v = srv_conf(s)->driver;
    return v ? v : DEFAULT_DRIVER;
}

int vv_conf_usage_names(const server_rec *s)
{
    return srv_conf(s)->usage_names >= 0;
}

int vv_conf_op_timeout(const server_rec *s)
{
    int v = srv_conf(s)->op_timeout;
    return v ? v : DEFAULT_OP_TIMEOUT;
}

apr_off_t vv_conf_max_body(const request_rec *r)
{
    apr_off_t v = dir_conf(r)->max_body;
    return v ? v : DEFAULT_MAX_BODY;
}

/* --- global ------------------------------------------------------------ */

static const char *set_root(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    struct stat st;

    (void)dconf;
    if (err) {
        return err;
    }
    if (arg[0] != '/' || stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return apr_psprintf(cmd->pool, "%s: %s is not an existing directory "
                            "(an absolute path)", cmd->cmd->name, arg);
    }
    *(const char **)cmd->info = arg;
    return NULL;
}

static const char *set_pci_ids(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    struct stat st;

    (void)dconf;
    if (err) {
        return err;
    }
    if (arg[0] != '/' || stat(arg, &st) != 0 || !S_ISREG(st.st_mode)) {
        return apr_psprintf(cmd->pool, "%s: %s is not an existing file "
                            "(an absolute path)", cmd->cmd->name, arg);
    }
    g.pci_ids = arg;
    return NULL;
}

static const char *set_state_dir(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dconf;
    if (err) {
        return err;
    }
    if (arg[0] != '/') {
        return apr_psprintf(cmd->pool, "%s: %s is not an absolute path",
                            cmd->cmd->name, arg);
    }
    g.state_dir = arg;
    return NULL;
}

static const char *check_socket(apr_pool_t *p, const char *name,
                                const char *path)
{
    struct sockaddr_un sa;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return apr_psprintf(p, "%s: %s is longer than a Unix socket path may "
                            "be (%d bytes)", name, path,
                            (int)sizeof(sa.sun_path) - 1);
    }
    return NULL;
}

static const char *set_socket(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *path;

    (void)dconf;
    if (err) {
        return err;
    }
    path = ap_runtime_dir_relative(cmd->pool, arg);
    if (!path) {
        return apr_psprintf(cmd->pool, "%s: invalid path %s", cmd->cmd->name,
                            arg);
    }
    if ((err = check_socket(cmd->pool, cmd->cmd->name, path))) {
        return err;
    }
    g.socket = path;
    return NULL;
}

static const char *set_show_holders(cmd_parms *cmd, void *dconf, int on)
{
    (void)dconf;
    srv_conf_w(cmd)->usage_names = on ? 1 : -1;
    return NULL;
}

const char *vv_config_finish(apr_pool_t *pconf)
{
    vv_host_t *host;
    vv_err_t *e = vv_host_make(pconf, g.sysfs ? g.sysfs : "/sys",
                               g.dev ? g.dev : "/dev",
                               g.proc ? g.proc : "/proc", &host);

    if (e) {
        return e->msg;
    }
    g.host = host;
    if (!g.state_dir) {
        g.state_dir = "/var/lib/volant-vfio";
    }
    if (!g.socket) {
        /* The parent's pid is stable across restarts; the generation is not
         * part of the name, so workers of any generation find the helper. */
        g.socket = ap_runtime_dir_relative(pconf,
                       apr_psprintf(pconf, "volant-vfio.%" APR_PID_T_FMT
                                    ".sock", getpid()));
        return check_socket(pconf, "VolantVfioHelperSocket", g.socket);
    }
    return NULL;
}

const vv_host_t *vv_conf_host(void)
{
    return g.host;
}

const char *vv_conf_state_dir(void)
{
    return g.state_dir;
}

const char *vv_conf_pci_ids(void)
{
    return g.pci_ids;
}

const char *vv_conf_helper_socket(void)
{
    return g.socket;
}

const command_rec vv_cmds[] = {
    AP_INIT_TAKE1("VolantVfioApiKey", set_api_key, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "API key clients must present (X-API-Key, "
                  "X-Volant-API-Key or Authorization: Bearer)"),
    AP_INIT_TAKE1("VolantVfioApiKeyFile", set_api_key_file, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "file holding the API key, readable by its owner only"),
    AP_INIT_ITERATE("VolantVfioAllow", add_allow, NULL, RSRC_CONF,
                    "vendor:device patterns (vvvv:dddd or vvvv:*) bind may "
                    "take"),
    AP_INIT_ITERATE("VolantVfioCorsOrigin", add_origin, NULL, RSRC_CONF,
                    "browser origins (scheme://host[:port]) whose pages may "
                    "call the API"),
    AP_INIT_TAKE1("VolantVfioGroupPolicy", set_group_policy, NULL, RSRC_CONF,
                  "strict or companions: how bind treats IOMMU groups"),
    AP_INIT_ITERATE("VolantVfioGroupOwner", add_owner, NULL, RSRC_CONF,
                    "USER[:GROUP] a bind hands the group's device nodes to "
                    "(an unprivileged VMM); the first is the default"),
    AP_INIT_TAKE1("VolantVfioDriver", set_driver, NULL, RSRC_CONF,
                  "driver devices are bound to (default vfio-pci)"),
    AP_INIT_TAKE1("VolantVfioSysfsRoot", set_root, &g.sysfs, RSRC_CONF,
                  "where sysfs is mounted (default /sys)"),
    AP_INIT_TAKE1("VolantVfioDevRoot", set_root, &g.dev, RSRC_CONF,
                  "where /dev/vfio is found (default /dev)"),
    AP_INIT_TAKE1("VolantVfioProcRoot", set_root, &g.proc, RSRC_CONF,
                  "where procfs is mounted (default /proc)"),
    AP_INIT_TAKE1("VolantVfioPciIds", set_pci_ids, NULL, RSRC_CONF,
                  "the pci.ids file names come from (default: libpci's)"),
    AP_INIT_TAKE1("VolantVfioStateDir", set_state_dir, NULL, RSRC_CONF,
                  "directory of durable records of moved devices"),
    AP_INIT_TAKE1("VolantVfioHelperSocket", set_socket, NULL, RSRC_CONF,
                  "Unix socket of the privileged helper"),
    AP_INIT_TAKE1("VolantVfioOpTimeout", set_op_timeout, NULL, RSRC_CONF,
                  "seconds one kernel write may take (default 10)"),
    AP_INIT_FLAG("VolantVfioShowHolders", set_show_holders, NULL, RSRC_CONF,
                 "On (default): GET /usage names the processes that hold a "
                 "device; Off: it only counts them"),
    AP_INIT_TAKE1("VolantVfioMaxBodySize", set_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "largest request body in bytes (default 65536)"),
    { NULL }
};
