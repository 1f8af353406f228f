/* Topology JSON -> model. Strict: an unknown or duplicate key, a value of the
 * wrong type or shape, or a reference to nothing is an error that names the
 * item, so a typo in a test fixture fails loudly instead of testing nothing. */
#include "sim.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
	char *err; size_t errlen;
	const char *file;
	char item[96];
	struct host *h;
};

static int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s%s%s", c->file, c->item, *c->item ? ": " : "", msg);
	return -1;
}

/* ---- typed accessors -------------------------------------------------- */
static int check_keys(struct ctx *c, const cJSON *obj, const char *const *allowed)
{
	if (!cJSON_IsObject(obj))
		return fail(c, "must be an object");
	for (const cJSON *k = obj->child; k; k = k->next) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, k->string) == 0;
		if (!ok)
			return fail(c, "unknown key \"%s\"", k->string);
		for (const cJSON *j = obj->child; j != k; j = j->next)
			if (strcmp(j->string, k->string) == 0)
				return fail(c, "duplicate key \"%s\"", k->string);
	}
	return 0;
}

/* *out = NULL when absent or null (if nullable). */
static int get_str(struct ctx *c, const cJSON *o, const char *key, char **out, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return fail(c, "missing \"%s\"", key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return fail(c, "\"%s\" must be a string", key);
	*out = xstrdup(v->valuestring);
	return 0;
}

static int get_bool(struct ctx *c, const cJSON *o, const char *key, int *out, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = def;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return fail(c, "\"%s\" must be true or false", key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Integer in [min, max]; absent gives def; null gives *isnull=1 if allowed. */
static int get_ll(struct ctx *c, const cJSON *o, const char *key, long long *out,
		  long long def, long long min, long long max, int *isnull)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = def;
	if (isnull)
		*isnull = !v || cJSON_IsNull(v);
	if (!v || (isnull && cJSON_IsNull(v)))
		return 0;
	double d = cJSON_GetNumberValue(v);
	if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)min || d > (double)max)
		return fail(c, "\"%s\" must be an integer from %lld to %lld%s", key, min, max,
			    isnull ? " or null" : "");
	*out = (long long)d;
	return 0;
}

static int get_int(struct ctx *c, const cJSON *o, const char *key, int *out,
		   int def, int min, int max, int *isnull)
{
	long long v;
	int r = get_ll(c, o, key, &v, def, min, max, isnull);
	*out = (int)v;
	return r;
}

static int is_hex(const char *s, size_t digits)
{
	if (strlen(s) != digits)
		return 0;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return 0;
	return 1;
}

static int get_hex(struct ctx *c, const cJSON *o, const char *key, unsigned *out,
		   size_t digits, int required, unsigned def)
{
	char *s;
	if (get_str(c, o, key, &s, required) < 0)
		return -1;
	*out = def;
	if (!s)
		return 0;
	int ok = is_hex(s, digits);
	if (ok)
		*out = (unsigned)strtoul(s, NULL, 16);
	free(s);
	if (!ok)
		return fail(c, "\"%s\" must be %zu lowercase hex digits", key, digits);
	return 0;
}

static int get_array(struct ctx *c, const cJSON *o, const char *key, const cJSON **out)
{
	*out = cJSON_GetObjectItemCaseSensitive(o, key);
	if (*out && !cJSON_IsArray(*out))
		return fail(c, "\"%s\" must be an array", key);
	return 0;
}

/* Array of strings -> NULL-free vector. */
static int get_strings(struct ctx *c, const cJSON *o, const char *key, char ***out, int *n)
{
	const cJSON *a;
	*out = NULL;
	*n = 0;
	if (get_array(c, o, key, &a) < 0)
		return -1;
	if (!a)
		return 0;
	*out = xcalloc(cJSON_GetArraySize(a), sizeof **out);
	for (const cJSON *v = a->child; v; v = v->next) {
		if (!cJSON_IsString(v))
			return fail(c, "\"%s\" must hold strings", key);
		(*out)[(*n)++] = xstrdup(v->valuestring);
	}
	return 0;
}

