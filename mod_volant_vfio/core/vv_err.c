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

/* The length of the UTF-8 sequence at s (1 to 4), or 0 when none starts
 * there: overlong forms, surrogates and code points past U+10FFFF are
 * not UTF-8 either. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0], need, cp;

    if (c < 0x80) {
        return 1;
    }
    need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2
         : c >= 0xc2 && c <= 0xdf ? 1 : 0;
    cp = c & (0x3f >> need);
    for (unsigned i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (!need || (need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (need == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return need + 1;
}

const char *vv_err_printable(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s);
    unsigned char *u = (unsigned char *)out;

    while (*u) {
        size_t n = utf8_len(u);
        if (n == 0 || (n == 1 && (*u < 0x20 || *u == 0x7f))) {
            *u++ = '?';
        }
        else {
            u += n;
        }
    }
    return out;
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
        size_t u = utf8_len((const unsigned char *)s + i);
        if (c >= 0x80 && u > 1 && i + u <= shown) {
            memcpy(o, s + i, u);
            o += u;
            i += u - 1;
        }
        else if (c < 0x20 || c >= 0x7f) {
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
