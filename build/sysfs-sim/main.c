/* sysfs-sim: command line, FUSE operations, daemon start-up and shutdown.
 *
 * FUSE runs multi-threaded; every operation takes S.lock, so the model is
 * single-threaded in effect, and a writer that blocks (cond wait) lets the
 * others run. Nothing holds a node pointer across operations: open files keep
 * only what they read, every operation resolves its path afresh, the way
 * kernfs answers ENODEV for an attribute removed under an open file. */
#define FUSE_USE_VERSION 312
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

struct sim S = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static time_t mount_time;

/* The reader of the request being served was interrupted (a signal, the
 * process exiting): a wait on its behalf ends. */
int sim_interrupted(void)
{
	return fuse_interrupted();
}

int sim_stopping(void)
{
	return S.shutdown || (S.session && fuse_session_exited(S.session));
}

/* What an open file keeps: the content read at offset 0 (a show() runs once
 * per read from the start, like seq_file), and the vfio group it opened. */
struct openfile {
	int generation, group;
	int cached;
	struct strbuf cache;
};

static int in_sys(const struct node *n)
{
	while (n->parent && n->parent->parent)
		n = n->parent;
	return strcmp(n->name, "sys") == 0;
}

static void fill_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_blksize = 4096;
	st->st_atime = st->st_mtime = st->st_ctime = mount_time;
	st->st_ino = n->ino ? n->ino : 1;
	if (n->type == N_DIR) {
		st->st_mode = S_IFDIR | n->mode;
		st->st_nlink = 2;
	} else if (n->type == N_LINK) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = strlen(n->target);
	} else {
		st->st_mode = S_IFREG | n->mode;
		st->st_nlink = 1;
		/* sysfs reports a page for text attributes, 256 for config;
		 * proc files and device nodes report 0 */
		if (in_sys(n))
			st->st_size = n->kind == K_DEV && n->attr == DA_CONFIG ? 256 : 4096;
	}
}

/* ---- read side --------------------------------------------------------- */
static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	if (n)
		fill_stat(n, st);
	pthread_mutex_unlock(&S.lock);
	return n ? 0 : -ENOENT;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	int r = 0;

	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	if (!n)
		r = -ENOENT;
	else if (n->type != N_LINK)
		r = -EINVAL;
	else
		snprintf(buf, size, "%s", n->target);
	pthread_mutex_unlock(&S.lock);
	return r;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int r = 0;
	(void)off, (void)fi, (void)flags;

	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	if (!n)
		r = -ENOENT;
	else if (n->type != N_DIR)
		r = -ENOTDIR;
	else {
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		for (int i = 0; i < n->nkids; i++)
			if (node_visible(n->kids[i]))
				fill(buf, n->kids[i]->name, NULL, 0, 0);
	}
	pthread_mutex_unlock(&S.lock);
	return r;
}

/* kernfs: an attribute without show (mode 0200) cannot be opened for
 * reading, one without store not for writing, whoever asks. /dev/vfio/N is
 * exclusive, as vfio_group_fops_open() makes it. */
