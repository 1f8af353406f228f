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

/* "DEST/PLEN" or "default" (with a gateway only), optionally "via GW", then
 * optionally "table N" (the main table, 254, when absent). */
static int parse_route(const char *s, struct route *r)
{
	char copy[160], *t[6], *save = NULL, dst[80];
	int n = 0, i = 1;
	int gv6 = -1;

	memset(r, 0, sizeof *r);
	r->table = RT_TABLE_MAIN;
	if (strlen(s) >= sizeof copy)
		return -1;
	strcpy(copy, s);
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n == 6)
			return -1;
		t[n++] = w;
	}
	if (!n || strlen(t[0]) >= sizeof dst)
		return -1;
	strcpy(dst, t[0]);
	if (i + 1 < n && strcmp(t[i], "via") == 0) {
		if (parse_ip(t[i + 1], r->gw, &gv6) < 0)
			return -1;
		r->has_gw = 1;
		i += 2;
	}
	if (i + 1 < n && strcmp(t[i], "table") == 0) {
		char *end;
		unsigned long tb = strtoul(t[i + 1], &end, 10);
		if (*end || !isdigit((unsigned char)t[i + 1][0]) || tb == 0 || tb > 0xffffffffUL)
			return -1;
		r->table = (unsigned)tb;
		i += 2;
	}
	if (i != n)
		return -1;
	if (strcmp(dst, "default") == 0) {
		if (!r->has_gw)
			return -1;
		strcpy(dst, gv6 ? "::/0" : "0.0.0.0/0");
	}
	if (parse_prefix(dst, r->dst, &r->v6, &r->plen) < 0 || (r->has_gw && r->v6 != gv6))
		return -1;
	return 0;
}

/* "ADDR/PLEN", optionally followed by "noprefixroute". */
static int parse_address(const char *s, struct ifaddr *a)
{
	char ip[80], flag[32], extra;
	int n = sscanf(s, "%79s %31s %c", ip, flag, &extra);

	memset(a, 0, sizeof *a);
	if (n < 1 || n > 2 || (n == 2 && strcmp(flag, "noprefixroute")))
		return -1;
	a->noprefixroute = n == 2;
	return parse_prefix(ip, a->a, &a->v6, &a->plen);
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

enum ifrole { IF_PHYS, IF_UPPER, IF_VIRTUAL };

static int parse_kind(struct ctx *c, const cJSON *o, struct netif *ni, enum ifrole role)
{
	static const struct { const char *name; enum netkind kind; enum ifrole role; } kinds[] = {
		{"vlan", NK_VLAN, IF_UPPER}, {"macvlan", NK_MACVLAN, IF_UPPER},
		{"ipvlan", NK_IPVLAN, IF_UPPER}, {"bridge", NK_BRIDGE, IF_VIRTUAL},
		{"bond", NK_BOND, IF_VIRTUAL}, {"team", NK_TEAM, IF_VIRTUAL},
		{"openvswitch", NK_OVS, IF_VIRTUAL}};
	char *kind;
	int found = 0;

	ni->kind = NK_PHYS;
	if (role == IF_PHYS)
		return 0;
	if (get_str(c, o, "kind", &kind, 1) < 0)
		return -1;
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (kinds[i].role == role && strcmp(kinds[i].name, kind) == 0) {
			ni->kind = kinds[i].kind;
			found = 1;
		}
	free(kind);
	if (!found)
		return fail(c, "interface %s: bad \"kind\" (%s)", ni->name, role == IF_UPPER ?
			    "an upper is vlan, macvlan or ipvlan" :
			    "a virtual_net interface is bridge, bond, team or openvswitch");
	if (get_int(c, o, "id", &ni->vlan_id, 0, 1, 4094, NULL) < 0)
		return -1;
	if ((ni->kind == NK_VLAN) != (cJSON_GetObjectItemCaseSensitive(o, "id") != NULL))
		return fail(c, "interface %s: a vlan needs an \"id\" (1-4094), other kinds have none",
			    ni->name);
	return 0;
}

static int parse_net(struct ctx *c, const cJSON *o, struct netif *ni, enum ifrole role)
{
	static const char *const phys_keys[] = {"name", "up", "routes", "addresses", "mac", "mtu",
						"under", "master", "uppers", "netns", "comment", NULL};
	static const char *const upper_keys[] = {"name", "kind", "id", "up", "routes", "addresses",
						 "mac", "mtu", "master", "netns", "comment", NULL};
	static const char *const virt_keys[] = {"name", "kind", "up", "routes", "addresses", "mac",
						"mtu", "master", "uppers", "netns", "comment", NULL};
	const char *const *keys = role == IF_PHYS ? phys_keys : role == IF_UPPER ? upper_keys
										 : virt_keys;
	const cJSON *uppers;
	char **strs;
	int n;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &ni->name, 1) < 0 ||
	    get_bool(c, o, "up", &ni->up, 0) < 0 || get_str(c, o, "mac", &ni->mac, 0) < 0 ||
	    get_int(c, o, "mtu", &ni->mtu, 1500, 68, 65536, NULL) < 0 ||
	    get_str(c, o, "under", &ni->under, 0) < 0 ||
	    get_str(c, o, "master", &ni->master_name, 0) < 0 ||
	    get_bool(c, o, "netns", &ni->in_netns, 1) < 0 || get_array(c, o, "uppers", &uppers) < 0)
		return -1;
	if (!valid_name(ni->name, 15) || strchr(ni->name, ':') || strcmp(ni->name, "lo") == 0)
		return fail(c, "bad interface name \"%s\"", ni->name);
	if (parse_kind(c, o, ni, role) < 0)
		return -1;
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
				    "10.0.0.1\" or \"default via fe80::1\", optionally followed by "
				    "\"table N\")", strs[i]);
	free_strings(strs, n);
	if (get_strings(c, o, "addresses", &strs, &n) < 0)
		return -1;
	ni->addrs = xcalloc(n, sizeof *ni->addrs);
	for (int i = 0; i < n; i++)
		if (parse_address(strs[i], &ni->addrs[ni->naddrs++]) < 0)
			return fail(c, "bad address \"%s\" (want ADDR/PLEN, optionally followed by "
				    "\"noprefixroute\")", strs[i]);
	free_strings(strs, n);
	if (!uppers)
		return 0;
	ni->uppers = xcalloc(cJSON_GetArraySize(uppers), sizeof *ni->uppers);
	for (const cJSON *u = uppers->child; u; u = u->next) {
		struct netif *up = &ni->uppers[ni->nuppers++];
		if (parse_net(c, u, up, IF_UPPER) < 0)
			return -1;
		up->lower = ni;
		if (up->mtu > ni->mtu)
			return fail(c, "upper %s: mtu %d above its lower's (%d)", up->name, up->mtu,
				    ni->mtu);
		for (int k = 0; up->kind == NK_VLAN && k + 1 < ni->nuppers; k++)
			if (ni->uppers[k].kind == NK_VLAN && ni->uppers[k].vlan_id == up->vlan_id)
				return fail(c, "vlan id %d twice on %s", up->vlan_id, ni->name);
	}
	return 0;
}

