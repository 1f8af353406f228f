/* The counters behind GET /metrics and their rendering: outcomes, the
 * duration buckets, the file written by 1.0.0, label escaping. */
#include "tap.h"
#include "core/vv_device.h"
#include "core/vv_metrics.h"
#include "core/vv_stats.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <unistd.h>

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *t = text; (t = strstr(t, line)); t++) {
        if ((t == text || t[-1] == '\n') && t[n] == '\n') {
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    apr_pool_t *p;
    char tmpl[] = "/tmp/vv-stats-XXXXXX";
    const char *dir;
    vv_stats_t s;
    vv_metrics_t m = { 0 };
    vv_devinfo_t d = { 0 };
    apr_array_header_t *devs;
    char *text;
    FILE *f;

    apr_initialize();
    apr_pool_create(&p, NULL);
    dir = mkdtemp(tmpl);

    is_str(vv_metrics_label(p, "a\\b\"c\nd"), "a\\\\b\\\"c\\nd",
           "label values: backslash, quote and newline escaped");
    is_str(vv_metrics_label(p, "GA102 [GeForce RTX 3090]"),
           "GA102 [GeForce RTX 3090]", "anything else as it is");

    ok(vv_stats_outcome(NULL) == VV_OUT_SUCCESS, "no error: success");
    ok(vv_stats_outcome(vv_err(p, VV_E_IN_USE, "x")) == VV_OUT_REFUSED,
       "in use: refused (nothing written)");
    ok(vv_stats_outcome(vv_err(p, VV_E_TIMEOUT, "x")) == VV_OUT_FAILED,
       "a timeout: failed");

    vv_stats_count(p, dir, VV_OP_BIND, NULL, 3000);           /* 3 ms */
    vv_stats_count(p, dir, VV_OP_BIND, NULL, 700000);         /* 0.7 s */
    vv_stats_count(p, dir, VV_OP_BIND, vv_err(p, VV_E_NOT_ALLOWED, "no"),
                   100);
    vv_stats_count(p, dir, VV_OP_UNBIND, vv_err(p, VV_E_KERNEL, "EIO"),
                   90 * APR_USEC_PER_SEC);                    /* over 60 s */
    vv_stats_read(p, dir, &s);
    ok(s.count[VV_OP_BIND][VV_OUT_SUCCESS] == 2
       && s.count[VV_OP_BIND][VV_OUT_REFUSED] == 1
       && s.count[VV_OP_UNBIND][VV_OUT_FAILED] == 1, "counted by outcome");
    ok(s.bucket[VV_OP_BIND][0] == 1 && s.bucket[VV_OP_BIND][7] == 1,
       "3 ms in the first bucket, 0.7 s in the one up to 1 s");
    ok(s.bucket[VV_OP_UNBIND][VV_STATS_BUCKETS] == 1, "90 s over every bound");
    is_str(s.last_error, "unbind: EIO", "the last error, with its operation");

    m.helper_up = 1;
    m.helper_started = 1700000000.5;
    m.stats = &s;
    m.records[VV_METRICS_BOUND] = 2;
    m.iommu_groups = 7;
    devs = apr_array_make(p, 1, sizeof(vv_devinfo_t *));
    d.address = "0000:01:00.0";
    d.vendor = 0x10de;
    d.device = 0x2204;
    d.class24 = 0x030000;
    d.driver = "vfio-pci";
    d.group = -1;
    d.numa_node = "-1";
    APR_ARRAY_PUSH(devs, vv_devinfo_t *) = &d;
    m.devices = devs;
    text = vv_metrics_text(p, &m);
    ok(has_line(text, "volant_vfio_helper_up 1"), "helper up");
    ok(has_line(text, "volant_vfio_helper_start_time_seconds 1700000000.500"),
       "its start time");
    ok(has_line(text, "volant_vfio_operations_total{operation=\"bind\","
                "outcome=\"success\"} 2"), "a counter by outcome");
    ok(has_line(text, "volant_vfio_operation_duration_seconds_bucket{"
                "operation=\"bind\",le=\"0.005\"} 1")
       && has_line(text, "volant_vfio_operation_duration_seconds_bucket{"
                   "operation=\"bind\",le=\"0.5\"} 1")
       && has_line(text, "volant_vfio_operation_duration_seconds_bucket{"
                   "operation=\"bind\",le=\"1\"} 2"),
       "buckets are cumulative, bounds written 0.005 (not .005)");
    ok(has_line(text, "volant_vfio_operation_duration_seconds_count{"
                "operation=\"bind\"} 2"), "refusals are not timed");
    ok(has_line(text, "volant_vfio_devices_held 2")
       && has_line(text, "volant_vfio_records{phase=\"bound\"} 2")
       && has_line(text, "volant_vfio_records{phase=\"restore-failed\"} 0"),
       "records by phase, every phase listed");
    ok(strstr(text, "volant_vfio_device_info{address=\"0000:01:00.0\","
              "vendor=\"10de\",device=\"2204\",subsystem_vendor=\"\","
              "subsystem_device=\"\",class=\"0300\",driver=\"vfio-pci\","
              "iommu_group=\"\",numa_node=\"-1\",is_bridge=\"false\"") != NULL,
       "a device without subsystem IDs or group: empty labels");

    m.helper_up = 0;
    text = vv_metrics_text(p, &m);
    ok(has_line(text, "volant_vfio_helper_up 0")
       && !strstr(text, "volant_vfio_operations_total")
       && !strstr(text, "volant_vfio_devices_held"),
       "helper down: no counters it could not give");

    /* 1.0.0 wrote totals only. */
    f = fopen(apr_pstrcat(p, dir, "/stats.json", NULL), "w");
    fputs("{\"binds\": 4, \"unbinds\": 3, \"refusals\": 2, \"failures\": 1,"
          " \"since_usec\": 5}", f);
    fclose(f);
    vv_stats_read(p, dir, &s);
    ok(s.count[VV_OP_BIND][VV_OUT_SUCCESS] == 4
       && s.count[VV_OP_UNBIND][VV_OUT_SUCCESS] == 3
       && vv_stats_total(&s, VV_OUT_REFUSED) == 2
       && vv_stats_total(&s, VV_OUT_FAILED) == 1 && s.since == 5,
       "a 1.0.0 stats file keeps its totals");

    unlink(apr_pstrcat(p, dir, "/stats.json", NULL));
    rmdir(dir);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