static int open_node(struct node *n, int flags, struct openfile **out)
{
	int acc = flags & O_ACCMODE;

	if (n->type != N_FILE)
		return -EISDIR;
	if ((acc != O_WRONLY && !(n->mode & 0444)) || (acc != O_RDONLY && !(n->mode & 0222)))
		return -EACCES;
	/* FUSE never sees O_EXCL (the kernel keeps it out of the open flags),
	 * so any open of a claimed disk's node answers what an exclusive one
	 * would: EBUSY. */
	if (n->kind == K_BLOCKNODE && block_claimed(n->obj))
		return -EBUSY;
	if (n->kind == K_VFIO_GROUP) {
		struct group *g = host_group(S.h, n->arg);
		if (!g)
			return -ENODEV;
		if (g->opens || g->held)
			return -EBUSY;
		g->opens++;
	}
	*out = xcalloc(1, sizeof **out);
	(*out)->generation = S.generation;
	(*out)->group = n->kind == K_VFIO_GROUP ? n->arg : -1;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct openfile *of = NULL;
	int r;

	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	r = n ? open_node(n, fi->flags, &of) : -ENOENT;
	pthread_mutex_unlock(&S.lock);
	fi->fh = (uintptr_t)of;
	fi->direct_io = 1;	/* every read and write reaches us, none is cached */
	return r;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct openfile *of = (struct openfile *)(uintptr_t)fi->fh;
	int r = 0;

	pthread_mutex_lock(&S.lock);
	if (off == 0)
		fault_proc_slow(path);
	struct node *n = node_lookup(path);
	if (!n) {
		r = -ENODEV;	/* removed under an open file */
	} else if (off == 0 || !of->cached) {
		/* a blocked read of driver_override must keep "load" away */
		struct writer *w = n->kind == K_DEV && n->attr == DA_OVERRIDE ?
				   writer_begin(path, NULL, 0) : NULL;
		of->cache.len = 0;
		r = attr_show(n, &of->cache, fuse_get_context()->uid);
		of->cached = r == 0;
		if (w)
			writer_end(w);
	}
	if (r == 0 && (size_t)off < of->cache.len) {
		r = (int)(of->cache.len - off < size ? of->cache.len - off : size);
		memcpy(buf, of->cache.s + off, r);
	}
	pthread_mutex_unlock(&S.lock);
	return r;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct openfile *of = (struct openfile *)(uintptr_t)fi->fh;
	(void)path;

	pthread_mutex_lock(&S.lock);
	if (of && of->group >= 0 && of->generation == S.generation) {
		struct group *g = host_group(S.h, of->group);
		if (g && g->opens > 0)
			g->opens--;
		wake_all();
	}
	pthread_mutex_unlock(&S.lock);
	if (of)
		sb_free(&of->cache);
	free(of);
	return 0;
}

/* ---- write side ---------------------------------------------------------- */
static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	size_t len = size > 4096 ? 4096 : size;	/* kernfs hands a store one page at most */
	char *data = strndup(buf, len);		/* and the store sees a C string */
	int r;
	(void)off, (void)fi;

	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	if (!n) {
		r = -ENODEV;
	} else if (n->kind == K_SIM) {
		r = attr_store(n, data, len);	/* "load" may free n: not used after */
	} else if (strncmp(path, "/sys/", 5) != 0) {
		r = -EINVAL;			/* device nodes */
	} else {
		struct writer *w = writer_begin(path, buf, len);
		long seq = log_begin(path, buf, len);
		r = attr_store(n, data, len);
		log_end(seq, r);
		writer_end(w);
	}
	pthread_mutex_unlock(&S.lock);
	free(data);
	return r < 0 ? r : (int)len;
}

/* O_TRUNC on an attribute is a no-op, as kernfs ignores the size. */
static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)size, (void)fi;
	pthread_mutex_lock(&S.lock);
	struct node *n = node_lookup(path);
	int r = !n ? -ENOENT : n->type == N_DIR ? -EISDIR : 0;
	pthread_mutex_unlock(&S.lock);
	return r;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv;
	int r = op_truncate(path, 0, fi);
	return r == -EISDIR ? 0 : r;
}

/* Nothing can be created, removed or renamed: the VFS answers EACCES for a
 * create in a sysfs directory and EPERM for the rest. */
static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path, (void)mode, (void)fi;
	return -EACCES;
}

static int op_mkdir(const char *path, mode_t mode)
{
	(void)path, (void)mode;
	return -EPERM;
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path, (void)mode, (void)dev;
	return -EPERM;
}

static int op_unlink(const char *path)
{
	(void)path;
	return -EPERM;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from, (void)to, (void)flags;
	return -EPERM;
}

static int op_symlink(const char *target, const char *path)
{
	(void)target, (void)path;
	return -EPERM;
}

/* devtmpfs lets root change a device node's owner and mode: the VFIO
 * group nodes and the VFIO device nodes here (a new node starts root:root
 * 0600, as the kernel makes it). Everything else is sysfs or procfs, where
 * the simulator refuses. */
static struct node *owned_node(const char *path)
{
	struct node *n = node_lookup(path);