/* "open_by": one {"pid", "comm"} or an array of them. */
static int parse_openers(struct ctx *c, const cJSON *o, struct opener **out, int *n)
{
	static const char *const keys[] = {"pid", "comm", "comment", NULL};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "open_by");
	int count = !v || cJSON_IsNull(v) ? 0 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;

	*out = xcalloc(count, sizeof **out);
	*n = 0;
	if (!count)
		return 0;
	for (const cJSON *x = cJSON_IsArray(v) ? v->child : v; x; x = cJSON_IsArray(v) ? x->next : NULL) {
		struct opener *op = &(*out)[(*n)++];
		if (check_keys(c, x, keys) < 0 || get_int(c, x, "pid", &op->pid, 0, 2, 4194304, NULL) < 0 ||
		    get_str(c, x, "comm", &op->comm, 1) < 0)
			return -1;
		if (!op->pid || !*op->comm || strlen(op->comm) > 15 || strchr(op->comm, '/'))
			return fail(c, "open_by needs a pid and a comm of 1-15 characters");
	}
	return 0;
}

static int parse_block(struct ctx *c, const cJSON *o, struct blockdev *b, int part)
{
	static const char *const keys[] = {"name", "major", "minor", "size", "mounted", "fstype",
					   "holders", "partitions", "partition", "swap", "claimed",
					   "open_by", "comment", NULL};
	const cJSON *parts;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &b->name, 1) < 0 ||
	    get_int(c, o, "major", &b->major, 259, 1, 4095, NULL) < 0 ||
	    get_int(c, o, "minor", &b->minor, 0, 0, 1048575, NULL) < 0 ||
	    get_ll(c, o, "size", &b->size, part ? 1048576 : 1000215216, 1, 1LL << 50, NULL) < 0 ||
	    get_str(c, o, "mounted", &b->mounted, 0) < 0 ||
	    get_str(c, o, "fstype", &b->fstype, 0) < 0 ||
	    get_strings(c, o, "holders", &b->holders, &b->nholders) < 0 ||
	    get_int(c, o, "partition", &b->partno, part, part ? 1 : 0, part ? 128 : 0, NULL) < 0 ||
	    get_bool(c, o, "swap", &b->swap, 0) < 0 || get_bool(c, o, "claimed", &b->claimed, 0) < 0 ||
	    parse_openers(c, o, &b->open_by, &b->nopen) < 0 ||
	    get_array(c, o, "partitions", &parts) < 0)
		return -1;
	if (!valid_name(b->name, 31) || strchr(b->name, ':'))
		return fail(c, "bad block device name \"%s\"", b->name);
	if (b->mounted && b->mounted[0] != '/')
		return fail(c, "\"mounted\" must be an absolute path or null");
	if (b->fstype && (!valid_name(b->fstype, 31) || !b->mounted))
		return fail(c, "%s: \"fstype\" is a filesystem name, for a mounted device", b->name);
	if (b->swap && b->mounted)
		return fail(c, "%s: swap and mounted at once", b->name);
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

	nv->present = 1;
	if (check_keys(c, o, keys) < 0 || get_int(c, o, "minor", &nv->minor, 0, 0, 254, NULL) < 0 ||
	    get_str(c, o, "model", &nv->model, 0) < 0)
		return -1;
	if (nv->model && (!*nv->model || strlen(nv->model) > 95 || strpbrk(nv->model, "\n\t")))
		return fail(c, "\"model\" must be 1-95 characters without newline or tab");
	return parse_openers(c, o, &nv->open_by, &nv->nopen);
}

/* "drm": [{"name": "card0"}, {"name": "renderD128", "open_by": ...}]: the
 * minors DRM gives a GPU (primary 0-63, render 128-191). */
