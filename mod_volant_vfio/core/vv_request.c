#include "vv_request.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static vv_err_t *bad(apr_pool_t *p, const char *msg)
{
    return vv_err(p, VV_E_BAD_REQUEST, "%s", msg);
}

/* The length of the UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    unsigned cp;

    if (len == 0 || len > n) {
        return 0;
    }
    cp = len == 1 ? s[0] : s[0] & (0x7fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* RFC 8259 text is UTF-8.  NUL is refused raw and escaped: a C string would
 * silently end there ("0000:01:00.0\u0000junk" would pass as the address). */
static const char *check_text(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;

    for (size_t i = 0; i < n;) {
        size_t len;

        if (s[i] == 0) {
            return "request body contains a NUL byte";
        }
        if (s[i] == '\\' && i + 1 < n) {
            if (s[i + 1] == 'u' && i + 6 <= n
                && !memcmp(s + i + 2, "0000", 4)) {
                return "request body contains an escaped NUL character";
            }
            i += 2;
            continue;
        }
        if (!(len = utf8_len(s + i, n - i))) {
            return "request body is not valid UTF-8";
        }
        i += len;
    }
    return NULL;
}

/* The first key an object (at any depth) holds twice, or NULL.  Parsers
 * disagree on which value of a duplicate wins (cJSON the first, Go and
 * most proxies the last), so a body with one means nothing.  cJSON stops
 * nesting at CJSON_NESTING_LIMIT, which bounds the recursion. */
static const char *duplicate_key(apr_pool_t *p, const cJSON *j)
{
    apr_hash_t *seen = cJSON_IsObject(j) && j->child && j->child->next
        ? apr_hash_make(p) : NULL;
    const cJSON *c;

    for (c = j->child; c; c = c->next) {
        const char *dup;
        if (seen && c->string) {
            if (apr_hash_get(seen, c->string, APR_HASH_KEY_STRING)) {
                return c->string;
            }
            apr_hash_set(seen, c->string, APR_HASH_KEY_STRING, c);
        }
        if (c->child && (dup = duplicate_key(p, c))) {
            return dup;
        }
    }
    return NULL;
}

vv_err_t *vv_request_json(apr_pool_t *p, const char *text, size_t len,
                          cJSON **out)
{
    const char *dup;
    const char *why = check_text(text, len);
    cJSON *json;

    *out = NULL;
    if (why) {
        return bad(p, why);
    }
    /* Counting the NUL makes anything after the value an error. */
    json = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
    if (!json) {
        return bad(p, len ? "malformed JSON in request body"
                          : "request body is empty (expected a JSON object)");
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return bad(p, "request body must be a JSON object");
    }
    if ((dup = duplicate_key(p, json))) {
        vv_err_t *e = vv_err(p, VV_E_BAD_REQUEST, "duplicate key in request "
                             "body: %s", vv_err_quote(p, dup));
        cJSON_Delete(json);
        return e;
    }
    *out = json;
    return NULL;
}

vv_err_t *vv_request_address(apr_pool_t *p, const cJSON *req, vv_addr_t *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, "pci_address");

    if (!f || cJSON_IsNull(f)) {
        return bad(p, "missing required field: pci_address");
    }
    if (!cJSON_IsString(f)) {
        return bad(p, "field pci_address must be a string");
    }
    if (!vv_addr_parse(f->valuestring, out)) {
        return vv_err(p, VV_E_BAD_ADDRESS, "%s",
                      vv_addr_format_error(p, f->valuestring));
    }
    return NULL;
}

/* An array of strings; NULL (and no error) when absent or null and not
 * required. */
static vv_err_t *string_array(apr_pool_t *p, const cJSON *req,
                              const char *field, int required,
                              const cJSON **out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(req, field), *it;

    *out = NULL;
    if (!a || cJSON_IsNull(a)) {
        return required ? vv_err(p, VV_E_BAD_REQUEST,
                                 "missing required field: %s", field)
                        : NULL;
    }
    if (!cJSON_IsArray(a)) {
        return vv_err(p, VV_E_BAD_REQUEST,
                      "field %s must be an array of strings", field);
    }
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) {
            return vv_err(p, VV_E_BAD_REQUEST,
                          "field %s must be an array of strings", field);
        }
    }
    *out = a;
    return NULL;
}

vv_err_t *vv_request_addresses(apr_pool_t *p, const cJSON *req,
                               apr_array_header_t **raw)
{
    apr_array_header_t *list = apr_array_make(p, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    const cJSON *a = NULL, *it;
    vv_err_t *e;

    if ((e = string_array(p, req, "pci_addresses", 1, &a))) {
        return e;
    }
    if (cJSON_GetArraySize(a) == 0) {
        return bad(p, "pci_addresses must not be empty");
    }
    cJSON_ArrayForEach(it, a) {
        vv_addr_t addr;
        const char *key = vv_addr_parse(it->valuestring, &addr)
            ? apr_pstrdup(p, addr.text) : it->valuestring;
        if (!apr_hash_get(seen, key, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, key);
            APR_ARRAY_PUSH(list, const char *) = it->valuestring;
        }
    }
    *raw = list;
    return NULL;
}

vv_err_t *vv_request_owner(apr_pool_t *p, const cJSON *req,
                           const char **owner)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(req, "owner");

    *owner = NULL;
    if (!o || cJSON_IsNull(o)) {
        return NULL;
    }
    if (!cJSON_IsString(o) || !*o->valuestring) {
        return bad(p, "field owner must be a non-empty string: one of the "
                   "users VolantVfioGroupOwner lists");
    }
    *owner = apr_pstrdup(p, o->valuestring);
    return NULL;
}

