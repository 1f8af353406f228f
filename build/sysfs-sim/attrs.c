/* Attribute contents (in the kernel's exact text formats) and the dispatch of
 * writes to the kernel semantics in kernel.c. */
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PCI device attributes ------------------------------------------- */
static void modalias(const struct device *d, struct strbuf *out)
{
	sb_printf(out, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", d->vendor, d->device,
		  d->subvendor, d->subdevice, d->class >> 16, (d->class >> 8) & 0xff,
		  d->class & 0xff);
}

/* dev_uevent() then pci_uevent(). DRIVER= follows dev->driver, which a
 * blocked unbind has not cleared yet. */
static void uevent(const struct device *d, struct strbuf *out)
{
	if (d->drv)
		sb_printf(out, "DRIVER=%s\n", d->drv->name);
	sb_printf(out, "PCI_CLASS=%04X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\n"
		  "PCI_SLOT_NAME=%s\nMODALIAS=", d->class, d->vendor, d->device, d->subvendor,
		  d->subdevice, d->addr);
	modalias(d, out);
	sb_add(out, "\n", 1);
}

static int multifunction(const struct device *d)
{
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *o = S.h->devs[i];
		if (o != d && o->present && !o->physfn && !d->physfn && o->dom == d->dom &&
		    o->bus == d->bus && o->slot == d->slot)
			return 1;
	}
	return 0;
}

/* The highest bus anywhere below a bridge. */
static int subordinate_bus(const struct device *b)
{
	int max = -1;
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *c = S.h->devs[i];
		if (c->parent != b || c->dom != b->dom)
			continue;
		int sub = c->header_type == 1 ? subordinate_bus(c) : -1;
		if ((int)c->bus > sub)
			sub = c->bus;
		if (sub > max)
			max = sub;
	}
	return max;
}

static void put16(unsigned char *c, int off, unsigned v)
{
	c[off] = v & 0xff;
	c[off + 1] = (v >> 8) & 0xff;
}

/* 256 bytes of config space; unprivileged readers get the first 64, as
 * pci_read_config() allows them. */
static void config(const struct device *d, struct strbuf *out, uid_t uid)
{
	unsigned char c[256] = {0};

	if (d->f.allones) {	/* a device that stopped answering: 0xff reads */
		memset(c, 0xff, sizeof c);
		sb_add(out, c, uid == 0 ? 256 : 64);
		return;
	}
	put16(c, 0x00, d->vendor);
	put16(c, 0x02, d->device);
	c[0x08] = d->revision;
	c[0x09] = d->class & 0xff;
	c[0x0a] = (d->class >> 8) & 0xff;
	c[0x0b] = d->class >> 16;
	c[0x0e] = d->header_type | (multifunction(d) ? 0x80 : 0);
	if (d->header_type == 0) {
		put16(c, 0x2c, d->subvendor);
		put16(c, 0x2e, d->subdevice);
	} else if (bridge_secondary_bus(d) >= 0) {
		c[0x18] = d->bus;
		c[0x19] = bridge_secondary_bus(d);
		c[0x1a] = subordinate_bus(d);
	}
	sb_add(out, c, uid == 0 ? 256 : 64);
}

/* No interrupts are modelled; nvidia's information file shows the same. */
int device_irq(const struct device *d)
{
	(void)d;
	return 0;
}

static void reset_methods_show(const struct device *d, struct strbuf *out)
{
	for (int i = 0; i < d->nreset; i++)
		sb_printf(out, "%s%s", i ? " " : "", reset_method_names[d->reset[i]]);
	if (d->nreset)	/* none left (all disabled by a write): an empty read */
		sb_add(out, "\n", 1);
}

