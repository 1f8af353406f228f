/* Shared by the httpd glue files; the core (core/) never includes this. */
#ifndef VV_PRIVATE_H
#define VV_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include <cJSON.h>

#include "core/vv_err.h"
#include "core/vv_log.h"

/* mod_volant_vfio.c gets this from AP_DECLARE_MODULE itself. */
#ifndef VV_MODULE_FILE
APLOG_USE_MODULE(volant_vfio);
#endif

extern module AP_MODULE_DECLARE_DATA volant_vfio_module;

/* The handler name SetHandler uses. */
#define VV_HANDLER "volant-vfio"
/* A request note: the message for the JSON body of an error httpd sends
 * on our behalf (an access refusal before the handler runs). */
#define VV_NOTE_ERROR "volant-vfio-error"

/* Where the API lives (API.md): every route is below it, or is /openapi
 * or /healthz. */
#define VV_API_BASE "/api/v1/vfio"
#define VV_OPENAPI_PATH "/openapi"
#define VV_HEALTHZ_PATH "/healthz"

/* Whether the request is in a location that SetHandler hands to us. */
int vv_is_ours(request_rec *r);

/* Whether a URI is the API's: below VV_API_BASE, /openapi or /healthz. */
int vv_is_api_uri(const char *uri);

#endif