static int parse_drm(struct ctx *c, const cJSON *a, struct device *d)
{
	static const char *const keys[] = {"name", "open_by", "comment", NULL};

	d->drm = xcalloc(cJSON_GetArraySize(a), sizeof *d->drm);
	for (const cJSON *o = a->child; o; o = o->next) {
		struct chardev *m = &d->drm[d->ndrm++];
		char tail;
		if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &m->name, 1) < 0 ||
		    parse_openers(c, o, &m->open_by, &m->nopen) < 0)
			return -1;
		int card = sscanf(m->name, "card%d%c", &m->minor, &tail) == 1 && m->minor >= 0 &&
			   m->minor <= 63;
		int render = sscanf(m->name, "renderD%d%c", &m->minor, &tail) == 1 &&
			     m->minor >= 128 && m->minor <= 191;
		char canon[32];
		snprintf(canon, sizeof canon, "%s%d", card ? "card" : "renderD", m->minor);
		if ((!card && !render) || strcmp(canon, m->name))
			return fail(c, "bad drm minor \"%s\" (want card0-card63 or renderD128-renderD191)",
				    m->name);
	}
	return 0;
}

static int parse_fb(struct ctx *c, const cJSON *o, struct fbhint *fb)
{
	static const char *const keys[] = {"minor", "console", "open_by", "comment", NULL};

	fb->present = 1;
	return check_keys(c, o, keys) < 0 || get_int(c, o, "minor", &fb->minor, 0, 0, 31, NULL) < 0 ||
	       get_bool(c, o, "console", &fb->console, 0) < 0 ||
	       parse_openers(c, o, &fb->open_by, &fb->nopen) < 0 ? -1 : 0;
}

static int parse_uio(struct ctx *c, const cJSON *o, struct chardev *u)
{
	static const char *const keys[] = {"minor", "open_by", "comment", NULL};
	char name[16];

	if (check_keys(c, o, keys) < 0 || get_int(c, o, "minor", &u->minor, 0, 0, 255, NULL) < 0 ||
	    parse_openers(c, o, &u->open_by, &u->nopen) < 0)
		return -1;
	snprintf(name, sizeof name, "uio%d", u->minor);
	u->name = xstrdup(name);
	return 0;
}

/* "resource0".."resource5", optionally "_wc": the BAR files pci-sysfs makes. */
static int valid_resource(const char *s)
{
	return strncmp(s, "resource", 8) == 0 && s[8] >= '0' && s[8] <= '5' &&
	       (!s[9] || strcmp(s + 9, "_wc") == 0);
}

/* "mapped_by": one {"pid", "comm", "resource"} or an array of them. */
static int parse_mappings(struct ctx *c, const cJSON *o, struct device *d)
{
	static const char *const keys[] = {"pid", "comm", "resource", "comment", NULL};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "mapped_by");
	int count = !v || cJSON_IsNull(v) ? 0 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;

	d->maps = xcalloc(count, sizeof *d->maps);
	d->resources = xcalloc(count, sizeof *d->resources);
	for (const cJSON *x = count && cJSON_IsArray(v) ? v->child : count ? v : NULL; x;
	     x = cJSON_IsArray(v) ? x->next : NULL) {
		struct mapping *m = &d->maps[d->nmaps++];
		int seen = 0;
		if (check_keys(c, x, keys) < 0 || get_int(c, x, "pid", &m->pid, 0, 2, 4194304, NULL) < 0 ||
		    get_str(c, x, "comm", &m->comm, 1) < 0 || get_str(c, x, "resource", &m->resource, 1) < 0)
			return -1;
		if (!m->pid || !*m->comm || strlen(m->comm) > 15 || strchr(m->comm, '/'))
			return fail(c, "mapped_by needs a pid and a comm of 1-15 characters");
		if (!valid_resource(m->resource))
			return fail(c, "bad resource \"%s\" (want resource0-resource5, optionally _wc)",
				    m->resource);
		for (int i = 0; i < d->nresources; i++)
			seen |= strcmp(d->resources[i], m->resource) == 0;
		if (!seen)
			d->resources[d->nresources++] = xstrdup(m->resource);
	}
	return 0;
}

static int parse_hints(struct ctx *c, const cJSON *o, struct device *d)
{
	const cJSON *a, *nv = cJSON_GetObjectItemCaseSensitive(o, "nvidia");
	const cJSON *fb = cJSON_GetObjectItemCaseSensitive(o, "fb");
	const cJSON *uio = cJSON_GetObjectItemCaseSensitive(o, "uio");

	if (get_array(c, o, "net", &a) < 0)
		return -1;
	d->nets = xcalloc(a ? cJSON_GetArraySize(a) : 0, sizeof *d->nets);
	for (const cJSON *v = a ? a->child : NULL; v; v = v->next) {
		struct netif *ni = &d->nets[d->nnets++];
		ni->dev = d;
		if (parse_net(c, v, ni, IF_PHYS) < 0)
			return -1;
		for (int k = 0; k < ni->nuppers; k++)
			ni->uppers[k].dev = d;
	}
	if (get_array(c, o, "block", &a) < 0)
		return -1;
	d->blocks = xcalloc(a ? cJSON_GetArraySize(a) : 0, sizeof *d->blocks);
	for (const cJSON *v = a ? a->child : NULL; v; v = v->next)
		if (parse_block(c, v, &d->blocks[d->nblocks++], 0) < 0)
			return -1;
	if (nv && !cJSON_IsNull(nv) && parse_nvidia(c, nv, &d->nv) < 0)
		return -1;
	if (get_array(c, o, "drm", &a) < 0 || (a && parse_drm(c, a, d) < 0))
		return -1;
	if (fb && !cJSON_IsNull(fb) && parse_fb(c, fb, &d->fb) < 0)
		return -1;
	if (uio && !cJSON_IsNull(uio)) {
		d->has_uio = 1;
		if (parse_uio(c, uio, &d->uio) < 0)
			return -1;
	}
	return parse_mappings(c, o, d);
}

/* ---- readiness: what a VM will meet beyond the bind --------------------- */
const char *const reset_method_names[NRESET_METHODS + 1] = {
	NULL, "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"};

