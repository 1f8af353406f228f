/* sysfs-sim: a FUSE filesystem presenting the PCI part of sysfs, /dev/vfio and a
 * few /proc files of a simulated host, with the write semantics of Linux 6.1.
 *
 * One process, one global mutex (S.lock) guarding the model and the node tree.
 * Handlers that must block (a vfio unbind while the group is open, a hung host
 * driver, a device lock held by such a writer) wait on S.cond, which releases
 * the mutex; every state change broadcasts S.cond and waiters re-check.
 */
#ifndef SYSFS_SIM_H
#define SYSFS_SIM_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- growable string ---------------------------------------------------- */
struct strbuf { char *s; size_t len, cap; };
void sb_add(struct strbuf *b, const void *p, size_t n);
void sb_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *b);
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

/* ---- the model ---------------------------------------------------------- */
struct node;

/* "vvvv:dddd", "vvvv:*", optionally ":CLASSPREFIX" that must match too */
struct pci_id { unsigned vendor, device; int any_device; char cls[8]; };

/* A new_id entry; sub ids default to PCI_ANY_ID, class/mask to 0. */
struct dynid { unsigned vendor, device, subvendor, subdevice, class, class_mask; };
#define PCI_ANY_ID 0xffffffffu

struct driver {
	char *name;
	struct pci_id *ids; int nids;
	char **classes; int nclasses;	/* hex class prefixes, 2/4/6 digits */
	struct dynid *dyn; int ndyn;
	int is_vfio;
	int dma_managed;	/* may bind while the group has a user owner */
	struct node *dir;
};

struct route { int v6, plen, has_gw; unsigned table; unsigned char dst[16], gw[16]; };
#define RT_TABLE_MAIN 254u
struct ifaddr { int v6, plen, noprefixroute; unsigned char a[16]; };

/* What an interface is: a PCI function's own (the driver made it), a master
 * (bridge, bond, team, an Open vSwitch datapath or internal port) or an
 * upper stacked on another interface (vlan, macvlan, ipvlan). */
enum netkind { NK_PHYS, NK_BRIDGE, NK_BOND, NK_TEAM, NK_OVS, NK_VLAN, NK_MACVLAN, NK_IPVLAN };
struct netif {
	char *name, *mac; int up, mtu, ifindex;
	char *under;		/* "virtioN": the interface sits in DEV/virtioN/net/ */
	struct route *routes; int nroutes;
	struct ifaddr *addrs; int naddrs;
	enum netkind kind;
	int vlan_id;		/* NK_VLAN */
	int in_netns;		/* mirrored into the helper's network namespace */
	char *master_name;
	struct netif *master;	/* resolved: a host-wide virtual interface */
	struct netif *uppers; int nuppers;	/* vlan, macvlan, ipvlan on this one */
	struct netif *lower;	/* an upper's lower interface */
	struct device *dev;	/* the PCI function whose driver made it (NK_PHYS) */
	struct node *dir;	/* its sysfs directory while it exists */
};

/* A process holding a device node open: proc/PID/fd/FD -> /dev/NODE. */
struct opener { int pid, fd; char *comm; };
/* A process mapping one of the device's BARs: a line in proc/PID/maps. */
struct mapping { int pid, ino; char *comm, *resource; };

struct blockdev {
	char *name, *mounted, *fstype;
	int major, minor, partno;	/* partno 0: whole disk */
	long long size, start;	/* sectors */
	char **holders; int nholders;
	struct blockdev *parts; int nparts;
	struct blockdev *disk;	/* a partition's whole disk */
	int swap, claimed, swap_prio, anon_minor, diskseq;
	struct opener *open_by; int nopen;
};
struct nvhint { int present, minor; struct opener *open_by; int nopen; char *model; };
/* DRM minors (cardN, renderDN), a framebuffer (fbN), a uio device (uioN). */
struct chardev { char *name; int minor; struct opener *open_by; int nopen; };
struct fbhint { int present, minor, console; struct opener *open_by; int nopen; };

