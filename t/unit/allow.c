/* Allowlist patterns: vvvv:dddd and vvvv:*. */
#include "tap.h"
#include "core/vv_allow.h"

#include <apr_general.h>

int main(void)
{
    apr_pool_t *p;
    vv_pattern_t pat;
    vv_allowlist_t *l;

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(vv_pattern_parse("10de:2204", &pat) && pat.vendor == 0x10de
       && pat.device == 0x2204, "vvvv:dddd parses");
    ok(vv_pattern_parse("10DE:*", &pat) && pat.vendor == 0x10de
       && pat.device == -1, "vvvv:* parses, case-insensitive");
    ok(!vv_pattern_parse("10de", &pat), "vendor alone is refused");
    ok(!vv_pattern_parse("10de:", &pat), "empty device is refused");
    ok(!vv_pattern_parse("*:2204", &pat), "wildcard vendor is refused");
    ok(!vv_pattern_parse("10de:22", &pat), "short device is refused");
    ok(!vv_pattern_parse("10de:22044", &pat), "long device is refused");
    ok(!vv_pattern_parse("10de:**", &pat), "double star is refused");
    ok(!vv_pattern_parse("10de:*x", &pat), "trailing junk is refused");
    ok(!vv_pattern_parse("g0de:2204", &pat), "non-hex is refused");
    ok(!vv_pattern_parse(" 10de:2204", &pat), "spaces are refused");

    l = vv_allowlist_make(p);
    ok(!vv_allowlist_match(l, 0x10de, 0x2204), "empty list matches nothing");
    ok(vv_allowlist_add(l, "10de:*") && vv_allowlist_add(l, "1002:1234"),
       "patterns add");
    ok(!vv_allowlist_add(l, "nope"), "bad pattern is not added");
    ok(vv_allowlist_match(l, 0x10de, 0x1aef), "vendor wildcard matches");
    ok(vv_allowlist_match(l, 0x1002, 0x1234), "exact pair matches");
    ok(!vv_allowlist_match(l, 0x1002, 0x1235), "other device of vendor");
    ok(!vv_allowlist_match(l, 0x8086, 0x1533), "other vendor");
    /* Two vendors share a device ID: an exact pattern names one card. */
    ok(!vv_allowlist_match(l, 0x8086, 0x1234), "an exact pattern admits its "
       "own vendor's device only (8086:1234 is not 1002:1234)");
    is_str(vv_allowlist_text(p, l), "10de:*, 1002:1234", "listed as text");
    is_str(vv_pattern_error(p, "bad"), "invalid allowlist pattern: bad "
           "(expected vvvv:dddd or vvvv:*)", "the message names it");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
