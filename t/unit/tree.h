/* A small host tree for the in-use guard's tests: files and links below
 * root (a directory in /tmp), written from the test's own pool. */
#ifndef VV_TEST_TREE_H
#define VV_TEST_TREE_H

#include "tap.h"

#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>

static apr_pool_t *p;
static const char *root;

/* make test-asan's factor for time bounds. */
static inline double slowdown(void)
{
    const char *v = getenv("VV_TEST_SLOWDOWN");
    return v && atof(v) > 1 ? atof(v) : 1;
}

static inline void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        printf("# command failed: %s\n", cmd);
        tap_failed++;
    }
}

static inline void put(const char *rel, const char *text)
{
    const char *path = apr_pstrcat(p, root, "/", rel, NULL);
    FILE *f;

    sh(apr_psprintf(p, "mkdir -p \"$(dirname '%s')\"", path));
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static inline void link_to(const char *rel, const char *target)
{
    const char *path = apr_pstrcat(p, root, "/", rel, NULL);

    sh(apr_psprintf(p, "mkdir -p \"$(dirname '%s')\" && ln -sfn '%s' '%s'",
                    path, target, path));
}

#endif