static void free_strings(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- addresses -------------------------------------------------------- */
/* Canonical kernel form: 4-8 hex digit domain, lowercase, slot <= 1f. */
static int parse_addr(const char *s, unsigned *dom, unsigned *bus, unsigned *slot, unsigned *fn)
{
	const char *c1 = strchr(s, ':');
	if (!c1 || c1 - s < 4 || c1 - s > 8 || strlen(c1) != 8)
		return -1;
	for (const char *p = s; *p; p++)
		if (isupper((unsigned char)*p))
			return -1;
	char tail[16];
	if (sscanf(s, "%x:%2x:%2x.%1u%15s", dom, bus, slot, fn, tail) != 4)
		return -1;
	if (!isxdigit((unsigned char)c1[1]) || !isxdigit((unsigned char)c1[2]) || c1[3] != ':' ||
	    !isxdigit((unsigned char)c1[4]) || !isxdigit((unsigned char)c1[5]) || c1[6] != '.')
		return -1;
	for (const char *p = s; p < c1; p++)
		if (!isxdigit((unsigned char)*p))
			return -1;
	return (*slot > 0x1f || *fn > 7) ? -1 : 0;
}

struct device *host_find(struct host *h, const char *addr)
{
	for (int i = 0; h && i < h->ndevs; i++)
		if (strcmp(h->devs[i]->addr, addr) == 0)
			return h->devs[i];
	return NULL;
}

struct group *host_group(struct host *h, int id)
{
	for (int i = 0; id >= 0 && i < h->ngroups; i++)
		if (h->groups[i].id == id)
			return &h->groups[i];
	return NULL;
}

int class_is_display(unsigned class)
{
	return (class >> 16) == 0x03;
}

static struct driver *find_driver(struct host *h, const char *name)
{
	for (int i = 0; i < h->ndrivers; i++)
		if (strcmp(h->drivers[i]->name, name) == 0)
			return h->drivers[i];
	return NULL;
}

/* ---- drivers ---------------------------------------------------------- */
static int valid_class_prefix(const char *s)
{
	size_t l = strlen(s);
	return (l == 2 || l == 4 || l == 6) && is_hex(s, l);
}

/* "vvvv:dddd", "vvvv:*", either optionally followed by ":CLASSPREFIX"
 * (nvidia's table is vendor 10de AND class 03: "10de:*:03"). */
static int parse_id(const char *s, struct pci_id *id)
{
	char v[8] = "", d[8] = "", cls[16] = "";
	int n = sscanf(s, "%7[^:]:%7[^:]:%15s", v, d, cls);

	if (n < 2 || !is_hex(v, 4) || (n == 3 && !valid_class_prefix(cls)))
		return -1;
	if (strlen(s) != strlen(v) + 1 + strlen(d) + (n == 3 ? 1 + strlen(cls) : 0))
		return -1;
	id->vendor = (unsigned)strtoul(v, NULL, 16);
	id->any_device = strcmp(d, "*") == 0;
	if (!id->any_device && !is_hex(d, 4))
		return -1;
	id->device = id->any_device ? 0 : (unsigned)strtoul(d, NULL, 16);
	snprintf(id->cls, sizeof id->cls, "%s", cls);
	return 0;
}

static int valid_name(const char *s, size_t max)
{
	if (!*s || strlen(s) > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.:", *s))
			return 0;
	return 1;
}

static int parse_driver(struct ctx *c, const cJSON *o, struct driver *D)
{
	static const char *const keys[] = {"name", "ids", "classes", "comment", NULL};
	char **ids;
	int nids;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &D->name, 1) < 0)
		return -1;
	snprintf(c->item + strlen(c->item), sizeof c->item - strlen(c->item), " %s", D->name);
	if (!valid_name(D->name, 64) || strcmp(D->name, "vfio-pci") == 0)
		return fail(c, "bad driver name (vfio-pci is implicit)");
	if (find_driver(c->h, D->name) != D)
		return fail(c, "driver listed twice");
	if (get_strings(c, o, "ids", &ids, &nids) < 0 ||
	    get_strings(c, o, "classes", &D->classes, &D->nclasses) < 0)
		return -1;
	D->ids = xcalloc(nids, sizeof *D->ids);
	for (int i = 0; i < nids; i++)
		if (parse_id(ids[i], &D->ids[D->nids++]) < 0)
			return fail(c, "bad id \"%s\" (want vvvv:dddd or vvvv:*, optionally "
				    "followed by :CLASSPREFIX)", ids[i]);
	free_strings(ids, nids);
	for (int i = 0; i < D->nclasses; i++)
		if (!valid_class_prefix(D->classes[i]))
			return fail(c, "bad class prefix \"%s\" (2, 4 or 6 lowercase hex digits)",
				    D->classes[i]);
	D->dma_managed = strcmp(D->name, "pcieport") == 0 || strcmp(D->name, "pci-stub") == 0;
	return 0;
}

