/* Test hooks: the sim/control commands (faults, holds, unplug, load), the
 * write log behind sim/log, the registry of in-flight writers and the JSON
 * dump behind sim/state. */
#include "sim.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errno names --------------------------------------------------------- */
static const struct { const char *name; int value; } errnos[] = {
	{"EPERM", EPERM}, {"ENOENT", ENOENT}, {"ESRCH", ESRCH}, {"EINTR", EINTR}, {"EIO", EIO},
	{"ENXIO", ENXIO}, {"E2BIG", E2BIG}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
	{"EACCES", EACCES}, {"EFAULT", EFAULT}, {"EBUSY", EBUSY}, {"EEXIST", EEXIST},
	{"EXDEV", EXDEV}, {"ENODEV", ENODEV}, {"ENOTDIR", ENOTDIR}, {"EINVAL", EINVAL},
	{"ENOSPC", ENOSPC}, {"EROFS", EROFS}, {"ERANGE", ERANGE}, {"EDEADLK", EDEADLK},
	{"ENOSYS", ENOSYS}, {"ENODATA", ENODATA}, {"ETIME", ETIME}, {"EPROTO", EPROTO},
	{"EOPNOTSUPP", EOPNOTSUPP}, {"ETIMEDOUT", ETIMEDOUT}, {"ENOTCONN", ENOTCONN},
	{"ECANCELED", ECANCELED}, {"EHOSTDOWN", EHOSTDOWN}, {"ENOMEDIUM", ENOMEDIUM},
};

const char *errno_name(int e)
{
	static _Thread_local char other[16];
	for (size_t i = 0; i < sizeof errnos / sizeof *errnos; i++)
		if (errnos[i].value == e)
			return errnos[i].name;
	snprintf(other, sizeof other, "E%d", e);
	return other;
}

int errno_value(const char *name)
{
	for (size_t i = 0; i < sizeof errnos / sizeof *errnos; i++)
		if (strcmp(errnos[i].name, name) == 0)
			return errnos[i].value;
	return 0;
}

/* ---- in-flight writers --------------------------------------------------- */
static _Thread_local struct writer *current;

static char *escape(const char *data, size_t len)
{
	struct strbuf b = {0};
	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];
		if (c == '\\')
			sb_add(&b, "\\\\", 2);
		else if (c == '\n')
			sb_add(&b, "\\n", 2);
		else if (c == '\t')
			sb_add(&b, "\\t", 2);
		else if (c < 0x20 || c >= 0x7f)
			sb_printf(&b, "\\x%02x", c);
		else
			sb_add(&b, &data[i], 1);
	}
	if (!b.s)
		return xstrdup("");
	return b.s;
}

struct writer *writer_begin(const char *path, const char *data, size_t len)
{
	struct writer *w = xcalloc(1, sizeof *w);
	w->path = xstrdup(path);
	w->data = data ? escape(data, len) : xstrdup("(read)");
	w->next = S.writers;
	S.writers = w;
	S.nwriters++;
	current = w;
	return w;
}

/* What the current writer is blocked on (NULL: not blocked). */
void writer_wait(const char *fmt, ...)
{
	va_list ap;

	if (!current)
		return;
	current->waiting[0] = '\0';
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(current->waiting, sizeof current->waiting, fmt, ap);
	va_end(ap);
}

