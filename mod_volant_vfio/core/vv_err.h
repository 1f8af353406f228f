/* Errors are values: a kind the HTTP glue maps to a status (one table, in
 * vv_http.c) and a message for the client, allocated in the caller's pool. */
#ifndef VV_ERR_H
#define VV_ERR_H

#include <apr_pools.h>

typedef enum vv_kind {
    VV_E_BAD_REQUEST = 1, /* body malformed, wrong type, missing field */
    VV_E_BAD_ADDRESS,     /* a PCI address or pattern that does not parse */
    VV_E_NOT_FOUND,       /* the device is not in sysfs */
    VV_E_NO_ROUTE,        /* no endpoint at this path */
    VV_E_NOT_ALLOWED,     /* policy: allowlist, bridge, group policy */
    VV_E_NO_IOMMU,        /* the host has no IOMMU */
    VV_E_STATE,           /* the host's state forbids it (not bound, no group) */
    VV_E_IN_USE,          /* the host or a hypervisor uses the device */
    VV_E_KERNEL,          /* a kernel operation failed */
    VV_E_TIMEOUT,         /* a kernel operation did not finish in time */
    VV_E_HELPER,          /* the privileged helper is unavailable */
    VV_E_TOO_LARGE,       /* request body over the cap */
    VV_E_MEDIA_TYPE,      /* request body is not JSON */
    VV_E_METHOD,          /* method not allowed here */
    VV_E_AUTH,            /* missing or wrong API key */
    VV_E_DENIED,          /* access denied by configuration */
    VV_E_INTERNAL         /* our own failure */
} vv_kind_t;

typedef struct vv_err {
    vv_kind_t kind;
    const char *msg;
} vv_err_t;

/* NULL means success everywhere a vv_err_t * is returned. */
vv_err_t *vv_err(apr_pool_t *p, vv_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short, printable rendition of untrusted client text for messages. */
const char *vv_err_quote(apr_pool_t *p, const char *s);

/* Text the host's users shape (a mount point, an interface or process
 * name) as it may go into a JSON reply or a log line: control characters
 * and bytes that are not UTF-8 become '?'. */
const char *vv_err_printable(apr_pool_t *p, const char *s);

#endif