	if (!n || n->type != N_FILE)
		return NULL;
	if (n->kind == K_VFIO_GROUP)
		return n;
	if (n->kind == K_DEVNODE && n->parent && !strcmp(n->parent->name, "devices")
	    && n->parent->parent && !strcmp(n->parent->parent->name, "vfio"))
		return n;
	return NULL;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int r = -EPERM;

	(void)fi;
	pthread_mutex_lock(&S.lock);
	struct node *n = owned_node(path);
	if (n && fuse_get_context()->uid == 0) {
		n->mode = mode & 07777;
		r = 0;
	}
	pthread_mutex_unlock(&S.lock);
	return r;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	int r = -EPERM;

	(void)fi;
	pthread_mutex_lock(&S.lock);
	struct node *n = owned_node(path);
	if (n && fuse_get_context()->uid == 0) {
		if (uid != (uid_t)-1)
			n->uid = uid;
		if (gid != (gid_t)-1)
			n->gid = gid;
		r = 0;
	}
	pthread_mutex_unlock(&S.lock);
	return r;
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof *st);
	st->f_bsize = st->f_frsize = 4096;
	st->f_namemax = 255;
	return 0;
}

/* Links and files come and go with the model: no kernel caching at all. */
static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;	/* the inode numbers fill_stat gives */
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->direct_io = 1;
	return NULL;
}

static const struct fuse_operations ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.create = op_create,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.rename = op_rename,
	.symlink = op_symlink,
	.link = op_symlink,
	.chmod = op_chmod,
	.chown = op_chown,
	.statfs = op_statfs,
};

/* ---- start-up and shutdown ------------------------------------------------ */
static struct {
	const char *topology, *mountpoint, *pidfile, *static_dir, *check;
	int daemon;
} opt;
static struct fuse *the_fuse;
static pthread_t main_thread;
static int ready_fd = -1;
static volatile int loop_done;
static char mnt[PATH_MAX];

static void usage(void)
{
	fputs("usage: sysfs-sim --topology HOST.json [--foreground|-f] [--daemon] [--pidfile F] "
	      "MOUNTPOINT\n"
	      "       sysfs-sim --static DIR --topology HOST.json\n"
	      "       sysfs-sim --check HOST.json\n", stderr);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--topology") && next) opt.topology = argv[++i];
		else if (!strcmp(a, "--pidfile") && next) opt.pidfile = argv[++i];
		else if (!strcmp(a, "--static") && next) opt.static_dir = argv[++i];
		else if (!strcmp(a, "--check") && next) opt.check = argv[++i];
		else if (!strcmp(a, "--daemon")) opt.daemon = 1;
		else if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) opt.daemon = 0;
		else if (a[0] != '-' && !opt.mountpoint) opt.mountpoint = a;
		else usage();
	}
	if (!opt.check && (!opt.topology || (!opt.static_dir == !opt.mountpoint)))
		usage();
}

static struct host *load_or_exit(const char *path)
{
	char msg[512];
	struct host *h = topology_load(path, msg, sizeof msg);
	if (!h) {
		fprintf(stderr, "sysfs-sim: %s\n", msg);
		exit(2);
	}
	return h;
}

static void remove_pidfile(void)
{
	if (opt.pidfile)
		unlink(opt.pidfile);
}

/* Tells the waiting parent (--daemon) and scripts (--pidfile) once a request
 * through the mount has been answered. */