static int reset_method_index(const char *name)
{
	for (int m = 1; m <= NRESET_METHODS; m++)
		if (strcmp(name, reset_method_names[m]) == 0)
			return m;
	return 0;
}

/* "reset_method": a non-empty array of distinct method names, or null (no
 * file: the kernel hides the attribute of a device without a reset
 * method). Absent: flr and bus for an endpoint, none for a bridge. */
static int parse_reset_method(struct ctx *c, const cJSON *o, struct device *d)
{
	static const char *const dflt[] = {"flr", "bus"};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "reset_method");

	d->nreset_init = 0;
	if (!v) {
		for (size_t i = 0; d->header_type == 0 && i < sizeof dflt / sizeof *dflt; i++)
			d->reset_init[d->nreset_init++] = (unsigned char)reset_method_index(dflt[i]);
		return 0;
	}
	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v) || !cJSON_GetArraySize(v))
		return fail(c, "\"reset_method\" must be a non-empty array of method names or null");
	for (const cJSON *x = v->child; x; x = x->next) {
		int m = cJSON_IsString(x) ? reset_method_index(x->valuestring) : 0;
		if (!m)
			return fail(c, "\"reset_method\": bad method %s%s%s (want device_specific, acpi, "
				    "flr, af_flr, pm, bus or cxl_bus)", cJSON_IsString(x) ? "\"" : "",
				    cJSON_IsString(x) ? x->valuestring : "(not a string)",
				    cJSON_IsString(x) ? "\"" : "");
		for (int i = 0; i < d->nreset_init; i++)
			if (d->reset_init[i] == m)
				return fail(c, "\"reset_method\": \"%s\" listed twice", x->valuestring);
		d->reset_init[d->nreset_init++] = (unsigned char)m;
	}
	return 0;
}

/* pci_speed_string() for the speeds a PCIe link can have. */
static const char *link_speed(const char *s)
{
	static const char *const speeds[] = {"2.5 GT/s PCIe", "5.0 GT/s PCIe", "8.0 GT/s PCIe",
					     "16.0 GT/s PCIe", "32.0 GT/s PCIe", "64.0 GT/s PCIe",
					     "Unknown"};
	for (size_t i = 0; s && i < sizeof speeds / sizeof *speeds; i++)
		if (strcmp(s, speeds[i]) == 0)
			return speeds[i];
	return NULL;
}

static int link_width(struct ctx *c, const cJSON *o, const char *key, int *out)
{
	static const int widths[] = {0, 1, 2, 4, 8, 12, 16, 32};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		return fail(c, "link: missing \"%s\"", key);
	for (size_t i = 0; cJSON_IsNumber(v) && i < sizeof widths / sizeof *widths; i++)
		if (v->valuedouble == widths[i]) {
			*out = widths[i];
			return 0;
		}
	return fail(c, "link: \"%s\" must be one of 0, 1, 2, 4, 8, 12, 16, 32 (lanes)", key);
}

static int link_speed_key(struct ctx *c, const cJSON *o, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		return fail(c, "link: missing \"%s\"", key);
	*out = cJSON_IsString(v) ? link_speed(v->valuestring) : NULL;
	if (!*out)
		return fail(c, "link: \"%s\" must be \"2.5 GT/s PCIe\", \"5.0 GT/s PCIe\", "
			    "\"8.0 GT/s PCIe\", \"16.0 GT/s PCIe\", \"32.0 GT/s PCIe\", "
			    "\"64.0 GT/s PCIe\" or \"Unknown\"", key);
	return 0;
}

/* "link": {"speed", "width", "max_speed", "max_width"} or null (absent: a
 * conventional PCI device, no link files). The link cannot run above what
 * the port can do. */
static int parse_link(struct ctx *c, const cJSON *o, struct pcilink *l)
{
	static const char *const keys[] = {"speed", "width", "max_speed", "max_width", "comment", NULL};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "link");
	size_t at = strlen(c->item);
	int r;

	memset(l, 0, sizeof *l);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return fail(c, "\"link\" must be an object or null");
	snprintf(c->item + at, sizeof c->item - at, " link");
	r = check_keys(c, v, keys);
	c->item[at] = '\0';
	if (r < 0 || link_speed_key(c, v, "speed", &l->speed) < 0 ||
	    link_speed_key(c, v, "max_speed", &l->max_speed) < 0 ||
	    link_width(c, v, "width", &l->width) < 0 || link_width(c, v, "max_width", &l->max_width) < 0)
		return -1;
	if (strcmp(l->speed, "Unknown") && strcmp(l->max_speed, "Unknown") &&
	    strtod(l->speed, NULL) > strtod(l->max_speed, NULL))
		return fail(c, "link: \"speed\" %s is above \"max_speed\" %s", l->speed, l->max_speed);
	if (l->width > l->max_width)
		return fail(c, "link: \"width\" %d is above \"max_width\" %d", l->width, l->max_width);
	l->present = 1;
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
		"block", "nvidia", "drm", "fb", "uio", "mapped_by", "reset_method", "link", "rom",
		"comment", NULL};
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
	    get_bool(c, o, "boot_vga", &bv, 0) < 0 || get_bool(c, o, "rom", &d->rom, 0) < 0 ||
	    parse_reset_method(c, o, d) < 0 || parse_link(c, o, &d->link) < 0 ||
	    parse_hints(c, o, d) < 0)
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
		return d->nnets || d->nblocks || d->nv.present || d->ndrm || d->fb.present ||
		       d->has_uio || d->nmaps ?
			fail(c, "net/block/nvidia/drm/fb/uio/mapped_by hints belong to a driver: set "
			     "\"driver\"") : 0;
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

