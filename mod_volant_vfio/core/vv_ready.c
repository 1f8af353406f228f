#include "vv_ready.h"

#include <apr_strings.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/* --- the kernel command line --------------------------------------------- */

/* Module parameters may be written with - or _ (vfio-pci.ids, vfio_pci.ids). */
static int param_is(const char *tok, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < n; i++) {
        char a = tok[i] == '-' ? '_' : tok[i];
        char b = name[i] == '-' ? '_' : name[i];
        if (a != b) {
            return 0;
        }
    }
    return tok[n] == '=' || tok[n] == '\0';
}

static const char *param_value(const char *tok)
{
    const char *eq = strchr(tok, '=');
    return eq ? eq + 1 : "";
}

static int off_value(const char *v)
{
    return !strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "n");
}

static void add_ids(apr_pool_t *p, apr_array_header_t *ids, const char *list)
{
    char *copy = apr_pstrdup(p, list), *last, *tok;

    for (tok = apr_strtok(copy, ",", &last); tok;
         tok = apr_strtok(NULL, ",", &last)) {
        APR_ARRAY_PUSH(ids, const char *) = tok;
    }
}

static void read_cmdline(apr_pool_t *p, const vv_host_t *h, vv_ready_t *r)
{
    char *copy = NULL, *last, *tok;

    /* Up to 2 KiB on x86 (COMMAND_LINE_SIZE), more on others: all of it. */
    if (vv_file_slurp(p, AT_FDCWD, apr_pstrcat(p, h->proc, "/cmdline", NULL),
                      &copy) < 0) {
        copy = NULL;
    }
    for (tok = copy ? apr_strtok(copy, " \t\n", &last) : NULL; tok;
         tok = apr_strtok(NULL, " \t\n", &last)) {
        const char *v = param_value(tok);

        if (param_is(tok, "pcie_acs_override")) {
            r->acs_override = *v ? v : "on";
        }
        else if (param_is(tok, "iommu")) {
            r->passthrough |= !strcmp(v, "pt");
            if (off_value(v)) {
                r->iommu_off = tok;
            }
        }
        /* The kernel parses them in order: the last one counts. */
        else if (param_is(tok, "intel_iommu") || param_is(tok, "amd_iommu")) {
            r->iommu_off = off_value(v) ? tok : NULL;
        }
        else if (param_is(tok, "intremap")) {
            r->intremap_off = off_value(v) ? tok : NULL;
        }
        else if (param_is(tok, "vfio-pci.ids")) {
            add_ids(p, r->vfio_ids, v);
        }
    }
}

/* --- interrupt remapping ------------------------------------------------- */

/* Intel: ECAP.IR, bit 3 of each unit's extended capability register.  AMD
 * IOMMUs remap interrupts by design: a unit is enough. */
static vv_tri_t ir_supported(apr_pool_t *p, const vv_host_t *h)
{
    const char *dir = apr_pstrcat(p, h->sysfs, "/class/iommu", NULL);
    apr_array_header_t *units = vv_dir_names(p, dir);
    vv_tri_t all = VV_UNKNOWN;

    for (int i = 0; units && i < units->nelts; i++) {
        const char *unit = apr_pstrcat(p, dir, "/",
                                       APR_ARRAY_IDX(units, i, const char *),
                                       NULL);
        const char *ecap = vv_host_read(p, unit, "intel-iommu/ecap");

        if (ecap) {
            unsigned long long v = strtoull(ecap, NULL, 16);
            if (!(v & 0x8)) {
                return VV_NO;
            }
            all = VV_YES;
        }
        else if (vv_host_has(unit, "amd-iommu")) {
            all = VV_YES;
        }
    }
    return all;
}

/* The interrupt chips the kernel lists: IR-PCI-MSI, IR-IO-APIC while
 * remapping is on; PCI-MSI, IO-APIC without it. */
static int scan_chips(const char *line, void *baton)
{
    vv_tri_t *seen = baton;

    if (strstr(line, " IR-")) {
        *seen = VV_YES;
        return 1;
    }
    if (strstr(line, " PCI-MSI") || strstr(line, " IO-APIC")) {
        *seen = VV_NO;
    }
    return 0;
}

static vv_tri_t ir_enabled(apr_pool_t *p, const vv_host_t *h)
{
    vv_tri_t seen = VV_UNKNOWN;

    vv_file_lines(apr_pstrcat(p, h->proc, "/interrupts", NULL), scan_chips,
                  &seen);
    return seen;
}

