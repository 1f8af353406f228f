/* GET /metrics: the Prometheus text exposition format (version 0.0.4) of
 * what the helper counted and what the host shows now. */
#ifndef VV_METRICS_H
#define VV_METRICS_H

#include "vv_stats.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define VV_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The record phases, in the order the metrics list them. */
#define VV_METRICS_PHASES 8
#define VV_METRICS_BOUND 1 /* the index of VV_PHASE_BOUND */
extern const char *const vv_metrics_phases[VV_METRICS_PHASES];

typedef struct vv_metrics {
    int helper_up;
    /* Known only while the helper answers: */
    double helper_started;             /* seconds since the epoch */
    const vv_stats_t *stats;
    long records[VV_METRICS_PHASES];   /* records by phase */
    /* From the host (sysfs, libpci): */
    int iommu_groups;
    const apr_array_header_t *devices; /* vv_devinfo_t *; NULL: unknown */
} vv_metrics_t;

char *vv_metrics_text(apr_pool_t *p, const vv_metrics_t *m);

/* A label value as the format wants it: \, " and newline escaped. */
const char *vv_metrics_label(apr_pool_t *p, const char *value);

#endif
