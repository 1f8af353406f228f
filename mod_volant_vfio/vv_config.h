/* Directives, merging, and the accessors every other file reads them by. */
#ifndef VV_CONFIG_H
#define VV_CONFIG_H

#include "vv_private.h"
#include "core/vv_allow.h"
#include "core/vv_owner.h"
#include "core/vv_sysfs.h"

enum { VV_POLICY_STRICT = 1, VV_POLICY_COMPANIONS = 2 };

extern const command_rec vv_cmds[];

void *vv_create_srv_conf(apr_pool_t *p, server_rec *s);
void *vv_merge_srv_conf(apr_pool_t *p, void *base, void *add);
void *vv_create_dir_conf(apr_pool_t *p, char *dir);
void *vv_merge_dir_conf(apr_pool_t *p, void *base, void *add);

/* pre_config: forget the previous generation's global settings. */
void vv_config_reset(void);

/* post_config: canonicalise the roots.  Returns an error message or NULL. */
const char *vv_config_finish(apr_pool_t *pconf);

/* Global (server-wide, GLOBAL_ONLY) settings. */
const vv_host_t *vv_conf_host(void);
const char *vv_conf_state_dir(void);
const char *vv_conf_pci_ids(void); /* NULL: libpci's default */
const char *vv_conf_helper_socket(void);

/* Per virtual host. */
const vv_allowlist_t *vv_conf_allow(const server_rec *s); /* NULL: none */

/* Whether VolantVfioCorsOrigin lists the origin (case-insensitive). */
int vv_conf_origin_allowed(const server_rec *s, const char *origin);
int vv_conf_group_policy(const server_rec *s);
const char *vv_conf_driver(const server_rec *s);
int vv_conf_op_timeout(const server_rec *s);
/* VolantVfioShowHolders: whether GET /usage names processes. */
int vv_conf_usage_names(const server_rec *s);
/* VolantVfioGroupOwner's entries (vv_owner_t *), NULL when none. */
const apr_array_header_t *vv_conf_owners(const server_rec *s);

/* Per directory. */
apr_off_t vv_conf_max_body(const request_rec *r);
int vv_conf_has_key(const request_rec *r);
/* Constant-time comparison of a presented key with the configured one. */
int vv_conf_key_matches(const request_rec *r, const char *presented);

#endif