static void *ready_thread(void *arg)
{
	char path[PATH_MAX + 16];
	struct stat st;
	(void)arg;

	snprintf(path, sizeof path, "%s/sim/state", mnt);
	for (int i = 0; stat(path, &st) != 0; i++) {
		if (i == 1000) {
			fprintf(stderr, "sysfs-sim: %s does not answer\n", mnt);
			_exit(1);
		}
		usleep(10000);
	}
	if (opt.pidfile) {
		FILE *f = fopen(opt.pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	if (ready_fd >= 0) {
		int null = open("/dev/null", O_RDWR);
		if (write(ready_fd, "R", 1) != 1)
			_exit(1);
		close(ready_fd);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	return NULL;
}

static void on_kick(int sig)
{
	(void)sig;	/* only interrupts the loop's sem_wait() */
}

/* SIGTERM/SIGINT/SIGHUP: release every blocked writer (EINTR), let them
 * answer, stop the loop; the main thread unmounts. If the loop does not end
 * (a client keeps the mount busy), exit anyway: never hang. */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;
	struct timespec ts;

	sigwait(set, &sig);
	pthread_mutex_lock(&S.lock);
	S.shutdown = 1;
	wake_all();
	for (int i = 0; i < 40 && S.nwriters; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&S.cond, &S.lock, &ts);
	}
	pthread_mutex_unlock(&S.lock);
	fuse_session_exit(S.session);
	for (int i = 0; i < 50 && !loop_done; i++) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(100000);
	}
	if (!loop_done) {
		fuse_unmount(the_fuse);
		remove_pidfile();
		_exit(0);
	}
	return NULL;
}

static void daemonize(void)
{
	int fds[2];
	char c = 0;

	if (pipe(fds) < 0) {
		perror("sysfs-sim: pipe");
		exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("sysfs-sim: fork");
		exit(1);
	}
	if (pid > 0) {	/* parent: wait until the mount answers */
		close(fds[1]);
		exit(read(fds[0], &c, 1) == 1 && c == 'R' ? 0 : 1);
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	if (chdir("/") != 0)
		_exit(1);
}

static int run_mount(void)
{
	static sigset_t set;
	pthread_t tid;
	char *fargv[] = {"sysfs-sim", "-o",
			 "allow_other,default_permissions,fsname=sysfs-sim,subtype=sysfs-sim", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);

	if (opt.pidfile && opt.pidfile[0] != '/') {	/* --daemon leaves the cwd */
		static char abs[PATH_MAX];
		if (!getcwd(abs, sizeof abs - strlen(opt.pidfile) - 2))
			return 1;
		strcat(strcat(abs, "/"), opt.pidfile);
		opt.pidfile = abs;
	}
	if (!realpath(opt.mountpoint, mnt)) {
		fprintf(stderr, "sysfs-sim: %s: %s\n", opt.mountpoint, strerror(errno));
		return 1;
	}
	S.h = load_or_exit(opt.topology);
	layout_build();
	S.root = node_root();
	mount_time = time(NULL);
	if (opt.daemon)
		daemonize();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction kick = {.sa_handler = on_kick};	/* no SA_RESTART: sem_wait() must return */
	sigaction(SIGUSR1, &kick, NULL);
	the_fuse = fuse_new(&args, &ops, sizeof ops, NULL);
	if (!the_fuse || fuse_mount(the_fuse, mnt) != 0) {
		fprintf(stderr, "sysfs-sim: cannot mount on %s\n", mnt);
		return 1;
	}
	S.session = fuse_get_session(the_fuse);
	if (fuseio_install(S.session) != 0) {
		fprintf(stderr, "sysfs-sim: cannot install the session io\n");
		return 1;
	}
	main_thread = pthread_self();
	pthread_create(&tid, NULL, signal_thread, &set);
	pthread_detach(tid);
	pthread_create(&tid, NULL, ready_thread, NULL);
	pthread_detach(tid);

	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 512);	/* blocked writers each hold one */
	fuse_loop_mt(the_fuse, cfg);
	pthread_mutex_lock(&S.lock);
	S.shutdown = 1;
	loop_done = 1;
	pthread_mutex_unlock(&S.lock);
	fuse_unmount(the_fuse);
	remove_pidfile();
	return 0;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	if (opt.check) {
		struct host *h = load_or_exit(opt.check);
		printf("%s: ok: %s, %d devices, %d iommu groups, %d drivers\n", opt.check, h->name,
		       h->ndevs, h->ngroups, h->ndrivers);
		host_free(h);
		return 0;
	}
	if (opt.static_dir) {
		S.static_mode = 1;
		S.h = load_or_exit(opt.topology);
		layout_build();
		S.root = node_root();
		return static_write(opt.static_dir) ? 1 : 0;
	}
	return run_mount();
}