struct faults {
	int unbind_hang;	/* unbind blocks until "release ADDR" */
	int unbind_errno, bind_errno, probe_errno, override_errno;
	int delay_ms, async_ms;
	int unplug_after;	/* unplug once this many more writes completed */
	int reset_breaks;	/* the next reset leaves it reading all ones */
	int allones;		/* config space reads all ones: it stopped answering */
};

/* reset_method names, in the kernel's order (pci_reset_fn_methods[1..7]) */
#define NRESET_METHODS 7
extern const char *const reset_method_names[NRESET_METHODS + 1];	/* [0] unused */

/* What current_link_speed and friends show (pcie_dev_attrs); present 0: a
 * conventional PCI device, no files. */
struct pcilink { int present, width, max_width; const char *speed, *max_speed; };

struct device {
	char addr[24];
	unsigned dom, bus, slot, fn;
	unsigned vendor, device, subvendor, subdevice, class, revision;
	int header_type, numa_node, group;	/* group -1: none */
	int boot_vga;				/* -1: not a display device */
	struct driver *init_drv;		/* the topology's driver: owns the hints */
	char *init_override;
	struct device *parent, *physfn;
	int totalvfs, vf_autoprobe, nvfs_listed;
	struct netif *nets; int nnets;
	struct blockdev *blocks; int nblocks;
	char *nvme_ctrl;
	struct nvhint nv;
	struct chardev *drm; int ndrm;
	struct fbhint fb;
	struct chardev uio; int has_uio;
	struct mapping *maps; int nmaps;
	char **resources; int nresources;	/* resourceN files the maps name */
	unsigned char reset_init[NRESET_METHODS]; int nreset_init;	/* 0: no reset_method file */
	struct pcilink link;
	int rom;			/* an expansion ROM: a rom file (0600) */

	/* runtime state */
	struct driver *drv;	/* kept while a blocked unbind runs, as dev->driver */
	char *override;
	int present, epoch;	/* epoch changes on unplug: stale waiters give up */
	int locked;		/* the kernel's device_lock */
	int unbinding;		/* remove in progress: driver link already gone */
	int vfio_idx;		/* vfio-dev/vfioX, -1 when none */
	int dev_open;		/* a hypervisor has its device fd ("attach G ADDR") */
	int enable, numvfs;
	unsigned char reset[NRESET_METHODS]; int nreset;	/* reset_method as written */
	int rom_enabled;		/* "1" written to rom */
	long long bind_visible_at;	/* async fault: bind nodes appear then */
	struct faults f;
	int resets;		/* writes to reset that succeeded */
	struct node *dir;
	int built_hints;
};

struct group {
	int id;
	int vfio_members;	/* members on vfio-pci (present) */
	int opens;		/* open fds of dev/vfio/N */
	int held;		/* a container is attached: the group has a user owner */
	int all_open;		/* ... and every member device is open ("hold") */
	int hold_pid; char *hold_comm;
};

/* An IOMMU unit: class/iommu/NAME. Intel (dmarN) shows intel-iommu/cap and
 * ecap, AMD (ivhdN) amd-iommu/features; hex as the kernel prints %llx. */
struct iommu_unit { char *name, *cap, *ecap, *features; };
enum firmware { FW_NONE, FW_DMAR, FW_IVRS };

struct host {
	char *name, *kernel;
	int iommu, vfio_loaded, cdev;
	enum firmware firmware;		/* the ACPI table describing the IOMMU */
	struct iommu_unit *units; int nunits;
	int intremap;			/* interrupt remapping on: IR- chips in proc/interrupts */
	char *cmdline;			/* proc/cmdline without its newline */
	int kvm;			/* dev/kvm */
	int unsafe_interrupts;		/* vfio_iommu_type1 allow_unsafe_interrupts */
	struct driver **drivers; int ndrivers;	/* vfio-pci last */
	struct driver *vfio;
	struct device **devs; int ndevs;
	struct group *groups; int ngroups;
	struct netif *vnets; int nvnets;	/* host-wide: devices/virtual/net */
	int drivers_autoprobe, next_vfio_idx;
	int fbcon_unbound;	/* vtcon1/bind was written 0 */
};

