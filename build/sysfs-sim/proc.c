/* /proc files generated from the net, block and nvidia hints, in the
 * kernel's text formats (fib_route_seq_show, ipv6_route_native_seq_show,
 * if6_seq_show, show_mountinfo, show_vfsmnt) and nvidia's. Only devices whose
 * hints are live count: an interface that is gone has no routes, a disk that
 * is gone no mounts. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hints_live(const struct device *d)
{
	return d->present && d->built_hints && now_ms() >= d->bind_visible_at;
}

static void hex6(struct strbuf *out, const unsigned char a[16])
{
	for (int i = 0; i < 16; i++)
		sb_printf(out, "%02x", a[i]);
}

/* An IPv4 address as the kernel prints a __be32 with %08X on little endian. */
static unsigned be32_as_host(const unsigned char a[16])
{
	return a[0] | a[1] << 8 | a[2] << 16 | (unsigned)a[3] << 24;
}

static unsigned mask4(int plen)
{
	unsigned char m[16] = {0};
	for (int i = 0; i < plen; i++)
		m[i / 8] |= 0x80 >> (i % 8);
	return be32_as_host(m);
}

static void padded_line(struct strbuf *out, const char *line)
{
	sb_printf(out, "%-127s\n", line);
}

/* The main table only, as fib_route_seq_show() walks it: routes in other
 * tables (ip route add ... table 100) are not there. */
static void route_lines(const struct netif *ni, void *arg)
{
	struct strbuf *out = arg;
	char line[256];

	for (int k = 0; ni->up && k < ni->nroutes; k++) {
		const struct route *r = &ni->routes[k];
		if (r->v6 || r->table != RT_TABLE_MAIN)
			continue;
		snprintf(line, sizeof line, "%s\t%08X\t%08X\t%04X\t%d\t%u\t%d\t%08X\t%d\t%u\t%u",
			 ni->name, be32_as_host(r->dst), r->has_gw ? be32_as_host(r->gw) : 0,
			 r->has_gw ? 0x3 : 0x1, 0, 0, 0, mask4(r->plen), 0, 0, 0);
		padded_line(out, line);
	}
}

void proc_route(struct strbuf *out)
{
	padded_line(out, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU"
			 "\tWindow\tIRTT");
	netif_foreach(route_lines, out);
}

static void v6_route_line(struct strbuf *out, const unsigned char dst[16], int plen,
			  const unsigned char *gw, unsigned metric, unsigned flags, const char *dev)
{
	static const unsigned char zero[16];

	hex6(out, dst);
	sb_printf(out, " %02x ", plen);
	hex6(out, zero);
	sb_add(out, " 00 ", 4);
	hex6(out, gw ? gw : zero);
	sb_printf(out, " %08x %08x %08x %08x %8s\n", metric, 1, 0, flags, dev);
}

/* Every table: ipv6_route_seq_show() walks them all. */
static void v6_route_lines(const struct netif *ni, void *arg)
{
	for (int k = 0; ni->up && k < ni->nroutes; k++) {
		const struct route *r = &ni->routes[k];
		if (r->v6)
			v6_route_line(arg, r->dst, r->plen, r->has_gw ? r->gw : NULL,
				      r->has_gw ? 0x400 : 0x100, r->has_gw ? 0x3 : 0x1, ni->name);
	}
}

void proc_ipv6_route(struct strbuf *out)
{
	static const unsigned char loopback[16] = {[15] = 1};

	netif_foreach(v6_route_lines, out);
	v6_route_line(out, loopback, 128, NULL, 0, 0x80200001, "lo");
}

static int v6_scope(const unsigned char a[16])
{
	static const unsigned char loopback[16] = {[15] = 1};
	if (memcmp(a, loopback, 16) == 0)
		return 0x10;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return 0x20;
	return 0x00;
}

static void if_inet6_lines(const struct netif *ni, void *arg)
{
	struct strbuf *out = arg;

	for (int k = 0; ni->up && k < ni->naddrs; k++) {
		if (!ni->addrs[k].v6)
			continue;
		hex6(out, ni->addrs[k].a);
		sb_printf(out, " %02x %02x %02x %02x %8s\n", ni->ifindex, ni->addrs[k].plen,
			  v6_scope(ni->addrs[k].a), 0x80, ni->name);
	}
}

