/* Builds the sys/, dev/, proc/ and sim/ trees from the model and keeps them
 * in step with it. layout_sync_device() reconciles one device's nodes with
 * its state (present, bound, vfio, hints), so the kernel code only changes
 * the model and asks for a sync; nothing is patched by hand elsewhere. */
#include "layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct layout_dirs L;

struct node *link_to(struct node *dir, const char *name, const struct node *to)
{
	char *rel = node_relpath(dir, to);
	struct node *n = node_link(dir, name, rel);
	free(rel);
	return n;
}

struct node *const_file(struct node *dir, const char *name, mode_t mode, enum nkind kind,
			const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	struct node *n = node_file(dir, name, mode, kind, 0, NULL);
	n->target = xstrdup(buf);
	return n;
}

/* ---- the static skeleton -------------------------------------------- */
static void build_driver(struct driver *D)
{
	static const char *const files[] = {"bind", "unbind", "new_id", "remove_id"};

	D->dir = node_dir(L.drivers, D->name);
	for (int i = 0; i < 4; i++)
		node_file(D->dir, files[i], 0200, K_DRV, DRA_BIND + i, D);
}

/* What the readiness checks read in sysfs: the firmware's ACPI tables
 * (0400 files in a 0755 directory: anyone sees the names, only root reads
 * them), the IOMMU units (class/iommu/NAME -> devices/virtual/iommu/NAME
 * with intel-iommu/{cap,ecap} or amd-iommu/features), vfio_iommu_type1's
 * allow_unsafe_interrupts and the kvm misc device. */
static void build_readiness_sys(void)
{
	static const char *const always[] = {"APIC", "DSDT", "FACP"};
	struct host *h = S.h;
	struct node *tables = node_dirs(L.sys, "firmware/acpi/tables");
	struct node *cls = node_dirs(L.sys, "class/iommu");

	for (size_t i = 0; i < sizeof always / sizeof *always; i++)
		node_file(tables, always[i], 0400, K_ACPI, 0, NULL);
	if (h->firmware != FW_NONE)
		node_file(tables, h->firmware == FW_DMAR ? "DMAR" : "IVRS", 0400, K_ACPI, 0, NULL);
	for (int i = 0; i < h->nunits; i++) {
		const struct iommu_unit *u = &h->units[i];
		struct node *ud = node_dir(node_dirs(L.devices, "virtual/iommu"), u->name);
		if (u->features) {
			const_file(node_dir(ud, "amd-iommu"), "features", 0444, K_CONST, "%s\n",
				   u->features);
		} else {
			struct node *in = node_dir(ud, "intel-iommu");
			const_file(in, "cap", 0444, K_CONST, "%s\n", u->cap);
			const_file(in, "ecap", 0444, K_CONST, "%s\n", u->ecap);
		}
		link_to(ud, "subsystem", cls);
		const_file(ud, "uevent", 0644, K_CONST, "%s", "");
		link_to(cls, u->name, ud);
	}
	node_dir(L.sys, "module");
	/* vfio-pci pulls in vfio_iommu_type1; the parameter is read-only here */
	if (h->vfio_loaded)
		const_file(node_dirs(L.sys, "module/vfio_iommu_type1/parameters"),
			   "allow_unsafe_interrupts", 0444, K_CONST, "%s\n",
			   h->unsafe_interrupts ? "Y" : "N");
	if (h->kvm) {
		struct node *kvm = node_dirs(L.devices, "virtual/misc/kvm");
		const_file(kvm, "dev", 0444, K_CONST, "10:232\n");
		const_file(kvm, "uevent", 0644, K_CONST, "MAJOR=10\nMINOR=232\nDEVNAME=kvm\n");
		link_to(node_dirs(L.sys, "class/misc"), "kvm", kvm);
	}
}

