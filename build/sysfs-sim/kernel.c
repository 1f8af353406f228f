/* The driver core and PCI semantics of Linux 6.1, reduced to what a sysfs
 * writer can observe. Function names follow the kernel functions they stand
 * for (drivers/base/bus.c, dd.c, drivers/pci/pci-driver.c, iov.c, vfio) so the
 * reasoning behind each errno can be checked against the source.
 *
 * Every function here runs with S.lock held; waiting releases it. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wake_all(void)
{
	pthread_cond_broadcast(&S.cond);
}

/* Waits for a state change (at most ms, at most 100 ms so a shutdown or an
 * unmount is noticed). -EINTR when the simulator is stopping. */
int wait_ms(long ms)
{
	struct timespec ts;

	if (sim_stopping())
		return -EINTR;
	if (ms > 100)
		ms = 100;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&S.cond, &S.lock, &ts);
	return sim_stopping() ? -EINTR : 0;
}

/* A group has a user owner once a hypervisor attached it to a container
 * ("attach" or "hold"). Merely opening /dev/vfio/N (which FUSE can model,
 * unlike the ioctls) is exclusive but claims nothing: on 6.1 a member may
 * still leave vfio-pci and go back to its host driver. */
int group_owned(const struct group *g)
{
	return g && g->held;
}

/* vfio's remove() waits for the device's users: an open device fd. */
int device_in_use(const struct device *d)
{
	const struct group *g = host_group(S.h, d->group);
	return group_owned(g) && (g->all_open || d->dev_open);
}

static struct group *dev_group(const struct device *d)
{
	return host_group(S.h, d->group);
}

/* ---- matching: pci_match_device() ------------------------------------ */
static int class_prefix_match(const char *prefix, unsigned class)
{
	size_t l = strlen(prefix);
	return (class >> (4 * (6 - l))) == (unsigned)strtoul(prefix, NULL, 16);
}

static int dynid_match(const struct dynid *id, unsigned v, unsigned dv, unsigned sv,
		       unsigned sd, unsigned class)
{
	return (id->vendor == PCI_ANY_ID || id->vendor == v) &&
	       (id->device == PCI_ANY_ID || id->device == dv) &&
	       (id->subvendor == PCI_ANY_ID || id->subvendor == sv) &&
	       (id->subdevice == PCI_ANY_ID || id->subdevice == sd) &&
	       !((id->class ^ class) & id->class_mask);
}

/* Dynamic ids first, then the static table (ids and class prefixes). */
static int ids_match(const struct driver *D, unsigned v, unsigned dv, unsigned sv,
		     unsigned sd, unsigned class)
{
	for (int i = 0; i < D->ndyn; i++)
		if (dynid_match(&D->dyn[i], v, dv, sv, sd, class))
			return 1;
	for (int i = 0; i < D->nids; i++)
		if (D->ids[i].vendor == v && (D->ids[i].any_device || D->ids[i].device == dv) &&
		    (!D->ids[i].cls[0] || class_prefix_match(D->ids[i].cls, class)))
			return 1;
	for (int i = 0; i < D->nclasses; i++)
		if (class_prefix_match(D->classes[i], class))
			return 1;
	return 0;
}

/* An override admits exactly the driver it names, even one with no ids
 * (vfio-pci's table holds only an override-only entry). */
int driver_match(const struct driver *D, const struct device *d)
{
	if (d->override)
		return strcmp(d->override, D->name) == 0;
	return ids_match(D, d->vendor, d->device, d->subvendor, d->subdevice, d->class);
}

/* bus_find_device_by_name(): sysfs_streq() ignores one trailing newline. */
static int sysfs_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	if (*a == *b)
		return 1;
	return (!*a && *b == '\n' && !b[1]) || (*a == '\n' && !a[1] && !*b);
}

struct device *bus_find_device(const char *buf)
{
	for (int i = 0; i < S.h->ndevs; i++)
		if (S.h->devs[i]->present && sysfs_streq(S.h->devs[i]->addr, buf))
			return S.h->devs[i];
	return NULL;
}

/* ---- device_lock() and the per-device faults ------------------------- */
static int gone(const struct device *d, int epoch)
{
	return !d->present || d->epoch != epoch;
}

static int dev_lock(struct device *d, int *epoch)
{
	int e = d->epoch, r;

	while (d->locked && !gone(d, e)) {
		writer_wait("device lock of %s", d->addr);
		if ((r = wait_ms(100)))
			return r;
	}
	writer_wait(NULL);
	if (gone(d, e))
		return -ENODEV;
	d->locked = 1;
	*epoch = e;
	return 0;
}

void kern_unlock(struct device *d, int epoch)
{
	if (d->epoch == epoch)
		d->locked = 0;
	wake_all();
}

