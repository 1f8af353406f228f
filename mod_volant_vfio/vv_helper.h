/* The privileged helper: the only process that writes to sysfs.  Forked
 * from httpd's root parent (mod_cgid's daemon pattern), it keeps root while
 * the workers run as User, and answers bind and unbind over a Unix socket
 * only the workers' user can reach. */
#ifndef VV_HELPER_H
#define VV_HELPER_H

#include "vv_private.h"

#include <apr_tables.h>

/* Warns when the operator's settings let other processes of the workers'
 * uid read the workers' secret (configtest and start-up). */
void vv_helper_check_exposure(server_rec *s);

/* post_config: (re)start the helper for this configuration generation. */
int vv_helper_init(apr_pool_t *pconf, server_rec *s);

/* Asks the helper; *kind is 0 on success.  body is the HTTP reply it built.
 * VV_E_HELPER (503) when it cannot be reached. */
vv_err_t *vv_helper_call(request_rec *r, const char *op,
                         const apr_array_header_t *addrs, int *kind,
                         cJSON **body);

/* The same, for a bind naming the owner of the group nodes (NULL: the
 * configured default) and whether the binding persists across reboots. */
vv_err_t *vv_helper_call_bind(request_rec *r, const char *op,
                              const apr_array_header_t *addrs,
                              const char *owner, int persist, int *kind,
                              cJSON **body);

#endif
