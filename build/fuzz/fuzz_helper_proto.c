/* libFuzzer target: the privileged helper's protocol decoder, the root
 * trust boundary.  Input: a whole frame (8-byte header, then the JSON). */
#include "core/vv_proto.h"

#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    vv_request_t req;
    apr_pool_t *p;
    size_t n;

    if (size < 8) {
        return 0;
    }
    apr_pool_create(&p, NULL);
    if (!vv_proto_header(p, data, VV_PROTO_MAX_FRAME, &n) && n == size - 8) {
        char *json = malloc(n + 1);
        memcpy(json, data + 8, n);
        json[n] = '\0';
        if (!vv_proto_decode(p, json, n, &req)) {
            /* What the helper accepts stays within the protocol's bounds. */
            if (req.addresses->nelts > VV_PROTO_MAX_ADDRESSES
                || strlen(req.remote) > VV_PROTO_MAX_STRING
                || req.server < 0 || req.server > 65535) {
                abort();
            }
            for (int i = 0; i < req.addresses->nelts; i++) {
                if (strlen(APR_ARRAY_IDX(req.addresses, i, const char *))
                    > VV_PROTO_MAX_STRING) {
                    abort();
                }
            }
        }
        free(json);
    }
    apr_pool_destroy(p);
    return 0;
}