/* Readers of driver_override wait for the device lock too (6.1 takes it). */
int kern_lock_for_read(struct device *d, int *epoch)
{
	int r = dev_lock(d, epoch);
	if (!r)
		kern_unlock(d, *epoch);
	return r;
}

/* "fault ADDR delay MS": the write takes that much longer. */
static int fault_delay(struct device *d)
{
	long long until = now_ms() + d->f.delay_ms;
	int r;

	while (d->f.delay_ms && now_ms() < until) {
		writer_wait("delay fault on %s", d->addr);
		if ((r = wait_ms(until - now_ms())))
			return r;
	}
	writer_wait(NULL);
	return d->present ? 0 : -ENODEV;
}

static int dev_begin(struct device *d, int *epoch)
{
	int r = fault_delay(d);
	return r ? r : dev_lock(d, epoch);
}

/* ---- probing: really_probe() ----------------------------------------- */
static void attach(struct device *d, struct driver *D)
{
	d->drv = D;
	d->enable = 1;
	d->bind_visible_at = d->f.async_ms ? now_ms() + d->f.async_ms : 0;
	if (D->is_vfio) {
		d->vfio_idx = S.h->next_vfio_idx++;
		dev_group(d)->vfio_members++;
	}
	layout_sync_device(d);
	wake_all();
}

/* A failing ->probe() (positive errno: the bus walk goes on to the next
 * driver, bind reports it). */
static int probe_error(const struct device *d, const struct driver *D)
{
	int own_override = d->override && strcmp(d->override, D->name) == 0;

	if (d->physfn && !d->physfn->vf_autoprobe && !own_override)
		return ENODEV;		/* pci_device_can_probe() */
	if (d->f.probe_errno)
		return d->f.probe_errno;
	if (D->is_vfio && d->header_type != 0)
		return EINVAL;		/* vfio-pci takes endpoints only */
	if (D->is_vfio && d->group < 0)
		return EINVAL;		/* vfio_group_find_or_alloc(): no IOMMU group */
	if (D->is_vfio && d->numvfs > 0)
		return EBUSY;		/* "Cannot bind to PF with SR-IOV enabled" */
	return 0;
}

/* 0 bound; -errno failed before ->probe() (stops a bus walk); +errno the
 * driver's probe failed. The device lock is held. */
static int really_probe(struct device *d, struct driver *D)
{
	if (!d->present)
		return -ENODEV;
	if (d->drv)
		return -EBUSY;
	if (d->f.bind_errno)
		return -d->f.bind_errno;
	/* pci_dma_configure() -> iommu_device_use_default_domain(): a group
	 * claimed by a user (vfio) refuses kernel drivers that manage DMA. */
	if (!D->dma_managed && group_owned(dev_group(d)))
		return -EBUSY;
	int e = probe_error(d, D);
	if (e)
		return e;
	attach(d, D);
	return 0;
}

/* __device_attach(): the first matching driver, in registration order, that
 * probes successfully wins. */
static int device_attach(struct device *d)
{
	for (int i = 0; i < S.h->ndrivers && !d->drv; i++) {
		struct driver *D = S.h->drivers[i];
		if (!driver_match(D, d))
			continue;
		int r = really_probe(d, D);
		if (r <= 0)
			return r;
	}
	return 0;
}

int kern_bind(struct driver *D, const char *buf)
{
	struct device *d = bus_find_device(buf);
	int epoch, r;

	if (!d || !driver_match(D, d))
		return -ENODEV;
	if ((r = dev_begin(d, &epoch)))
		return r;
	r = really_probe(d, D);
	kern_unlock(d, epoch);
	return r <= 0 ? r : -r;
}

/* drivers_probe_store(): no-op when bound; any failure other than a driver's
 * own probe error becomes EINVAL (KERNEL.md: held group -> EINVAL). */
int kern_drivers_probe(const char *buf)
{
	struct device *d = bus_find_device(buf);
	int epoch, r;

	if (!d)
		return -ENODEV;
	if ((r = fault_delay(d)))
		return r;
	if (d->drv)
		return 0;
	if ((r = dev_lock(d, &epoch)))
		return r;
	r = d->drv ? 0 : device_attach(d);
	kern_unlock(d, epoch);
	return r < 0 ? -EINVAL : 0;
}

/* ---- removal --------------------------------------------------------- */
static int destroy_vfs(struct device *pf);

/* ->remove() may block: a hung host driver, or vfio-pci while the group's
 * user still has it. -ENODEV if the device was unplugged meanwhile. */
static int wait_remove(struct device *d, const struct driver *D, int epoch)
{
	int r;

	for (;;) {
		if (gone(d, epoch))
			return -ENODEV;
		if (d->f.unbind_hang)
			writer_wait("unbind hang fault on %s", d->addr);
		else if (D->is_vfio && device_in_use(d))
			writer_wait("group %d in use", d->group);
		else
			break;
		if ((r = wait_ms(100)))
			return r;
	}
	writer_wait(NULL);
	return 0;
}