vv_ready_t *vv_ready_host(apr_pool_t *p, const vv_host_t *h)
{
    vv_ready_t *r = apr_pcalloc(p, sizeof(*r));
    const char *unsafe = vv_host_read(p, h->sysfs, "module/vfio_iommu_type1/"
                                      "parameters/allow_unsafe_interrupts");

    r->vfio_ids = apr_array_make(p, 2, sizeof(const char *));
    r->firmware = vv_host_has(h->sysfs, "firmware/acpi/tables/DMAR") ? "DMAR"
        : vv_host_has(h->sysfs, "firmware/acpi/tables/IVRS") ? "IVRS" : NULL;
    r->iommu_enabled = vv_host_has_groups(h);
    r->ir_supported = r->iommu_enabled ? ir_supported(p, h) : VV_UNKNOWN;
    r->ir_enabled = ir_enabled(p, h);
    r->unsafe_interrupts = !unsafe ? VV_UNKNOWN
        : (*unsafe == 'Y' || *unsafe == '1') ? VV_YES : VV_NO;
    r->kvm = vv_host_has(h->dev, "kvm");
    read_cmdline(p, h, r);
    return r;
}

static void say(apr_array_header_t *list, const char *text)
{
    APR_ARRAY_PUSH(list, const char *) = text;
}

static const char *vendor_flag(const vv_ready_t *r)
{
    return r->firmware && !strcmp(r->firmware, "IVRS") ? "amd_iommu=on"
                                                        : "intel_iommu=on";
}

static void iommu_advice(apr_pool_t *p, const vv_ready_t *r,
                         apr_array_header_t *problems)
{
    if (r->iommu_enabled) {
        return;
    }
    if (r->iommu_off) {
        say(problems, apr_psprintf(p, "IOMMU not enabled on this system: "
            "the kernel command line turns it off (%s); remove that, add %s "
            "iommu=pt, and reboot", r->iommu_off, vendor_flag(r)));
    }
    else if (r->firmware) {
        say(problems, apr_psprintf(p, "IOMMU not enabled on this system: the "
            "firmware has one (ACPI %s table) but the kernel did not enable "
            "it: add %s iommu=pt to the kernel command line "
            "(GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and "
            "reboot", r->firmware, vendor_flag(r)));
    }
    else {
        say(problems, "IOMMU not enabled on this system: the firmware "
            "reports none (no ACPI DMAR or IVRS table): enable VT-d (Intel) "
            "or AMD-Vi/IOMMU (AMD) in the firmware setup; without it the "
            "platform cannot pass devices through");
    }
}

static void interrupt_advice(apr_pool_t *p, const vv_ready_t *r,
                             apr_array_header_t *problems,
                             apr_array_header_t *warnings)
{
    int off = r->ir_enabled == VV_NO || r->ir_supported == VV_NO;

    if (!r->iommu_enabled || !off) {
        return;
    }
    if (r->unsafe_interrupts == VV_YES) {
        say(warnings, "interrupt remapping is off and vfio_iommu_type1 "
            "allow_unsafe_interrupts is on: VMs start, but a device "
            "passed through can send interrupts the host did not give it "
            "(MSI injection); use this only on a host whose VMs you trust");
        return;
    }
    if (r->ir_supported == VV_NO) {
        say(problems, "the IOMMU cannot remap interrupts (its ECAP register "
            "has no IR bit) and vfio_iommu_type1 allow_unsafe_interrupts is "
            "off: attaching any group to a VM fails; as a last resort on a "
            "trusted host, set options vfio_iommu_type1 "
            "allow_unsafe_interrupts=1 in /etc/modprobe.d");
        return;
    }
    say(problems, apr_psprintf(p, "interrupt remapping is off (%s) and "
        "vfio_iommu_type1 allow_unsafe_interrupts is off: attaching any group "
        "to a VM fails; %s, or enable x2APIC and interrupt remapping in the "
        "firmware", r->intremap_off ? apr_pstrcat(p, r->intremap_off,
                                                  " on the kernel command "
                                                  "line", NULL)
                                    : "no IR- interrupt chips in "
                                      "/proc/interrupts",
        r->intremap_off ? apr_pstrcat(p, "remove ", r->intremap_off,
                                      " and reboot", NULL)
                        : "check dmesg | grep -i remapping"));
}