/* Every interface: the devices' own (each followed by nothing: uppers come
 * later), then virtual_net, then the uppers of both in the same order; the
 * order gives ifindexes, and netns-mirror numbers them the same way. */
static int all_netifs(struct host *h, struct netif ***out)
{
	int n = 0, cap = 16;
	struct netif **v = xcalloc(cap, sizeof *v);

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < h->ndevs + 1; i++) {
			struct netif *list = i < h->ndevs ? h->devs[i]->nets : h->vnets;
			int cnt = i < h->ndevs ? h->devs[i]->nnets : h->nvnets;
			for (int j = 0; j < cnt; j++) {
				for (int k = pass ? 0 : -1; k < (pass ? list[j].nuppers : 0); k++) {
					if (n + 1 >= cap)
						v = xrealloc(v, (cap *= 2) * sizeof *v);
					v[n++] = k < 0 ? &list[j] : &list[j].uppers[k];
				}
			}
		}
	}
	*out = v;
	return n;
}

static int name_taken(char ***seen, int *nseen, const char *name)
{
	for (int x = 0; x < *nseen; x++)
		if (strcmp((*seen)[x], name) == 0)
			return 1;
	*seen = xrealloc(*seen, (*nseen + 1) * sizeof **seen);
	(*seen)[(*nseen)++] = (char *)name;
	return 0;
}

/* Names the kernel keeps unique host-wide: interfaces, disks, DRM, fb and
 * uio minors, nvidia minors, virtio devices. */
static int check_unique_names(struct ctx *c)
{
	struct host *h = c->h;
	char **seen = NULL, **minors = NULL;
	int nseen = 0, nminors = 0, rc = 0;
	struct netif **ifs;
	int nifs = all_netifs(h, &ifs);

	*c->item = '\0';
	for (int i = 0; i < nifs && !rc; i++)
		if (name_taken(&seen, &nseen, ifs[i]->name))
			rc = fail(c, "interface name \"%s\" used twice", ifs[i]->name);
	free(ifs);
	for (int i = 0; i < h->ndevs && !rc; i++) {
		struct device *d = h->devs[i];
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, d->addr);
		for (int j = 0; j < d->nblocks && !rc; j++) {
			struct blockdev *b = &d->blocks[j];
			for (int k = -1; k < b->nparts && !rc; k++) {
				const char *bn = k < 0 ? b->name : b->parts[k].name;
				if (name_taken(&seen, &nseen, bn))
					rc = fail(c, "name \"%s\" used twice", bn);
			}
		}
		for (int j = 0; j < d->ndrm && !rc; j++)
			if (name_taken(&minors, &nminors, d->drm[j].name))
				rc = fail(c, "drm minor \"%s\" used twice", d->drm[j].name);
		for (int j = 0; j < i && d->fb.present && !rc; j++)
			if (h->devs[j]->fb.present && h->devs[j]->fb.minor == d->fb.minor)
				rc = fail(c, "fb minor %d used twice", d->fb.minor);
		for (int j = 0; j < i && d->has_uio && !rc; j++)
			if (h->devs[j]->has_uio && h->devs[j]->uio.minor == d->uio.minor)
				rc = fail(c, "uio minor %d used twice", d->uio.minor);
		for (int j = 0; j < i && d->nv.present && !rc; j++)
			if (h->devs[j]->nv.present && h->devs[j]->nv.minor == d->nv.minor)
				rc = fail(c, "nvidia minor %d used twice", d->nv.minor);
		for (int j = 0; j < d->nnets && !rc; j++)
			rc = check_unique_under(c, d, d->nets[j].under);
	}
	free(seen);
	free(minors);
	return rc;
}

static struct netif *find_vnet(struct host *h, const char *name)
{
	for (int i = 0; i < h->nvnets; i++)
		if (strcmp(h->vnets[i].name, name) == 0)
			return &h->vnets[i];
	return NULL;
}

/* Masters name virtual_net interfaces; chains end; an Open vSwitch internal
 * port hangs on a datapath (an openvswitch interface without master). */
static int resolve_masters(struct ctx *c)
{
	struct host *h = c->h;
	struct netif **ifs;
	int n = all_netifs(h, &ifs), rc = 0;

	*c->item = '\0';
	for (int i = 0; i < n && !rc; i++) {
		struct netif *ni = ifs[i], *m;
		snprintf(c->item, sizeof c->item, "interface %s", ni->name);
		if (!ni->master_name)
			continue;
		m = ni->master = find_vnet(h, ni->master_name);
		if (!m || m == ni)
			rc = fail(c, "master \"%s\" is not another virtual_net interface", ni->master_name);
		else if (ni->kind == NK_OVS && (m->kind != NK_OVS || m->master_name))
			rc = fail(c, "an openvswitch interface with a master is an internal port: its "
				  "master is an openvswitch datapath (one without master)");
		else if (m->kind == NK_OVS && m->master_name)
			rc = fail(c, "master \"%s\" is an Open vSwitch internal port, not a datapath",
				  m->name);
	}
	for (int i = 0; i < n && !rc; i++) {
		int steps = 0;
		snprintf(c->item, sizeof c->item, "interface %s", ifs[i]->name);
		for (const struct netif *m = ifs[i]; m && !rc; m = m->master)
			if (++steps > n)
				rc = fail(c, "master chain loops");
	}
	free(ifs);
	return rc;
}

/* One route per destination and table (metrics are not modelled): the
 * kernel refuses a second with EEXIST. */