static void detach(struct device *d)
{
	if (d->drv && d->drv->is_vfio) {
		dev_group(d)->vfio_members--;
		d->vfio_idx = -1;
		d->dev_open = 0;
	}
	d->drv = NULL;
	d->unbinding = 0;
	d->enable = 0;
	d->bind_visible_at = 0;
}

/* device_release_driver(): the driver link goes first (driver_sysfs_remove),
 * then ->remove() runs and may block; dev->driver is cleared at the end.
 * force: VF teardown, where an injected unbind errno cannot apply. */
static int device_release(struct device *d, int force)
{
	int epoch = d->epoch, r;

	if (d->f.unbind_errno && !force)
		return -d->f.unbind_errno;
	d->unbinding = 1;
	layout_sync_device(d);
	r = wait_remove(d, d->drv, epoch);
	if (r == -ENODEV)
		return r;
	if (!r && d->numvfs)
		r = destroy_vfs(d);	/* the PF driver's remove disables SR-IOV */
	if (gone(d, epoch))
		return -ENODEV;
	detach(d);
	layout_sync_device(d);
	wake_all();
	return r;
}

int kern_unbind(struct driver *D, const char *buf)
{
	struct device *d = bus_find_device(buf);
	int epoch, r;

	if (!d || d->drv != D)
		return -ENODEV;
	if ((r = dev_begin(d, &epoch)))
		return r;
	/* a second unbind waited for the first on the device lock: it succeeds */
	if (d->drv == D)
		r = device_release(d, 0);
	kern_unlock(d, epoch);
	return r;
}

/* Hot removal: children and VFs first, as pci_stop_and_remove_bus_device().
 * Blocked writers on these devices see them gone and return ENODEV. */
void kern_unplug(struct device *d)
{
	if (!d->present)
		return;
	for (int i = 0; i < S.h->ndevs; i++) {
		struct device *c = S.h->devs[i];
		if (c->parent == d || c->physfn == d)
			kern_unplug(c);
	}
	detach(d);
	d->present = 0;
	d->epoch++;
	d->locked = 0;
	d->numvfs = 0;
	if (d->physfn && d->physfn->numvfs > 0)
		d->physfn->numvfs--;
	layout_sync_device(d);
	wake_all();
}

static int destroy_vfs(struct device *pf)
{
	for (int i = S.h->ndevs - 1; i >= 0; i--) {
		struct device *v = S.h->devs[i];
		int epoch, r;
		if (v->physfn != pf || !v->present)
			continue;
		if ((r = dev_lock(v, &epoch)) == -EINTR)
			return r;
		if (r)
			continue;
		if (v->drv && (r = device_release(v, 1)) == -EINTR) {
			kern_unlock(v, epoch);
			return r;
		}
		kern_unplug(v);	/* also drops the VF's lock */
	}
	pf->numvfs = 0;
	return 0;
}

/* ---- new_id / remove_id ---------------------------------------------- */
/* driver_attach(): every unbound device the driver now matches is probed;
 * errors are ignored. This is how new_id captures siblings. */
static int driver_attach(struct driver *D)
{
	for (int i = 0; i < S.h->ndevs; i++) {
		struct device *d = S.h->devs[i];
		int epoch, r;
		if (!d->present || !driver_match(D, d))
			continue;
		if ((r = dev_lock(d, &epoch)) == -EINTR)
			return r;
		if (r)
			continue;
		if (!d->drv)
			really_probe(d, D);
		kern_unlock(d, epoch);
	}
	return 0;
}

/* new_id_store(): "VVVV DDDD [SV SD CLASS MASK DATA]". With fewer than 7
 * fields an id the driver already matches is EEXIST (checked on a fake
 * device with those ids), so a second identical write fails. */
int kern_new_id(struct driver *D, const char *buf)
{
	struct dynid id = {0, 0, PCI_ANY_ID, PCI_ANY_ID, 0, 0};
	unsigned long data = 0;
	int fields = sscanf(buf, "%x %x %x %x %x %x %lx", &id.vendor, &id.device, &id.subvendor,
			    &id.subdevice, &id.class, &id.class_mask, &data);

	if (fields < 2)
		return -EINVAL;
	if (fields != 7 && ids_match(D, id.vendor, id.device, id.subvendor, id.subdevice, id.class))
		return -EEXIST;
	if (fields == 7 && data != 0)
		return -EINVAL;	/* driver_data must match an id_table entry (all ours are 0) */
	D->dyn = xrealloc(D->dyn, (D->ndyn + 1) * sizeof *D->dyn);
	D->dyn[D->ndyn++] = id;
	return driver_attach(D);
}