static void build_sys(void)
{
	struct host *h = S.h;

	L.sys = node_dir(node_root(), "sys");
	L.devices = node_dir(L.sys, "devices");
	L.virt_block = node_dirs(L.devices, "virtual/block");
	L.bus_pci = node_dirs(L.sys, "bus/pci");
	L.bus_devices = node_dir(L.bus_pci, "devices");
	L.drivers = node_dir(L.bus_pci, "drivers");
	node_file(L.bus_pci, "drivers_probe", 0200, K_BUS, BA_PROBE, NULL);
	node_file(L.bus_pci, "drivers_autoprobe", 0644, K_BUS, BA_AUTOPROBE, NULL);
	node_file(L.bus_pci, "rescan", 0200, K_BUS, BA_RESCAN, NULL);
	for (int i = 0; i < h->ndrivers; i++)
		build_driver(h->drivers[i]);
	L.groups = node_dirs(L.sys, "kernel/iommu_groups");
	L.class_net = node_dirs(L.sys, "class/net");
	L.class_block = node_dirs(L.sys, "class/block");
	L.class_nvme = node_dirs(L.sys, "class/nvme");
	L.class_nvme_generic = node_dirs(L.sys, "class/nvme-generic");
	L.class_drm = node_dirs(L.sys, "class/drm");
	L.class_graphics = node_dirs(L.sys, "class/graphics");
	L.class_uio = node_dirs(L.sys, "class/uio");
	L.sys_block = node_dir(L.sys, "block");
	build_readiness_sys();
	/* loopback: an interface that is not a PCI device */
	L.virt_net = node_dirs(L.devices, "virtual/net");
	struct node *lo = node_dir(L.virt_net, "lo");
	const_file(lo, "operstate", 0444, K_CONST, "unknown\n");
	const_file(lo, "flags", 0444, K_CONST, "0x9\n");
	const_file(lo, "address", 0444, K_CONST, "00:00:00:00:00:00\n");
	const_file(lo, "ifindex", 0444, K_CONST, "1\n");
	const_file(lo, "iflink", 0444, K_CONST, "1\n");
	const_file(lo, "mtu", 0444, K_CONST, "65536\n");
	link_to(L.class_net, "lo", lo);
}

/* proc/driver/nvidia is there while the module is loaded: for the whole
 * host when any device has an nvidia hint, even with every GPU unbound.
 * gpus/ADDR comes and goes with each GPU's hints. */
static void build_proc_nvidia(void)
{
	int any = 0;

	for (int i = 0; i < S.h->ndevs; i++)
		any |= S.h->devs[i]->nv.present;
	if (!any)
		return;
	struct node *nv = node_dirs(L.proc, "driver/nvidia");
	const_file(nv, "version", 0444, K_CONST,
		   "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 "
		   "19:39:15 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");
	L.nv_gpus = node_dir(nv, "gpus");
}

static void build_dev_proc_sim(void)
{
	struct host *h = S.h;
	struct node *root = node_root();

	L.dev = node_dir(root, "dev");
	if (h->vfio_loaded) {
		L.dev_vfio = node_dir(L.dev, "vfio");
		node_file(L.dev_vfio, "vfio", 0666, K_DEVNODE, 0, NULL);
		if (h->cdev)
			L.dev_vfio_devices = node_dir(L.dev_vfio, "devices");
	}
	L.proc = node_dir(root, "proc");
	struct node *net = node_dir(L.proc, "net");
	node_file(net, "route", 0444, K_PROC, PR_ROUTE, NULL);
	node_file(net, "ipv6_route", 0444, K_PROC, PR_IPV6_ROUTE, NULL);
	node_file(net, "if_inet6", 0444, K_PROC, PR_IF_INET6, NULL);
	struct node *self = node_dir(L.proc, "self");
	node_file(self, "mountinfo", 0444, K_PROC, PR_MOUNTINFO, NULL);
	node_file(self, "mounts", 0444, K_PROC, PR_MOUNTS, NULL);
	node_link(L.proc, "mounts", "self/mounts");
	const_file(node_dirs(L.proc, "sys/kernel"), "osrelease", 0444, K_CONST, "%s\n", h->kernel);
	/* the command line can be longer than const_file's buffer */
	node_file(L.proc, "cmdline", 0444, K_CONST, 0, NULL)->target =
		strcat(strcpy(xcalloc(strlen(h->cmdline) + 2, 1), h->cmdline), "\n");
	node_file(L.proc, "interrupts", 0444, K_PROC, PR_INTERRUPTS, NULL);
	if (h->kvm)	/* misc 10:232; Debian's udev rule gives everyone access */
		node_file(L.dev, "kvm", 0666, K_DEVNODE, 0, NULL);
	build_proc_nvidia();
	hints_build_host();
	if (!S.static_mode) {
		struct node *sim = node_dir(root, "sim");
		node_file(sim, "control", 0200, K_SIM, SA_CONTROL, NULL);
		node_file(sim, "state", 0444, K_SIM, SA_STATE, NULL);
		node_file(sim, "log", 0444, K_SIM, SA_LOG, NULL);
		node_file(sim, "last_error", 0444, K_SIM, SA_LAST_ERROR, NULL);
	}
}

