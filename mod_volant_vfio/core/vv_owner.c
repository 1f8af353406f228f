#include "vv_owner.h"

#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DIRECTIVE "VolantVfioGroupOwner"
#define FUSE_SUPER_MAGIC 0x65735546

/* ---- configuration ---------------------------------------------------------- */

static int user_id(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
        return -1;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

static int group_id(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char buf[16384];

    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res) {
        return -1;
    }
    *gid = gr.gr_gid;
    return 0;
}

vv_err_t *vv_owner_parse(apr_pool_t *p, const char *spec, vv_owner_t **out)
{
    vv_owner_t *o = apr_pcalloc(p, sizeof(*o));
    const char *colon = strchr(spec, ':');
    gid_t primary;

    o->text = apr_pstrdup(p, spec);
    o->user = colon ? apr_pstrmemdup(p, spec, (apr_size_t)(colon - spec))
                    : o->text;
    o->group = colon ? colon + 1 : NULL;
    if (!*o->user || (o->group && (!*o->group || strchr(o->group, ':')))) {
        return vv_err(p, VV_E_BAD_REQUEST, DIRECTIVE ": '%s' is not USER or "
                      "USER:GROUP", spec);
    }
    if (user_id(o->user, &o->uid, &primary) != 0) {
        return vv_err(p, VV_E_BAD_REQUEST, DIRECTIVE ": no such user '%s' "
                      "(the VMM's user must exist when httpd starts)",
                      o->user);
    }
    if (o->group && group_id(o->group, &o->gid) != 0) {
        return vv_err(p, VV_E_BAD_REQUEST, DIRECTIVE ": no such group '%s'",
                      o->group);
    }
    if (o->uid == 0) {
        return vv_err(p, VV_E_BAD_REQUEST, DIRECTIVE ": '%s' is root, who "
                      "owns the nodes anyway; name the user the VMM runs as",
                      spec);
    }
    *out = o;
    return NULL;
}

vv_err_t *vv_owner_pick(apr_pool_t *p, const apr_array_header_t *owners,
                        const char *asked, const vv_owner_t **out)
{
    const char *names = "";

    *out = NULL;
    if (!asked || !*asked) {
        if (owners && owners->nelts) {
            *out = APR_ARRAY_IDX(owners, 0, const vv_owner_t *);
        }
        return NULL;
    }
    for (int pass = 0; owners && pass < 2; pass++) {
        for (int i = 0; i < owners->nelts; i++) {
            const vv_owner_t *o = APR_ARRAY_IDX(owners, i, const vv_owner_t *);
            if (!strcmp(pass ? o->user : o->text, asked)) {
                *out = o;
                return NULL;
            }
        }
    }
    if (!owners || !owners->nelts) {
        return vv_err(p, VV_E_BAD_REQUEST, "owner '%s': this server hands "
                      "group nodes to nobody (no " DIRECTIVE " is "
                      "configured); the nodes stay root:root 0600", asked);
    }
    for (int i = 0; i < owners->nelts; i++) {
        names = apr_pstrcat(p, names, i ? ", " : "",
                            APR_ARRAY_IDX(owners, i, const vv_owner_t *)->text,
                            NULL);
    }
    return vv_err(p, VV_E_BAD_REQUEST, "owner '%s' is not one of "
                  DIRECTIVE "'s: %s", asked, names);
}

/* ---- the nodes -------------------------------------------------------------- */

/* The device number sysfs gives a node: "<sysfs>/<rel>/dev". */
static int sysfs_devno(apr_pool_t *p, const vv_host_t *h, const char *rel,
                       dev_t *out)
{
    const char *t = vv_host_read(p, h->sysfs, apr_pstrcat(p, rel, "/dev",
                                                         NULL));
    unsigned maj, min;
    char end;

    if (!t || sscanf(t, "%u:%u%c", &maj, &min, &end) != 2) {
        return -1;
    }
    *out = makedev(maj, min);
    return 0;
}

/* Whether DevRoot is the simulator's FUSE mount, whose nodes are plain
 * files.  Anywhere else (devtmpfs, a container's tmpfs /dev) a node must
 * be a character device. */
static int simulated(const vv_host_t *h)
{
    struct statfs st;

    return statfs(h->dev, &st) == 0 && st.f_type == FUSE_SUPER_MAGIC;
}

/* udev applies its own rules to a new node; changing the node before it
 * has (its database entry appears when it is done) would be undone.  Only
 * where udev runs, and for at most 2 s. */
