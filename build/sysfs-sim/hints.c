/* What host drivers create for a device while it is bound to them (the
 * topology's "hints"): network interfaces and what is stacked on them
 * (masters, uppers), disks and partitions with their /dev nodes, DRM, fb,
 * uio and NVMe character devices, /dev/nvidiaN; and the processes that use
 * them (proc/PID/fd links, proc/PID/maps lines). Host-wide objects live here
 * too: the virtual interfaces of "virtual_net", the virtual consoles,
 * proc/swaps. */
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRM_MAJOR 226
#define FB_MAJOR 29
#define UIO_MAJOR 243		/* dynamic on a real host; this is a common value */
#define NVME_CHAR_MAJOR 239	/* likewise */
#define NVME_GENERIC_MAJOR 238	/* likewise */

/* ---- processes ---------------------------------------------------------- */
static int pid_maps_live(int pid)
{
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *d = S.h->devs[i];
		for (int j = 0; d->built_hints && j < d->nmaps; j++)
			if (d->maps[j].pid == pid)
				return 1;
	}
	return 0;
}

/* proc/PID with comm, fd/ (0500, like the kernel's: only its owner, root,
 * looks in) and maps. */
static struct node *pid_dir(int pid, const char *comm)
{
	char name[16];
	struct node *p;

	snprintf(name, sizeof name, "%d", pid);
	p = node_child(L.proc, name);
	if (p)
		return p;
	p = node_dir(L.proc, name);
	const_file(p, "comm", 0444, K_CONST, "%s\n", comm ? comm : "?");
	node_dir(p, "fd")->mode = 0500;
	/* 0400: the kernel shows 0444 but lets only ptrace-capable readers open
	 * it (EACCES for others); the mode gives the same answer */
	node_file(p, "maps", 0400, K_PROC, PR_MAPS, NULL)->arg = pid;
	return p;
}

/* A process goes once nothing the topology or a hold says about it is left. */
static void pid_gc(int pid)
{
	char name[16];

	snprintf(name, sizeof name, "%d", pid);
	struct node *p = node_child(L.proc, name);
	struct node *fds = p ? node_child(p, "fd") : NULL;
	if (p && (!fds || !fds->nkids) && !pid_maps_live(pid))
		node_remove(p);
}

void layout_proc_fd(int pid, const char *comm, int fd, const char *target, int add)
{
	char fdname[16];

	snprintf(fdname, sizeof fdname, "%d", fd);
	if (add) {
		node_link(node_child(pid_dir(pid, comm), "fd"), fdname, target);
		return;
	}
	char name[16];
	snprintf(name, sizeof name, "%d", pid);
	struct node *p = node_child(L.proc, name);
	node_remove_child(p ? node_child(p, "fd") : NULL, fdname);
	pid_gc(pid);
}

static void openers(const struct opener *o, int n, const char *node, int add)
{
	char target[96];

	snprintf(target, sizeof target, "/dev/%s", node);
	for (int i = 0; i < n; i++)
		layout_proc_fd(o[i].pid, o[i].comm, o[i].fd, target, add);
}

/* ---- network interfaces ----------------------------------------------- */
int netif_live(const struct netif *ni)
{
	return ni->dir && node_visible(ni->dir);
}

static void each_in(struct netif *list, int n, void (*fn)(const struct netif *, void *), void *arg)
{
	for (int i = 0; i < n; i++) {
		if (netif_live(&list[i]))
			fn(&list[i], arg);
		for (int k = 0; k < list[i].nuppers; k++)
			if (netif_live(&list[i].uppers[k]))
				fn(&list[i].uppers[k], arg);
	}
}

void netif_foreach(void (*fn)(const struct netif *ni, void *arg), void *arg)
{
	for (int i = 0; i < S.h->ndevs; i++)
		each_in(S.h->devs[i]->nets, S.h->devs[i]->nnets, fn, arg);
	each_in(S.h->vnets, S.h->nvnets, fn, arg);
}

static void net_attrs(struct netif *ni, struct node *nd)
{
	static const struct { const char *name; int attr; } attrs[] = {
		{"operstate", NA_OPERSTATE}, {"flags", NA_FLAGS}, {"address", NA_ADDRESS},
		{"ifindex", NA_IFINDEX}, {"iflink", NA_IFLINK}, {"mtu", NA_MTU},
		{"carrier", NA_CARRIER}, {"type", NA_TYPE}};

	for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
		node_file(nd, attrs[i].name, 0444, K_NET, attrs[i].attr, ni);
	ni->dir = nd;
}