void layout_build(void)
{
	memset(&L, 0, sizeof L);
	build_sys();
	build_dev_proc_sim();
	L.building = 1;
	for (int i = 0; i < S.h->ndevs; i++)
		layout_sync_device(S.h->devs[i]);
	L.building = 0;
	for (int i = 0; i < S.h->ngroups; i++)
		layout_sync_group(S.h->groups[i].id);
}

static struct node *group_dir(int gid)
{
	char name[16];
	snprintf(name, sizeof name, "%d", gid);
	struct node *gd = node_child(L.groups, name);
	if (!gd) {
		gd = node_dir(L.groups, name);
		const_file(gd, "type", 0444, K_CONST, "DMA\n");
		node_dir(gd, "devices");
	}
	return gd;
}

/* ---- a device's own directory ---------------------------------------- */
static struct node *device_parent_dir(struct device *d)
{
	char name[32];
	struct node *p = L.devices;

	if (d->parent) {
		if (!d->parent->dir)
			layout_sync_device(d->parent);
		p = d->parent->dir;
		if (d->parent->dom == d->dom)
			return p;
		/* a VMD controller hosts the root bus of its own domain */
	}
	snprintf(name, sizeof name, "pci%04x:%02x", d->dom, d->bus);
	return node_dir(p, name);
}

/* The lowest bus right below a bridge (-1: nothing below it). */
int bridge_secondary_bus(const struct device *b)
{
	int sec = -1;
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *c = S.h->devs[i];
		if (c->parent == b && c->dom == b->dom && (sec < 0 || (int)c->bus < sec))
			sec = c->bus;
	}
	return sec;
}

/* A bridge shows its secondary bus as pci_bus/DDDD:BB (tools use it to tell
 * bridges apart). */
static void build_pci_bus(struct device *d)
{
	int sec = bridge_secondary_bus(d);
	if (sec >= 0) {
		char name[24];
		snprintf(name, sizeof name, "pci_bus/%04x:%02x", d->dom, sec);
		node_dirs(d->dir, name);
	}
}