static void wait_udev(apr_pool_t *p, const vv_host_t *h, dev_t devno)
{
    const char *db = apr_psprintf(p, "/run/udev/data/c%u:%u", major(devno),
                                  minor(devno));

    if (simulated(h) || access("/run/udev/control", F_OK) != 0) {
        return;
    }
    for (int i = 0; i < 200 && access(db, F_OK) != 0; i++) {
        usleep(10000);
    }
}

/* One node below dirfd: opened without following a link, checked to be
 * the node devno names, then given uid:gid and mode. */
static vv_err_t *set_node(apr_pool_t *p, const vv_host_t *h, int dirfd,
                          const char *name, const char *shown, dev_t devno,
                          int have_devno, uid_t uid, gid_t gid, mode_t mode)
{
    int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    char self[64];
    int err = 0;

    if (fd < 0) {
        return errno == ENOENT ? NULL
            : vv_err(p, VV_E_KERNEL, "cannot open %s: %s", shown,
                     strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        err = errno;
    }
    else if (!(S_ISCHR(st.st_mode) && have_devno && st.st_rdev == devno)
             && !(S_ISREG(st.st_mode) && simulated(h))) {
        close(fd);
        return vv_err(p, VV_E_STATE, "%s is not the device node of this "
                      "VFIO group or device (not a character device numbered "
                      "as sysfs says): left as it is", shown);
    }
    else {
        if (have_devno && S_ISCHR(st.st_mode)) {
            wait_udev(p, h, devno);
        }
        /* chmod(2) through the descriptor's own link: the same inode. */
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0
            || chmod(self, mode) != 0) {
            err = errno;
        }
    }
    close(fd);
    return err ? vv_err(p, VV_E_KERNEL, "cannot hand %s to %u:%u: %s", shown,
                        (unsigned)uid, (unsigned)gid, strerror(err))
               : NULL;
}

vv_err_t *vv_owner_apply(apr_pool_t *p, const vv_host_t *h, int group,
                         const apr_array_header_t *paths,
                         const vv_owner_t *owner)
{
    uid_t uid = owner ? owner->uid : 0;
    gid_t gid = owner && owner->group ? owner->gid : 0;
    mode_t mode = owner && owner->group ? 0660 : 0600;
    int vfio = open(apr_pstrcat(p, h->dev, "/vfio", NULL),
                    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int cdevs;
    dev_t devno = 0;
    int have;
    vv_err_t *e = NULL;

    if (vfio < 0) {
        return errno == ENOENT ? NULL
            : vv_err(p, VV_E_KERNEL, "cannot open %s/vfio: %s", h->dev,
                     strerror(errno));
    }
    have = sysfs_devno(p, h, apr_psprintf(p, "class/vfio/%d", group),
                       &devno) == 0;
    e = set_node(p, h, vfio, apr_psprintf(p, "%d", group),
                 apr_psprintf(p, "/dev/vfio/%d", group), devno, have, uid,
                 gid, mode);
    cdevs = openat(vfio, "devices", O_PATH | O_DIRECTORY | O_NOFOLLOW
                                    | O_CLOEXEC);
    for (int i = 0; !e && cdevs >= 0 && paths && i < paths->nelts; i++) {
        const char *dir = APR_ARRAY_IDX(paths, i, const char *);
        const char *x = vv_dir_first_entry(p, apr_pstrcat(p, dir, "/vfio-dev",
                                                          NULL));
        if (!x || strncmp(x, "vfio", 4) != 0 || strchr(x, '/')) {
            continue;
        }
        have = sysfs_devno(p, h, apr_pstrcat(p, dir + strlen(h->sysfs) + 1,
                                             "/vfio-dev/", x, NULL),
                           &devno) == 0;
        e = set_node(p, h, cdevs, x, apr_pstrcat(p, "/dev/vfio/devices/", x,
                                                 NULL),
                     devno, have, uid, gid, mode);
    }
    if (cdevs >= 0) {
        close(cdevs);
    }
    close(vfio);
    return e;
}

static const char *name_of_uid(apr_pool_t *p, uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    return getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res
        ? apr_pstrdup(p, pw.pw_name) : apr_psprintf(p, "%u", (unsigned)uid);
}

static const char *name_of_gid(apr_pool_t *p, gid_t gid)
{
    struct group gr, *res = NULL;
    char buf[16384];

    return getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res
        ? apr_pstrdup(p, gr.gr_name) : apr_psprintf(p, "%u", (unsigned)gid);
}

const char *vv_owner_of_node(apr_pool_t *p, const vv_host_t *h, int group)
{
    struct stat st;

    if (lstat(apr_psprintf(p, "%s/vfio/%d", h->dev, group), &st) != 0) {
        return NULL;
    }
    return apr_pstrcat(p, name_of_uid(p, st.st_uid), ":",
                       name_of_gid(p, st.st_gid), NULL);
}
