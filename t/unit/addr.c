/* The PCI address parser: the only client input that reaches a path. */
#include "tap.h"
#include "core/vv_addr.h"

#include <apr_general.h>

static void accepts(const char *in, const char *canon)
{
    vv_addr_t a;
    int parsed = vv_addr_parse(in, &a);

    ok(parsed, "accepts %s", in);
    if (parsed) {
        is_str(a.text, canon, "%s canonicalises to %s", in, canon);
    }
}

static void rejects(const char *in, const char *why)
{
    vv_addr_t a;

    ok(!vv_addr_parse(in, &a), "rejects %s (%s)", in, why);
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);

    accepts("0000:01:00.0", "0000:01:00.0");
    accepts("0000:00:1f.7", "0000:00:1f.7");
    accepts("0000:AB:1F.3", "0000:ab:1f.3");
    accepts("10000:e0:06.0", "10000:e0:06.0");
    accepts("00010000:e0:06.0", "10000:e0:06.0");
    accepts("ffffffff:ff:1f.7", "ffffffff:ff:1f.7");
    accepts("00000:01:00.0", "0000:01:00.0");

    rejects("01:00.0", "short form");
    rejects("000:01:00.0", "3-digit domain");
    rejects("000000000:01:00.0", "9-digit domain");
    rejects("0000:01:20.0", "slot over 1f");
    rejects("0000:01:00.8", "function over 7");
    rejects("0000:1:00.0", "1-digit bus");
    rejects("0000:01:0.0", "1-digit slot");
    rejects("0000:01:00.0\n", "trailing newline");
    rejects(" 0000:01:00.0", "leading space");
    rejects("0000:01:00.0/../../..", "traversal suffix");
    rejects("../0000:01:00.0", "traversal prefix");
    rejects("0000:01:00.00", "two-digit function");
    rejects("0000-01-00.0", "dashes");
    rejects("0000:0g:00.0", "non-hex bus");
    rejects("", "empty");
    rejects("0000:01:00.", "missing function");
    rejects("0x00:01:00.0", "0x prefix");
    ok(!vv_addr_parse(NULL, &(vv_addr_t){0}), "rejects NULL");

    is_str(vv_addr_format_error(p, "01:00.0"),
           "invalid PCI address format: 01:00.0 (expected format: "
           "0000:01:00.0)", "the Volant message, exactly");
    is_str(vv_addr_format_error(p, "a\nb"),
           "invalid PCI address format: a\\x0ab (expected format: "
           "0000:01:00.0)", "control characters are escaped in messages");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