/* ---- hints ------------------------------------------------------------ */
static int parse_ip(const char *s, unsigned char out[16], int *v6)
{
	*v6 = strchr(s, ':') != NULL;
	memset(out, 0, 16);
	return inet_pton(*v6 ? AF_INET6 : AF_INET, s, out) == 1 ? 0 : -1;
}

static int parse_prefix(const char *s, unsigned char a[16], int *v6, int *plen)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	if (!slash || slash - s >= (long)sizeof ip)
		return -1;
	memcpy(ip, s, slash - s);
	ip[slash - s] = '\0';
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || parse_ip(ip, a, v6) < 0 || p < 0 || p > (*v6 ? 128 : 32))
		return -1;
	*plen = (int)p;
	return 0;
}

/* "DEST/PLEN", "DEST/PLEN via GW" or "default via GW". */
static int parse_route(const char *s, struct route *r)
{
	char dst[80], via[8], gw[64];
	int n = sscanf(s, "%79s %7s %63s", dst, via, gw);
	memset(r, 0, sizeof *r);
	if (n != 1 && !(n == 3 && strcmp(via, "via") == 0))
		return -1;
	if (n == 3) {
		int gv6;
		if (parse_ip(gw, r->gw, &gv6) < 0)
			return -1;
		r->has_gw = 1;
		if (strcmp(dst, "default") == 0)
			strcpy(dst, gv6 ? "::/0" : "0.0.0.0/0");
		if (parse_prefix(dst, r->dst, &r->v6, &r->plen) < 0 || r->v6 != gv6)
			return -1;
		return 0;
	}
	return parse_prefix(dst, r->dst, &r->v6, &r->plen);
}

/* "virtioN": the virtio device virtio-pci puts between the PCI function and
 * its interface, numbered host-wide like the kernel's virtio index. */
static int valid_virtio_name(const char *s)
{
	char *end;
	if (strncmp(s, "virtio", 6) || !isdigit((unsigned char)s[6]) || (s[6] == '0' && s[7]))
		return 0;
	return strtol(s + 6, &end, 10) <= 65535 && !*end;
}

static int parse_net(struct ctx *c, const cJSON *o, struct netif *ni)
{
	static const char *const keys[] = {"name", "up", "routes", "addresses", "mac", "mtu",
					   "under", "comment", NULL};
	char **strs;
	int n;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &ni->name, 1) < 0 ||
	    get_bool(c, o, "up", &ni->up, 0) < 0 || get_str(c, o, "mac", &ni->mac, 0) < 0 ||
	    get_int(c, o, "mtu", &ni->mtu, 1500, 68, 65536, NULL) < 0 ||
	    get_str(c, o, "under", &ni->under, 0) < 0)
		return -1;
	if (!valid_name(ni->name, 15) || strchr(ni->name, ':'))
		return fail(c, "bad interface name \"%s\"", ni->name);
	if (ni->under && !valid_virtio_name(ni->under))
		return fail(c, "bad \"under\" \"%s\" (want virtioN, the virtio device of a "
			    "virtio-pci function)", ni->under);
	if (ni->mac) {
		unsigned m[6];
		char extra;
		if (sscanf(ni->mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
			   &m[5], &extra) != 6 || strlen(ni->mac) != 17)
			return fail(c, "bad mac \"%s\"", ni->mac);
	}
	if (get_strings(c, o, "routes", &strs, &n) < 0)
		return -1;
	ni->routes = xcalloc(n, sizeof *ni->routes);
	for (int i = 0; i < n; i++)
		if (parse_route(strs[i], &ni->routes[ni->nroutes++]) < 0)
			return fail(c, "bad route \"%s\" (want \"10.0.0.0/24\", \"0.0.0.0/0 via "
				    "10.0.0.1\" or \"default via fe80::1\")", strs[i]);
	free_strings(strs, n);
	if (get_strings(c, o, "addresses", &strs, &n) < 0)
		return -1;
	ni->addrs = xcalloc(n, sizeof *ni->addrs);
	for (int i = 0; i < n; i++) {
		struct ifaddr *a = &ni->addrs[ni->naddrs++];
		if (parse_prefix(strs[i], a->a, &a->v6, &a->plen) < 0)
			return fail(c, "bad address \"%s\" (want ADDR/PLEN)", strs[i]);
	}
	free_strings(strs, n);
	return 0;
}

