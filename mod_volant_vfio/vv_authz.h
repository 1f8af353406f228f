/* The API key: an authz provider (`Require volant-vfio-api-key`) so that it
 * composes with `Require ip` in <RequireAll>/<RequireAny>, an authn hook
 * that turns "no or wrong key" into 401, and a check the handler runs
 * itself when a key is configured but no Require line asked for it. */
#ifndef VV_AUTHZ_H
#define VV_AUTHZ_H

#include "vv_private.h"

#define VV_AUTHZ_PROVIDER "volant-vfio-api-key"

void vv_authz_register(apr_pool_t *p);

/* For the handler: OK, or an error when a configured key was not shown. */
vv_err_t *vv_authz_check(request_rec *r);

#endif