/* A master's own directories: bridge/ and brif/ (the ports), bonding/. */
static void master_dirs(struct netif *ni)
{
	if (ni->kind == NK_BRIDGE) {
		struct node *br = node_dir(ni->dir, "bridge");
		const_file(br, "stp_state", 0644, K_CONST, "0\n");
		const_file(br, "forward_delay", 0644, K_CONST, "1500\n");
		const_file(br, "group_fwd_mask", 0644, K_CONST, "0x0\n");
		node_dir(ni->dir, "brif");
	} else if (ni->kind == NK_BOND) {
		struct node *b = node_dir(ni->dir, "bonding");
		const_file(b, "mode", 0644, K_CONST, "active-backup 1\n");
		node_file(b, "slaves", 0644, K_NET, NA_BOND_SLAVES, ni);
	}
}

/* A virtual interface: devices/virtual/net/NAME and class/net/NAME. */
static void virtual_dir(struct netif *ni, long long vis)
{
	struct node *nd = node_dir(L.virt_net, ni->name);

	nd->visible_at = vis;
	net_attrs(ni, nd);
	master_dirs(ni);
	link_to(L.class_net, ni->name, nd)->visible_at = vis;
}

/* Its place among the master's ports, in topology order: bond's first
 * slave is the active one, a bridge numbers its ports from 1. */
static int port_index(const struct netif *ni)
{
	int k = 0;
	for (int i = 0; i <= S.h->ndevs; i++) {
		struct netif *list = i < S.h->ndevs ? S.h->devs[i]->nets : S.h->vnets;
		int n = i < S.h->ndevs ? S.h->devs[i]->nnets : S.h->nvnets;
		for (int j = 0; j < n; j++)
			for (int u = -1; u < list[j].nuppers; u++) {
				const struct netif *x = u < 0 ? &list[j] : &list[j].uppers[u];
				if (x == ni)
					return k;
				k += x->master == ni->master;
			}
	}
	return k;
}

/* ni is enslaved to its master: master, upper_M on ni, lower_N on the
 * master; a bridge port's brport/ (and brif/N), a bond slave's
 * bonding_slave/. Team and Open vSwitch ports have the links only. */
static void stack_link(struct netif *ni, long long vis)
{
	struct netif *m = ni->master;
	char name[32];

	if (!m || !m->dir)
		return;
	link_to(ni->dir, "master", m->dir);
	snprintf(name, sizeof name, "upper_%s", m->name);
	link_to(ni->dir, name, m->dir);
	snprintf(name, sizeof name, "lower_%s", ni->name);
	link_to(m->dir, name, ni->dir)->visible_at = vis;
	if (m->kind == NK_BRIDGE) {
		struct node *bp = node_dir(ni->dir, "brport");
		link_to(bp, "bridge", m->dir);
		const_file(bp, "state", 0644, K_CONST, "%d\n", ni->up && m->up ? 3 : 0);
		const_file(bp, "port_no", 0444, K_CONST, "0x%x\n", port_index(ni) + 1);
		const_file(bp, "priority", 0644, K_CONST, "32\n");
		const_file(bp, "path_cost", 0644, K_CONST, "100\n");
		link_to(node_child(m->dir, "brif"), ni->name, bp)->visible_at = vis;
	} else if (m->kind == NK_BOND) {
		struct node *bs = node_dir(ni->dir, "bonding_slave");
		const_file(bs, "state", 0444, K_CONST, "%s\n", port_index(ni) ? "backup" : "active");
		const_file(bs, "mii_status", 0444, K_CONST, "%s\n", ni->up ? "up" : "down");
		const_file(bs, "perm_hwaddr", 0444, K_CONST, "%s\n", ni->mac ? ni->mac : "00:00:00:00:00:00");
		const_file(bs, "link_failure_count", 0444, K_CONST, "0\n");
		const_file(bs, "queue_id", 0444, K_CONST, "0\n");
	}
}

/* What ni left in its master's directory (its own goes with it). */
static void stack_unlink(struct netif *ni)
{
	char name[32];

	if (!ni->master || !ni->master->dir)
		return;
	snprintf(name, sizeof name, "lower_%s", ni->name);
	node_remove_child(ni->master->dir, name);
	node_remove_child(node_child(ni->master->dir, "brif"), ni->name);
}

/* vlan, macvlan, ipvlan: a virtual interface linked both ways with its
 * lower (upper_U there, lower_L here), and possibly enslaved itself. */