static int parse_block(struct ctx *c, const cJSON *o, struct blockdev *b, int part)
{
	static const char *const keys[] = {"name", "major", "minor", "size", "mounted", "fstype",
					   "holders", "partitions", "partition", "comment", NULL};
	const cJSON *parts;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &b->name, 1) < 0 ||
	    get_int(c, o, "major", &b->major, 259, 1, 4095, NULL) < 0 ||
	    get_int(c, o, "minor", &b->minor, 0, 0, 1048575, NULL) < 0 ||
	    get_ll(c, o, "size", &b->size, part ? 1048576 : 1000215216, 1, 1LL << 50, NULL) < 0 ||
	    get_str(c, o, "mounted", &b->mounted, 0) < 0 ||
	    get_str(c, o, "fstype", &b->fstype, 0) < 0 ||
	    get_strings(c, o, "holders", &b->holders, &b->nholders) < 0 ||
	    get_int(c, o, "partition", &b->partno, part, part ? 1 : 0, part ? 128 : 0, NULL) < 0 ||
	    get_array(c, o, "partitions", &parts) < 0)
		return -1;
	if (!valid_name(b->name, 31) || strchr(b->name, ':'))
		return fail(c, "bad block device name \"%s\"", b->name);
	if (b->mounted && b->mounted[0] != '/')
		return fail(c, "\"mounted\" must be an absolute path or null");
	for (int i = 0; i < b->nholders; i++)
		if (!valid_name(b->holders[i], 31) || strchr(b->holders[i], ':'))
			return fail(c, "bad holder \"%s\"", b->holders[i]);
	if (parts && part)
		return fail(c, "a partition cannot have partitions");
	if (!parts)
		return 0;
	b->parts = xcalloc(cJSON_GetArraySize(parts), sizeof *b->parts);
	for (const cJSON *p = parts->child; p; p = p->next) {
		struct blockdev *pb = &b->parts[b->nparts++];
		if (parse_block(c, p, pb, b->nparts) < 0)
			return -1;
		if (!cJSON_GetObjectItemCaseSensitive(p, "major"))
			pb->major = b->major;
		pb->start = b->nparts == 1 ? 2048 : pb[-1].start + pb[-1].size;
	}
	return 0;
}

static int parse_nvidia(struct ctx *c, const cJSON *o, struct nvhint *nv)
{
	static const char *const keys[] = {"minor", "model", "open_by", "comment", NULL};
	static const char *const okeys[] = {"pid", "comm", NULL};
	const cJSON *ob = cJSON_GetObjectItemCaseSensitive(o, "open_by");

	nv->present = 1;
	if (check_keys(c, o, keys) < 0 || get_int(c, o, "minor", &nv->minor, 0, 0, 254, NULL) < 0 ||
	    get_str(c, o, "model", &nv->model, 0) < 0)
		return -1;
	if (nv->model && (!*nv->model || strlen(nv->model) > 95 || strpbrk(nv->model, "\n\t")))
		return fail(c, "\"model\" must be 1-95 characters without newline or tab");
	if (!ob || cJSON_IsNull(ob))
		return 0;
	if (check_keys(c, ob, okeys) < 0 || get_int(c, ob, "pid", &nv->pid, 0, 2, 4194304, NULL) < 0 ||
	    get_str(c, ob, "comm", &nv->comm, 1) < 0)
		return -1;
	if (!nv->pid || !*nv->comm || strlen(nv->comm) > 15 || strchr(nv->comm, '/'))
		return fail(c, "open_by needs a pid and a comm of 1-15 characters");
	return 0;
}

