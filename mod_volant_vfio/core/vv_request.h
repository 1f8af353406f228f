/* Decoding what a client sends: request bodies and query strings.  Every
 * byte a client controls passes through here (and through the fuzzers in
 * build/fuzz) before any other code looks at it. */
#ifndef VV_REQUEST_H
#define VV_REQUEST_H

#include "vv_addr.h"
#include "vv_allow.h"
#include "vv_device.h"

#include <apr_tables.h>
#include <cJSON.h>

/* Checks the text (UTF-8, no NUL raw or escaped) and parses it as one JSON
 * object.  text[len] must be the NUL.  The tree is the caller's to delete. */
vv_err_t *vv_request_json(apr_pool_t *p, const char *text, size_t len,
                          cJSON **out);

/* "pci_address", parsed. */
vv_err_t *vv_request_address(apr_pool_t *p, const cJSON *req, vv_addr_t *out);

/* "pci_addresses": each distinct address once, in request order, as sent
 * (well-formed ones compared in canonical form). */
vv_err_t *vv_request_addresses(apr_pool_t *p, const cJSON *req,
                               apr_array_header_t **raw);

/* The same, every one required to parse (vv_addr_t). */
/* bind's optional "owner": NULL when absent or null; VV_E_BAD_REQUEST for
 * anything but a non-empty string. */
vv_err_t *vv_request_owner(apr_pool_t *p, const cJSON *req,
                           const char **owner);

/* bind's optional "persist": 0 when absent, null or false; VV_E_BAD_REQUEST
 * for anything but a boolean. */
vv_err_t *vv_request_persist(apr_pool_t *p, const cJSON *req, int *persist);

vv_err_t *vv_request_parsed(apr_pool_t *p, const cJSON *req,
                            apr_array_header_t **addrs);

/* "allowlist": *out is NULL when it is absent, null or empty. */
vv_err_t *vv_request_allowlist(apr_pool_t *p, const cJSON *req,
                               vv_allowlist_t **out);

/* GET /devices?vendor=10de&device=2204&class=0300&driver=vfio-pci */
typedef struct vv_filter {
    int vendor, device;    /* -1: any */
    unsigned class, cmask; /* class24 & cmask == class */
    const char *driver;    /* NULL: any; "": driverless */
} vv_filter_t;

vv_err_t *vv_request_filter(apr_pool_t *p, const char *args,
                            vv_filter_t *out);
int vv_filter_match(const vv_filter_t *f, const vv_devinfo_t *d);

#endif
