/* Readiness from the kernel command line and /proc/interrupts: the forms
 * operators write (vfio_pci.ids as well as vfio-pci.ids), the last
 * occurrence of a parameter winning as it does in the kernel, remapping
 * told by the interrupt chips' names. */
#include "tap.h"
#include "core/vv_ready.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *root;

static void put(apr_pool_t *p, const char *rel, const char *text)
{
    FILE *f = fopen(apr_pstrcat(p, root, "/", rel, NULL), "w");
    fputs(text, f);
    fclose(f);
}

static vv_ready_t *ready(apr_pool_t *p, const char *cmdline,
                         const char *interrupts)
{
    vv_host_t *h = NULL;
    vv_err_t *e;

    put(p, "proc/cmdline", cmdline);
    if (interrupts) {
        put(p, "proc/interrupts", interrupts);
    }
    else {
        unlink(apr_pstrcat(p, root, "/proc/interrupts", NULL));
    }
    e = vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL),
                     apr_pstrcat(p, root, "/dev", NULL),
                     apr_pstrcat(p, root, "/proc", NULL), &h);
    return e ? NULL : vv_ready_host(p, h);
}

int main(void)
{
    apr_pool_t *p;
    char tmpl[] = "/tmp/vv-ready-XXXXXX";
    vv_ready_t *r;

    apr_initialize();
    apr_pool_create(&p, NULL);
    root = mkdtemp(tmpl);
    mkdir(apr_pstrcat(p, root, "/sys", NULL), 0755);
    mkdir(apr_pstrcat(p, root, "/dev", NULL), 0755);
    mkdir(apr_pstrcat(p, root, "/proc", NULL), 0755);

    r = ready(p, "BOOT_IMAGE=/vmlinuz ro quiet intel_iommu=on iommu=pt "
              "vfio_pci.ids=10de:2204,10de:1aef pcie_acs_override=downstream\n",
              "           CPU0       CPU1\n"
              "  24:          0          0  IR-PCI-MSI 512000-edge      nvme0q0\n");
    ok(r != NULL, "read");
    ok(r->passthrough, "iommu=pt");
    ok(r->vfio_ids->nelts == 2
       && !strcmp(APR_ARRAY_IDX(r->vfio_ids, 1, const char *), "10de:1aef"),
       "vfio_pci.ids with an underscore is vfio-pci.ids");
    is_str(r->acs_override, "downstream", "the ACS override's value");
    ok(!r->iommu_off && !r->intremap_off, "nothing turned off");
    ok(r->ir_enabled == VV_YES, "an IR- chip: remapping on");
    ok(!r->firmware && !r->kvm, "no DMAR, no /dev/kvm in an empty tree");

    r = ready(p, "ro intel_iommu=off intel_iommu=on intremap=off\n",
              "  0:  1  IO-APIC   2-edge      timer\n"
              " 25:  0  PCI-MSIX-0000:00:04.0   0-edge  nvme0q0\n");
    ok(!r->iommu_off, "intel_iommu=off then =on: on (the last counts)");
    is_str(r->intremap_off, "intremap=off", "intremap=off named");
    ok(r->ir_enabled == VV_NO, "only IO-APIC and PCI-MSI chips: remapping off");
    ok(!r->passthrough && r->vfio_ids->nelts == 0 && !r->acs_override,
       "no iommu=pt, no ids, no override");

    r = ready(p, "ro amd_iommu=off\n", "           CPU0\n");
    is_str(r->iommu_off, "amd_iommu=off", "amd_iommu=off named");
    ok(r->ir_enabled == VV_UNKNOWN, "no interrupt chip listed: unknown");

    {
        /* A long command line: the parameter at its end still counts. */
        char *line = apr_pstrcat(p, "ro", NULL);
        for (int i = 0; i < 100; i++) {
            line = apr_pstrcat(p, line, " console=ttyS0,115200n8", NULL);
        }
        r = ready(p, apr_pstrcat(p, line, " iommu=pt\n", NULL), NULL);
        ok(strlen(line) > 2000 && r->passthrough,
           "iommu=pt after 2 KB of other parameters");
    }
    r = ready(p, "ro pcie_acs_override\n", NULL);
    is_str(r->acs_override, "on", "a bare pcie_acs_override");
    ok(r->ir_enabled == VV_UNKNOWN, "no /proc/interrupts: unknown");
    ok(r->unsafe_interrupts == VV_UNKNOWN, "vfio_iommu_type1 not loaded: unknown");

    unlink(apr_pstrcat(p, root, "/proc/cmdline", NULL));
    rmdir(apr_pstrcat(p, root, "/proc", NULL));
    rmdir(apr_pstrcat(p, root, "/sys", NULL));
    rmdir(apr_pstrcat(p, root, "/dev", NULL));
    rmdir(root);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