static int parse_hints(struct ctx *c, const cJSON *o, struct device *d)
{
	const cJSON *a, *nv = cJSON_GetObjectItemCaseSensitive(o, "nvidia");

	if (get_array(c, o, "net", &a) < 0)
		return -1;
	d->nets = xcalloc(a ? cJSON_GetArraySize(a) : 0, sizeof *d->nets);
	for (const cJSON *v = a ? a->child : NULL; v; v = v->next)
		if (parse_net(c, v, &d->nets[d->nnets++]) < 0)
			return -1;
	if (get_array(c, o, "block", &a) < 0)
		return -1;
	d->blocks = xcalloc(a ? cJSON_GetArraySize(a) : 0, sizeof *d->blocks);
	for (const cJSON *v = a ? a->child : NULL; v; v = v->next)
		if (parse_block(c, v, &d->blocks[d->nblocks++], 0) < 0)
			return -1;
	if (nv && !cJSON_IsNull(nv) && parse_nvidia(c, nv, &d->nv) < 0)
		return -1;
	return 0;
}

/* ---- devices ---------------------------------------------------------- */
struct devrefs { char *driver, *parent, *physfn; int has_totalvfs; };

static int parse_ids(struct ctx *c, const cJSON *o, struct device *d)
{
	int isnull;

	if (get_hex(c, o, "vendor", &d->vendor, 4, 1, 0) < 0 ||
	    get_hex(c, o, "device", &d->device, 4, 1, 0) < 0 ||
	    get_hex(c, o, "subsystem_vendor", &d->subvendor, 4, 0, 0) < 0 ||
	    get_hex(c, o, "subsystem_device", &d->subdevice, 4, 0, 0) < 0 ||
	    get_hex(c, o, "class", &d->class, 6, 1, 0) < 0 ||
	    get_hex(c, o, "revision", &d->revision, 2, 0, 0) < 0 ||
	    get_int(c, o, "header_type", &d->header_type, 0, 0, 1, NULL) < 0 ||
	    get_int(c, o, "numa_node", &d->numa_node, -1, -1, 1023, NULL) < 0 ||
	    get_int(c, o, "iommu_group", &d->group, -1, 0, 1000000, &isnull) < 0)
		return -1;
	if (isnull)
		d->group = -1;
	return 0;
}

static int parse_device(struct ctx *c, const cJSON *o, struct device *d, struct devrefs *r)
{
	static const char *const keys[] = {
		"address", "vendor", "device", "subsystem_vendor", "subsystem_device", "class",
		"revision", "header_type", "numa_node", "iommu_group", "driver", "driver_override",
		"parent", "physfn", "sriov_totalvfs", "sriov_drivers_autoprobe", "boot_vga", "net",
		"block", "nvidia", "comment", NULL};
	char *addr;
	int bv;

	if (!cJSON_IsObject(o))
		return fail(c, "must be an object");
	if (get_str(c, o, "address", &addr, 1) < 0)
		return -1;
	snprintf(c->item + strlen(c->item), sizeof c->item - strlen(c->item), " %.24s", addr);
	int bad = strlen(addr) >= sizeof d->addr ||
		  parse_addr(addr, &d->dom, &d->bus, &d->slot, &d->fn) < 0;
	if (!bad)
		strcpy(d->addr, addr);
	free(addr);
	if (bad)
		return fail(c, "bad address (want lowercase DDDD:BB:SS.F, domain of 4-8 hex "
			    "digits, slot <= 1f, function 0-7)");
	if (check_keys(c, o, keys) < 0 || parse_ids(c, o, d) < 0 ||
	    get_str(c, o, "driver", &r->driver, 0) < 0 ||
	    get_str(c, o, "driver_override", &d->init_override, 0) < 0 ||
	    get_str(c, o, "parent", &r->parent, 0) < 0 ||
	    get_str(c, o, "physfn", &r->physfn, 0) < 0 ||
	    get_int(c, o, "sriov_totalvfs", &d->totalvfs, 0, 0, 65535, NULL) < 0 ||
	    get_bool(c, o, "sriov_drivers_autoprobe", &d->vf_autoprobe, 1) < 0 ||
	    get_bool(c, o, "boot_vga", &bv, 0) < 0 || parse_hints(c, o, d) < 0)
		return -1;
	r->has_totalvfs = cJSON_GetObjectItemCaseSensitive(o, "sriov_totalvfs") != NULL;
	d->boot_vga = class_is_display(d->class) ? bv : -1;
	if (bv && !class_is_display(d->class))
		return fail(c, "boot_vga is only for display-class (03xxxx) devices");
	if (d->init_override && (!*d->init_override || strlen(d->init_override) >= 4094 ||
				 strchr(d->init_override, '\n')))
		return fail(c, "bad driver_override");
	return 0;
}