/* Addresses of interfaces that are up (a down link drops them). */
void proc_if_inet6(struct strbuf *out)
{
	static const unsigned char loopback[16] = {[15] = 1};

	hex6(out, loopback);
	sb_printf(out, " %02x %02x %02x %02x %8s\n", 1, 128, 0x10, 0x80, "lo");
	netif_foreach(if_inet6_lines, out);
}

/* ---- mounts ------------------------------------------------------------ */
struct mnt { const char *dev, *path, *fstype, *super; int major, minor; };

static void mount_line(struct strbuf *out, const struct mnt *m, int id, int parent, int mounts)
{
	if (mounts)
		sb_printf(out, "%s %s %s rw,relatime 0 0\n", m->dev, m->path, m->fstype);
	else
		sb_printf(out, "%d %d %d:%d / %s rw,relatime shared:%d - %s %s %s\n", id, parent,
			  m->major, m->minor, m->path, id, m->fstype, m->dev, m->super ? m->super : "rw");
}

/* btrfs shows an anonymous device number (0:NN), never the disk's: only
 * the source field names the disk. */
static int collect_block(const struct blockdev *b, struct mnt *m, char names[][40], int n, int max)
{
	if (b->mounted && n < max) {
		int btrfs = b->anon_minor > 0;
		snprintf(names[n], 40, "/dev/%s", b->name);
		m[n] = (struct mnt){names[n], b->mounted, b->fstype ? b->fstype : "ext4",
				    btrfs ? "rw,ssd,space_cache=v2,subvolid=5,subvol=/" : NULL,
				    btrfs ? 0 : b->major, btrfs ? b->anon_minor : b->minor};
		n++;
	}
	for (int i = 0; i < b->nparts; i++)
		n = collect_block(&b->parts[i], m, names, n, max);
	return n;
}

/* Root first (an overlay when no disk hint holds "/"), then the usual
 * virtual filesystems, then the other hinted mounts. */
void proc_mountinfo(struct strbuf *out, int mounts)
{
	enum { MAX = 256 };
	static const struct mnt virt[] = {
		{"sysfs", "/sys", "sysfs", NULL, 0, 21}, {"proc", "/proc", "proc", NULL, 0, 22},
		{"udev", "/dev", "devtmpfs", NULL, 0, 5}, {"tmpfs", "/run", "tmpfs", NULL, 0, 24}};
	static char names[MAX][40];
	struct mnt m[MAX];
	int n = 0, id = 21, root = -1;

	for (int i = 0; i < S.h->ndevs; i++)
		for (int j = 0; hints_live(S.h->devs[i]) && j < S.h->devs[i]->nblocks; j++)
			n = collect_block(&S.h->devs[i]->blocks[j], m, names, n, MAX);
	for (int i = 0; i < n; i++)
		if (strcmp(m[i].path, "/") == 0 && root < 0)
			root = i;
	struct mnt overlay = {"overlay", "/", "overlay", NULL, 0, 30};
	mount_line(out, root >= 0 ? &m[root] : &overlay, id, 1, mounts);
	for (size_t i = 0; i < sizeof virt / sizeof *virt; i++)
		mount_line(out, &virt[i], id + 1 + (int)i, 21, mounts);
	id += 1 + sizeof virt / sizeof *virt;
	for (int i = 0; i < n; i++)
		if (i != root)
			mount_line(out, &m[i], id++, 21, mounts);
}

/* ---- swap ------------------------------------------------------------------ */
/* swap_show(): the path padded to 40 columns, sizes in KiB (the usable
 * pages: all but the header page), a tab more below 10000000. */
static void swap_lines(const struct blockdev *b, struct strbuf *out)
{
	if (b->swap) {
		char path[48];
		unsigned long kib = (unsigned long)((b->size * 512 / 4096 - 1) * 4);
		int len = snprintf(path, sizeof path, "/dev/%s", b->name);
		sb_printf(out, "%s%*s%s\t%lu\t%s%lu\t%s%d\n", path, len < 40 ? 40 - len : 1, " ",
			  "partition", kib, kib < 10000000 ? "\t" : "", 0UL, "\t", b->swap_prio);
	}
	for (int i = 0; i < b->nparts; i++)
		swap_lines(&b->parts[i], out);
}

