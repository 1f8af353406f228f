#include "vv_err.h"

#include <apr_strings.h>
#include <stdarg.h>
#include <string.h>

vv_err_t *vv_err(apr_pool_t *p, vv_kind_t kind, const char *fmt, ...)
{
    vv_err_t *e = apr_palloc(p, sizeof(*e));
    va_list ap;

    va_start(ap, fmt);
    e->kind = kind;
    e->msg = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    return e;
}

/* Client strings end up inside our messages and logs: keep them short and
 * free of control characters so that a hostile value cannot forge log lines
 * or bloat a reply. */
const char *vv_err_quote(apr_pool_t *p, const char *s)
{
    enum { MAX_SHOWN = 64 };
    size_t n = strlen(s), shown = n > MAX_SHOWN ? MAX_SHOWN : n;
    char *out = apr_palloc(p, shown * 4 + 4), *o = out;

    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            o += apr_snprintf(o, 5, "\\x%02x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    if (shown < n) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}