static int resolve_parent(struct ctx *c, struct device *d, const struct devrefs *r)
{
	struct host *h = c->h;

	if (r->physfn) {
		d->physfn = host_find(h, r->physfn);
		if (!d->physfn || d->physfn == d || d->physfn->physfn)
			return fail(c, "physfn \"%s\" is not a listed PF", r->physfn);
		if (d->header_type != 0)
			return fail(c, "a VF must have header_type 0");
		d->physfn->nvfs_listed++;
		if (d->totalvfs)
			return fail(c, "a VF cannot have sriov_totalvfs");
	}
	if (r->parent) {
		d->parent = host_find(h, r->parent);
		/* a bridge, or a VMD controller hosting a domain of its own */
		if (!d->parent || d->parent == d ||
		    (d->parent->header_type != 1 && d->parent->dom == d->dom))
			return fail(c, "parent \"%s\" is not a listed bridge (header_type 1) or a "
				    "VMD controller of another domain", r->parent);
	}
	return 0;
}

static int check_cycles(struct ctx *c)
{
	for (int i = 0; i < c->h->ndevs; i++) {
		struct device *d = c->h->devs[i];
		int steps = 0;
		for (struct device *p = d->parent; p; p = p->parent)
			if (++steps > c->h->ndevs) {
				snprintf(c->item, sizeof c->item, "devices[%d] %s", i, d->addr);
				return fail(c, "parent chain loops");
			}
	}
	return 0;
}

/* The initial binding must be one the kernel could have made. */
static int resolve_driver(struct ctx *c, struct device *d, const struct devrefs *r)
{
	struct host *h = c->h;

	if (d->group >= 0 && !h->iommu)
		return fail(c, "iommu_group given but \"iommu\" is false");
	if (!r->driver)
		return d->nnets || d->nblocks || d->nv.present ?
			fail(c, "net/block/nvidia hints belong to a driver: set \"driver\"") : 0;
	d->init_drv = find_driver(h, r->driver);
	if (!d->init_drv)
		return fail(c, "unknown driver \"%s\"%s", r->driver,
			    strcmp(r->driver, "vfio-pci") ? "" : " (vfio_pci_loaded is false)");
	d->override = d->init_override;
	int ok = driver_match(d->init_drv, d);
	d->override = NULL;
	if (!ok)
		return fail(c, "driver \"%s\" does not match this device%s", r->driver,
			    d->init_override ? " (driver_override names another driver)" : "");
	if (d->init_drv->is_vfio && (d->group < 0 || d->header_type != 0))
		return fail(c, "vfio-pci needs an endpoint with an IOMMU group");
	return 0;
}

/* A virtioN belongs to one PCI function (several interfaces of that
 * function may name it). */
static int check_unique_under(struct ctx *c, const struct device *d, const char *under)
{
	for (int i = 0; under && i < c->h->ndevs; i++) {
		const struct device *o = c->h->devs[i];
		for (int j = 0; o != d && j < o->nnets; j++)
			if (o->nets[j].under && strcmp(o->nets[j].under, under) == 0)
				return fail(c, "\"under\" \"%s\" is also under %s", under, o->addr);
	}
	return 0;
}

/* Names the kernel keeps unique host-wide: interfaces, disks, nvidia minors,
 * virtio devices. */
static int check_unique_names(struct ctx *c)
{
	struct host *h = c->h;
	char **seen = NULL;
	int nseen = 0, rc = 0;

	for (int i = 0; i < h->ndevs && !rc; i++) {
		struct device *d = h->devs[i];
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, d->addr);
		for (int j = 0; j < d->nnets + d->nblocks; j++) {
			struct blockdev *b = j >= d->nnets ? &d->blocks[j - d->nnets] : NULL;
			int nparts = b ? b->nparts : 0;
			for (int k = -1; k < nparts; k++) {
				const char *name = !b ? d->nets[j].name : k < 0 ? b->name : b->parts[k].name;
				for (int x = 0; x < nseen; x++)
					if (strcmp(seen[x], name) == 0 && !rc)
						rc = fail(c, "name \"%s\" used twice", name);
				seen = xrealloc(seen, (nseen + 1) * sizeof *seen);
				seen[nseen++] = (char *)name;
			}
		}
		for (int j = 0; j < i && d->nv.present; j++)
			if (h->devs[j]->nv.present && h->devs[j]->nv.minor == d->nv.minor && !rc)
				rc = fail(c, "nvidia minor %d used twice", d->nv.minor);
		for (int j = 0; j < d->nnets && !rc; j++)
			rc = check_unique_under(c, d, d->nets[j].under);
	}
	free(seen);
	return rc;
}

