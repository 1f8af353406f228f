/* Durable records: every call releases the descriptors it opened, so a
 * bind of 512 devices (several record writes each) does not hold thousands
 * of directory descriptors in the root helper until it ends. */
#include "tap.h"
#include "core/vv_record.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int open_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 4096; fd++) {
        n += fcntl(fd, F_GETFD) != -1;
    }
    return n;
}

int main(void)
{
    apr_pool_t *p;
    char tmpl[] = "/tmp/vv-record-XXXXXX";
    const char *dir;
    apr_array_header_t *list = NULL;
    vv_record_t r = { 0 }, *got = NULL;
    int before, ok_all = 1;

    apr_initialize();
    apr_pool_create(&p, NULL);
    dir = apr_pstrcat(p, mkdtemp(tmpl), "/state", NULL);
    ok(vv_record_init(p, dir) == NULL, "state directory made");
    r.driver = "igb";
    r.phase = VV_PHASE_BINDING;
    r.vendor = 0x8086;
    r.device = 0x1533;
    before = open_fds();
    for (int i = 0; i < 64; i++) {
        r.address = apr_psprintf(p, "0000:01:%02x.%d", i / 8, i % 8);
        ok_all &= vv_record_put(p, dir, &r) == NULL
            && vv_record_get(p, dir, r.address, &got) == NULL && got
            && vv_record_init(p, dir) == NULL;
    }
    ok(ok_all, "64 records written and read back, in one pool");
    ok(vv_record_list(p, dir, &list) == NULL && list->nelts == 64,
       "and listed");
    for (int i = 0; i < 64; i++) {
        ok_all &= vv_record_drop(p, dir, apr_psprintf(p, "0000:01:%02x.%d",
                                                      i / 8, i % 8)) == NULL;
    }
    ok(ok_all, "and dropped");
    ok(open_fds() == before, "no descriptor left open by any of those calls "
       "(%d before, %d after)", before, open_fds());
    if (system(apr_psprintf(p, "rm -rf '%s'", tmpl)) != 0) {
        ok(0, "cleanup");
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