void writer_end(struct writer *w)
{
	for (struct writer **pp = &S.writers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	S.nwriters--;
	if (current == w)
		current = NULL;
	free(w->path);
	free(w->data);
	free(w);
	wake_all();
}

/* ---- the write log -------------------------------------------------------- */
long log_begin(const char *path, const char *data, size_t len)
{
	if (S.nlog == S.caplog) {
		S.caplog = S.caplog ? S.caplog * 2 : 256;
		S.log = xrealloc(S.log, S.caplog * sizeof *S.log);
	}
	struct logent *e = &S.log[S.nlog++];
	e->seq = ++S.logseq;
	e->path = xstrdup(path);
	e->data = escape(data, len);
	e->done = e->result = 0;
	return e->seq;
}

void log_end(long seq, int result)
{
	for (int i = S.nlog - 1; i >= 0; i--)
		if (S.log[i].seq == seq) {
			S.log[i].done = 1;
			S.log[i].result = result;
			return;
		}
}

static void log_clear(void)
{
	for (int i = 0; i < S.nlog; i++) {
		free(S.log[i].path);
		free(S.log[i].data);
	}
	S.nlog = 0;
}

void log_show(struct strbuf *out)
{
	for (int i = 0; i < S.nlog; i++)
		sb_printf(out, "%s\t%s\t%s\n", S.log[i].path, S.log[i].data,
			  !S.log[i].done ? "pending" :
			  S.log[i].result < 0 ? errno_name(-S.log[i].result) : "ok");
}

/* ---- faults --------------------------------------------------------------- */
void fault_count_write(struct device *d)
{
	if (d->f.unplug_after > 0 && --d->f.unplug_after == 0)
		kern_unplug(d);
}

static int err(int e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int err(int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(S.last_error, sizeof S.last_error, fmt, ap);
	va_end(ap);
	return -e;
}

static int parse_num(const char *s, long max, long *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*out = strtol(s, &end, 10);
	return *end || *out > max ? -1 : 0;
}

/* "fault proc PID slow MS": every read of proc/PID/maps takes MS longer,
 * as the kernel's is while another thread of the process holds its memory
 * map's lock.  MS 0 ends it. */
static int fault_proc(char **t, int n)
{
	long pid, ms;

	if (n != 5 || strcmp(t[3], "slow") || parse_num(t[2], 4194304, &pid)
	    || parse_num(t[4], 3600000, &ms))
		return err(EINVAL, "fault: usage: fault proc PID slow MS");
	for (int i = 0; i < S.nslow; i++)
		if (S.slow[i].pid == pid) {
			S.slow[i].ms = (int)ms;
			return 0;
		}
	if (S.nslow == (int)(sizeof S.slow / sizeof *S.slow))
		return err(ENOSPC, "fault: at most %d slow processes",
			   (int)(sizeof S.slow / sizeof *S.slow));
	S.slow[S.nslow].pid = (int)pid;
	S.slow[S.nslow++].ms = (int)ms;
	return 0;
}

void fault_proc_slow(const char *path)
{
	char rest[8];
	int pid;
	long long until;

	if (sscanf(path, "/proc/%d/%7s", &pid, rest) != 2 || strcmp(rest, "maps"))
		return;
	for (int i = 0; i < S.nslow; i++)
		if (S.slow[i].pid == pid && S.slow[i].ms) {
			until = now_ms() + S.slow[i].ms;
			while (now_ms() < until && !sim_interrupted()
			       && wait_ms(until - now_ms()) == 0)
				;
			return;
		}
}

/* "fault ADDR unbind hang|errno E", "fault ADDR bind|probe|override errno E",
 * "fault ADDR delay|async MS", "fault ADDR unplug-after-writes N". */
static int cmd_fault(char **t, int n)
{
	struct device *d = n > 1 ? host_find(S.h, t[1]) : NULL;
	long v;

	if (n > 1 && !strcmp(t[1], "proc"))
		return fault_proc(t, n);

	if (!d)
		return err(EINVAL, "fault: no device \"%s\" in the topology", n > 1 ? t[1] : "");
	if (n == 4 && strcmp(t[2], "unbind") == 0 && strcmp(t[3], "hang") == 0) {
		d->f.unbind_hang = 1;
		return 0;
	}
	/* A device that comes back broken: after its next reset, or now. */
	if (n == 4 && strcmp(t[2], "reset") == 0 && strcmp(t[3], "allones") == 0) {
		d->f.reset_breaks = 1;
		return 0;
	}
	if (n == 3 && strcmp(t[2], "allones") == 0) {
		d->f.allones = 1;
		return 0;
	}
	if (n == 5 && strcmp(t[3], "errno") == 0) {
		int e = errno_value(t[4]);
		int *slot = !strcmp(t[2], "unbind") ? &d->f.unbind_errno :
			    !strcmp(t[2], "bind") ? &d->f.bind_errno :
			    !strcmp(t[2], "probe") ? &d->f.probe_errno :
			    !strcmp(t[2], "override") ? &d->f.override_errno : NULL;
		if (!slot)
			return err(EINVAL, "fault: \"%s\" takes no errno (unbind, bind, probe, "
				   "override do)", t[2]);
		if (!e)
			return err(EINVAL, "fault: unknown errno name \"%s\"", t[4]);
		*slot = e;
		return 0;
	}
	if (n == 4 && parse_num(t[3], 3600000, &v) == 0) {
		if (!strcmp(t[2], "delay"))
			d->f.delay_ms = (int)v;
		else if (!strcmp(t[2], "async"))
			d->f.async_ms = (int)v;
		else if (!strcmp(t[2], "unplug-after-writes") && v > 0)
			d->f.unplug_after = (int)v;
		else
			return err(EINVAL, "fault: unknown fault \"%s %s\"", t[2], t[3]);
		return 0;
	}
	return err(EINVAL, "fault: usage: fault ADDR unbind hang | unbind|bind|probe|override "
		   "errno NAME | delay|async MS | unplug-after-writes N | reset allones | allones");
}

static int parse_group(const char *s, struct group **g)
{
	long id;
	*g = parse_num(s, 1000000, &id) == 0 ? host_group(S.h, (int)id) : NULL;
	return *g ? 0 : -1;
}

/* The members that keep a container from attaching (SET_CONTAINER fails
 * with EPERM, "group N is not viable"): any on a DMA-managing host driver. */
static const struct device *not_viable(const struct group *g)
{
	for (int i = 0; i < S.h->ndevs; i++) {
		const struct device *d = S.h->devs[i];
		if (d->present && d->group == g->id && d->drv && !d->drv->dma_managed)
			return d;
	}
	return NULL;
}

static int claim_group(const char *cmd, struct group *g)
{
	const struct device *bad = not_viable(g);

	if (!g->vfio_members)
		return err(EINVAL, "%s: group %d has no /dev/vfio/%d (no member on vfio-pci)", cmd,
			   g->id, g->id);
	if (g->held || g->opens)
		return err(EBUSY, "%s: group %d is already open or held", cmd, g->id);
	if (bad)
		return err(EPERM, "%s: group %d is not viable: %s is on %s", cmd, g->id, bad->addr,
			   bad->drv->name);
	g->held = 1;
	return 0;
}

/* "hold GROUP [PID [COMM]]": a hypervisor runs a VM with the whole group:
 * container attached, every device open. With a PID, proc/PID/fd/ shows it
 * holding the node, as /proc would. */
static int cmd_hold(char **t, int n)
{
	struct group *g;
	long pid = 0;
	char target[32];

	if (n < 2 || n > 4 || parse_group(t[1], &g) < 0 || (n > 2 && parse_num(t[2], 4194304, &pid)))
		return err(EINVAL, "hold: usage: hold GROUP [PID [COMM]] (GROUP an IOMMU group "
			   "of the topology)");
	int r = claim_group("hold", g);
	if (r)
		return r;
	g->all_open = 1;
	g->hold_pid = (int)pid;
	free(g->hold_comm);
	g->hold_comm = xstrdup(n > 3 ? t[3] : "qemu-system-x86");
	snprintf(target, sizeof target, "/dev/vfio/%d", g->id);
	if (pid)
		layout_proc_fd(g->hold_pid, g->hold_comm, 100 + g->id, target, 1);
	return 0;
}

/* "attach GROUP [ADDR...]": a hypervisor attached the group to a container
 * (host drivers are refused) and opened only the devices named (their
 * vfio-pci unbinds block; the others' do not). */
static int cmd_attach(char **t, int n)
{
	struct group *g;

	if (n < 2 || parse_group(t[1], &g) < 0)
		return err(EINVAL, "attach: usage: attach GROUP [ADDR...]");
	for (int i = 2; i < n; i++) {
		struct device *d = host_find(S.h, t[i]);
		if (!d || !d->present || d->group != g->id || !d->drv || !d->drv->is_vfio)
			return err(EINVAL, "attach: %s is not a member of group %d on vfio-pci", t[i],
				   g->id);
	}
	int r = claim_group("attach", g);
	for (int i = 2; i < n && !r; i++)
		host_find(S.h, t[i])->dev_open = 1;
	return r;
}

static void unhold(struct group *g)
{
	if (g->held && g->hold_pid)
		layout_proc_fd(g->hold_pid, NULL, 100 + g->id, NULL, 0);
	g->held = g->all_open = 0;
	g->hold_pid = 0;
	for (int i = 0; i < S.h->ndevs; i++)
		if (S.h->devs[i]->group == g->id)
			S.h->devs[i]->dev_open = 0;
}

/* "release GROUP" drops a hold, "release ADDR" a hang, "release all" both. */
static int cmd_release(char **t, int n)
{
	struct group *g;
	struct device *d;

	if (n != 2)
		return err(EINVAL, "release: usage: release GROUP | ADDR | all");
	if (strcmp(t[1], "all") == 0) {
		for (int i = 0; i < S.h->ngroups; i++)
			unhold(&S.h->groups[i]);
		for (int i = 0; i < S.h->ndevs; i++)
			S.h->devs[i]->f.unbind_hang = 0;
	} else if ((d = host_find(S.h, t[1]))) {
		if (!d->f.unbind_hang)
			return err(EINVAL, "release: %s has no unbind hang fault", d->addr);
		d->f.unbind_hang = 0;
	} else if (parse_group(t[1], &g) == 0) {
		if (!g->held)
			return err(EINVAL, "release: group %d is not held", g->id);
		unhold(g);
	} else {
		return err(EINVAL, "release: \"%s\" is neither a group nor a device", t[1]);
	}
	wake_all();
	return 0;
}

static int cmd_clear(char **t, int n)
{
	struct device *d = n == 2 ? host_find(S.h, t[1]) : NULL;

	if (n == 2 && strcmp(t[1], "all") == 0) {
		for (int i = 0; i < S.h->ndevs; i++)
			memset(&S.h->devs[i]->f, 0, sizeof S.h->devs[i]->f);
		S.nslow = 0;
	} else if (d) {
		memset(&d->f, 0, sizeof d->f);
	} else {
		return err(EINVAL, "clear: usage: clear ADDR | all");
	}
	wake_all();
	return 0;
}

static int cmd_unplug(char **t, int n)
{
	struct device *d = n == 2 ? host_find(S.h, t[1]) : NULL;

	if (!d || !d->present)
		return err(EINVAL, "unplug: usage: unplug ADDR (a present device)");
	kern_unplug(d);
	return 0;
}

/* Replaces the whole host. Blocked writers hold pointers into it: refuse. */
static int cmd_load(char **t, int n)
{
	char msg[512];

	if (n != 2)
		return err(EINVAL, "load: usage: load PATH");
	if (S.nwriters)
		return err(EBUSY, "load: %d writer(s) still in flight", S.nwriters);
	struct host *h = topology_load(t[1], msg, sizeof msg);
	if (!h)
		return err(EINVAL, "load: %s", msg);
	tree_free(S.root);
	host_free(S.h);
	S.h = h;
	S.nslow = 0;
	S.generation++;
	layout_build();
	S.root = node_root();
	wake_all();
	return 0;
}

/* One command per write; a trailing newline is fine. */
int control_command(const char *buf, size_t len)
{
	char line[1024], *t[8], *save = NULL;
	int n = 0, r;

	size_t l = strlen(buf);
	if (l != len || l >= sizeof line)
		return err(EINVAL, "control: one command of text per write");
	memcpy(line, buf, l + 1);
	char *nl = strchr(line, '\n');
	if (nl && nl[1])
		return err(EINVAL, "control: one command per write");
	if (nl)
		*nl = '\0';
	for (char *w = strtok_r(line, " \t", &save); w && n < 8; w = strtok_r(NULL, " \t", &save))
		t[n++] = w;
	if (!n)
		return err(EINVAL, "control: empty command");
	if (!strcmp(t[0], "fault")) r = cmd_fault(t, n);
	else if (!strcmp(t[0], "hold")) r = cmd_hold(t, n);
	else if (!strcmp(t[0], "attach")) r = cmd_attach(t, n);
	else if (!strcmp(t[0], "release")) r = cmd_release(t, n);
	else if (!strcmp(t[0], "clear")) r = cmd_clear(t, n);
	else if (!strcmp(t[0], "unplug")) r = cmd_unplug(t, n);
	else if (!strcmp(t[0], "load")) r = cmd_load(t, n);
	else if (!strcmp(t[0], "log") && n == 2 && !strcmp(t[1], "clear")) { log_clear(); r = 0; }
	else r = err(EINVAL, "control: unknown command \"%s\"", t[0]);
	if (!r)
		S.last_error[0] = '\0';
	return r;
}

/* ---- sim/state -------------------------------------------------------------- */
static cJSON *device_json(const struct device *d)
{
	cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "address", d->addr);
	cJSON_AddBoolToObject(o, "present", d->present);
	cJSON_AddNumberToObject(o, "resets", d->resets);
	cJSON_AddItemToObject(o, "driver", d->drv ? cJSON_CreateString(d->drv->name) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "override", d->override ? cJSON_CreateString(d->override) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "iommu_group", d->group >= 0 ? cJSON_CreateNumber(d->group) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "vfio_dev", d->vfio_idx >= 0 ? cJSON_CreateNumber(d->vfio_idx) : cJSON_CreateNull());
	cJSON_AddBoolToObject(o, "unbinding", d->unbinding);
	cJSON_AddBoolToObject(o, "device_open", d->dev_open);
	cJSON_AddBoolToObject(o, "locked", d->locked);
	if (d->totalvfs)
		cJSON_AddNumberToObject(o, "sriov_numvfs", d->numvfs);
	if (d->f.unbind_hang) cJSON_AddStringToObject(f, "unbind", "hang");
	if (d->f.unbind_errno) cJSON_AddStringToObject(f, "unbind_errno", errno_name(d->f.unbind_errno));
	if (d->f.bind_errno) cJSON_AddStringToObject(f, "bind_errno", errno_name(d->f.bind_errno));
	if (d->f.probe_errno) cJSON_AddStringToObject(f, "probe_errno", errno_name(d->f.probe_errno));
	if (d->f.override_errno) cJSON_AddStringToObject(f, "override_errno", errno_name(d->f.override_errno));
	if (d->f.delay_ms) cJSON_AddNumberToObject(f, "delay_ms", d->f.delay_ms);
	if (d->f.async_ms) cJSON_AddNumberToObject(f, "async_ms", d->f.async_ms);
	if (d->f.unplug_after) cJSON_AddNumberToObject(f, "unplug_after_writes", d->f.unplug_after);
	cJSON_AddItemToObject(o, "faults", f);
	return o;
}

static cJSON *group_json(const struct group *g)
{
	cJSON *o = cJSON_CreateObject(), *m = cJSON_CreateArray();

	cJSON_AddNumberToObject(o, "id", g->id);
	for (int i = 0; i < S.h->ndevs; i++)
		if (S.h->devs[i]->group == g->id && S.h->devs[i]->present)
			cJSON_AddItemToArray(m, cJSON_CreateString(S.h->devs[i]->addr));
	cJSON_AddItemToObject(o, "members", m);
	cJSON_AddNumberToObject(o, "vfio_members", g->vfio_members);
	cJSON_AddNumberToObject(o, "opens", g->opens);
	cJSON_AddBoolToObject(o, "held", g->held);
	cJSON_AddBoolToObject(o, "all_devices_open", g->all_open);
	if (g->hold_pid)
		cJSON_AddNumberToObject(o, "hold_pid", g->hold_pid);
	return o;
}

static cJSON *driver_json(const struct driver *D)
{
	cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray();
	char id[96];

	cJSON_AddStringToObject(o, "name", D->name);
	for (int i = 0; i < D->ndyn; i++) {
		const struct dynid *x = &D->dyn[i];
		snprintf(id, sizeof id, "%04x %04x %x %x %06x %06x", x->vendor, x->device,
			 x->subvendor, x->subdevice, x->class, x->class_mask);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
	}
	cJSON_AddItemToObject(o, "dynamic_ids", ids);
	return o;
}

void state_show(struct strbuf *out)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	cJSON *groups = cJSON_AddArrayToObject(o, "groups");
	cJSON *drivers = cJSON_AddArrayToObject(o, "drivers");
	cJSON *writers = cJSON_AddArrayToObject(o, "writers");

	cJSON_AddStringToObject(o, "name", S.h->name);
	cJSON_AddNumberToObject(o, "generation", S.generation);
	cJSON_AddNumberToObject(o, "drivers_autoprobe", S.h->drivers_autoprobe);
	for (int i = 0; i < S.h->ndevs; i++)
		cJSON_AddItemToArray(devs, device_json(S.h->devs[i]));
	for (int i = 0; i < S.h->ngroups; i++)
		cJSON_AddItemToArray(groups, group_json(&S.h->groups[i]));
	for (int i = 0; i < S.h->ndrivers; i++)
		cJSON_AddItemToArray(drivers, driver_json(S.h->drivers[i]));
	for (const struct writer *w = S.writers; w; w = w->next) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "path", w->path);
		cJSON_AddStringToObject(x, "data", w->data);
		cJSON_AddItemToObject(x, "waiting", w->waiting[0] ? cJSON_CreateString(w->waiting)
								  : cJSON_CreateNull());
		cJSON_AddItemToArray(writers, x);
	}
	cJSON_AddNumberToObject(o, "log_entries", S.nlog);
	char *text = cJSON_Print(o);
	sb_printf(out, "%s\n", text);
	free(text);
	cJSON_Delete(o);
}
