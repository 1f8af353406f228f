/* libFuzzer target: the PCI address parser (the only client input that
 * reaches a filesystem path). */
#include "core/vv_addr.h"

#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    apr_pool_t *p;
    vv_addr_t a, b;

    memcpy(s, data, size);
    s[size] = '\0';
    apr_pool_create(&p, NULL);
    if (vv_addr_parse(s, &a)) {
        /* The canonical form parses to itself and stays a path component. */
        if (!vv_addr_parse(a.text, &b) || strcmp(a.text, b.text) != 0
            || strchr(a.text, '/') || strstr(a.text, "..")) {
            abort();
        }
    }
    else {
        (void)vv_addr_format_error(p, s);
    }
    apr_pool_destroy(p);
    free(s);
    return 0;
}
