/* The API key: an authz provider (`Require volant-vfio-api-key`) so that it
 * composes with `Require ip` in <RequireAll>/<RequireAny>, an authn hook
 * that turns "no or wrong key" into 401, and a check the handler runs
 * itself when a key is configured and the provider was not asked. */
#ifndef VV_AUTHZ_H
#define VV_AUTHZ_H

#include "vv_private.h"

#define VV_AUTHZ_PROVIDER "volant-vfio-api-key"

void vv_authz_register(apr_pool_t *p);

/* pre_config: forget the previous generation's notes; post_config and
 * configtest: log what the configuration read meanwhile asks an operator
 * to change. */
void vv_authz_config_reset(void);

/* post_config: the machine's own host name and FQDN, which the Host check
 * accepts as names of this server. */
void vv_authz_names_init(void);
void vv_authz_config_report(server_rec *s);

/* For the handler: OK, or an error when a configured key was not shown. */
vv_err_t *vv_authz_check(request_rec *r);

/* The text of a 401: Volant's "invalid api key", and where the client put
 * the key in the query string (Volant reads ?api_key=), why that is not
 * taken. */
const char *vv_authz_denied_text(const request_rec *r);

#endif
