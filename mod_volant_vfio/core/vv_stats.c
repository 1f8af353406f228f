#include "vv_stats.h"

#include <apr_strings.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* A bind of one device on a real host takes tens of milliseconds; a group
 * of a GPU with its functions, or an unbind that waits for a driver's
 * probe, seconds; a write the kernel never answers ends at the operation
 * timeout (10 s by default, at most a few minutes). */
const double vv_stats_bounds[VV_STATS_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};

const char *const vv_stats_op_names[VV_OPS] = { "bind", "unbind" };
const char *const vv_stats_outcome_names[VV_OUTCOMES] = { "success",
                                                          "refused",
                                                          "failed" };

int vv_stats_outcome(const vv_err_t *err)
{
    if (!err) {
        return VV_OUT_SUCCESS;
    }
    /* Refused: nothing was written (policy, in use, a bad request, the
     * host's state).  Failed: the kernel said no or did not answer. */
    return err->kind == VV_E_KERNEL || err->kind == VV_E_TIMEOUT
        || err->kind == VV_E_INTERNAL ? VV_OUT_FAILED : VV_OUT_REFUSED;
}

long vv_stats_total(const vv_stats_t *s, int outcome)
{
    return s->count[VV_OP_BIND][outcome] + s->count[VV_OP_UNBIND][outcome];
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(f) && f->valuedouble >= 0 ? f->valuedouble : 0;
}

cJSON *vv_stats_to_json(const vv_stats_t *s)
{
    cJSON *j = cJSON_CreateObject();

    for (int op = 0; op < VV_OPS; op++) {
        cJSON *o = cJSON_AddObjectToObject(j, vv_stats_op_names[op]);
        cJSON *b = cJSON_AddArrayToObject(o, "buckets");

        for (int k = 0; k < VV_OUTCOMES; k++) {
            cJSON_AddNumberToObject(o, vv_stats_outcome_names[k],
                                    (double)s->count[op][k]);
        }
        for (int i = 0; i <= VV_STATS_BUCKETS; i++) {
            cJSON_AddItemToArray(b, cJSON_CreateNumber((double)
                                                       s->bucket[op][i]));
        }
        cJSON_AddNumberToObject(o, "seconds", s->seconds[op]);
    }
    if (s->last_error) {
        cJSON_AddStringToObject(j, "last_error", s->last_error);
    }
    cJSON_AddNumberToObject(j, "last_error_time_usec",
                            (double)s->last_error_time);
    cJSON_AddNumberToObject(j, "since_usec", (double)s->since);
    return j;
}

void vv_stats_from_json(apr_pool_t *p, const cJSON *j, vv_stats_t *s)
{
    const cJSON *f;

    memset(s, 0, sizeof(*s));
    for (int op = 0; op < VV_OPS; op++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(j,
                                                          vv_stats_op_names[op]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "buckets");

        for (int k = 0; k < VV_OUTCOMES; k++) {
            s->count[op][k] = (long)num(o, vv_stats_outcome_names[k]);
        }
        if (cJSON_GetArraySize(b) == VV_STATS_BUCKETS + 1) {
            for (int i = 0; i <= VV_STATS_BUCKETS; i++) {
                const cJSON *n = cJSON_GetArrayItem(b, i);
                s->bucket[op][i] = cJSON_IsNumber(n) && n->valuedouble > 0
                    ? (long)n->valuedouble : 0;
            }
        }
        s->seconds[op] = num(o, "seconds");
    }
    if (!cJSON_GetObjectItemCaseSensitive(j, "bind")) {
        /* Written by 1.0.0: totals only, refusals and failures not split
         * by operation (counted as binds, which most of them were). */
        s->count[VV_OP_BIND][VV_OUT_SUCCESS] = (long)num(j, "binds");
        s->count[VV_OP_UNBIND][VV_OUT_SUCCESS] = (long)num(j, "unbinds");
        s->count[VV_OP_BIND][VV_OUT_REFUSED] = (long)num(j, "refusals");
        s->count[VV_OP_BIND][VV_OUT_FAILED] = (long)num(j, "failures");
    }
    s->last_error_time = (apr_time_t)num(j, "last_error_time_usec");
    s->since = (apr_time_t)num(j, "since_usec");
    f = cJSON_GetObjectItemCaseSensitive(j, "last_error");
    s->last_error = cJSON_IsString(f) ? apr_pstrdup(p, f->valuestring) : NULL;
}

static void parse_text(apr_pool_t *p, const char *text, vv_stats_t *s)
{
    cJSON *j = cJSON_Parse(text);

    vv_stats_from_json(p, j, s);
    cJSON_Delete(j);
}

static int open_stats(const char *state_dir, int flags)
{
    int dir = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dir < 0 ? -1 : openat(dir, "stats.json", flags | O_CLOEXEC
                                   | O_NOFOLLOW, 0600);
    if (dir >= 0) {
        close(dir);
    }
    return fd;
}

static void add_duration(vv_stats_t *s, int op, apr_interval_time_t took)
{
    double sec = took > 0 ? (double)took / APR_USEC_PER_SEC : 0;
    int i = 0;

    while (i < VV_STATS_BUCKETS && sec > vv_stats_bounds[i]) {
        i++;
    }
    s->bucket[op][i]++;
    s->seconds[op] += sec;
}

void vv_stats_count(apr_pool_t *p, const char *state_dir, int op,
                    const vv_err_t *err, apr_interval_time_t took)
{
    int fd = open_stats(state_dir, O_RDWR | O_CREAT);
    int outcome = vv_stats_outcome(err);
    char buf[8192], *text;
    cJSON *j;
    vv_stats_t s;
    ssize_t n;

    /* Handlers run in parallel (refusals need no host lock): serialise. */
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    parse_text(p, buf, &s);
    if (!s.since) {
        s.since = apr_time_now();
    }
    s.count[op][outcome]++;
    if (outcome != VV_OUT_REFUSED) {
        add_duration(&s, op, took);
    }
    if (err) {
        /* Bounded, so the file always fits the buffer it is read into. */
        s.last_error = apr_pstrcat(p, vv_stats_op_names[op], ": ",
                                   apr_pstrndup(p, err->msg, 1024), NULL);
        s.last_error_time = apr_time_now();
    }
    j = vv_stats_to_json(&s);
    if ((text = cJSON_Print(j))) {
        if (ftruncate(fd, 0) == 0
            && pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text)) {
            /* counters are best effort */
        }
        cJSON_free(text);
    }
    cJSON_Delete(j);
    close(fd);
}

void vv_stats_read(apr_pool_t *p, const char *state_dir, vv_stats_t *out)
{
    char buf[8192];
    int fd = open_stats(state_dir, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

    if (fd >= 0) {
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    parse_text(p, buf, out);
}