int kern_remove_id(struct driver *D, const char *buf)
{
	struct dynid id = {0, 0, PCI_ANY_ID, PCI_ANY_ID, 0, 0};
	int fields = sscanf(buf, "%x %x %x %x %x %x", &id.vendor, &id.device, &id.subvendor,
			    &id.subdevice, &id.class, &id.class_mask);

	if (fields < 2)
		return -EINVAL;
	for (int i = 0; i < D->ndyn; i++)
		if (memcmp(&D->dyn[i], &id, sizeof id) == 0) {
			memmove(&D->dyn[i], &D->dyn[i + 1], (D->ndyn - i - 1) * sizeof id);
			D->ndyn--;
			return 0;
		}
	return -ENODEV;
}

/* ---- driver_override: driver_set_override() ------------------------- */
int kern_driver_override(struct device *d, const char *buf, size_t count)
{
	int epoch, r;

	if (count >= 4096 - 1)	/* PAGE_SIZE - 1: show() needs room for "\n" */
		return -EINVAL;
	if ((r = dev_begin(d, &epoch)))
		return r;
	if (d->f.override_errno) {
		kern_unlock(d, epoch);
		return -d->f.override_errno;
	}
	/* the value ends at the first NUL or newline; empty or "\n..." clears */
	size_t len = strcspn(buf, "\n");
	free(d->override);
	d->override = len ? strndup(buf, len) : NULL;
	kern_unlock(d, epoch);
	return 0;
}

/* ---- SR-IOV ----------------------------------------------------------- */
/* kstrtoul(): base 0, optional "+", one trailing newline. */
static int kstrtoul(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s == '+')
		s++;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (*end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static void fresh_state(struct device *d)
{
	d->present = 1;
	d->drv = NULL;
	free(d->override);
	d->override = NULL;
	d->enable = 0;
	d->vfio_idx = -1;
	d->numvfs = 0;
	d->unbinding = 0;
	d->locked = 0;
	memcpy(d->reset, d->reset_init, sizeof d->reset);	/* pci_init_reset_methods() */
	d->nreset = d->nreset_init;
	d->rom_enabled = 0;
	layout_sync_device(d);
}

/* A device appearing on the bus is probed if the bus autoprobes. */
static void device_added(struct device *d, int autoprobe)
{
	int epoch;

	if (autoprobe && dev_lock(d, &epoch) == 0) {
		device_attach(d);
		kern_unlock(d, epoch);
	}
}

/* Enables the first n listed VFs; only listed VFs exist in the model. */
static int create_vfs(struct device *pf, int n)
{
	int made = 0;

	for (int i = 0; i < S.h->ndevs && made < n; i++) {
		struct device *v = S.h->devs[i];
		if (v->physfn != pf)
			continue;
		fresh_state(v);
		made++;
	}
	pf->numvfs = made;
	layout_sync_device(pf);
	for (int i = 0; i < S.h->ndevs; i++) {
		struct device *v = S.h->devs[i];
		if (v->physfn == pf && v->present)
			device_added(v, S.h->drivers_autoprobe && pf->vf_autoprobe);
	}
	return 0;
}

/* sriov_numvfs_store() */
int kern_sriov_numvfs(struct device *d, const char *buf)
{
	unsigned long n;
	int epoch, r = kstrtoul(buf, 65535, &n);

	if (r)
		return r;
	if (n > (unsigned long)d->totalvfs)
		return -ERANGE;
	if ((r = dev_begin(d, &epoch)))
		return r;
	if (n == (unsigned long)d->numvfs)
		r = 0;
	else if (!d->drv)
		r = -ENOENT;	/* "no driver bound to device; cannot configure SR-IOV" */
	else if (n == 0)
		r = destroy_vfs(d);
	else if (d->numvfs)
		r = -EBUSY;	/* "VFs already enabled. Disable before enabling" */
	else if (n > (unsigned long)d->nvfs_listed)
		r = -ERANGE;	/* not modelled: VFs beyond those the topology lists */
	else
		r = create_vfs(d, (int)n);
	kern_unlock(d, epoch);
	layout_sync_device(d);
	return r;
}

/* bus rescan: hot-removed devices (not VFs) come back as new devices: no
 * override, probed by the normal rules if the bus autoprobes. */
int kern_rescan(const char *buf)
{
	unsigned long v;
	int again = 1;

	if (kstrtoul(buf, ~0UL, &v))
		return -EINVAL;
	while (v && again) {
		again = 0;
		for (int i = 0; i < S.h->ndevs; i++) {
			struct device *d = S.h->devs[i];
			if (d->present || d->physfn || (d->parent && !d->parent->present))
				continue;
			fresh_state(d);
			device_added(d, S.h->drivers_autoprobe);
			again = 1;
		}
	}
	return 0;
}