void vv_ready_host_advice(apr_pool_t *p, const vv_ready_t *r,
                          apr_array_header_t *problems,
                          apr_array_header_t *warnings)
{
    iommu_advice(p, r, problems);
    interrupt_advice(p, r, problems, warnings);
    if (r->acs_override) {
        say(warnings, apr_psprintf(p, "pcie_acs_override=%s is on the kernel "
            "command line: IOMMU groups are split as the patch claims, not as "
            "the hardware isolates them, so a VM may reach devices outside "
            "its group; put the device in a slot with a group of its own "
            "instead", r->acs_override));
    }
    if (!r->kvm) {
        say(problems, "/dev/kvm does not exist: the hypervisor cannot run VMs "
            "with hardware virtualization; enable VT-x or AMD-V in the "
            "firmware and load kvm_intel or kvm_amd");
    }
}

/* --- per device ------------------------------------------------------------ */

/* "8.0 GT/s PCIe" -> 8.0; 0 when the kernel does not know. */
static double gts(const char *speed)
{
    return speed ? strtod(speed, NULL) : 0;
}

static int read_int(apr_pool_t *p, const char *dir, const char *attr)
{
    const char *v = vv_host_read(p, dir, attr);
    return v ? atoi(v) : 0;
}

/* What cannot change, from the facts kept since the device was read. */
static void fixed_facts(const vv_devfixed_t *f, vv_devready_t *x)
{
    x->max_speed = f->max_speed;
    x->max_width = f->max_width;
    x->has_rom = f->has_rom;
    x->is_pf = f->is_pf;
    x->total_vfs = f->total_vfs;
}

vv_devready_t *vv_ready_device(apr_pool_t *p, const vv_devinfo_t *d)
{
    vv_devready_t *x = apr_pcalloc(p, sizeof(*x));

    x->reset = apr_array_make(p, 4, sizeof(const char *));
    if (!d->path || !d->fixed) {
        return x;
    }
    fixed_facts(d->fixed, x);
    /* What root may change: the reset methods the kernel tries. */
    if (d->fixed->reset_file) {
        const char *text = vv_host_read(p, d->path, "reset_method");
        char *copy = text ? apr_pstrdup(p, text) : NULL, *last, *tok;
        for (tok = copy ? apr_strtok(copy, " ", &last) : NULL; tok;
             tok = apr_strtok(NULL, " ", &last)) {
            APR_ARRAY_PUSH(x->reset, const char *) = tok;
        }
    }
    /* What can change: the link's state (a GPU slows it when idle), the
     * VFs enabled. */
    if (d->fixed->link_files) {
        x->speed = vv_host_read(p, d->path, "current_link_speed");
        x->width = read_int(p, d->path, "current_link_width");
    }
    if (x->is_pf) {
        x->num_vfs = read_int(p, d->path, "sriov_numvfs");
    }
    /* Devices on a root bus without a link (QEMU's, integrated ones) show
     * "Unknown" and widths of 0 or 255: no link to judge. */
    x->has_link = gts(x->speed) > 0 && gts(x->max_speed) > 0
        && x->width >= 1 && x->width <= 32
        && x->max_width >= 1 && x->max_width <= 32;
    return x;
}

void vv_ready_device_advice(apr_pool_t *p, const vv_devinfo_t *d,
                            const vv_devready_t *x, const vv_ready_t *host,
                            apr_array_header_t *warnings)
{
    const char *a = d->address;

    if (d->is_bridge) {
        return;
    }
    if (d->path && x->reset->nelts == 0) {
        say(warnings, apr_psprintf(p, "device %s has no reset method the "
            "kernel can use (reset_method is absent): a VM that gets it "
            "after another may find it as the last one left it and hang "
            "(the AMD GPU reset bug); prefer a device with FLR, or reboot "
            "the host between VMs", a));
    }
    if (x->has_link && ((x->max_width > 0 && x->width < x->max_width)
                        || gts(x->speed) < gts(x->max_speed))) {
        say(warnings, apr_psprintf(p, "device %s runs its PCIe link at %s x%d, "
            "below its maximum %s x%d: check that the card is seated in a "
            "slot wired for its full width and the firmware's link settings "
            "(a GPU may lower its speed while idle: check under load)", a,
            x->speed, x->width, x->max_speed, x->max_width));
    }
    if (host->iommu_enabled && (host->ir_enabled == VV_NO
                                || host->ir_supported == VV_NO)) {
        say(warnings, apr_psprintf(p, "device %s: the host has no interrupt "
            "remapping%s (see GET /host)", a,
            host->unsafe_interrupts == VV_YES
            ? ": its VM runs with allow_unsafe_interrupts"
            : ": attaching its group to a VM will fail"));
    }
    if (host->acs_override && d->group >= 0) {
        say(warnings, apr_psprintf(p, "device %s: IOMMU group %d is isolated "
            "only as pcie_acs_override=%s claims, not by the hardware", a,
            d->group, host->acs_override));
    }
}
