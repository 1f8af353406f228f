/* The helper's request decoder: the root trust boundary refuses anything
 * but a well-formed request with bounded fields. */
#include "tap.h"
#include "core/vv_proto.h"

#include <apr_general.h>
#include <apr_strings.h>

static vv_err_t *decode(apr_pool_t *p, const char *json, vv_request_t *req)
{
    return vv_proto_decode(p, json, strlen(json), req);
}

static void refused(apr_pool_t *p, const char *json, const char *why)
{
    vv_request_t req;

    ok(decode(p, json, &req) != NULL, "refuses %s", why);
}

int main(void)
{
    apr_pool_t *p;
    vv_request_t req;
    char *many;

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(decode(p, "{\"op\":\"bind\",\"addresses\":[\"0000:01:00.0\"],"
              "\"remote\":\"10.0.0.1\",\"server\":2}", &req) == NULL
       && !strcmp(req.op, "bind") && req.addresses->nelts == 1
       && !strcmp(req.remote, "10.0.0.1") && req.server == 2,
       "a bind request decodes");
    ok(decode(p, "{\"op\":\"status\"}", &req) == NULL
       && !strcmp(req.op, "status"), "a status request needs no addresses");
    ok(decode(p, "{\"op\":\"usage\"}", &req) == NULL
       && !strcmp(req.op, "usage"), "a usage request needs no addresses");
    refused(p, "{\"op\":\"usage\",\"addresses\":[\"0000:01:00.0\"]}",
            "a usage request naming addresses");
    refused(p, "{\"op\":\"status\",\"addresses\":[\"0000:01:00.0\"]}",
            "a status request naming addresses");
    ok(decode(p, "{\"op\":\"status\"}", &req) == NULL, "status again");
    ok(req.vhost == -1, "no virtual host identity sent: -1");
    ok(!strcmp(req.secret, ""), "no secret sent: empty");
    ok(decode(p, "{\"op\":\"status\",\"secret\":\"0123456789abcdef"
              "0123456789abcdef0123456789abcdef0123456789abcdef\"}", &req)
       == NULL && strlen(req.secret) == 64, "a 64-digit secret decodes");
    refused(p, "{\"op\":\"status\",\"secret\":\"0123\"}",
            "a short secret");
    refused(p, "{\"op\":\"status\",\"secret\":\"0123456789ABCDEF"
            "0123456789abcdef0123456789abcdef0123456789abcdef\"}",
            "a secret in upper case");
    refused(p, "{\"op\":\"status\",\"secret\":7}", "a secret that is a number");
    ok(decode(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],"
              "\"vhost\":4000000000}", &req) == NULL
       && req.vhost == 4000000000LL, "a virtual host's identity decodes");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"vhost\":-1}",
            "a negative identity");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"vhost\":2.5}",
            "a fractional identity");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],"
            "\"vhost\":5000000000}", "an identity out of range");

    refused(p, "", "an empty frame");
    refused(p, "[]", "a non-object");
    refused(p, "{\"op\":\"reboot\",\"addresses\":[\"x\"]}", "an unknown op");
    refused(p, "{\"op\":\"bind\"}", "bind without addresses");
    refused(p, "{\"op\":\"bind\",\"addresses\":[]}", "an empty list");
    refused(p, "{\"op\":\"bind\",\"addresses\":\"0000:01:00.0\"}",
            "addresses as a string");
    refused(p, "{\"op\":\"bind\",\"addresses\":[1]}", "a number address");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"a\\nb\"]}",
            "a control character");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"extra\":1}",
            "an unknown field");
    refused(p, "{\"op\":\"bind\",\"op\":\"unbind\",\"addresses\":[\"x\"]}",
            "a duplicate field");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"server\":-1}",
            "a negative server");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"server\":1.5}",
            "a fractional server");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],\"server\":70000}",
            "a server out of range");
    refused(p, "{\"op\":\"bind\",\"addresses\":[\"x\"]} trailing",
            "trailing bytes");
    refused(p, apr_psprintf(p, "{\"op\":\"bind\",\"addresses\":[\"%s\"]}",
                            apr_pstrcat(p, "0000:01:00.0",
                                        "01234567890123456789012345678901234"
                                        "5678901234567890123456789", NULL)),
            "an over-long address");
    refused(p, apr_psprintf(p, "{\"op\":\"bind\",\"addresses\":[\"x\"],"
                            "\"remote\":\"%0100d\"}", 0),
            "an over-long remote");
    many = apr_pstrdup(p, "{\"op\":\"bind\",\"addresses\":[\"x\"");
    for (int i = 0; i < 300; i++) {
        many = apr_pstrcat(p, many, ",\"x\"", NULL);
    }
    refused(p, apr_pstrcat(p, many, "]}", NULL), "more than 256 addresses");
    ok(vv_proto_decode(p, "{\"op\":\"status\"}\0x", 17, &req) != NULL,
       "refuses an embedded NUL");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
