#include "vv_addr.h"
#include "vv_err.h"

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