static void build_upper(struct netif *up, long long vis)
{
	char name[32];

	virtual_dir(up, vis);
	snprintf(name, sizeof name, "upper_%s", up->name);
	link_to(up->lower->dir, name, up->dir);
	snprintf(name, sizeof name, "lower_%s", up->lower->name);
	link_to(up->dir, name, up->lower->dir);
	stack_link(up, vis);
}

static void remove_upper(struct netif *up)
{
	if (!up->dir)
		return;
	stack_unlink(up);
	node_remove_child(L.class_net, up->name);
	node_remove(up->dir);
	up->dir = NULL;
}

/* The virtio device virtio-pci registers below its PCI function; its
 * driver (virtio_net) and bus are not modelled. Only network interfaces sit
 * below it, so it is a VIRTIO_ID_NET device; virtio-pci gives it the
 * function's subsystem vendor. */
static struct node *virtio_dir(struct device *d, const char *name, long long vis)
{
	/* VIRTIO_NET_F_CSUM..MAC, GUEST/HOST offloads, MRG_RXBUF..CTRL_VLAN,
	 * GUEST_ANNOUNCE, RING_INDIRECT_DESC, RING_EVENT_IDX, VERSION_1 */
	static const unsigned long long features = 0x1302fffafull;
	struct node *vd = node_child(d->dir, name);
	char bits[65];

	if (vd)
		return vd;
	vd = node_dir(d->dir, name);
	vd->visible_at = vis;
	for (int i = 0; i < 64; i++)	/* features_show(): one character per bit */
		bits[i] = features >> i & 1 ? '1' : '0';
	bits[64] = '\0';
	const_file(vd, "device", 0444, K_CONST, "0x%04x\n", 1);
	const_file(vd, "vendor", 0444, K_CONST, "0x%04x\n", d->subvendor);
	const_file(vd, "features", 0444, K_CONST, "%s\n", bits);
	const_file(vd, "status", 0444, K_CONST, "0x%08x\n", 0xf);
	const_file(vd, "modalias", 0444, K_CONST, "virtio:d%08Xv%08X\n", 1, d->subvendor);
	return vd;
}

static void build_net(struct device *d, struct netif *ni, long long vis)
{
	struct node *at = ni->under ? virtio_dir(d, ni->under, vis) : d->dir;
	struct node *nd = node_dir(node_dir(at, "net"), ni->name);

	nd->visible_at = vis;
	net_attrs(ni, nd);
	link_to(L.class_net, ni->name, nd)->visible_at = vis;
	stack_link(ni, vis);
	for (int k = 0; k < ni->nuppers; k++)
		build_upper(&ni->uppers[k], vis);
}

/* The kernel deletes a vlan or macvlan with its lower, and takes a port
 * out of its bridge or bond. */
static void remove_net(struct netif *ni)
{
	for (int k = 0; k < ni->nuppers; k++)
		remove_upper(&ni->uppers[k]);
	stack_unlink(ni);
	node_remove_child(L.class_net, ni->name);
	ni->dir = NULL;		/* the directory goes with DEV/net/ */
}

/* ---- disks ---------------------------------------------------------------- */
static int claimed_itself(const struct blockdev *b)
{
	return b->mounted || b->swap || b->nholders || b->claimed;
}

/* What bd_may_claim() answers an exclusive open: a disk is busy when it or
 * any of its partitions is claimed, a partition when it is, or when its
 * whole disk is claimed as such. */
int block_claimed(const struct blockdev *b)
{
	const struct blockdev *disk = b->disk ? b->disk : b;

	if (claimed_itself(b))
		return 1;
	if (b != disk)
		return claimed_itself(disk);
	for (int i = 0; i < disk->nparts; i++)
		if (claimed_itself(&disk->parts[i]))
			return 1;
	return 0;
}

static void holder_dev(const char *holder, char *out, size_t len)
{
	int n;
	if (sscanf(holder, "dm-%d", &n) == 1)
		snprintf(out, len, "254:%d", n);
	else if (sscanf(holder, "md%d", &n) == 1)
		snprintf(out, len, "9:%d", n);
	else
		snprintf(out, len, "253:0");
}

