/* The sysfs layer: path normalisation and confinement of device paths. */
#include "tap.h"
#include "core/vv_sysfs.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void mk(apr_pool_t *p, const char *root, const char *rel)
{
    char *cmd = apr_psprintf(p, "mkdir -p '%s/%s'", root, rel);
    ok(system(cmd) == 0, "mkdir %s", rel);
}

static void put(apr_pool_t *p, const char *root, const char *rel,
                const char *text)
{
    FILE *f = fopen(apr_pstrcat(p, root, "/", rel, NULL), "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    apr_pool_t *p;
    char tmpl[] = "/tmp/vv-unit-XXXXXX";
    const char *root, *sys;
    vv_host_t *h;
    vv_sysdev_t *d;
    vv_addr_t a;
    char buf[64];
    unsigned v;

    apr_initialize();
    apr_pool_create(&p, NULL);

    is_str(vv_path_normalize(p, "/a/b/../c/./d//e"), "/a/c/d/e",
           "dots and double slashes resolve");
    is_str(vv_path_normalize(p, "/a/.."), "/", "back to the root");
    ok(vv_path_normalize(p, "/a/../..") == NULL, "climbing above / fails");
    ok(vv_path_normalize(p, "rel/path") == NULL, "relative paths fail");

    root = mkdtemp(tmpl);
    sys = apr_pstrcat(p, root, "/sys", NULL);
    mk(p, root, "sys/devices/pci0000:00/0000:00:01.0");
    mk(p, root, "sys/bus/pci/devices");
    mk(p, root, "sys/kernel/iommu_groups/3/devices");
    mk(p, root, "dev");
    mk(p, root, "proc");
    mk(p, root, "outside/0000:00:02.0");
    put(p, root, "sys/devices/pci0000:00/0000:00:01.0/vendor", "0x10de\n");
    ok(symlink("../../../devices/pci0000:00/0000:00:01.0",
               apr_pstrcat(p, sys, "/bus/pci/devices/0000:00:01.0", NULL))
       == 0, "link for a good device");
    ok(symlink("../../../../outside/0000:00:02.0",
               apr_pstrcat(p, sys, "/bus/pci/devices/0000:00:02.0", NULL))
       == 0, "link leading outside the devices tree");
    ok(symlink("../../../devices/pci0000:00/0000:00:01.0",
               apr_pstrcat(p, sys, "/bus/pci/devices/0000:00:03.0", NULL))
       == 0, "link whose target is another address");
    ok(symlink("../../../../../devices/0000:00:01.0",
               apr_pstrcat(p, sys, "/kernel/iommu_groups/3/devices/"
                           "0000:00:01.0", NULL)) == 0, "group member");
    ok(symlink("x", apr_pstrcat(p, sys, "/kernel/iommu_groups/3/devices/"
                                "not-an-address", NULL)) == 0,
       "junk group member");

    ok(vv_host_make(p, sys, apr_pstrcat(p, root, "/dev", NULL),
                    apr_pstrcat(p, root, "/proc", NULL), &h) == NULL,
       "host roots accepted");
    ok(vv_host_make(p, "relative", "/dev", "/proc", &h) != NULL,
       "relative sysfs root refused");
    vv_host_make(p, sys, apr_pstrcat(p, root, "/dev", NULL),
                 apr_pstrcat(p, root, "/proc", NULL), &h);

    vv_addr_parse("0000:00:01.0", &a);
    ok(vv_sysdev_open(p, h, &a, &d) == NULL, "device inside opens");
    ok(vv_sysdev_read_hex(d, "vendor", &v) == 0 && v == 0x10de,
       "reads a hex attribute");
    ok(vv_sysdev_read(d, "vendor", buf, sizeof(buf)) == 6
       && strcmp(buf, "0x10de") == 0, "newline stripped");
    ok(vv_sysdev_read(d, "missing", buf, sizeof(buf)) < 0,
       "missing attribute is an error");
    ok(vv_sysdev_link_name(d, "driver", buf, sizeof(buf)) == 0 && !buf[0],
       "absent link reads as empty");

    vv_addr_parse("0000:00:02.0", &a);
    ok(vv_sysdev_open(p, h, &a, &d) != NULL
       && vv_sysdev_open(p, h, &a, &d)->kind == VV_E_NOT_FOUND,
       "a link leading outside <sysfs>/devices is not followed");
    vv_addr_parse("0000:00:03.0", &a);
    ok(vv_sysdev_open(p, h, &a, &d) != NULL,
       "a link landing on another address is not followed");
    vv_addr_parse("0000:00:04.0", &a);
    ok(vv_sysdev_open(p, h, &a, &d) != NULL
       && vv_sysdev_open(p, h, &a, &d)->kind == VV_E_NOT_FOUND,
       "an absent device is not found");

    {
        apr_array_header_t *m;
        ok(vv_host_group_members(p, h, 3, &m) == NULL && m->nelts == 1
           && strcmp(APR_ARRAY_IDX(m, 0, const char *), "0000:00:01.0") == 0,
           "group members are addresses only");
        ok(vv_host_group_count(h) == 1, "one group");
        ok(vv_host_has_groups(h), "so the host has groups");
        /* Many groups: the answer does not need them all. */
        ok(system(apr_psprintf(p, "cd '%s/sys/kernel/iommu_groups' && "
                               "for i in $(seq 100 3099); do mkdir $i; done",
                               root)) == 0, "3000 more groups");
        ok(vv_host_group_count(h) == 3001 && vv_host_has_groups(h),
           "3001 groups counted, and some found");
        /* A dot file, not a directory: every subdirectory of
         * iommu_groups is a group (the kernel makes nothing else there),
         * and its link count says so without a listing. */
        ok(system(apr_psprintf(p, "rm -rf '%s/sys/kernel/iommu_groups'/* && "
                               "touch '%s/sys/kernel/iommu_groups/.x'",
                               root, root)) == 0, "only a dot entry left");
        ok(!vv_host_has_groups(h) && vv_host_group_count(h) == 0,
           "no group: none found, none counted");
        ok(system(apr_psprintf(p, "rm -rf '%s/sys/kernel/iommu_groups'",
                               root)) == 0
           && !vv_host_has_groups(h), "no iommu_groups directory: none");
    }

    ok(system(apr_psprintf(p, "rm -rf '%s'", root)) == 0, "cleaned up");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