/* ---- global simulator state ------------------------------------------- */
struct logent { long seq; char *path, *data; int done, result; };
struct writer { char *path, *data; char waiting[64]; struct writer *next; };

struct sim {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct host *h;
	struct node *root;
	int generation;		/* bumped by "load": stale open files are ignored */
	int shutdown;
	void *session;		/* struct fuse_session *, to see an external unmount */
	struct logent *log; int nlog, caplog; long logseq;
	struct writer *writers; int nwriters;
	char last_error[512];
	int static_mode;
	struct { int pid, ms; } slow[8]; int nslow;	/* "fault proc PID slow MS" */
};
extern struct sim S;

/* faults.c: a read of proc/PID/maps that a "slow" fault names waits first
 * (the lock is released meanwhile). */
void fault_proc_slow(const char *path);

/* topology.c */
struct host *topology_load(const char *path, char *err, size_t errlen);
void host_free(struct host *h);
struct device *host_find(struct host *h, const char *addr);
struct group *host_group(struct host *h, int id);
int class_is_display(unsigned class);

/* tree.c */
enum ntype { N_DIR, N_FILE, N_LINK };
enum nkind {		/* what a file is; selects show/store in attrs.c */
	K_NONE, K_CONST, K_DEV, K_DRV, K_BUS, K_NET, K_BLOCK, K_GROUP,
	K_DEVNODE, K_VFIO_GROUP, K_PROC, K_SIM, K_BLOCKNODE, K_VTCON,
	K_ACPI		/* firmware/acpi/tables/SIG: a table header; the node's name is its signature */
};
/* attr values per kind */
enum { DA_VENDOR, DA_DEVICE, DA_SUBVENDOR, DA_SUBDEVICE, DA_CLASS, DA_REVISION, DA_IRQ,
       DA_RESOURCE, DA_NUMA, DA_ENABLE, DA_MODALIAS, DA_UEVENT, DA_CONFIG, DA_OVERRIDE,
       DA_BOOT_VGA, DA_TOTALVFS, DA_NUMVFS, DA_VF_AUTOPROBE, DA_VFIO_DEV,
       DA_SECONDARY_BUS, DA_SUBORDINATE_BUS, DA_RESET_METHOD, DA_LINK_SPEED, DA_LINK_WIDTH,
       DA_MAX_LINK_SPEED, DA_MAX_LINK_WIDTH, DA_ROM, DA_RESET };
enum { DRA_BIND, DRA_UNBIND, DRA_NEW_ID, DRA_REMOVE_ID };
enum { BA_PROBE, BA_AUTOPROBE, BA_RESCAN };
enum { NA_OPERSTATE, NA_FLAGS, NA_ADDRESS, NA_IFINDEX, NA_MTU, NA_CARRIER, NA_TYPE, NA_IFLINK,
       NA_BOND_SLAVES };
enum { BK_DEV, BK_SIZE, BK_PARTITION, BK_START, BK_RO, BK_REMOVABLE };
enum { PR_ROUTE, PR_IPV6_ROUTE, PR_IF_INET6, PR_MOUNTINFO, PR_MOUNTS, PR_NV_INFO, PR_SWAPS,
       PR_MAPS, PR_INTERRUPTS };
enum { VT_BIND };
enum { SA_CONTROL, SA_STATE, SA_LOG, SA_LAST_ERROR };

