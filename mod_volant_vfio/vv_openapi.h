/* The OpenAPI document, embedded at build time from openapi.json. */
#ifndef VV_OPENAPI_H
#define VV_OPENAPI_H

#include <stddef.h>

extern const char vv_openapi_json[];
extern const size_t vv_openapi_len;
extern const char vv_openapi_etag[];

#endif
