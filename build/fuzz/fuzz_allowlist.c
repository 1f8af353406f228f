/* libFuzzer target: allowlist patterns, as VolantVfioAllow and the
 * validate endpoint's "allowlist" take them.  Input: patterns separated by
 * newlines, then a vendor:device pair to match is taken from the first 4
 * bytes. */
#include "core/vv_allow.h"

#include "fuzz.h"
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1), *last = NULL;
    unsigned vendor = size >= 2 ? (unsigned)(data[0] << 8 | data[1]) : 0;
    unsigned device = size >= 4 ? (unsigned)(data[2] << 8 | data[3]) : 0;
    apr_pool_t *p;
    vv_allowlist_t *l;

    memcpy(s, data, size);
    s[size] = '\0';
    apr_pool_create(&p, NULL);
    l = vv_allowlist_make(p);
    for (char *line = apr_strtok(s, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        vv_pattern_t pat;
        int ok = vv_pattern_parse(line, &pat);
        if (ok != vv_allowlist_add(l, line)) {
            abort();
        }
        if (!ok) {
            (void)vv_pattern_error(p, line);
        }
        else if (pat.vendor > 0xffff || pat.device > 0xffff) {
            abort();
        }
    }
    (void)vv_allowlist_match(l, vendor, device);
    (void)vv_allowlist_text(p, l);
    apr_pool_destroy(p);
    free(s);
    return 0;
}
