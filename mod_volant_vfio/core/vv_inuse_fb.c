/* The framebuffer console draws on the device: unbinding its driver takes
 * the host's console (and on some drivers hangs in fbcon).  fbcon maps
 * every console to the first framebuffer unless fbcon=map: on the kernel's
 * command line says otherwise; then any of the device's may carry one.
 * The device's framebuffers also join the process scan (a process may hold
 * /dev/fbN open). */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <string.h>

/* Whether a vtconsole bound now is fbcon. */
static int fbcon_bound(vv_inuse_t *g)
{
    const char *vt = apr_pstrcat(g->p, g->h->sysfs, "/class/vtconsole", NULL);
    apr_array_header_t *cons = vv_dir_names(g->p, vt);

    for (int i = 0; cons && i < cons->nelts; i++) {
        const char *c = apr_pstrcat(g->p, vt, "/",
                                    APR_ARRAY_IDX(cons, i, const char *), NULL);
        const char *name = vv_file_read(g->p, apr_pstrcat(g->p, c, "/name",
                                                          NULL));
        const char *bind = vv_file_read(g->p, apr_pstrcat(g->p, c, "/bind",
                                                          NULL));
        if (name && strstr(name, "frame buffer") && bind
            && strcmp(bind, "1") == 0) {
            return 1;
        }
    }
    return 0;
}

const char *vv_probe_fbcon(vv_inuse_t *g)
{
    apr_array_header_t *fbs = vv_guard_class_members(g, "graphics");
    const char *cmdline = vv_file_read(g->p, apr_pstrcat(g->p, g->h->proc,
                                                         "/cmdline", NULL));
    int mapped = cmdline && strstr(cmdline, "fbcon=map:") != NULL;
    const char *fb = NULL;

    for (int i = 0; i + 1 < fbs->nelts; i += 2) {
        const char *name = APR_ARRAY_IDX(fbs, i, const char *);
        vv_guard_node(g, name, APR_ARRAY_IDX(fbs, i + 1, const char *), 0);
        if (!fb && (mapped || strcmp(name, "fb0") == 0)) {
            fb = name;
        }
    }
    return fb && fbcon_bound(g)
        ? apr_psprintf(g->p, "the framebuffer console runs on it (%s)", fb)
        : NULL;
}
