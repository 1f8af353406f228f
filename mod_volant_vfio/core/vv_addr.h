/* PCI addresses: the only client input that ever reaches a filesystem path. */
#ifndef VV_ADDR_H
#define VV_ADDR_H

#include "vv_err.h"

#include <apr_pools.h>
#include <apr_tables.h>

/* "ffffffff:ff:1f.7" and the NUL. */
#define VV_ADDR_LEN 17

typedef struct vv_addr {
    unsigned domain, bus, slot, func;
    char text[VV_ADDR_LEN]; /* canonical: lowercase, domain as the kernel prints it */
} vv_addr_t;

/* Strict DDDD:BB:SS.F: domain 4 to 8 hex digits, bus 2, slot 2 (<= 1f),
 * function 0-7, either case, nothing else.  Returns 1 when it parses. */
int vv_addr_parse(const char *in, vv_addr_t *out);

/* Orders two vv_addr_t by domain, bus, slot and function (for qsort). */
int vv_addr_cmp(const void *x, const void *y);

/* Each distinct address of raw (strings) once, in order, parsed
 * (vv_addr_t); VV_E_BAD_ADDRESS names the first that does not parse. */
vv_err_t *vv_addr_list(apr_pool_t *p, const apr_array_header_t *raw,
                       apr_array_header_t **out);

/* The exact Volant message for a malformed address. */
const char *vv_addr_format_error(apr_pool_t *p, const char *in);

#endif