static int dev_show(struct node *n, struct device *d, struct strbuf *out, uid_t uid)
{
	int epoch, r;

	switch (n->attr) {
	case DA_VENDOR: sb_printf(out, "0x%04x\n", d->vendor); break;
	case DA_DEVICE: sb_printf(out, "0x%04x\n", d->device); break;
	case DA_SUBVENDOR: sb_printf(out, "0x%04x\n", d->subvendor); break;
	case DA_SUBDEVICE: sb_printf(out, "0x%04x\n", d->subdevice); break;
	case DA_CLASS: sb_printf(out, "0x%06x\n", d->class); break;
	case DA_REVISION: sb_printf(out, "0x%02x\n", d->revision); break;
	case DA_IRQ: sb_printf(out, "%d\n", device_irq(d)); break;
	case DA_RESOURCE:	/* 13 lines, 17 for bridges (resource_show) */
		for (int i = 0; i < (d->header_type == 1 ? 17 : 13); i++)
			sb_printf(out, "0x%016x 0x%016x 0x%016x\n", 0, 0, 0);
		break;
	case DA_NUMA: sb_printf(out, "%d\n", d->numa_node); break;
	case DA_ENABLE: sb_printf(out, "%d\n", d->enable); break;
	case DA_MODALIAS: modalias(d, out); sb_add(out, "\n", 1); break;
	case DA_UEVENT: uevent(d, out); break;
	case DA_CONFIG: config(d, out, uid); break;
	case DA_OVERRIDE:	/* driver_override_show() takes the device lock */
		if (!S.static_mode && (r = kern_lock_for_read(d, &epoch)))
			return r;
		sb_printf(out, "%s\n", d->override ? d->override : "(null)");
		break;
	case DA_BOOT_VGA: sb_printf(out, "%d\n", d->boot_vga); break;
	case DA_SECONDARY_BUS: sb_printf(out, "%d\n", bridge_secondary_bus(d) < 0 ? 0 : bridge_secondary_bus(d)); break;
	case DA_SUBORDINATE_BUS: sb_printf(out, "%d\n", subordinate_bus(d) < 0 ? 0 : subordinate_bus(d)); break;
	case DA_TOTALVFS: sb_printf(out, "%d\n", d->totalvfs); break;
	case DA_NUMVFS: sb_printf(out, "%d\n", d->numvfs); break;
	case DA_VF_AUTOPROBE: sb_printf(out, "%d\n", d->vf_autoprobe); break;
	case DA_RESET_METHOD: reset_methods_show(d, out); break;
	case DA_LINK_SPEED: sb_printf(out, "%s\n", d->link.speed); break;
	case DA_LINK_WIDTH: sb_printf(out, "%d\n", d->link.width); break;
	case DA_MAX_LINK_SPEED: sb_printf(out, "%s\n", d->link.max_speed); break;
	case DA_MAX_LINK_WIDTH: sb_printf(out, "%d\n", d->link.max_width); break;
	case DA_ROM:	/* pci_read_rom(): EINVAL until "1" is written; no image is modelled */
		if (!d->rom_enabled)
			return -EINVAL;
		break;
	}
	return 0;
}

/* An ACPI table as /sys/firmware/acpi/tables/SIG gives it: the 36-byte
 * header (signature, length, revision, checksum making the bytes sum to 0,
 * OEM and creator ids) and, for DMAR and IVRS, the first fields of the
 * table proper (DMAR: host address width 46 bits, INTR_REMAP flag; IVRS:
 * IVinfo). No remapping structures follow. */
static void acpi_table(const char *sig, struct strbuf *out)
{
	unsigned char t[48] = {0};
	unsigned sum = 0;

	memcpy(t, sig, 4);
	t[4] = sizeof t;
	t[8] = strcmp(sig, "IVRS") == 0 ? 2 : 1;
	memcpy(t + 10, "VVSIM ", 6);
	memcpy(t + 16, "VVSIMTBL", 8);
	t[24] = 1;
	memcpy(t + 28, "VVSM", 4);
	t[32] = 1;
	if (strcmp(sig, "DMAR") == 0) {
		t[36] = 46 - 1;
		t[37] = 0x01;
	} else if (strcmp(sig, "IVRS") == 0) {
		t[36] = 0x40;		/* IVinfo: 64-bit virtual addresses */
		t[37] = 0x30;		/* 48-bit physical addresses */
	}
	for (size_t i = 0; i < sizeof t; i++)
		sum += t[i];
	t[9] = (unsigned char)(0x100 - (sum & 0xff));
	sb_add(out, t, sizeof t);
}

