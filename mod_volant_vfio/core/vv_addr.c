#include "vv_addr.h"
#include "vv_err.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads exactly n hex digits; returns the next position or NULL. */
static const char *take_hex(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        int d = hexval(s[i]);
        if (d < 0) {
            return NULL;
        }
        v = (v << 4) | (unsigned)d;
    }
    *out = v;
    return s + n;
}

int vv_addr_parse(const char *in, vv_addr_t *out)
{
    const char *colon = in ? strchr(in, ':') : NULL;
    size_t domlen = colon ? (size_t)(colon - in) : 0;
    const char *s;

    /* VMD domains have 5 digits; 8 is the most a u32 holds. */
    if (domlen < 4 || domlen > 8 || strlen(in) != domlen + 8) {
        return 0;
    }
    if (!(s = take_hex(in, domlen, &out->domain)) || *s++ != ':'
        || !(s = take_hex(s, 2, &out->bus)) || *s++ != ':'
        || !(s = take_hex(s, 2, &out->slot)) || *s++ != '.'
        || *s < '0' || *s > '7' || s[1] != '\0') {
        return 0;
    }
    out->func = (unsigned)(*s - '0');
    if (out->slot > 0x1f) {
        return 0;
    }
    snprintf(out->text, sizeof(out->text), "%04x:%02x:%02x.%u",
             out->domain, out->bus, out->slot, out->func);
    return 1;
}

const char *vv_addr_format_error(apr_pool_t *p, const char *in)
{
    return apr_psprintf(p, "invalid PCI address format: %s "
                        "(expected format: 0000:01:00.0)",
                        vv_err_quote(p, in));
}

vv_err_t *vv_addr_list(apr_pool_t *p, const apr_array_header_t *raw,
                       apr_array_header_t **out)
{
    apr_array_header_t *list = apr_array_make(p, raw->nelts,
                                              sizeof(vv_addr_t));
    apr_hash_t *seen = apr_hash_make(p);

    for (int i = 0; i < raw->nelts; i++) {
        const char *s = APR_ARRAY_IDX(raw, i, const char *);
        vv_addr_t a;

        if (!vv_addr_parse(s, &a)) {
            return vv_err(p, VV_E_BAD_ADDRESS, "%s",
                          vv_addr_format_error(p, s));
        }
        if (!apr_hash_get(seen, a.text, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(list, vv_addr_t) = a;
            apr_hash_set(seen, apr_pstrdup(p, a.text), APR_HASH_KEY_STRING,
                         "");
        }
    }
    *out = list;
    return NULL;
}

int vv_addr_cmp(const void *x, const void *y)
{
    const vv_addr_t *a = x, *b = y;

    if (a->domain != b->domain) return a->domain < b->domain ? -1 : 1;
    if (a->bus != b->bus) return a->bus < b->bus ? -1 : 1;
    if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
    return (int)a->func - (int)b->func;
}
