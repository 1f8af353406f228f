/* Device allowlists: "vvvv:dddd" or "vvvv:*", hex, either case. */
#ifndef VV_ALLOW_H
#define VV_ALLOW_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct vv_pattern {
    unsigned vendor;
    int device; /* -1 matches any device of the vendor */
} vv_pattern_t;

typedef struct vv_allowlist {
    apr_array_header_t *items; /* of vv_pattern_t */
} vv_allowlist_t;

/* Returns 1 when s is a valid pattern. */
int vv_pattern_parse(const char *s, vv_pattern_t *out);

/* The message naming a pattern that does not parse. */
const char *vv_pattern_error(apr_pool_t *p, const char *s);

vv_allowlist_t *vv_allowlist_make(apr_pool_t *p);

/* Parses and appends; returns 1 on success, 0 if s is not a pattern. */
int vv_allowlist_add(vv_allowlist_t *l, const char *s);

int vv_allowlist_match(const vv_allowlist_t *l, unsigned vendor,
                       unsigned device);

/* "10de:*, 1002:1234": for messages and the host report. */
const char *vv_allowlist_text(apr_pool_t *p, const vv_allowlist_t *l);

/* One pattern in its canonical form: "10de:2204", "10de:*". */
const char *vv_pattern_text(apr_pool_t *p, const vv_pattern_t *pat);

#endif