struct node {
	char *name;
	enum ntype type;
	mode_t mode;
	uid_t uid;		/* 0 but where chown(2) may change it: */
	gid_t gid;		/* /dev/vfio/N and /dev/vfio/devices/vfioX */
	struct node *parent;
	struct node **kids; int nkids, capkids;
	char *target;		/* N_LINK target; K_CONST content */
	enum nkind kind;	/* N_FILE */
	int attr;		/* which attribute of the object */
	void *obj;
	int arg;
	long long visible_at;	/* hidden before this CLOCK_MONOTONIC ms */
	struct node *hnext;	/* hash chain keyed by (parent, name) */
	unsigned long long ino;	/* never reused: a directory made again (a device
				 * added back, another host loaded) is another
				 * inode, as kernfs gives it */
};
struct node *node_root(void);
struct node *node_lookup(const char *path);
struct node *node_child(struct node *dir, const char *name);
struct node *node_dir(struct node *parent, const char *name);
struct node *node_dirs(struct node *from, const char *relpath);
struct node *node_file(struct node *dir, const char *name, mode_t mode,
		       enum nkind kind, int attr, void *obj);
struct node *node_link(struct node *dir, const char *name, const char *target);
void node_remove(struct node *n);
void node_remove_child(struct node *dir, const char *name);
int node_visible(const struct node *n);
char *node_relpath(const struct node *from_dir, const struct node *to);
void tree_free(struct node *root);
long long now_ms(void);

/* layout.c: builds the tree from the model and keeps it in step */
void layout_build(void);
void layout_sync_device(struct device *d);
void layout_sync_group(int gid);
int bridge_secondary_bus(const struct device *b);
void layout_proc_fd(int pid, const char *comm, int fd, const char *target, int add);
int netif_live(const struct netif *ni);
int block_claimed(const struct blockdev *b);
int fbcon_bound(void);
void netif_foreach(void (*fn)(const struct netif *ni, void *arg), void *arg);

/* attrs.c: attribute contents and what writes to them do */
int attr_show(struct node *n, struct strbuf *out, uid_t uid);
int attr_store(struct node *n, const char *buf, size_t len);
int device_irq(const struct device *d);

/* kernel.c: the driver core and PCI semantics */
int driver_match(const struct driver *D, const struct device *d);
struct device *bus_find_device(const char *buf);
int kern_bind(struct driver *D, const char *buf);
int kern_unbind(struct driver *D, const char *buf);
int kern_drivers_probe(const char *buf);
int kern_new_id(struct driver *D, const char *buf);
int kern_remove_id(struct driver *D, const char *buf);
int kern_driver_override(struct device *d, const char *buf, size_t len);
int kern_sriov_numvfs(struct device *d, const char *buf);
int kern_rescan(const char *buf);
int kern_lock_for_read(struct device *d, int *epoch);
void kern_unlock(struct device *d, int epoch);
void kern_unplug(struct device *d);
int group_owned(const struct group *g);
int device_in_use(const struct device *d);
int wait_ms(long ms);
void wake_all(void);
int sim_stopping(void);		/* main.c: SIGTERM or unmount under way */
int sim_interrupted(void);	/* main.c: the current request's reader gave up */

/* faults.c: control commands, write log, state dump */
int control_command(const char *buf, size_t len);
long log_begin(const char *path, const char *data, size_t len);
void log_end(long seq, int result);
void log_show(struct strbuf *out);
void state_show(struct strbuf *out);
struct writer *writer_begin(const char *path, const char *data, size_t len);
void writer_wait(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void writer_end(struct writer *w);
void fault_count_write(struct device *d);
const char *errno_name(int e);
int errno_value(const char *name);

/* proc.c */
void proc_route(struct strbuf *out);
void proc_ipv6_route(struct strbuf *out);
void proc_if_inet6(struct strbuf *out);
void proc_mountinfo(struct strbuf *out, int mounts_format);
void proc_nvidia_info(const struct device *d, struct strbuf *out);
void proc_swaps(struct strbuf *out);
void proc_maps(int pid, struct strbuf *out);
void proc_interrupts(struct strbuf *out);

/* fuseio.c */
int fuseio_install(void *session);

/* static.c */
int static_write(const char *dir);

#endif