/* holders/H -> virtual/block/H, and H/slaves/NAME back to the disk. */
static void build_holders(struct node *bd, const struct blockdev *b)
{
	struct node *hd = node_dir(bd, "holders");
	char dev[32];

	for (int i = 0; i < b->nholders; i++) {
		struct node *h = node_child(L.virt_block, b->holders[i]);
		if (!h) {
			h = node_dir(L.virt_block, b->holders[i]);
			holder_dev(b->holders[i], dev, sizeof dev);
			const_file(h, "dev", 0444, K_CONST, "%s\n", dev);
			link_to(L.class_block, b->holders[i], h);
			link_to(L.sys_block, b->holders[i], h);
		}
		link_to(node_dir(h, "slaves"), b->name, bd);
		link_to(hd, b->holders[i], h);
	}
}

static void remove_holders(const struct blockdev *b)
{
	for (int i = 0; i < b->nholders; i++) {
		struct node *h = node_child(L.virt_block, b->holders[i]);
		struct node *slaves = h ? node_child(h, "slaves") : NULL;
		node_remove_child(slaves, b->name);
		if (h && (!slaves || !slaves->nkids)) {
			node_remove(h);
			node_remove_child(L.class_block, b->holders[i]);
			node_remove_child(L.sys_block, b->holders[i]);
		}
	}
}

/* dev_uevent() then block_uevent() (disks) or part_uevent() (partitions). */
static void block_uevent(struct node *bd, const struct blockdev *b)
{
	if (b->partno)
		const_file(bd, "uevent", 0644, K_CONST,
			   "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nDEVTYPE=partition\nPARTN=%d\n",
			   b->major, b->minor, b->name, b->partno);
	else
		const_file(bd, "uevent", 0644, K_CONST,
			   "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nDEVTYPE=disk\nDISKSEQ=%d\n",
			   b->major, b->minor, b->name, b->diskseq);
}

static struct node *build_blockdev(struct node *parent, struct blockdev *b, long long vis)
{
	struct node *bd = node_dir(parent, b->name);
	static const struct { const char *name; int attr; } disk[] = {
		{"dev", BK_DEV}, {"size", BK_SIZE}, {"ro", BK_RO}, {"removable", BK_REMOVABLE}};
	static const struct { const char *name; int attr; } part[] = {
		{"dev", BK_DEV}, {"size", BK_SIZE}, {"partition", BK_PARTITION}, {"start", BK_START}};

	for (int i = 0; i < 4; i++)
		node_file(bd, b->partno ? part[i].name : disk[i].name, 0444, K_BLOCK,
			  b->partno ? part[i].attr : disk[i].attr, b);
	block_uevent(bd, b);
	build_holders(bd, b);
	link_to(L.class_block, b->name, bd)->visible_at = vis;
	if (!b->partno)
		link_to(L.sys_block, b->name, bd)->visible_at = vis;
	node_file(L.dev, b->name, 0660, K_BLOCKNODE, 0, b)->visible_at = vis;
	openers(b->open_by, b->nopen, b->name, 1);
	for (int i = 0; i < b->nparts; i++)
		build_blockdev(bd, &b->parts[i], vis);
	return bd;
}

static void remove_blockdev(const struct blockdev *b)
{
	remove_holders(b);
	node_remove_child(L.class_block, b->name);
	node_remove_child(L.sys_block, b->name);
	node_remove_child(L.dev, b->name);
	openers(b->open_by, b->nopen, b->name, 0);
	for (int i = 0; i < b->nparts; i++)
		remove_blockdev(&b->parts[i]);
}

/* ---- character devices ------------------------------------------------------ */
/* DIR/NAME with dev, uevent and device (back to the PCI function), the class
 * link and the /dev node; DEVNAME is the node's path below /dev. */
static struct node *char_dev(struct device *d, struct node *dir, struct node *cls,
			     const char *name, const char *devname, int major, int minor,
			     mode_t mode, long long vis)
{
	struct node *cd = node_dir(dir, name), *at = L.dev;
	const char *slash = strrchr(devname, '/');

	const_file(cd, "dev", 0444, K_CONST, "%d:%d\n", major, minor);
	const_file(cd, "uevent", 0644, K_CONST, "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\n", major, minor,
		   devname);
	link_to(cd, "device", d->dir);
	link_to(cls, name, cd)->visible_at = vis;
	if (slash) {
		char sub[32];
		snprintf(sub, sizeof sub, "%.*s", (int)(slash - devname), devname);
		at = node_dir(L.dev, sub);
	}
	node_file(at, slash ? slash + 1 : devname, mode, K_DEVNODE, 0, d)->visible_at = vis;
	return cd;
}