static void add_group(struct host *h, int id)
{
	if (id < 0 || host_group(h, id))
		return;
	h->groups = xrealloc(h->groups, (h->ngroups + 1) * sizeof *h->groups);
	memset(&h->groups[h->ngroups], 0, sizeof *h->groups);
	h->groups[h->ngroups++].id = id;
}

/* Initial runtime state: everything as the topology says, VFs enabled. */
static void init_runtime(struct host *h)
{
	int ifindex = 2, ctrl = 0;

	h->drivers_autoprobe = 1;
	for (int i = 0; i < h->ndevs; i++) {
		struct device *d = h->devs[i];
		d->present = 1;
		d->drv = d->init_drv;
		d->override = d->init_override ? xstrdup(d->init_override) : NULL;
		d->enable = d->drv != NULL;
		d->numvfs = d->nvfs_listed;
		d->vfio_idx = -1;
		add_group(h, d->group);
		if (d->drv && d->drv->is_vfio) {
			d->vfio_idx = h->next_vfio_idx++;
			host_group(h, d->group)->vfio_members++;
		}
		for (int j = 0; j < d->nnets; j++)
			d->nets[j].ifindex = ifindex++;
		if (d->nblocks) {
			int n;
			char tail[32];
			if (sscanf(d->blocks[0].name, "nvme%dn%31s", &n, tail) == 2)
				ctrl = n;
			char name[32];
			snprintf(name, sizeof name, "nvme%d", ctrl++);
			d->nvme_ctrl = xstrdup(name);
		}
	}
}

static int finish_host(struct ctx *c)
{
	struct host *h = c->h;

	for (int i = 0; i < h->ndevs; i++) {
		struct device *d = h->devs[i];
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, d->addr);
		if (d->totalvfs < d->nvfs_listed) {
			if (d->totalvfs)
				return fail(c, "sriov_totalvfs is below the number of listed VFs");
			d->totalvfs = d->nvfs_listed;
		}
		if (d->physfn && !d->physfn->init_drv)
			return fail(c, "VF of a PF without a driver (SR-IOV needs the PF driver)");
		if (d->physfn && !d->parent)
			d->parent = d->physfn->parent;
		if (d->parent && d->parent->physfn)
			return fail(c, "parent cannot be a VF");
	}
	*c->item = '\0';
	if (check_cycles(c) < 0 || check_unique_names(c) < 0)
		return -1;
	init_runtime(h);
	return 0;
}

static int parse_top(struct ctx *c, const cJSON *root)
{
	static const char *const keys[] = {"name", "iommu", "vfio_pci_loaded", "cdev", "kernel",
					   "drivers", "devices", "comment", NULL};
	struct host *h = c->h;
	const cJSON *drivers, *devices;

	if (check_keys(c, root, keys) < 0 || get_str(c, root, "name", &h->name, 1) < 0 ||
	    get_bool(c, root, "iommu", &h->iommu, 1) < 0 ||
	    get_bool(c, root, "vfio_pci_loaded", &h->vfio_loaded, 1) < 0 ||
	    get_bool(c, root, "cdev", &h->cdev, 0) < 0 ||
	    get_str(c, root, "kernel", &h->kernel, 0) < 0 ||
	    get_array(c, root, "drivers", &drivers) < 0 || get_array(c, root, "devices", &devices) < 0)
		return -1;
	if (!h->kernel)
		h->kernel = xstrdup("6.1.0-sim");
	if (!devices)
		return fail(c, "missing \"devices\"");
	int n = 0;
	h->drivers = xcalloc((drivers ? cJSON_GetArraySize(drivers) : 0) + 1, sizeof *h->drivers);
	for (const cJSON *o = drivers ? drivers->child : NULL; o; o = o->next, n++) {
		snprintf(c->item, sizeof c->item, "drivers[%d]", n);
		struct driver *D = h->drivers[h->ndrivers++] = xcalloc(1, sizeof *D);
		if (parse_driver(c, o, D) < 0)
			return -1;
	}
	if (h->vfio_loaded) {	/* a module loaded after the host drivers: last in the list */
		h->vfio = h->drivers[h->ndrivers++] = xcalloc(1, sizeof *h->vfio);
		h->vfio->name = xstrdup("vfio-pci");
		h->vfio->is_vfio = h->vfio->dma_managed = 1;
	}
	return 0;
}

