/* Shared by layout.c (devices, drivers, groups) and hints.c (what host
 * drivers create: interfaces and what is stacked on them, disks, device
 * nodes, the processes using them). Not for the rest of the simulator. */
#ifndef SYSFS_SIM_LAYOUT_H
#define SYSFS_SIM_LAYOUT_H

#include "sim.h"

struct layout_dirs {
	struct node *sys, *devices, *virt_block, *virt_net, *bus_pci, *bus_devices, *drivers,
		*groups, *class_net, *class_block, *class_nvme, *class_nvme_generic, *class_drm,
		*class_graphics, *class_uio, *sys_block, *dev, *dev_vfio, *dev_vfio_devices,
		*proc, *nv_gpus;
	int building;
};
extern struct layout_dirs L;

struct node *link_to(struct node *dir, const char *name, const struct node *to);
struct node *const_file(struct node *dir, const char *name, mode_t mode, enum nkind kind,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* hints.c */
void hints_build_host(void);		/* virtual interfaces, vtconsole, proc/swaps */
void hints_device_files(struct device *d);	/* resourceN files a mapping names */
void hints_build(struct device *d);
void hints_remove(struct device *d);

#endif