void proc_swaps(struct strbuf *out)
{
	sb_printf(out, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
	for (int i = 0; i < S.h->ndevs; i++)
		for (int j = 0; hints_live(S.h->devs[i]) && j < S.h->devs[i]->nblocks; j++)
			swap_lines(&S.h->devs[i]->blocks[j], out);
}

/* ---- maps ------------------------------------------------------------------- */
/* show_map_vma(): the header padded to 72 columns, a space, the path. */
static void maps_line(struct strbuf *out, unsigned long long start, unsigned long long end,
		      const char *perms, unsigned maj, unsigned min, unsigned long ino, const char *path)
{
	size_t at = out->len;

	sb_printf(out, "%08llx-%08llx %s %08x %02x:%02x %lu ", start, end, perms, 0, maj, min, ino);
	if (path) {
		while (out->len - at < 72)
			sb_add(out, " ", 1);
		sb_printf(out, " %s", path);
	}
	sb_add(out, "\n", 1);
}

/* A process's mappings: its program, the devices' BARs it maps (under
 * the path the kernel gives a sysfs file: /sys/devices/...), its stack. */
void proc_maps(int pid, struct strbuf *out)
{
	char path[4096];
	unsigned long long base = 0x7f0000000000ull;

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	const struct node *c = node_lookup(path);
	snprintf(path, sizeof path, "/usr/bin/%.*s", c ? (int)strcspn(c->target, "\n") : 1,
		 c ? c->target : "?");
	maps_line(out, 0x55d0c8a00000ull, 0x55d0c8a2e000ull, "r--p", 0xfe, 1, 1048602, path);
	maps_line(out, 0x55d0c8a2e000ull, 0x55d0c8b40000ull, "r-xp", 0xfe, 1, 1048602, path);
	maps_line(out, 0x55d0c9e00000ull, 0x55d0c9e21000ull, "rw-p", 0, 0, 0, "[heap]");
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *d = S.h->devs[i];
		for (int j = 0; hints_live(d) && j < d->nmaps; j++) {
			if (d->maps[j].pid != pid)
				continue;
			char *rel = node_relpath(node_root(), d->dir);
			snprintf(path, sizeof path, "/%s/%s", rel, d->maps[j].resource);
			free(rel);
			maps_line(out, base, base + 0x1000000, "rw-s", 0, 21, d->maps[j].ino, path);
			base += 0x1000000;
		}
	}
	maps_line(out, 0x7f3a40200000ull, 0x7f3a40228000ull, "r--p", 0xfe, 1, 1054231,
		  "/usr/lib/x86_64-linux-gnu/libc.so.6");
	maps_line(out, 0x7ffd1c9f0000ull, 0x7ffd1ca11000ull, "rw-p", 0, 0, 0, "[stack]");
	maps_line(out, 0x7ffd1cbd4000ull, 0x7ffd1cbd6000ull, "r-xp", 0, 0, 0, "[vdso]");
}

/* ---- interrupts ---------------------------------------------------------- */
/* show_interrupts() on two CPUs with nr_irqs above 1000 (a 4-column IRQ
 * field): the header of CPU columns, then per IRQ its count per CPU, the
 * chip, the hardware irq, the flow and the handlers; then the x86 lines.
 * With interrupt remapping on, the IO-APIC and MSI chips are the remapping
 * ones (IR-IO-APIC, IR-PCI-MSI), on Intel and AMD alike; each Intel unit the
 * kernel enabled has its fault interrupt (DMAR-MSI). */
static void irq_line(struct strbuf *out, int irq, unsigned c0, unsigned c1, const char *chip,
		     unsigned long hwirq, const char *flow, const char *action)
{
	sb_printf(out, "%*d: %10u %10u  %8s %*lu-%-8s  %s\n", 4, irq, c0, c1, chip, 4, hwirq, flow,
		  action);
}

