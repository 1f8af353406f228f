#include "vv_allow.h"
#include "vv_err.h"

#include <apr_strings.h>
#include <string.h>

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) {
            return 0;
        }
        v = (v << 4) | (unsigned)d;
    }
    *out = v;
    return 1;
}

int vv_pattern_parse(const char *s, vv_pattern_t *out)
{
    unsigned device;

    if (!s || strlen(s) < 6 || !hex4(s, &out->vendor) || s[4] != ':') {
        return 0;
    }
    if (strcmp(s + 5, "*") == 0) {
        out->device = -1;
        return 1;
    }
    if (strlen(s) != 9 || !hex4(s + 5, &device)) {
        return 0;
    }
    out->device = (int)device;
    return 1;
}

const char *vv_pattern_error(apr_pool_t *p, const char *s)
{
    return apr_psprintf(p, "invalid allowlist pattern: %s "
                        "(expected vvvv:dddd or vvvv:*)",
                        vv_err_quote(p, s));
}

vv_allowlist_t *vv_allowlist_make(apr_pool_t *p)
{
    vv_allowlist_t *l = apr_palloc(p, sizeof(*l));

    l->items = apr_array_make(p, 4, sizeof(vv_pattern_t));
    return l;
}

int vv_allowlist_add(vv_allowlist_t *l, const char *s)
{
    vv_pattern_t pat;

    if (!vv_pattern_parse(s, &pat)) {
        return 0;
    }
    APR_ARRAY_PUSH(l->items, vv_pattern_t) = pat;
    return 1;
}

int vv_allowlist_match(const vv_allowlist_t *l, unsigned vendor,
                       unsigned device)
{
    for (int i = 0; i < l->items->nelts; i++) {
        const vv_pattern_t *pat = &APR_ARRAY_IDX(l->items, i, vv_pattern_t);
        if (pat->vendor == vendor
            && (pat->device < 0 || (unsigned)pat->device == device)) {
            return 1;
        }
    }
    return 0;
}

const char *vv_pattern_text(apr_pool_t *p, const vv_pattern_t *pat)
{
    return pat->device < 0
        ? apr_psprintf(p, "%04x:*", pat->vendor)
        : apr_psprintf(p, "%04x:%04x", pat->vendor, (unsigned)pat->device);
}

const char *vv_allowlist_text(apr_pool_t *p, const vv_allowlist_t *l)
{
    const char *out = "";

    for (int i = 0; i < l->items->nelts; i++) {
        const char *one = vv_pattern_text(p, &APR_ARRAY_IDX(l->items, i,
                                                            vv_pattern_t));
        out = i ? apr_pstrcat(p, out, ", ", one, NULL) : one;
    }
    return out;
}
