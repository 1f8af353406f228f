/* The core never calls httpd's logger: it logs through a callback the glue
 * installs (mod_md's indirection), so the core also runs in unit tests. */
#ifndef VV_LOG_H
#define VV_LOG_H

/* Same numbers as APLOG_ERR..APLOG_DEBUG. */
enum { VV_LOG_ERR = 3, VV_LOG_WARNING = 4, VV_LOG_NOTICE = 5,
       VV_LOG_INFO = 6, VV_LOG_DEBUG = 7 };

/* Every message carries a stable tag: VV_TAG(10001) -> "VFIO10001: ". */
#define VV_TAG(n) "VFIO" #n ": "

typedef void vv_log_fn(void *baton, int level, const char *msg);

void vv_log_set(vv_log_fn *fn, void *baton);
void vv_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