static void build_device_dir(struct device *d)
{
	static const struct { const char *name; int attr; mode_t mode; } attrs[] = {
		{"vendor", DA_VENDOR, 0444}, {"device", DA_DEVICE, 0444},
		{"subsystem_vendor", DA_SUBVENDOR, 0444}, {"subsystem_device", DA_SUBDEVICE, 0444},
		{"class", DA_CLASS, 0444}, {"revision", DA_REVISION, 0444}, {"irq", DA_IRQ, 0444},
		{"resource", DA_RESOURCE, 0444}, {"numa_node", DA_NUMA, 0644},
		{"enable", DA_ENABLE, 0644}, {"modalias", DA_MODALIAS, 0444},
		{"uevent", DA_UEVENT, 0644}, {"config", DA_CONFIG, 0644},
		{"driver_override", DA_OVERRIDE, 0644},
	};

	d->dir = node_dir(device_parent_dir(d), d->addr);
	for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
		node_file(d->dir, attrs[i].name, attrs[i].mode, K_DEV, attrs[i].attr, d);
	if (d->boot_vga >= 0)
		node_file(d->dir, "boot_vga", 0444, K_DEV, DA_BOOT_VGA, d);
	/* pci-sysfs.c shows these on bridges only (header type 1 or 2). */
	if (d->header_type == 1 || d->header_type == 2) {
		node_file(d->dir, "secondary_bus_number", 0444, K_DEV, DA_SECONDARY_BUS, d);
		node_file(d->dir, "subordinate_bus_number", 0444, K_DEV, DA_SUBORDINATE_BUS, d);
	}
	/* the kernel hides reset_method from a device without a reset method */
	if (d->nreset_init) {
		node_file(d->dir, "reset_method", 0644, K_DEV, DA_RESET_METHOD, d);
		/* pci_dev_reset_attr_is_visible(): write-only, where reset_fn */
		node_file(d->dir, "reset", 0200, K_DEV, DA_RESET, d);
	}
	if (d->link.present) {	/* pcie_dev_attrs: PCI Express devices only */
		node_file(d->dir, "current_link_speed", 0444, K_DEV, DA_LINK_SPEED, d);
		node_file(d->dir, "current_link_width", 0444, K_DEV, DA_LINK_WIDTH, d);
		node_file(d->dir, "max_link_speed", 0444, K_DEV, DA_MAX_LINK_SPEED, d);
		node_file(d->dir, "max_link_width", 0444, K_DEV, DA_MAX_LINK_WIDTH, d);
	}
	if (d->rom)	/* pci_create_rom_file(): S_IRUSR | S_IWUSR */
		node_file(d->dir, "rom", 0600, K_DEV, DA_ROM, d);
	if (d->totalvfs) {
		node_file(d->dir, "sriov_totalvfs", 0444, K_DEV, DA_TOTALVFS, d);
		node_file(d->dir, "sriov_numvfs", 0644, K_DEV, DA_NUMVFS, d);
		node_file(d->dir, "sriov_drivers_autoprobe", 0644, K_DEV, DA_VF_AUTOPROBE, d);
	}
	link_to(d->dir, "subsystem", L.bus_pci);
	if (S.h->iommu && d->group >= 0)
		link_to(d->dir, "iommu_group", group_dir(d->group));
	if (d->physfn) {
		if (!d->physfn->dir)
			layout_sync_device(d->physfn);
		link_to(d->dir, "physfn", d->physfn->dir);
	}
	if (d->header_type == 1)
		build_pci_bus(d);
	hints_device_files(d);
	link_to(L.bus_devices, d->addr, d->dir);
}

/* ---- what binding creates -------------------------------------------- */
static void remove_cdev(const struct device *d, const char *keep)
{
	for (int i = 0; L.dev_vfio_devices && i < L.dev_vfio_devices->nkids; i++) {
		struct node *n = L.dev_vfio_devices->kids[i];
		if (n->obj == d && (!keep || strcmp(n->name, keep))) {
			node_remove(n);
			i--;
		}
	}
}

static void sync_vfio_dev(struct device *d)
{
	char name[32];

	if (d->vfio_idx < 0) {
		node_remove_child(d->dir, "vfio-dev");
		remove_cdev(d, NULL);
		return;
	}
	snprintf(name, sizeof name, "vfio%d", d->vfio_idx);
	struct node *vd = node_child(d->dir, "vfio-dev");
	if (!vd || !node_child(vd, name)) {
		node_remove_child(d->dir, "vfio-dev");
		vd = node_dir(d->dir, "vfio-dev");
		vd->visible_at = d->bind_visible_at;
		const_file(node_dir(vd, name), "dev", 0444, K_CONST, "235:%d\n", d->vfio_idx);
	}
	remove_cdev(d, name);
	if (L.dev_vfio_devices && !node_child(L.dev_vfio_devices, name)) {
		struct node *n = node_file(L.dev_vfio_devices, name, 0600, K_DEVNODE, 0, d);
		n->visible_at = d->bind_visible_at;
	}
}

