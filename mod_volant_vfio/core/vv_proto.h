/* The helper's protocol: how an unprivileged worker asks the root helper to
 * bind or unbind.  One request and one reply per connection, each a frame:
 *
 *   "VVH1"  u32 big-endian length  JSON object of that many bytes
 *
 * The helper is the trust boundary: it decodes strictly (known fields only,
 * bounds on every one) and re-validates everything a request names. */
#ifndef VV_PROTO_H
#define VV_PROTO_H

#include "vv_err.h"

#include <apr_pools.h>
#include <apr_tables.h>
#include <cJSON.h>
#include <stddef.h>

#define VV_PROTO_MAGIC "VVH1"
/* A request (worker to helper) is small and bounded; a reply (helper to
 * worker) lists every device an operation touched, companions included,
 * so it is bounded by what a valid request can cause, far above it. */
#define VV_PROTO_MAX_FRAME 65536
#define VV_PROTO_MAX_REPLY (16 * 1024 * 1024)
#define VV_PROTO_MAX_ADDRESSES 256
#define VV_PROTO_MAX_STRING 64

typedef struct vv_request {
    const char *op;               /* "bind", "unbind", "status", "usage" */
    apr_array_header_t *addresses; /* const char *, as the client sent them */
    const char *remote;           /* the client's address, for the audit */
    int server;                   /* which virtual host's policy applies */
    long long vhost;              /* that host's identity (where it is
                                   * defined), -1 when not sent */
    const char *secret;           /* the workers' proof, "" when not sent */
    const char *owner;            /* bind: the client's "owner", "" when
                                   * not sent (the configured default) */
    int persist;                  /* bind: "persist": true */
} vv_request_t;

/* The workers' secret: VV_PROTO_SECRET_LEN lowercase hex digits. */
#define VV_PROTO_SECRET_LEN 64

/* Strict decoding of a request's JSON (NUL-terminated at json[len]);
 * VV_E_BAD_REQUEST names the fault. */
vv_err_t *vv_proto_decode(apr_pool_t *p, const char *json, size_t len,
                          vv_request_t *out);

/* status and usage only read: they take no addresses, and a lost reply
 * means nothing happened. */
int vv_proto_op_reads(const char *op);

/* owner: NULL or "" for none; persist: 0 or 1 (only bind takes them). */
cJSON *vv_proto_request(const char *op, const apr_array_header_t *addresses,
                        const char *remote, int server, long long vhost,
                        const char *secret, const char *owner, int persist);

/* The payload length a frame header announces; VV_E_BAD_REQUEST for a bad
 * magic or a length out of bounds (1 to max). */
vv_err_t *vv_proto_header(apr_pool_t *p, const unsigned char head[8],
                          size_t max, size_t *len);

/* Frame I/O on a socket, bounded by a deadline (apr_time_now() based) and
 * by max bytes (VV_PROTO_MAX_FRAME for requests, VV_PROTO_MAX_REPLY for
 * replies).  Reads return NULL and the frame's JSON text (NUL-terminated). */
vv_err_t *vv_proto_send(apr_pool_t *p, int fd, const cJSON *json,
                        size_t max, int timeout_ms);
vv_err_t *vv_proto_recv(apr_pool_t *p, int fd, size_t max, int timeout_ms,
                        char **json, size_t *len);

#endif
