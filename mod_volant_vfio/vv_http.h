/* HTTP plumbing: the one table from error kinds to statuses, JSON replies,
 * request bodies, and JSON bodies for the errors httpd itself produces. */
#ifndef VV_HTTP_H
#define VV_HTTP_H

#include "vv_private.h"

/* The status an error kind answers with. */
int vv_http_status(vv_kind_t kind);

/* Sends body (owned by the caller) with status; returns OK. */
int vv_http_send(request_rec *r, int status, const cJSON *body);

/* Sends TEXT (not JSON: GET /metrics) as a 200 of media type TYPE. */
int vv_http_send_typed(request_rec *r, const char *type, const char *text);

/* Sends {"error": msg} with the kind's status; returns OK. */
int vv_http_send_error(request_rec *r, const vv_err_t *e);

/* The same with a body of the endpoint's own shape (NULL: {"error"}). */
int vv_http_send_failure(request_rec *r, const vv_err_t *e,
                         const cJSON *body);

/* The WWW-Authenticate challenge every 401 of ours carries. */
void vv_http_challenge(request_rec *r);

/* Deletes the tree when the pool goes: every exit path is covered. */
cJSON *vv_json_own(apr_pool_t *p, cJSON *json);

/* Reads and parses a JSON object body under the directory's size cap.
 * Returns NULL and sets *out, or returns an error.  When httpd itself has
 * already answered (e.g. LimitRequestBody), *pass is set to the status the
 * handler must return unchanged. */
vv_err_t *vv_http_read_json(request_rec *r, cJSON **out, int *pass);

/* Hook: httpd's own error pages (403 from Require, 413 from
 * LimitRequestBody, ...) become JSON in our locations. */
void vv_http_insert_error_filter(request_rec *r);
void vv_http_register_filters(void);

#endif