static int check_routes(struct ctx *c)
{
	struct netif **ifs;
	int n = all_netifs(c->h, &ifs), rc = 0;

	*c->item = '\0';
	for (int i = 0; i < n && !rc; i++)
		for (int k = 0; k < ifs[i]->nroutes && !rc; k++) {
			const struct route *r = &ifs[i]->routes[k];
			for (int j = 0; j <= i && !rc; j++)
				for (int l = 0; l < (j < i ? ifs[j]->nroutes : k) && !rc; l++) {
					const struct route *o = &ifs[j]->routes[l];
					char dst[64];
					if (o->v6 != r->v6 || o->plen != r->plen || o->table != r->table ||
					    memcmp(o->dst, r->dst, 16))
						continue;
					inet_ntop(r->v6 ? AF_INET6 : AF_INET, r->dst, dst, sizeof dst);
					rc = fail(c, "route %s/%d in table %u is on %s and %s: the kernel "
						  "refuses the second (metrics are not modelled)", dst,
						  r->plen, r->table, ifs[j]->name, ifs[i]->name);
				}
		}
	free(ifs);
	return rc;
}

/* Who holds what: one comm per pid, whatever hint names it. */
struct pidseen { int pid; const char *comm; };

static int see_pid(struct ctx *c, struct pidseen **seen, int *n, int pid, const char *comm)
{
	for (int x = 0; x < *n; x++)
		if ((*seen)[x].pid == pid)
			return strcmp((*seen)[x].comm, comm) == 0 ? 0 :
			       fail(c, "pid %d is \"%s\" here and \"%s\" elsewhere", pid, comm,
				    (*seen)[x].comm);
	*seen = xrealloc(*seen, (*n + 1) * sizeof **seen);
	(*seen)[*n].pid = pid;
	(*seen)[(*n)++].comm = comm;
	return 0;
}

static int see_openers(struct ctx *c, struct pidseen **seen, int *n, const struct opener *o,
		       int count)
{
	for (int k = 0; k < count; k++)
		if (see_pid(c, seen, n, o[k].pid, o[k].comm) < 0)
			return -1;
	return 0;
}

