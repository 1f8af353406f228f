/* What every probe of the in-use guard uses: the note that a check could
 * not be made, the sysfs class entries that belong to the device, and the
 * device nodes the process scan looks for. */
#include "vv_inuse_probe.h"

#include <apr_strings.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

const char *vv_guard_cannot(vv_inuse_t *g, const char *why)
{
    if (!g->cannot) {
        g->cannot = why;
        g->cannot_addr = g->d->address;
    }
    return NULL;
}

/* Every entry of a class directory with the directory it resolves to,
 * read once per guard: a bind of 256 devices reads /sys/class/block once,
 * not 256 times.  Returns name, dir pairs. */
static const apr_array_header_t *class_dir(vv_inuse_t *g, const char *cls)
{
    apr_pool_t *p = g->p;
    apr_array_header_t *all = apr_hash_get(g->classes, cls,
                                           APR_HASH_KEY_STRING);
    const char *dir = apr_pstrcat(p, g->h->sysfs, "/class/", cls, NULL);
    apr_array_header_t *names;

    if (all) {
        return all;
    }
    all = apr_array_make(p, 8, sizeof(const char *));
    names = vv_dir_names(p, dir);
    for (int i = 0; names && i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *target = vv_link_target(p, apr_pstrcat(p, dir, "/", name,
                                                           NULL));
        const char *real = !target ? NULL
            : vv_path_normalize(p, target[0] == '/' ? target
                                : apr_pstrcat(p, dir, "/", target, NULL));
        if (real) {
            APR_ARRAY_PUSH(all, const char *) = name;
            APR_ARRAY_PUSH(all, const char *) = real;
        }
    }
    apr_hash_set(g->classes, cls, APR_HASH_KEY_STRING, all);
    return all;
}

apr_array_header_t *vv_guard_class_members(vv_inuse_t *g, const char *cls)
{
    const apr_array_header_t *all = class_dir(g, cls);
    const char *prefix = apr_pstrcat(g->p, g->d->path, "/", NULL);
    size_t n = strlen(prefix);
    apr_array_header_t *found = apr_array_make(g->p, 2, sizeof(const char *));

    for (int i = 0; i + 1 < all->nelts; i += 2) {
        if (strncmp(APR_ARRAY_IDX(all, i + 1, const char *), prefix, n) == 0) {
            APR_ARRAY_PUSH(found, const char *) = APR_ARRAY_IDX(all, i,
                                                                const char *);
            APR_ARRAY_PUSH(found, const char *) = APR_ARRAY_IDX(all, i + 1,
                                                                const char *);
        }
    }
    return found;
}

/* The node's name below /dev, from the kernel's uevent (DEVNAME=dri/card0);
 * the sysfs name when the kernel does not say. */
static const char *devname(apr_pool_t *p, const char *dir, const char *name)
{
    const char *u = vv_file_read(p, apr_pstrcat(p, dir, "/uevent", NULL));
    const char *v = u ? strstr(u, "DEVNAME=") : NULL;
    size_t n;

    if (!v || (v != u && v[-1] != '\n')) {
        return name;
    }
    v += 8;
    n = strcspn(v, "\n");
    v = apr_pstrmemdup(p, v, n);
    return n && v[0] != '/' && !strstr(v, "..") ? v : name;
}

vv_node_t *vv_guard_node(vv_inuse_t *g, const char *name, const char *dir,
                         int block)
{
    vv_node_t *n = apr_array_push(g->scan.nodes);
    const char *num = dir ? vv_file_read(g->p, apr_pstrcat(g->p, dir, "/dev",
                                                            NULL))
                          : NULL;
    const char *rel = dir ? devname(g->p, dir, name) : name;
    unsigned maj, min;

    memset(n, 0, sizeof(*n));
    n->address = g->d->address;
    n->group = -1;
    n->path = apr_pstrcat(g->p, "/dev/", rel, NULL);
    n->alias = apr_pstrcat(g->p, g->h->dev, "/", rel, NULL);
    n->label = block ? apr_pstrcat(g->p, "block device ", name, NULL)
                     : n->path;
    n->block = block;
    if (num && sscanf(num, "%u:%u", &maj, &min) == 2) {
        n->rdev = (unsigned long)makedev(maj, min);
    }
    n->has_id = vv_file_id_at(AT_FDCWD, n->alias, &n->id) == 0;
    return n;
}