static void remove_char_dev(struct node *cls, const char *name, const char *devname)
{
	const char *slash = strrchr(devname, '/');

	node_remove_child(cls, name);
	if (!slash) {
		node_remove_child(L.dev, devname);
		return;
	}
	char sub[32];
	snprintf(sub, sizeof sub, "%.*s", (int)(slash - devname), devname);
	struct node *at = node_child(L.dev, sub);
	node_remove_child(at, slash + 1);
	if (at && !at->nkids)
		node_remove(at);
}

static void drm_nodes(struct device *d, long long vis, int add)
{
	char devname[48];
	struct node *dir = add ? node_dir(d->dir, "drm") : NULL;

	if (dir)
		dir->visible_at = vis;
	for (int i = 0; i < d->ndrm; i++) {
		struct chardev *m = &d->drm[i];
		snprintf(devname, sizeof devname, "dri/%s", m->name);
		if (add) {
			struct node *cd = char_dev(d, dir, L.class_drm, m->name, devname, DRM_MAJOR,
						   m->minor, m->minor >= 128 ? 0666 : 0660, vis);
			/* drm_sysfs: DEVTYPE=drm_minor follows DEVNAME */
			const_file(cd, "uevent", 0644, K_CONST,
				   "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nDEVTYPE=drm_minor\n", DRM_MAJOR,
				   m->minor, devname);
		} else {
			remove_char_dev(L.class_drm, m->name, devname);
		}
		openers(m->open_by, m->nopen, devname, add);
	}
}

static void fb_node(struct device *d, long long vis, int add)
{
	char name[16];

	snprintf(name, sizeof name, "fb%d", d->fb.minor);
	if (add) {
		struct node *dir = node_dir(d->dir, "graphics");
		dir->visible_at = vis;
		struct node *cd = char_dev(d, dir, L.class_graphics, name, name, FB_MAJOR,
					   d->fb.minor, 0660, vis);
		const_file(cd, "name", 0444, K_CONST, "%sdrmfb\n", d->init_drv->name);
	} else {
		remove_char_dev(L.class_graphics, name, name);
	}
	openers(d->fb.open_by, d->fb.nopen, name, add);
}

static void uio_node(struct device *d, long long vis, int add)
{
	struct chardev *u = &d->uio;

	if (add) {
		struct node *dir = node_dir(d->dir, "uio");
		dir->visible_at = vis;
		struct node *cd = char_dev(d, dir, L.class_uio, u->name, u->name, UIO_MAJOR, u->minor,
					   0600, vis);
		const_file(cd, "name", 0444, K_CONST, "%s\n", d->init_drv->name);
		const_file(cd, "version", 0444, K_CONST, "0.01.0\n");
	} else {
		remove_char_dev(L.class_uio, u->name, u->name);
	}
	openers(u->open_by, u->nopen, u->name, add);
}

/* The controller's character device nvmeX and, per namespace nvmeXnY, the
 * generic one ngXnY (both below the controller). */
static void nvme_nodes(struct device *d, struct node *ctrl, long long vis, int add)
{
	int x = atoi(d->nvme_ctrl + 4);
	char ng[40];

	if (add)	/* the controller's own directory is the character device's */
		char_dev(d, ctrl->parent, L.class_nvme, d->nvme_ctrl, d->nvme_ctrl,
			 NVME_CHAR_MAJOR, x, 0600, vis);
	for (int i = 0; i < d->nblocks; i++) {
		int c, n;
		char tail;
		if (sscanf(d->blocks[i].name, "nvme%dn%d%c", &c, &n, &tail) != 2)
			continue;
		snprintf(ng, sizeof ng, "ng%dn%d", c, n);
		if (add)
			char_dev(d, ctrl, L.class_nvme_generic, ng, ng, NVME_GENERIC_MAJOR,
				 d->blocks[i].minor, 0600, vis);
		else
			remove_char_dev(L.class_nvme_generic, ng, ng);
	}
	if (!add) {
		node_remove_child(L.dev, d->nvme_ctrl);
		node_remove_child(L.class_nvme, d->nvme_ctrl);
	}
}

static void nvidia_node(struct device *d, int add)
{
	char name[32];

	snprintf(name, sizeof name, "nvidia%d", d->nv.minor);
	if (add) {
		node_file(L.dev, name, 0666, K_DEVNODE, 0, d)->visible_at = d->bind_visible_at;
		struct node *gd = node_dir(L.nv_gpus, d->addr);
		gd->visible_at = d->bind_visible_at;
		node_file(gd, "information", 0444, K_PROC, PR_NV_INFO, d);
	} else {
		node_remove_child(L.dev, name);
		node_remove_child(L.nv_gpus, d->addr);
	}
	openers(d->nv.open_by, d->nv.nopen, name, add);
}