static void sync_bind(struct device *d)
{
	int bound = d->drv && !d->unbinding;

	for (int i = 0; i < S.h->ndrivers; i++) {
		struct driver *D = S.h->drivers[i];
		if (bound && D == d->drv && !node_child(D->dir, d->addr))
			link_to(D->dir, d->addr, d->dir)->visible_at = d->bind_visible_at;
		else if (!(bound && D == d->drv))
			node_remove_child(D->dir, d->addr);
	}
	if (bound && !node_child(d->dir, "driver"))
		link_to(d->dir, "driver", d->drv->dir)->visible_at = d->bind_visible_at;
	else if (!bound)
		node_remove_child(d->dir, "driver");
	sync_vfio_dev(d);
}

static void sync_sriov(struct device *pf)
{
	int k = 0;
	char name[32];

	for (int i = 0; pf->dir && i < S.h->ndevs; i++) {
		struct device *v = S.h->devs[i];
		if (v->physfn != pf)
			continue;
		snprintf(name, sizeof name, "virtfn%d", k++);
		if (v->present && v->dir)
			link_to(pf->dir, name, v->dir);
		else
			node_remove_child(pf->dir, name);
	}
}

/* Hints live while the device is on the driver the topology gave it: real
 * interfaces and disks come and go with their driver. */
static void sync_hints(struct device *d)
{
	int want = d->drv && d->drv == d->init_drv;

	if (want && !d->built_hints)
		hints_build(d);
	else if (!want && d->built_hints)
		hints_remove(d);
}

/* ---- groups and the whole device ------------------------------------- */
static void sync_vfio_group_node(struct group *g, const char *name)
{
	struct node *n = node_child(L.dev_vfio, name);
	long long vis = 0;

	if (g->vfio_members > 0 && !n) {
		for (int i = 0; i < S.h->ndevs; i++) {
			struct device *d = S.h->devs[i];
			if (d->group == g->id && d->present && d->vfio_idx >= 0 && d->bind_visible_at > vis)
				vis = d->bind_visible_at;
		}
		n = node_file(L.dev_vfio, name, 0600, K_VFIO_GROUP, 0, NULL);
		n->arg = g->id;
		n->visible_at = vis;
	} else if (g->vfio_members == 0 && n) {
		node_remove(n);
	}
}

void layout_sync_group(int gid)
{
	struct group *g = host_group(S.h, gid);
	char name[16];
	int members = 0;

	if (!g || !S.h->iommu)
		return;
	snprintf(name, sizeof name, "%d", gid);
	for (int i = 0; i < S.h->ndevs; i++)
		members += S.h->devs[i]->group == gid && S.h->devs[i]->dir;
	struct node *gd = node_child(L.groups, name);
	if (!members && gd)
		node_remove(gd);
	if (members) {
		struct node *devs = node_child(group_dir(gid), "devices");
		for (int i = 0; i < S.h->ndevs; i++) {
			struct device *d = S.h->devs[i];
			if (d->group != gid)
				continue;
			if (d->dir)
				link_to(devs, d->addr, d->dir);
			else
				node_remove_child(devs, d->addr);
		}
	}
	if (L.dev_vfio)
		sync_vfio_group_node(g, name);
}

static void remove_device(struct device *d)
{
	if (!d->dir)
		return;
	if (d->built_hints)
		hints_remove(d);
	for (int i = 0; i < S.h->ndrivers; i++)
		node_remove_child(S.h->drivers[i]->dir, d->addr);
	remove_cdev(d, NULL);
	node_remove_child(L.bus_devices, d->addr);
	node_remove(d->dir);
	d->dir = NULL;
}

void layout_sync_device(struct device *d)
{
	if (!d->present) {
		remove_device(d);
	} else {
		if (!d->dir)
			build_device_dir(d);
		sync_bind(d);
		sync_hints(d);
		sync_sriov(d);
	}
	if (d->physfn)
		sync_sriov(d->physfn);
	if (!L.building)
		layout_sync_group(d->group);
}
