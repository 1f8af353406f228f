#include "vv_metrics.h"
#include "vv_device.h"
#include "vv_pci.h"
#include "vv_record.h"

#include <apr_strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const vv_metrics_phases[VV_METRICS_PHASES] = {
    VV_PHASE_BINDING, VV_PHASE_BOUND, VV_PHASE_UNBINDING, VV_PHASE_STUCK,
    VV_PHASE_FAILED, VV_PHASE_QUARANTINED, VV_PHASE_UNCLAIMED,
    VV_PHASE_CHANGED
};

const char *vv_metrics_label(apr_pool_t *p, const char *value)
{
    size_t n = 0;
    char *out, *o;

    for (const char *c = value; *c; c++) {
        n += (*c == '\\' || *c == '"' || *c == '\n') ? 2 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            *o++ = '\\';
            *o++ = *c == '\n' ? 'n' : *c;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void family(apr_array_header_t *out, const char *name,
                   const char *type, const char *help)
{
    APR_ARRAY_PUSH(out, const char *) = apr_psprintf(out->pool, "# HELP %s %s\n"
                                                     "# TYPE %s %s\n", name,
                                                     help, name, type);
}

static void sample(apr_array_header_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sample(apr_array_header_t *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    APR_ARRAY_PUSH(out, const char *) = apr_pvsprintf(out->pool, fmt, ap);
    va_end(ap);
}

static void operations(apr_array_header_t *out, const vv_stats_t *s)
{
    family(out, "volant_vfio_operations_total", "counter", "Bind and unbind "
           "requests the privileged helper handled, by outcome (refused: "
           "nothing written; failed: the kernel refused or timed out).");
    for (int op = 0; op < VV_OPS; op++) {
        for (int k = 0; k < VV_OUTCOMES; k++) {
            sample(out, "volant_vfio_operations_total{operation=\"%s\","
                   "outcome=\"%s\"} %ld\n", vv_stats_op_names[op],
                   vv_stats_outcome_names[k], s->count[op][k]);
        }
    }
    family(out, "volant_vfio_operation_duration_seconds", "histogram",
           "Time of the binds and unbinds that reached the kernel.");
    for (int op = 0; op < VV_OPS; op++) {
        const char *name = vv_stats_op_names[op];
        long total = 0;

        for (int i = 0; i <= VV_STATS_BUCKETS; i++) {
            total += s->bucket[op][i];
            if (i < VV_STATS_BUCKETS) {
                char le[32];
                /* libc's %g: APR's drops the leading zero (".005"). */
                snprintf(le, sizeof(le), "%g", vv_stats_bounds[i]);
                sample(out, "volant_vfio_operation_duration_seconds_bucket"
                       "{operation=\"%s\",le=\"%s\"} %ld\n", name, le,
                       total);
            }
        }
        sample(out, "volant_vfio_operation_duration_seconds_bucket"
               "{operation=\"%s\",le=\"+Inf\"} %ld\n", name, total);
        sample(out, "volant_vfio_operation_duration_seconds_sum"
               "{operation=\"%s\"} %.6f\n", name, s->seconds[op]);
        sample(out, "volant_vfio_operation_duration_seconds_count"
               "{operation=\"%s\"} %ld\n", name, total);
    }
    if (s->last_error_time) {
        family(out, "volant_vfio_last_error_time_seconds", "gauge",
               "When the last bind or unbind was refused or failed, in "
               "seconds since the epoch (the text is in mod_status and the "
               "error log).");
        sample(out, "volant_vfio_last_error_time_seconds %.3f\n",
               (double)s->last_error_time / APR_USEC_PER_SEC);
    }
}

static void records(apr_array_header_t *out, const vv_metrics_t *m)
{
    family(out, "volant_vfio_devices_held", "gauge", "Devices this module "
           "moved to the VFIO driver and holds there (records in phase "
           "bound).");
    sample(out, "volant_vfio_devices_held %ld\n", m->records[VV_METRICS_BOUND]);
    family(out, "volant_vfio_records", "gauge", "Durable records of moved "
           "devices, by phase: any but bound that stays is a device that "
           "needs an operator (see README, troubleshooting).");
    for (int i = 0; i < VV_METRICS_PHASES; i++) {
        sample(out, "volant_vfio_records{phase=\"%s\"} %ld\n",
               vv_metrics_phases[i], m->records[i]);
    }
}

static const char *hex4(apr_pool_t *p, unsigned v)
{
    return apr_psprintf(p, "%04x", v);
}

static const char *name_or_empty(apr_pool_t *p, const char *name)
{
    return name ? vv_metrics_label(p, name) : "";
}

static void device_info(apr_array_header_t *out, const vv_devinfo_t *d)
{
    apr_pool_t *p = out->pool;

    sample(out, "volant_vfio_device_info{address=\"%s\",vendor=\"%s\","
           "device=\"%s\",subsystem_vendor=\"%s\",subsystem_device=\"%s\","
           "class=\"%s\",driver=\"%s\",iommu_group=\"%s\",numa_node=\"%s\","
           "is_bridge=\"%s\",vendor_name=\"%s\",device_name=\"%s\"} 1\n",
           d->address, hex4(p, d->vendor), hex4(p, d->device),
           d->has_subsys ? hex4(p, d->subsys_vendor) : "",
           d->has_subsys ? hex4(p, d->subsys_device) : "",
           hex4(p, d->class24 >> 8), vv_metrics_label(p, d->driver),
           d->group < 0 ? "" : apr_itoa(p, d->group),
           vv_metrics_label(p, d->numa_node), d->is_bridge ? "true" : "false",
           name_or_empty(p, vv_pci_vendor_name(p, d->vendor)),
           name_or_empty(p, vv_pci_device_name(p, d->vendor, d->device)));
}

char *vv_metrics_text(apr_pool_t *p, const vv_metrics_t *m)
{
    apr_array_header_t *out = apr_array_make(p, 64, sizeof(const char *));

    family(out, "volant_vfio_helper_up", "gauge", "Whether the privileged "
           "helper answers (bind and unbind need it).");
    sample(out, "volant_vfio_helper_up %d\n", m->helper_up ? 1 : 0);
    if (m->helper_up) {
        family(out, "volant_vfio_helper_start_time_seconds", "gauge",
               "When the privileged helper started, in seconds since the "
               "epoch.");
        sample(out, "volant_vfio_helper_start_time_seconds %.3f\n",
               m->helper_started);
        operations(out, m->stats);
        records(out, m);
    }
    family(out, "volant_vfio_iommu_groups", "gauge", "IOMMU groups the "
           "kernel has (0: the IOMMU is off).");
    sample(out, "volant_vfio_iommu_groups %d\n", m->iommu_groups);
    if (m->devices) {
        family(out, "volant_vfio_device_info", "gauge", "One series per PCI "
               "device: its IDs, pci.ids names, driver and IOMMU group.");
        for (int i = 0; i < m->devices->nelts; i++) {
            device_info(out, APR_ARRAY_IDX(m->devices, i,
                                           const vv_devinfo_t *));
        }
    }
    return apr_array_pstrcat(p, out, 0);
}