/* ---- net and block hints --------------------------------------------- */
static void bond_slaves(const struct netif *ni, void *arg)
{
	void **a = arg;
	struct strbuf *out = a[1];

	if (ni->master == a[0])
		sb_printf(out, "%s%s", out->len ? " " : "", ni->name);
}

static int net_show(int attr, const struct netif *ni, struct strbuf *out)
{
	/* IFF_UP|IFF_BROADCAST|IFF_MULTICAST, IFF_MASTER on a bond, IFF_SLAVE on its slaves */
	unsigned flags = (ni->up ? 0x1003 : 0x1002) | (ni->kind == NK_BOND ? 0x400 : 0) |
			 (ni->master && ni->master->kind == NK_BOND ? 0x800 : 0);
	void *arg[2] = {(void *)ni, out};

	switch (attr) {
	case NA_OPERSTATE: sb_printf(out, "%s\n", ni->up ? "up" : "down"); break;
	case NA_FLAGS: sb_printf(out, "0x%x\n", flags); break;
	case NA_IFLINK: sb_printf(out, "%d\n", ni->lower ? ni->lower->ifindex : ni->ifindex); break;
	case NA_BOND_SLAVES:
		netif_foreach(bond_slaves, arg);
		sb_add(out, "\n", 1);
		break;
	case NA_ADDRESS:
		if (ni->mac)
			sb_printf(out, "%s\n", ni->mac);
		else
			sb_printf(out, "52:54:00:00:%02x:%02x\n", (ni->ifindex >> 8) & 0xff,
				  ni->ifindex & 0xff);
		break;
	case NA_IFINDEX: sb_printf(out, "%d\n", ni->ifindex); break;
	case NA_MTU: sb_printf(out, "%d\n", ni->mtu); break;
	case NA_CARRIER:	/* the kernel refuses carrier of a down interface */
		if (!ni->up)
			return -EINVAL;
		sb_add(out, "1\n", 2);
		break;
	case NA_TYPE: sb_add(out, "1\n", 2); break;
	}
	return 0;
}

static void block_show(int attr, const struct blockdev *b, struct strbuf *out)
{
	switch (attr) {
	case BK_DEV: sb_printf(out, "%d:%d\n", b->major, b->minor); break;
	case BK_SIZE: sb_printf(out, "%lld\n", b->size); break;
	case BK_PARTITION: sb_printf(out, "%d\n", b->partno); break;
	case BK_START: sb_printf(out, "%lld\n", b->start); break;
	case BK_RO: case BK_REMOVABLE: sb_add(out, "0\n", 2); break;
	}
}

int attr_show(struct node *n, struct strbuf *out, uid_t uid)
{
	switch (n->kind) {
	case K_CONST: sb_add(out, n->target, strlen(n->target)); return 0;
	case K_DEV: return dev_show(n, n->obj, out, uid);
	case K_NET: return net_show(n->attr, n->obj, out);
	case K_BLOCK: block_show(n->attr, n->obj, out); return 0;
	case K_ACPI: acpi_table(n->name, out); return 0;
	case K_BUS:
		if (n->attr == BA_AUTOPROBE)
			sb_printf(out, "%d\n", S.h->drivers_autoprobe);
		return 0;
	case K_PROC:
		switch (n->attr) {
		case PR_ROUTE: proc_route(out); break;
		case PR_IPV6_ROUTE: proc_ipv6_route(out); break;
		case PR_IF_INET6: proc_if_inet6(out); break;
		case PR_MOUNTINFO: proc_mountinfo(out, 0); break;
		case PR_MOUNTS: proc_mountinfo(out, 1); break;
		case PR_NV_INFO: proc_nvidia_info(n->obj, out); break;
		case PR_SWAPS: proc_swaps(out); break;
		case PR_MAPS: proc_maps(n->arg, out); break;
		case PR_INTERRUPTS: proc_interrupts(out); break;
		}
		return 0;
	case K_VTCON:	/* vtconsole bind: which console driver has the consoles */
		sb_printf(out, "%d\n", n->arg ? fbcon_bound() : !fbcon_bound());
		return 0;
	case K_SIM:
		if (n->attr == SA_STATE)
			state_show(out);
		else if (n->attr == SA_LOG)
			log_show(out);
		else if (n->attr == SA_LAST_ERROR && *S.last_error)
			sb_printf(out, "%s\n", S.last_error);
		return 0;
	default:
		return 0;	/* device nodes read as empty */
	}
}