void proc_interrupts(struct strbuf *out)
{
	const char *ioapic = S.h->intremap ? "IR-IO-APIC" : "IO-APIC";
	const char *msi = S.h->intremap ? "IR-PCI-MSI" : "PCI-MSI";
	int irq = 24;

	sb_printf(out, "%*s", 4 + 8, "");
	for (int cpu = 0; cpu < 2; cpu++)
		sb_printf(out, "CPU%-8d", cpu);
	sb_add(out, "\n", 1);
	irq_line(out, 0, 36, 0, ioapic, 2, "edge", "timer");
	irq_line(out, 1, 0, 9, ioapic, 1, "edge", "i8042");
	irq_line(out, 8, 0, 0, ioapic, 8, "edge", "rtc0");
	irq_line(out, 9, 0, 4, ioapic, 9, "fasteoi", "acpi");
	for (int i = 0; S.h->iommu && i < S.h->nunits; i++)
		if (!S.h->units[i].features)
			irq_line(out, irq++, 0, 0, "DMAR-MSI", (unsigned long)i, "edge",
				 S.h->units[i].name);
	irq_line(out, irq++, 0, 0, msi, 16384, "edge", "PCIe PME, aerdrv");
	irq_line(out, irq++, 0, 0, msi, 512000, "edge", "nvme0q0");
	irq_line(out, irq++, 0, 1702, msi, 512001, "edge", "nvme0q1");
	irq_line(out, irq++, 12, 0, msi, 1048576, "edge", "eno1");
	sb_printf(out, "%*s: %10u %10u   Non-maskable interrupts\n", 4, "NMI", 0, 0);
	sb_printf(out, "%*s: %10u %10u   Local timer interrupts\n", 4, "LOC", 118273, 97412);
	sb_printf(out, "%*s: %10u\n", 4, "ERR", 0);
	sb_printf(out, "%*s: %10u\n", 4, "MIS", 0);
}

/* ---- nvidia ------------------------------------------------------------ */
/* What rm_get_device_name() answers for a few boards; the driver's own name
 * for a GPU it does not know is "NVIDIA Graphics Device". */
static const char *nvidia_model(const struct device *d)
{
	static const struct { unsigned device; const char *name; } names[] = {
		{0x1e84, "NVIDIA GeForce RTX 2070 SUPER"}, {0x1eb8, "Tesla T4"},
		{0x20b0, "NVIDIA A100-SXM4-40GB"}, {0x2204, "NVIDIA GeForce RTX 3090"},
		{0x2230, "NVIDIA RTX A6000"}, {0x2684, "NVIDIA GeForce RTX 4090"},
	};

	if (d->nv.model)
		return d->nv.model;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].device == d->device)
			return names[i].name;
	return "NVIDIA Graphics Device";
}

/* FNV-1a of the address: the same UUID for the same slot on every run. */
static unsigned long long addr_hash(const char *addr, unsigned long long seed)
{
	unsigned long long h = 1469598103934665603ull ^ seed;
	for (; *addr; addr++)
		h = (h ^ (unsigned char)*addr) * 1099511628211ull;
	return h;
}

/* nv_procfs_read_gpu_info(): labels, tabs and spaces as the driver prints
 * them, so a parser written against a real host reads this one. The VBIOS
 * is what the driver shows when it cannot read it; the DMA mask is the
 * 47 bits the driver sets on Turing and later GPUs. */
void proc_nvidia_info(const struct device *d, struct strbuf *out)
{
	unsigned long long a = addr_hash(d->addr, 0), b = addr_hash(d->addr, 0x9e3779b97f4a7c15ull);

	sb_printf(out, "Model: \t\t %s\n", nvidia_model(d));
	sb_printf(out, "IRQ:   \t\t %d\n", device_irq(d));
	sb_printf(out, "GPU UUID: \t GPU-%08llx-%04llx-%04llx-%04llx-%012llx\n", a >> 32,
		  (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & 0xffffffffffffull);
	sb_printf(out, "Video BIOS: \t ??.??.??.??.??\n");
	sb_printf(out, "Bus Type: \t PCIe\n");
	sb_printf(out, "DMA Size: \t 47 bits\n");
	sb_printf(out, "DMA Mask: \t 0x7fffffffffff\n");
	sb_printf(out, "Bus Location: \t %s\n", d->addr);
	sb_printf(out, "Device Minor: \t %u\n", (unsigned)d->nv.minor);
	sb_printf(out, "GPU Excluded:\t No\n");
}
