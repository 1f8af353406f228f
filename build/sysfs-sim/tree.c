/* The node tree: directories, attribute files and symlinks, as the FUSE ops
 * and the static writer see them. Children keep creation order (readdir order
 * in sysfs is creation order); a hash keyed by (parent, name) makes a lookup in
 * a directory of thousands of entries cheap, since the kernel re-looks-up every
 * path component (we mount with zero entry timeouts so links can vanish). */
#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers used everywhere ---------------------------------- */
static void die_oom(void)
{
	fputs("sysfs-sim: out of memory\n", stderr);
	abort();
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die_oom();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		die_oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		die_oom();
	return p;
}

void sb_add(struct strbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof small) {
		sb_add(b, small, n);
		return;
	}
	char *big = xcalloc(n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, n);
	free(big);
}

void sb_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the (parent, name) hash ----------------------------------------- */
static struct node **htab;
static size_t hsize, hcount;

static size_t hkey(const struct node *parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uintptr_t)parent;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static void hinsert(struct node *n);

static void hgrow(void)
{
	struct node **old = htab;
	size_t oldsize = hsize;

	hsize = hsize ? hsize * 2 : 4096;
	htab = xcalloc(hsize, sizeof *htab);
	hcount = 0;
	for (size_t i = 0; i < oldsize; i++)
		for (struct node *n = old[i], *next; n; n = next) {
			next = n->hnext;
			hinsert(n);
		}
	free(old);
}

static void hinsert(struct node *n)
{
	if (hcount + 1 > hsize)
		hgrow();
	size_t i = hkey(n->parent, n->name) & (hsize - 1);
	n->hnext = htab[i];
	htab[i] = n;
	hcount++;
}

static void hdelete(struct node *n)
{
	struct node **pp = &htab[hkey(n->parent, n->name) & (hsize - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == n) {
			*pp = n->hnext;
			hcount--;
			return;
		}
}

struct node *node_child(struct node *dir, const char *name)
{
	if (!hsize || !dir)
		return NULL;
	for (struct node *n = htab[hkey(dir, name) & (hsize - 1)]; n; n = n->hnext)
		if (n->parent == dir && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

/* ---- creation and removal -------------------------------------------- */
static struct node *the_root;

struct node *node_root(void)
{
	if (!the_root) {
		the_root = xcalloc(1, sizeof *the_root);
		the_root->name = xstrdup("");
		the_root->type = N_DIR;
		the_root->mode = 0755;
	}
	return the_root;
}

static struct node *node_new(struct node *parent, const char *name, enum ntype type)
{
	static unsigned long long next_ino = 2;	/* 1 is the root's */
	struct node *n = xcalloc(1, sizeof *n);
	n->ino = next_ino++;
	n->name = xstrdup(name);
	n->type = type;
	n->parent = parent;
	if (parent->nkids == parent->capkids) {
		parent->capkids = parent->capkids ? parent->capkids * 2 : 8;
		parent->kids = xrealloc(parent->kids, parent->capkids * sizeof *parent->kids);
	}
	parent->kids[parent->nkids++] = n;
	hinsert(n);
	return n;
}

struct node *node_dir(struct node *parent, const char *name)
{
	struct node *n = node_child(parent, name);
	if (n && n->type == N_DIR)
		return n;
	if (n)
		node_remove(n);
	n = node_new(parent, name, N_DIR);
	n->mode = 0755;
	return n;
}

/* Creates every directory of "a/b/c" below from. */
struct node *node_dirs(struct node *from, const char *relpath)
{
	char *copy = xstrdup(relpath), *save = NULL;
	struct node *n = from;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
		n = node_dir(n, c);
	free(copy);
	return n;
}

struct node *node_file(struct node *dir, const char *name, mode_t mode,
		       enum nkind kind, int attr, void *obj)
{
	struct node *n = node_child(dir, name);
	if (n)
		node_remove(n);
	n = node_new(dir, name, N_FILE);
	n->mode = mode;
	n->kind = kind;
	n->attr = attr;
	n->obj = obj;
	return n;
}

struct node *node_link(struct node *dir, const char *name, const char *target)
{
	struct node *n = node_child(dir, name);
	if (n && n->type == N_LINK && strcmp(n->target, target) == 0)
		return n;
	if (n)
		node_remove(n);
	n = node_new(dir, name, N_LINK);
	n->mode = 0777;
	n->target = xstrdup(target);
	return n;
}

static void node_free_rec(struct node *n)
{
	for (int i = 0; i < n->nkids; i++) {
		hdelete(n->kids[i]);
		node_free_rec(n->kids[i]);
	}
	free(n->kids);
	free(n->name);
	free(n->target);
	free(n);
}

void node_remove(struct node *n)
{
	struct node *p = n->parent;
	if (!p)
		return;
	for (int i = 0; i < p->nkids; i++)
		if (p->kids[i] == n) {
			memmove(&p->kids[i], &p->kids[i + 1], (p->nkids - i - 1) * sizeof *p->kids);
			p->nkids--;
			break;
		}
	hdelete(n);
	node_free_rec(n);
}

void node_remove_child(struct node *dir, const char *name)
{
	struct node *n = dir ? node_child(dir, name) : NULL;
	if (n)
		node_remove(n);
}

void tree_free(struct node *root)
{
	if (!root)
		return;
	node_free_rec(root);
	free(htab);
	htab = NULL;
	hsize = hcount = 0;
	if (root == the_root)
		the_root = NULL;
}

/* ---- lookup and paths ------------------------------------------------- */
int node_visible(const struct node *n)
{
	return n->visible_at == 0 || now_ms() >= n->visible_at;
}

/* Resolves "/a/b/c" without following links (the kernel follows them and
 * asks us for the real path); hidden nodes do not exist yet. */
struct node *node_lookup(const char *path)
{
	struct node *n = node_root();
	const char *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char name[256];
		if (len >= sizeof name)
			return NULL;
		memcpy(name, p, len);
		name[len] = '\0';
		n = node_child(n, name);
		if (!n || !node_visible(n))
			return NULL;
		p += len;
	}
	return n;
}

static int node_depth(const struct node *n)
{
	int d = 0;
	for (; n->parent; n = n->parent)
		d++;
	return d;
}

/* The relative link target from directory from_dir to node to, the way the
 * kernel writes sysfs links ("../../../devices/pci0000:00/..."). */
char *node_relpath(const struct node *from_dir, const struct node *to)
{
	int df = node_depth(from_dir), dt = node_depth(to);
	const struct node *a = from_dir, *b = to;
	struct strbuf out = {0};

	while (df > dt) { a = a->parent; df--; }
	while (dt > df) { b = b->parent; dt--; }
	while (a != b) { a = a->parent; b = b->parent; }
	for (const struct node *x = from_dir; x != a; x = x->parent)
		sb_add(&out, "../", 3);

	const struct node *chain[64];
	int n = 0;
	for (const struct node *x = to; x != a && n < 64; x = x->parent)
		chain[n++] = x;
	for (int i = n - 1; i >= 0; i--)
		sb_printf(&out, "%s%s", chain[i]->name, i ? "/" : "");
	return out.s;
}