/* ---- writes ---------------------------------------------------------- */
/* kstrtobool(): the first character decides ("on"/"off" need two). */
static int kstrtobool(const char *s, int *out)
{
	if (s[0] && strchr("1yY", s[0]))
		*out = 1;
	else if (s[0] && strchr("0nN", s[0]))
		*out = 0;
	else if ((s[0] == 'o' || s[0] == 'O') && (s[1] == 'n' || s[1] == 'N'))
		*out = 1;
	else if ((s[0] == 'o' || s[0] == 'O') && (s[1] == 'f' || s[1] == 'F'))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int online_node(int node)
{
	for (int i = 0; i < S.h->ndevs; i++)
		if (S.h->devs[i]->numa_node == node)
			return 1;
	return node == 0;
}

/* kobject_synth_uevent(): an action word, optionally followed by more. */
static int uevent_store(const char *buf)
{
	static const char *const actions[] = {"add", "remove", "change", "move", "online",
					      "offline", "bind", "unbind"};
	size_t len = strcspn(buf, " \n");
	for (size_t i = 0; i < sizeof actions / sizeof *actions; i++)
		if (strlen(actions[i]) == len && strncmp(buf, actions[i], len) == 0)
			return 0;
	return -EINVAL;
}

/* reset_method_store(): "" disables every method, "default" restores the
 * device's own; else a space-separated list (each word trimmed), each a
 * method this device supports, at most 7: else EINVAL and nothing changes. */
static int reset_method_store(struct device *d, const char *buf)
{
	unsigned char m[NRESET_METHODS];
	int n = 0, r = 0;

	if (!strcmp(buf, "") || !strcmp(buf, "\n")) {
		d->nreset = 0;
		return 0;
	}
	if (!strcmp(buf, "default") || !strcmp(buf, "default\n")) {
		/* pci_init_reset_methods(): the supported ones, in the kernel's order */
		d->nreset = 0;
		for (int k = 1; k <= NRESET_METHODS; k++)
			for (int i = 0; i < d->nreset_init; i++)
				if (d->reset_init[i] == k)
					d->reset[d->nreset++] = (unsigned char)k;
		return 0;
	}
	char *copy = xstrdup(buf), *rest = copy, *name;
	while (!r && (name = strsep(&rest, " "))) {
		if (!strcmp(name, "") || !strcmp(name, "\n"))
			continue;
		while (isspace((unsigned char)*name))	/* strim() */
			name++;
		for (size_t l = strlen(name); l && isspace((unsigned char)name[l - 1]); l--)
			name[l - 1] = '\0';
		int k = 0, ok = 0;
		for (int x = 1; x <= NRESET_METHODS && !k; x++)
			if (!strcmp(name, reset_method_names[x]))
				k = x;
		for (int i = 0; k && i < d->nreset_init; i++)
			ok |= d->reset_init[i] == k;
		if (!ok || n == NRESET_METHODS)
			r = -EINVAL;
		else
			m[n++] = (unsigned char)k;
	}
	free(copy);
	if (r)
		return r;
	memcpy(d->reset, m, n);
	d->nreset = n;
	return 0;
}

static int dev_store(struct node *n, struct device *d, const char *buf, size_t len)
{
	int v;
	char *end;

	switch (n->attr) {
	case DA_OVERRIDE: return kern_driver_override(d, buf, len);
	case DA_NUMVFS: return kern_sriov_numvfs(d, buf);
	case DA_VF_AUTOPROBE:
		if (kstrtobool(buf, &v))
			return -EINVAL;
		d->vf_autoprobe = v;
		return 0;
	case DA_NUMA:	/* numa_node_store(): an online node or -1 (taints) */
		v = (int)strtol(buf, &end, 0);
		if (end == buf || (*end && strcmp(end, "\n")) || (v != -1 && !online_node(v)))
			return -EINVAL;
		d->numa_node = v;
		return 0;
	case DA_ENABLE:	/* "0" on a disabled device is EIO, as enable_store() */
		if (kstrtobool(buf, &v))
			return -EINVAL;
		if (!v && !d->enable)
			return -EIO;
		d->enable = v;
		return 0;
	case DA_UEVENT: return uevent_store(buf);
	case DA_CONFIG: return 0;	/* accepted, not modelled; sim/log shows it */
	case DA_RESET_METHOD: return reset_method_store(d, buf);
	case DA_RESET:	/* reset_store(): "1" only; no method left: ENOTTY */
		if (strtoul(buf, &end, 0) != 1 || (*end && strcmp(end, "\n")))
			return -EINVAL;
		if (!d->nreset)
			return -ENOTTY;
		d->resets++;
		if (d->f.reset_breaks)
			d->f.allones = 1;
		return 0;
	case DA_ROM:	/* pci_write_rom(): "0\n" disables reads, anything else enables */
		d->rom_enabled = !(len == 2 && buf[0] == '0');
		return 0;
	}
	return -EIO;
}

static int drv_store(struct node *n, const char *buf)
{
	switch (n->attr) {
	case DRA_BIND: return kern_bind(n->obj, buf);
	case DRA_UNBIND: return kern_unbind(n->obj, buf);
	case DRA_NEW_ID: return kern_new_id(n->obj, buf);
	default: return kern_remove_id(n->obj, buf);
	}
}

/* vtconK/bind: 1 binds that console driver to the consoles, 0 hands them
 * to the other one. Only the dummy console (vtcon0) and fbcon (vtcon1, on
 * hosts with a framebuffer) exist. */
static int vtcon_store(int k, const char *buf)
{
	int v, fbcon = 0;

	for (int i = 0; i < S.h->ndevs; i++)
		fbcon |= S.h->devs[i]->fb.present;
	if (kstrtobool(buf, &v))
		return -EINVAL;
	if (!fbcon && (k || !v))
		return -EINVAL;	/* nothing to hand the consoles to */
	S.h->fbcon_unbound = k ? !v : v;
	return 0;
}

/* buf is the written data cut at its first NUL, as the kernel's stores see
 * it; len is the byte count of the write. */
int attr_store(struct node *n, const char *buf, size_t len)
{
	struct device *target = NULL;
	int r;

	switch (n->kind) {
	case K_DEV:
		target = n->obj;
		r = dev_store(n, target, buf, len);
		break;
	case K_DRV:
		if (n->attr == DRA_BIND || n->attr == DRA_UNBIND)
			target = bus_find_device(buf);
		r = drv_store(n, buf);
		break;
	case K_BUS:
		if (n->attr == BA_PROBE) {
			target = bus_find_device(buf);
			r = kern_drivers_probe(buf);
		} else if (n->attr == BA_AUTOPROBE) {
			S.h->drivers_autoprobe = buf[0] != '0';
			r = 0;
		} else {
			r = kern_rescan(buf);
		}
		break;
	case K_SIM:
		return control_command(buf, len);
	case K_VTCON:
		return vtcon_store(n->arg, buf);
	default:
		return -EINVAL;	/* device nodes: no write(2) semantics modelled */
	}
	if (target)
		fault_count_write(target);
	return r;
}
