/* Durable records: every call releases the descriptors it opened, so a
 * bind of 512 devices (several record writes each) does not hold thousands
 * of directory descriptors in the root helper until it ends. */
#include "tap.h"
#include "core/vv_record.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes text as the record file of addr, as a damaged or forged one. */
static void plant(apr_pool_t *p, const char *dir, const char *addr,
                  const char *text)
{
    FILE *f = fopen(apr_pstrcat(p, dir, "/devices/", addr, ".json", NULL),
                    "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A record with every field the module writes, in the shape it writes
 * them, with one field replaced (field NULL: none). */
static const char *record_text(apr_pool_t *p, const char *field,
                               const char *value)
{
    const char *names[] = { "address", "vendor", "device",
                            "subsystem_vendor", "subsystem_device",
                            "original_driver", "phase", "companion_of" };
    const char *values[] = { "\"0000:02:00.0\"", "\"8086\"", "\"1533\"",
                             "\"15d9\"", "\"1533\"", "\"igb\"",
                             "\"bound\"", "\"0000:01:00.0\"" };
    const char *text = "{";

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = field && !strcmp(field, names[i]) ? value : values[i];
        text = apr_pstrcat(p, text, i ? ", " : "", "\"", names[i], "\": ", v,
                           NULL);
    }
    return apr_pstrcat(p, text, ", \"original_driver_override\": null, "
                       "\"persist\": false, \"remote\": \"\", \"owner\": null, "
                       "\"time_usec\": 0, \"pid\": 1}", NULL);
}

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

    /* Every field survives a write and a read, as written. */
    {
        vv_record_t w = { 0 };
        w.address = "0000:3b:00.1";
        w.vendor = 0x10de;
        w.device = 0x1aef;
        w.has_subsys = 1;
        w.subsys_vendor = 0x1458;
        w.subsys_device = 0x403b;
        w.persist = 1;
        w.vhost = 4000000000LL;
        w.driver = "snd_hda_intel";
        w.override = "snd_hda_intel";
        w.phase = VV_PHASE_CHANGED;
        w.companion_of = "0000:3b:00.0";
        w.remote = "10.0.0.7";
        w.reason = "why";
        w.owner = "qemu:kvm";
        w.found = "10de:1aef 1458:0000";
        w.time = 1765000000123456LL;
        w.pid = 4242;
        got = NULL;
        ok(vv_record_put(p, dir, &w) == NULL
           && vv_record_get(p, dir, w.address, &got) == NULL && got,
           "a record with every field written and read back");
        ok(got && !strcmp(got->address, w.address) && got->vendor == w.vendor
           && got->device == w.device && got->has_subsys
           && got->subsys_vendor == w.subsys_vendor
           && got->subsys_device == w.subsys_device && got->persist
           && got->vhost == w.vhost && !strcmp(got->driver, w.driver)
           && got->override && !strcmp(got->override, w.override)
           && !strcmp(got->phase, w.phase) && got->companion_of
           && !strcmp(got->companion_of, w.companion_of)
           && got->remote && !strcmp(got->remote, w.remote) && got->reason
           && !strcmp(got->reason, w.reason) && got->owner
           && !strcmp(got->owner, w.owner) && got->found
           && !strcmp(got->found, w.found) && got->time == w.time
           && got->pid == w.pid, "and each field is the one written");
        vv_record_drop(p, dir, w.address);
    }

    /* Records are data: a field out of shape makes the record damaged,
     * never acted on. */
    plant(p, dir, "0000:02:00.0", record_text(p, NULL, NULL));
    ok(vv_record_get(p, dir, "0000:02:00.0", &got) == NULL && got,
       "a well-formed planted record reads");
    {
        const char *bad[][2] = {
            { "device", "\"zz12\"" }, { "device", "\"15330\"" },
            { "vendor", "\"8086 \"" }, { "subsystem_device", "\"g533\"" },
            { "companion_of", "\"../../x\"" },
            { "companion_of", "\"0000:01:00.8\"" },
            { "original_driver", "\"igb/../x\"" }, { "address", "\"0:1\"" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            vv_err_t *e;
            plant(p, dir, "0000:02:00.0", record_text(p, bad[i][0],
                                                      bad[i][1]));
            e = vv_record_get(p, dir, "0000:02:00.0", &got);
            ok(e && strstr(e->msg, "is damaged") && !got,
               "%s %s: the record is damaged", bad[i][0], bad[i][1]);
        }
    }
    vv_record_drop(p, dir, "0000:02:00.0");

    /* The directory is the helper's alone: not its group's, not another
     * user's (the test runs as root, the helper's user). */
    if (chmod(dir, 0770) == 0) {
        vv_err_t *e = vv_record_init(p, dir);
        ok(e && strstr(e->msg, "mode 0770"), "a state directory its group "
           "can write is refused: %s", e ? e->msg : "accepted");
        chmod(dir, 0700);
    }
    if (chmod(apr_pstrcat(p, dir, "/devices", NULL), 0730) == 0) {
        ok(vv_record_init(p, dir) != NULL, "devices/ its group can write: "
           "refused");
        chmod(apr_pstrcat(p, dir, "/devices", NULL), 0700);
    }
    if (chown(dir, 65534, 65534) == 0) {
        vv_err_t *e = vv_record_init(p, dir);
        ok(e && strstr(e->msg, "owned by uid 65534"), "a state directory "
           "another user owns is refused: %s", e ? e->msg : "accepted");
        ok(vv_record_dir_ok(p, dir) != NULL, "and by the boot-time claim's "
           "check");
        if (chown(dir, 0, 0) != 0) {
            ok(0, "chown back");
        }
    }
    ok(vv_record_init(p, dir) == NULL, "back to 0700 and root's: accepted");
    if (system(apr_psprintf(p, "rm -rf '%s'", tmpl)) != 0) {
        ok(0, "cleanup");
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