static int check_pids(struct ctx *c)
{
	struct host *h = c->h;
	struct pidseen *seen = NULL;
	int nseen = 0, rc = 0;

	for (int i = 0; i < h->ndevs && !rc; i++) {
		struct device *d = h->devs[i];
		snprintf(c->item, sizeof c->item, "devices[%d] %s", i, d->addr);
		rc = see_openers(c, &seen, &nseen, d->nv.open_by, d->nv.nopen) ||
		     see_openers(c, &seen, &nseen, d->fb.open_by, d->fb.nopen) ||
		     see_openers(c, &seen, &nseen, d->uio.open_by, d->uio.nopen);
		for (int j = 0; j < d->ndrm && !rc; j++)
			rc = see_openers(c, &seen, &nseen, d->drm[j].open_by, d->drm[j].nopen);
		for (int j = 0; j < d->nblocks && !rc; j++)
			for (int p = -1; p < d->blocks[j].nparts && !rc; p++) {
				const struct blockdev *b = p < 0 ? &d->blocks[j] : &d->blocks[j].parts[p];
				rc = see_openers(c, &seen, &nseen, b->open_by, b->nopen);
			}
		for (int j = 0; j < d->nmaps && !rc; j++)
			rc = see_pid(c, &seen, &nseen, d->maps[j].pid, d->maps[j].comm);
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

static void number_openers(struct opener *o, int n, int *fd)
{
	for (int i = 0; i < n; i++)
		o[i].fd = (*fd)++;
}

/* Disks: their partitions' whole disk, a disk sequence number, swap
 * priorities (-2, -3, ... in order, as swapon gives them), anonymous device
 * numbers for btrfs mounts, descriptors of the processes holding them. */
static void init_blocks(struct device *d, int *seq, int *prio, int *anon, int *fd)
{
	for (int j = 0; j < d->nblocks; j++) {
		struct blockdev *disk = &d->blocks[j];
		disk->diskseq = ++*seq;
		for (int p = -1; p < disk->nparts; p++) {
			struct blockdev *b = p < 0 ? disk : &disk->parts[p];
			b->disk = disk;
			b->diskseq = disk->diskseq;
			if (b->swap)
				b->swap_prio = (*prio)--;
			if (b->mounted && b->fstype && strcmp(b->fstype, "btrfs") == 0)
				b->anon_minor = (*anon)++;
			number_openers(b->open_by, b->nopen, fd);
		}
	}
}

/* Initial runtime state: everything as the topology says, VFs enabled. */
static void init_runtime(struct host *h)
{
	int ifindex = 2, ctrl = 0, seq = 0, prio = -2, anon = 40, fd = 300, ino = 30000;
	struct netif **ifs;
	int nifs = all_netifs(h, &ifs);

	for (int i = 0; i < nifs; i++)
		ifs[i]->ifindex = ifindex++;
	free(ifs);

	h->drivers_autoprobe = 1;
	for (int i = 0; i < h->ndevs; i++) {
		struct device *d = h->devs[i];
		d->present = 1;
		d->drv = d->init_drv;
		d->override = d->init_override ? xstrdup(d->init_override) : NULL;
		d->enable = d->drv != NULL;
		d->numvfs = d->nvfs_listed;
		d->vfio_idx = -1;
		memcpy(d->reset, d->reset_init, sizeof d->reset);
		d->nreset = d->nreset_init;
		add_group(h, d->group);
		if (d->drv && d->drv->is_vfio) {
			d->vfio_idx = h->next_vfio_idx++;
			host_group(h, d->group)->vfio_members++;
		}
		init_blocks(d, &seq, &prio, &anon, &fd);
		number_openers(d->fb.open_by, d->fb.nopen, &fd);
		number_openers(d->uio.open_by, d->uio.nopen, &fd);
		for (int j = 0; j < d->ndrm; j++)
			number_openers(d->drm[j].open_by, d->drm[j].nopen, &fd);
		for (int j = 0; j < d->nv.nopen; j++)
			d->nv.open_by[j].fd = 3 + d->nv.minor;
		for (int j = 0; j < d->nmaps; j++)
			d->maps[j].ino = ino++;
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
	if (check_cycles(c) < 0 || check_unique_names(c) < 0 || resolve_masters(c) < 0 ||
	    check_routes(c) < 0 || check_pids(c) < 0)
		return -1;
	init_runtime(h);
	return 0;
}

/* ---- the host's readiness for passthrough --------------------------------- */
/* A register as the kernel prints it with %llx: 1-16 lowercase hex digits,
 * no leading zero. */
static int valid_llx(const char *s)
{
	size_t l = strlen(s);
	return l >= 1 && l <= 16 && is_hex(s, l) && (s[0] != '0' || l == 1);
}

/* dmarN or ivhdN, N without leading zeros. */
static int valid_unit_name(const char *s, const char *prefix)
{
	size_t p = strlen(prefix), l = strlen(s);
	if (strncmp(s, prefix, p) || l == p || l > p + 4 || (s[p] == '0' && l > p + 1))
		return 0;
	for (size_t i = p; i < l; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int parse_unit(struct ctx *c, const cJSON *o, struct iommu_unit *u)
{
	static const char *const keys[] = {"name", "cap", "ecap", "features", "comment", NULL};
	struct host *h = c->h;
	int intel;

	if (check_keys(c, o, keys) < 0 || get_str(c, o, "name", &u->name, 1) < 0)
		return -1;
	snprintf(c->item + strlen(c->item), sizeof c->item - strlen(c->item), " %.24s", u->name);
	if (get_str(c, o, "cap", &u->cap, 0) < 0 || get_str(c, o, "ecap", &u->ecap, 0) < 0 ||
	    get_str(c, o, "features", &u->features, 0) < 0)
		return -1;
	intel = u->cap || u->ecap;
	if (intel && u->features)
		return fail(c, "an Intel unit has \"cap\" and \"ecap\", an AMD one \"features\", "
			    "not both");
	if (intel && (!u->cap || !u->ecap))
		return fail(c, "an Intel unit needs both \"cap\" and \"ecap\"");
	if (!intel && !u->features)
		return fail(c, "missing \"cap\" and \"ecap\" (Intel) or \"features\" (AMD)");
	if (!valid_unit_name(u->name, intel ? "dmar" : "ivhd"))
		return fail(c, "bad name (an %s unit is %s, N without leading zeros)",
			    intel ? "Intel" : "AMD", intel ? "dmarN" : "ivhdN");
	if (h->firmware != (intel ? FW_DMAR : FW_IVRS))
		return fail(c, "an %s unit needs \"firmware_iommu\": \"%s\"", intel ? "Intel" : "AMD",
			    intel ? "DMAR" : "IVRS");
	const char *bad = intel && !valid_llx(u->cap) ? "cap" : intel && !valid_llx(u->ecap) ? "ecap"
			: !intel && !valid_llx(u->features) ? "features" : NULL;
	if (bad)
		return fail(c, "\"%s\" must be 1-16 lowercase hex digits without 0x or leading zeros "
			    "(as the kernel prints it)", bad);
	for (int i = 0; i < h->nunits && &h->units[i] != u; i++)
		if (strcmp(h->units[i].name, u->name) == 0)
			return fail(c, "unit listed twice");
	return 0;
}

static void default_unit(struct host *h)
{
	struct iommu_unit *u = &h->units[h->nunits++];

	if (h->firmware == FW_DMAR) {
		u->name = xstrdup("dmar0");
		u->cap = xstrdup("d2008c40660462");
		u->ecap = xstrdup("f050da");
	} else {
		u->name = xstrdup("ivhd0");
		u->features = xstrdup("25bf732fa2295afe");
	}
}

/* firmware_iommu, iommu_units, interrupt_remapping, cmdline, kvm,
 * vfio_unsafe_interrupts: what the module's readiness checks read. */
static int parse_readiness(struct ctx *c, const cJSON *root)
{
	struct host *h = c->h;
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(root, "firmware_iommu");
	const cJSON *units, *ir = cJSON_GetObjectItemCaseSensitive(root, "interrupt_remapping");
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "cmdline");

	*c->item = '\0';
	h->firmware = FW_DMAR;
	if (fw && cJSON_IsNull(fw))
		h->firmware = FW_NONE;
	else if (fw && cJSON_IsString(fw) && strcmp(fw->valuestring, "IVRS") == 0)
		h->firmware = FW_IVRS;
	else if (fw && (!cJSON_IsString(fw) || strcmp(fw->valuestring, "DMAR")))
		return fail(c, "\"firmware_iommu\" must be \"DMAR\", \"IVRS\" or null");
	if (h->iommu && h->firmware == FW_NONE)
		return fail(c, "\"iommu\" is true but \"firmware_iommu\" is null: the kernel enables "
			    "an IOMMU the firmware's DMAR or IVRS table describes");
	if (get_array(c, root, "iommu_units", &units) < 0)
		return -1;
	if (units && cJSON_GetArraySize(units) && !h->iommu)
		return fail(c, "\"iommu_units\" listed but \"iommu\" is false");
	h->units = xcalloc(units ? cJSON_GetArraySize(units) : 1, sizeof *h->units);
	for (const cJSON *o = units ? units->child : NULL; o; o = o->next) {
		snprintf(c->item, sizeof c->item, "iommu_units[%d]", h->nunits);
		if (parse_unit(c, o, &h->units[h->nunits++]) < 0)
			return -1;
	}
	*c->item = '\0';
	if (!units && h->iommu)
		default_unit(h);
	if (get_bool(c, root, "interrupt_remapping", &h->intremap, h->iommu) < 0 ||
	    get_bool(c, root, "kvm", &h->kvm, 1) < 0 ||
	    get_bool(c, root, "vfio_unsafe_interrupts", &h->unsafe_interrupts, 0) < 0)
		return -1;
	if (ir && h->intremap && h->firmware == FW_NONE)
		return fail(c, "\"interrupt_remapping\" is true but \"firmware_iommu\" is null: "
			    "remapping hardware is described by the DMAR or IVRS table");
	if (h->unsafe_interrupts && !h->vfio_loaded)
		return fail(c, "\"vfio_unsafe_interrupts\" is a parameter of vfio_iommu_type1, "
			    "loaded with vfio-pci: \"vfio_pci_loaded\" is false");
	if (cmd && !cJSON_IsString(cmd))
		return fail(c, "\"cmdline\" must be a string");
	if (cmd && (strlen(cmd->valuestring) > 2047 || strpbrk(cmd->valuestring, "\n")))
		return fail(c, "\"cmdline\" must be at most 2047 characters without newline");
	if (cmd) {
		h->cmdline = xstrdup(cmd->valuestring);
	} else {
		struct strbuf b = {0};
		sb_printf(&b, "BOOT_IMAGE=/boot/vmlinuz-%s root=UUID=3f1e0c2a-5b7d-4c9e-8f21-"
			  "0a6b1c2d3e4f ro quiet%s", h->kernel, !h->iommu ? "" :
			  h->firmware == FW_IVRS ? " amd_iommu=on iommu=pt" : " intel_iommu=on iommu=pt");
		h->cmdline = b.s;
	}
	return 0;
}

static int parse_top(struct ctx *c, const cJSON *root)
{
	static const char *const keys[] = {"name", "iommu", "vfio_pci_loaded", "cdev", "kernel",
					   "drivers", "devices", "virtual_net", "firmware_iommu",
					   "iommu_units", "interrupt_remapping", "cmdline", "kvm",
					   "vfio_unsafe_interrupts", "comment", NULL};
	struct host *h = c->h;
	const cJSON *drivers, *devices, *vnets;

	if (check_keys(c, root, keys) < 0 || get_str(c, root, "name", &h->name, 1) < 0 ||
	    get_bool(c, root, "iommu", &h->iommu, 1) < 0 ||
	    get_bool(c, root, "vfio_pci_loaded", &h->vfio_loaded, 1) < 0 ||
	    get_bool(c, root, "cdev", &h->cdev, 0) < 0 ||
	    get_str(c, root, "kernel", &h->kernel, 0) < 0 ||
	    get_array(c, root, "drivers", &drivers) < 0 || get_array(c, root, "devices", &devices) < 0 ||
	    get_array(c, root, "virtual_net", &vnets) < 0)
		return -1;
	h->vnets = xcalloc(vnets ? cJSON_GetArraySize(vnets) : 0, sizeof *h->vnets);
	for (const cJSON *o = vnets ? vnets->child : NULL; o; o = o->next) {
		snprintf(c->item, sizeof c->item, "virtual_net[%d]", h->nvnets);
		if (parse_net(c, o, &h->vnets[h->nvnets++], IF_VIRTUAL) < 0)
			return -1;
	}
	*c->item = '\0';
	if (!h->kernel)
		h->kernel = xstrdup("6.1.0-sim");
	if (parse_readiness(c, root) < 0)
		return -1;
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
static void openers_free(struct opener *o, int n)
{
	for (int i = 0; i < n; i++)
		free(o[i].comm);
	free(o);
}

static void block_free(struct blockdev *b)
{
	free(b->name);
	free(b->mounted);
	free(b->fstype);
	free_strings(b->holders, b->nholders);
	for (int i = 0; i < b->nparts; i++)
		block_free(&b->parts[i]);
	free(b->parts);
	openers_free(b->open_by, b->nopen);
}

static void netif_free(struct netif *ni)
{
	free(ni->name);
	free(ni->mac);
	free(ni->under);
	free(ni->routes);
	free(ni->addrs);
	free(ni->master_name);
	for (int i = 0; i < ni->nuppers; i++)
		netif_free(&ni->uppers[i]);
	free(ni->uppers);
}

static void device_free(struct device *d)
{
	for (int i = 0; i < d->nnets; i++)
		netif_free(&d->nets[i]);
	free(d->nets);
	for (int i = 0; i < d->nblocks; i++)
		block_free(&d->blocks[i]);
	free(d->blocks);
	openers_free(d->nv.open_by, d->nv.nopen);
	free(d->nv.model);
	for (int i = 0; i < d->ndrm; i++) {
		free(d->drm[i].name);
		openers_free(d->drm[i].open_by, d->drm[i].nopen);
	}
	free(d->drm);
	openers_free(d->fb.open_by, d->fb.nopen);
	free(d->uio.name);
	openers_free(d->uio.open_by, d->uio.nopen);
	for (int i = 0; i < d->nmaps; i++) {
		free(d->maps[i].comm);
		free(d->maps[i].resource);
	}
	free(d->maps);
	free_strings(d->resources, d->nresources);
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
	for (int i = 0; i < h->nvnets; i++)
		netif_free(&h->vnets[i]);
	free(h->vnets);
	for (int i = 0; i < h->nunits; i++) {
		free(h->units[i].name);
		free(h->units[i].cap);
		free(h->units[i].ecap);
		free(h->units[i].features);
	}
	free(h->units);
	free(h->cmdline);
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
