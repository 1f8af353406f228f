#include "vv_log.h"

#include <stdarg.h>
#include <stdio.h>

static vv_log_fn *log_fn;
static void *log_baton;

void vv_log_set(vv_log_fn *fn, void *baton)
{
    log_fn = fn;
    log_baton = baton;
}

void vv_log(int level, const char *fmt, ...)
{
    /* httpd's own bound on one error-log line (MAX_STRING_LEN). */
    char buf[8192];
    va_list ap;

    if (!log_fn) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(log_baton, level, buf);
}