static int parse_devices(struct ctx *c, const cJSON *devices)
{
	struct host *h = c->h;
	int n = cJSON_GetArraySize(devices), i = 0;
	struct devrefs *refs = xcalloc(n, sizeof *refs);
	int rc = 0;

	h->devs = xcalloc(n, sizeof *h->devs);
	for (const cJSON *o = devices->child; o && !rc; o = o->next, i++) {
		snprintf(c->item, sizeof c->item, "devices[%d]", i);
		struct device *d = h->devs[h->ndevs++] = xcalloc(1, sizeof *d);
		rc = parse_device(c, o, d, &refs[i]);
		if (!rc && host_find(h, d->addr) != d)
			rc = fail(c, "address listed twice");
	}
	for (i = 0; i < h->ndevs && !rc; i++) {
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, h->devs[i]->addr);
		rc = resolve_parent(c, h->devs[i], &refs[i]);
	}
	for (i = 0; i < h->ndevs && !rc; i++) {
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, h->devs[i]->addr);
		rc = resolve_driver(c, h->devs[i], &refs[i]);
		if (!rc && refs[i].has_totalvfs && h->devs[i]->totalvfs < h->devs[i]->nvfs_listed)
			rc = fail(c, "sriov_totalvfs is below the number of listed VFs");
	}
	for (i = 0; i < n; i++) {
		free(refs[i].driver);
		free(refs[i].parent);
		free(refs[i].physfn);
	}
	free(refs);
	return rc;
}

struct host *topology_load(const char *path, char *err, size_t errlen)
{
	struct ctx c = {.err = err, .errlen = errlen, .file = path};
	FILE *f = fopen(path, "r");
	struct strbuf text = {0};
	char buf[65536];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_add(&text, buf, n);
	fclose(f);
	cJSON *root = cJSON_ParseWithLength(text.s ? text.s : "", text.len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		snprintf(err, errlen, "%s: invalid JSON at byte %ld", path,
			 at && text.s ? (long)(at - text.s) : 0L);
		sb_free(&text);
		return NULL;
	}
	c.h = xcalloc(1, sizeof *c.h);
	int rc = parse_top(&c, root);
	if (!rc)
		rc = parse_devices(&c, cJSON_GetObjectItemCaseSensitive(root, "devices"));
	if (!rc)
		rc = finish_host(&c);
	cJSON_Delete(root);
	sb_free(&text);
	if (rc) {
		host_free(c.h);
		return NULL;
	}
	return c.h;
}

/* ---- freeing ---------------------------------------------------------- */
static void block_free(struct blockdev *b)
{
	free(b->name);
	free(b->mounted);
	free(b->fstype);
	free_strings(b->holders, b->nholders);
	for (int i = 0; i < b->nparts; i++)
		block_free(&b->parts[i]);
	free(b->parts);
}

static void device_free(struct device *d)
{
	for (int i = 0; i < d->nnets; i++) {
		free(d->nets[i].name);
		free(d->nets[i].mac);
		free(d->nets[i].under);
		free(d->nets[i].routes);
		free(d->nets[i].addrs);
	}
	free(d->nets);
	for (int i = 0; i < d->nblocks; i++)
		block_free(&d->blocks[i]);
	free(d->blocks);
	free(d->nv.comm);
	free(d->nv.model);
	free(d->nvme_ctrl);
	free(d->init_override);
	free(d->override);
	free(d);
}

void host_free(struct host *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->ndevs; i++)
		if (h->devs[i])
			device_free(h->devs[i]);
	for (int i = 0; i < h->ndrivers; i++) {
		struct driver *D = h->drivers[i];
		if (!D)
			continue;
		free(D->name);
		free(D->ids);
		free_strings(D->classes, D->nclasses);
		free(D->dyn);
		free(D);
	}
	for (int i = 0; i < h->ngroups; i++)
		free(h->groups[i].hold_comm);
	free(h->groups);
	free(h->devs);
	free(h->drivers);
	free(h->name);
	free(h->kernel);
	free(h);
}
