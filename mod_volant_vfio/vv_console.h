/* The passthrough console: one page, its style sheet and its script,
 * embedded at build time (build/embed-console), served by the handler
 * volant-vfio-console.  The page is a client of the API like any other. */
#ifndef VV_CONSOLE_H
#define VV_CONSOLE_H

#include <stddef.h>

#define VV_CONSOLE_HANDLER "volant-vfio-console"

typedef struct vv_console_asset {
    const char *name;  /* last path component: index.html, console.js, ... */
    const char *type;  /* media type */
    const char *data;
    size_t len;
    const char *etag;
} vv_console_asset_t;

extern const vv_console_asset_t vv_console_assets[]; /* NULL-name ended */

#ifndef VV_CONSOLE_ASSETS_ONLY
#include "vv_private.h"

/* The handler: DECLINED unless r->handler is ours. */
int vv_console_handler(request_rec *r);
#endif

#endif
