/* libFuzzer target: the decoding of every endpoint's request: the body's
 * text checks and JSON parse, then each field an endpoint reads
 * (pci_address, pci_addresses, allowlist), and the same bytes as the query
 * string of GET /devices. */
#include "core/vv_request.h"

#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    apr_array_header_t *list;
    vv_allowlist_t *allow;
    vv_filter_t filter;
    apr_pool_t *p;
    cJSON *json;
    vv_addr_t a;

    memcpy(text, data, size);
    text[size] = '\0';
    apr_pool_create(&p, NULL);
    if (!vv_request_json(p, text, size, &json)) {
        (void)vv_request_address(p, json, &a);
        if (!vv_request_addresses(p, json, &list) && list->nelts == 0) {
            abort(); /* an empty list must have been refused */
        }
        (void)vv_request_parsed(p, json, &list);
        (void)vv_request_allowlist(p, json, &allow);
        cJSON_Delete(json);
    }
    (void)vv_request_filter(p, strlen(text) == size ? text : NULL, &filter);
    apr_pool_destroy(p);
    free(text);
    return 0;
}