vv_err_t *vv_request_persist(apr_pool_t *p, const cJSON *req, int *persist)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(req, "persist");

    *persist = cJSON_IsTrue(o);
    if (o && !cJSON_IsNull(o) && !cJSON_IsBool(o)) {
        return bad(p, "field persist must be true or false");
    }
    return NULL;
}

vv_err_t *vv_request_parsed(apr_pool_t *p, const cJSON *req,
                            apr_array_header_t **addrs)
{
    apr_array_header_t *raw = NULL;
    vv_err_t *e;

    if ((e = vv_request_addresses(p, req, &raw))) {
        return e;
    }
    return vv_addr_list(p, raw, addrs);
}

vv_err_t *vv_request_allowlist(apr_pool_t *p, const cJSON *req,
                               vv_allowlist_t **out)
{
    const cJSON *a = NULL, *it;
    vv_err_t *e;

    *out = NULL;
    if ((e = string_array(p, req, "allowlist", 0, &a)) || !a
        || cJSON_GetArraySize(a) == 0) {
        return e;
    }
    *out = vv_allowlist_make(p);
    cJSON_ArrayForEach(it, a) {
        if (!vv_allowlist_add(*out, it->valuestring)) {
            return vv_err(p, VV_E_BAD_REQUEST, "%s",
                          vv_pattern_error(p, it->valuestring));
        }
    }
    return NULL;
}

/* --- the query string of GET /devices -------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decoding in place; '+' is a space.  An encoded NUL or a broken
 * escape is an error. */
static int unescape(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) {
                return 0;
            }
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        }
        else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return 1;
}

static vv_err_t *hex_param(apr_pool_t *p, const char *name, const char *v,
                           size_t len, unsigned *out)
{
    if (strlen(v) != len || strspn(v, "0123456789abcdefABCDEF") != len) {
        return vv_err(p, VV_E_BAD_REQUEST, "invalid %s filter: %s", name,
                      vv_err_quote(p, v));
    }
    *out = (unsigned)strtoul(v, NULL, 16);
    return NULL;
}

static vv_err_t *filter_param(apr_pool_t *p, const char *key,
                              const char *val, vv_filter_t *f)
{
    size_t n = strlen(val);
    unsigned v;
    vv_err_t *e = NULL;

    if (!strcmp(key, "vendor")) {
        if (!(e = hex_param(p, key, val, 4, &v))) f->vendor = (int)v;
    }
    else if (!strcmp(key, "device")) {
        if (!(e = hex_param(p, key, val, 4, &v))) f->device = (int)v;
    }
    else if (!strcmp(key, "class")) {
        if (n != 2 && n != 4 && n != 6) {
            return vv_err(p, VV_E_BAD_REQUEST, "invalid class filter: %s "
                          "(2, 4 or 6 hex digits)", vv_err_quote(p, val));
        }
        if (!(e = hex_param(p, key, val, n, &v))) {
            f->class = v << (4 * (6 - n));
            f->cmask = 0xffffffu & ~(0xffffffu >> (4 * n));
        }
    }
    else if (!strcmp(key, "driver")) {
        f->driver = val;
    }
    return e; /* unknown parameters are ignored */
}

vv_err_t *vv_request_filter(apr_pool_t *p, const char *args, vv_filter_t *f)
{
    char *copy = args ? apr_pstrdup(p, args) : NULL, *last = NULL;
    vv_err_t *e = NULL;

    f->vendor = f->device = -1;
    f->class = f->cmask = 0;
    f->driver = NULL;
    for (char *kv = copy ? apr_strtok(copy, "&", &last) : NULL; kv && !e;
         kv = apr_strtok(NULL, "&", &last)) {
        char *val = strchr(kv, '=');

        if (!val) {
            continue;
        }
        *val++ = '\0';
        if (!unescape(kv) || !unescape(val)) {
            return bad(p, "malformed query string");
        }
        e = filter_param(p, kv, val, f);
    }
    return e;
}

int vv_filter_match(const vv_filter_t *f, const vv_devinfo_t *d)
{
    return (f->vendor < 0 || (unsigned)f->vendor == d->vendor)
        && (f->device < 0 || (unsigned)f->device == d->device)
        && (d->class24 & f->cmask) == f->class
        && (!f->driver || strcmp(f->driver, d->driver) == 0);
}