/* ---- a device's hints -------------------------------------------------------- */
void hints_build(struct device *d)
{
	long long vis = d->bind_visible_at;

	d->built_hints = 1;
	for (int i = 0; i < d->nnets; i++)
		build_net(d, &d->nets[i], vis);
	if (d->nblocks) {
		struct node *ctrl = node_dirs(d->dir, "nvme");
		ctrl->visible_at = vis;
		ctrl = node_dir(ctrl, d->nvme_ctrl);
		nvme_nodes(d, ctrl, vis, 1);
		for (int i = 0; i < d->nblocks; i++)
			build_blockdev(ctrl, &d->blocks[i], vis);
	}
	if (d->nv.present)
		nvidia_node(d, 1);
	if (d->ndrm)
		drm_nodes(d, vis, 1);
	if (d->fb.present)
		fb_node(d, vis, 1);
	if (d->has_uio)
		uio_node(d, vis, 1);
	for (int i = 0; i < d->nmaps; i++)
		pid_dir(d->maps[i].pid, d->maps[i].comm);
}

void hints_remove(struct device *d)
{
	static const char *const dirs[] = {"net", "nvme", "drm", "graphics", "uio"};

	d->built_hints = 0;
	for (int i = 0; i < d->nnets; i++)
		remove_net(&d->nets[i]);
	for (int i = 0; i < d->nblocks; i++)
		remove_blockdev(&d->blocks[i]);
	if (d->nvme_ctrl)
		nvme_nodes(d, NULL, 0, 0);
	if (d->nv.present)
		nvidia_node(d, 0);
	if (d->ndrm)
		drm_nodes(d, 0, 0);
	if (d->fb.present)
		fb_node(d, 0, 0);
	if (d->has_uio)
		uio_node(d, 0, 0);
	for (int i = 0; i < d->nmaps; i++)
		pid_gc(d->maps[i].pid);
	for (int i = 0; i < d->nnets; i++)
		if (d->nets[i].under)
			node_remove_child(d->dir, d->nets[i].under);
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
		node_remove_child(d->dir, dirs[i]);
}

/* resourceN files stay with the device whatever its driver; only those a
 * mapping names are modelled (BARs are not). */
void hints_device_files(struct device *d)
{
	for (int i = 0; i < d->nresources; i++)
		node_file(d->dir, d->resources[i], 0600, K_DEVNODE, 0, d);
}

/* ---- host-wide ---------------------------------------------------------------- */
static int any_fb(void)
{
	for (int i = 0; i < S.h->ndevs; i++)
		if (S.h->devs[i]->fb.present)
			return 1;
	return 0;
}

/* fbcon draws the consoles on a framebuffer that says so, unless
 * vtcon1/bind was written 0. */
int fbcon_bound(void)
{
	if (S.h->fbcon_unbound)
		return 0;
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *d = S.h->devs[i];
		if (d->fb.present && d->fb.console && d->built_hints && now_ms() >= d->bind_visible_at)
			return 1;
	}
	return 0;
}

/* vtcon0 is the dummy console (bound when nothing else is); vtcon1 is fbcon,
 * registered on hosts with a framebuffer. */
static void build_vtconsoles(void)
{
	struct node *vt = node_dirs(L.devices, "virtual/vtconsole");
	struct node *cls = node_dirs(L.sys, "class/vtconsole");

	for (int k = 0; k < (any_fb() ? 2 : 1); k++) {
		char name[16];
		snprintf(name, sizeof name, "vtcon%d", k);
		struct node *c = node_dir(vt, name);
		const_file(c, "name", 0444, K_CONST, "%s\n",
			   k ? "(M) frame buffer device" : "(S) dummy device");
		node_file(c, "bind", 0644, K_VTCON, VT_BIND, NULL)->arg = k;
		const_file(c, "uevent", 0644, K_CONST, "%s", "");
		link_to(cls, name, c);
	}
}

void hints_build_host(void)
{
	for (int i = 0; i < S.h->nvnets; i++)
		virtual_dir(&S.h->vnets[i], 0);
	for (int i = 0; i < S.h->nvnets; i++)
		stack_link(&S.h->vnets[i], 0);
	for (int i = 0; i < S.h->nvnets; i++)
		for (int k = 0; k < S.h->vnets[i].nuppers; k++)
			build_upper(&S.h->vnets[i].uppers[k], 0);
	build_vtconsoles();
	node_file(L.proc, "swaps", 0444, K_PROC, PR_SWAPS, NULL);
}
