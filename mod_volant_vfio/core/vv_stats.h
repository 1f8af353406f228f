/* What the helper has done since its counters began: binds and unbinds by
 * outcome, how long those that reached the kernel took, the last error.
 * Kept beside the records (<state dir>/stats.json), so a restarted helper
 * or httpd does not reset them; mod_status and GET /metrics show them. */
#ifndef VV_STATS_H
#define VV_STATS_H

#include "vv_err.h"

#include <apr_pools.h>
#include <apr_time.h>
#include <cJSON.h>

enum { VV_OP_BIND, VV_OP_UNBIND, VV_OPS };
enum { VV_OUT_SUCCESS, VV_OUT_REFUSED, VV_OUT_FAILED, VV_OUTCOMES };

/* Upper bounds (seconds) of the duration histogram's buckets; one more
 * bucket, +Inf, follows. */
#define VV_STATS_BUCKETS 13
extern const double vv_stats_bounds[VV_STATS_BUCKETS];

typedef struct vv_stats {
    long count[VV_OPS][VV_OUTCOMES];
    /* Operations that reached the kernel (succeeded or failed): how many
     * took at most vv_stats_bounds[i] seconds and more than the bound
     * before (not cumulative); the last slot is over every bound. */
    long bucket[VV_OPS][VV_STATS_BUCKETS + 1];
    double seconds[VV_OPS];          /* their total time */
    const char *last_error;          /* "bind: ..." or "unbind: ..." */
    apr_time_t last_error_time, since;
} vv_stats_t;

extern const char *const vv_stats_op_names[VV_OPS];       /* "bind", ... */
extern const char *const vv_stats_outcome_names[VV_OUTCOMES];

/* The outcome an operation's result counts as (err NULL: success). */
int vv_stats_outcome(const vv_err_t *err);

/* Counts one operation that took TOOK; best effort (a counter that cannot
 * be written never fails a bind). */
void vv_stats_count(apr_pool_t *p, const char *state_dir, int op,
                    const vv_err_t *err, apr_interval_time_t took);

/* Zeroes when nothing was counted yet. */
void vv_stats_read(apr_pool_t *p, const char *state_dir, vv_stats_t *out);

/* The one JSON shape of the counters: the file, and the helper's status
 * reply the workers read. */
cJSON *vv_stats_to_json(const vv_stats_t *s);
void vv_stats_from_json(apr_pool_t *p, const cJSON *j, vv_stats_t *out);

/* Totals over both operations (mod_status's rows). */
long vv_stats_total(const vv_stats_t *s, int outcome);

#endif
