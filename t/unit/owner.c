/* vv_owner: VolantVfioGroupOwner's entries and the hand-over of a group's
 * device nodes.  The nodes live on a tmpfs mounted in a mount namespace of
 * the test's own (a DevRoot like a host's: nodes must be character devices
 * with the number sysfs gives), made with mknod as the kernel would make
 * them; the sysfs side is a small tree in /tmp.  Nothing of the host's
 * /dev is touched.  Runs as root. */
#include "tree.h"
#include "core/vv_owner.h"

#include <apr_general.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static vv_host_t *host;

static const char *dev(const char *rel)
{
    return apr_pstrcat(p, root, "/dev/", rel, NULL);
}

static const char *stat_of(const char *rel)
{
    struct stat st;

    if (lstat(dev(rel), &st) != 0) {
        return "missing";
    }
    return apr_psprintf(p, "%s %u:%u %04o", S_ISCHR(st.st_mode) ? "chr"
                        : S_ISLNK(st.st_mode) ? "link" : S_ISREG(st.st_mode)
                        ? "file" : "other", (unsigned)st.st_uid,
                        (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

static void node(const char *rel, unsigned maj, unsigned min)
{
    unlink(dev(rel));
    if (mknod(dev(rel), S_IFCHR | 0600, makedev(maj, min)) != 0) {
        printf("# mknod %s: %s\n", rel, strerror(errno));
        tap_failed++;
    }
}

static const char *apply(int group, const char *cdev_dir,
                         const vv_owner_t *o)
{
    apr_array_header_t *paths = apr_array_make(p, 1, sizeof(const char *));
    vv_err_t *e;

    if (cdev_dir) {
        APR_ARRAY_PUSH(paths, const char *) = cdev_dir;
    }
    e = vv_owner_apply(p, host, group, paths, o);
    return e ? e->msg : "ok";
}

static void parsing(void)
{
    vv_owner_t *o = NULL;
    vv_err_t *e;
    const vv_owner_t *picked;
    apr_array_header_t *list = apr_array_make(p, 2, sizeof(vv_owner_t *));
    struct passwd *nobody = getpwnam("nobody");
    struct group *daemon = getgrnam("daemon");

    e = vv_owner_parse(p, "nobody", &o);
    ok(!e && o->uid == nobody->pw_uid && !o->group, "nobody: the user, no "
       "group");
    APR_ARRAY_PUSH(list, vv_owner_t *) = o;
    e = vv_owner_parse(p, "daemon:daemon", &o);
    ok(!e && o->gid == daemon->gr_gid && !strcmp(o->user, "daemon"),
       "daemon:daemon: user and group resolved");
    APR_ARRAY_PUSH(list, vv_owner_t *) = o;
    e = vv_owner_parse(p, "no-such-user-vv", &o);
    is_str(e ? e->msg : "", "VolantVfioGroupOwner: no such user "
           "'no-such-user-vv' (the VMM's user must exist when httpd starts)",
           "an unknown user is refused");
    e = vv_owner_parse(p, "nobody:no-such-group-vv", &o);
    is_str(e ? e->msg : "", "VolantVfioGroupOwner: no such group "
           "'no-such-group-vv'", "an unknown group is refused");
    e = vv_owner_parse(p, "root", &o);
    ok(e && strstr(e->msg, "is root"), "root is refused");
    for (const char *bad = ":x"; bad; bad = !strcmp(bad, ":x") ? "nobody:"
         : !strcmp(bad, "nobody:") ? "a:b:c" : NULL) {
        e = vv_owner_parse(p, bad, &o);
        ok(e && strstr(e->msg, "is not USER or USER:GROUP"),
           "'%s' is not an entry", bad);
    }
    ok(!vv_owner_pick(p, list, NULL, &picked) && picked
       && !strcmp(picked->text, "nobody"), "no owner asked: the first");
    ok(!vv_owner_pick(p, list, "daemon", &picked) && picked
       && !strcmp(picked->text, "daemon:daemon"), "by its user");
    ok(!vv_owner_pick(p, list, "daemon:daemon", &picked) && picked
       && !strcmp(picked->text, "daemon:daemon"), "by its entry");
    e = vv_owner_pick(p, list, "daemon:root", &picked);
    is_str(e ? e->msg : "", "owner 'daemon:root' is not one of "
           "VolantVfioGroupOwner's: nobody, daemon:daemon",
           "anything else: refused, naming the entries");
    ok(!vv_owner_pick(p, NULL, NULL, &picked) && !picked,
       "nothing configured, nothing asked: no owner");
}

static void nodes(void)
{
    vv_owner_t *nobody, *daemon;
    const char *vfiodev = apr_pstrcat(p, root, "/sys/devices/pci0000:00/"
                                      "0000:00:03.0", NULL);
    char self[PATH_MAX];

    vv_owner_parse(p, "nobody", &nobody);
    vv_owner_parse(p, "daemon:daemon", &daemon);
    /* Group 5's node is 1:7 (as sysfs says), the device's cdev 1:3. */
    put("sys/class/vfio/5/dev", "1:7\n");
    put("sys/devices/pci0000:00/0000:00:03.0/vfio-dev/vfio0/dev", "1:3\n");
    sh(apr_psprintf(p, "mkdir -p '%s/devices'", dev("vfio")));
    node("vfio/5", 1, 7);
    node("vfio/devices/vfio0", 1, 3);

    is_str(apply(5, vfiodev, nobody), "ok", "handed to nobody");
    is_str(stat_of("vfio/5"), apr_psprintf(p, "chr %u:0 0600",
                                           (unsigned)nobody->uid),
           "the group node: nobody, group root, 0600");
    is_str(stat_of("vfio/devices/vfio0"), apr_psprintf(p, "chr %u:0 0600",
                                                       (unsigned)nobody->uid),
           "the device's cdev node too");
    is_str(apply(5, vfiodev, daemon), "ok", "handed to daemon:daemon");
    is_str(stat_of("vfio/5"), apr_psprintf(p, "chr %u:%u 0660",
                                           (unsigned)daemon->uid,
                                           (unsigned)daemon->gid),
           "with a group: 0660");
    is_str(vv_owner_of_node(p, host, 5), "daemon:daemon",
           "the node's owner, by name");
    is_str(apply(5, vfiodev, NULL), "ok", "given back");
    is_str(stat_of("vfio/5"), "chr 0:0 0600", "root:root 0600 again");
    is_str(stat_of("vfio/devices/vfio0"), "chr 0:0 0600", "the cdev node too");
    is_str(apply(6, NULL, nobody), "ok", "a group without a node: nothing "
           "to do");

    /* What is not the group's own node is left as it is. */
    node("vfio/5", 1, 8);
    is_str(apply(5, NULL, nobody), "/dev/vfio/5 is not the device node of "
           "this VFIO group or device (not a character device numbered as "
           "sysfs says): left as it is", "a node with another number: "
           "refused");
    is_str(stat_of("vfio/5"), "chr 0:0 0600", "and untouched");
    unlink(dev("vfio/5"));
    put("etc-shadow", "secret\n");
    chmod(apr_pstrcat(p, root, "/etc-shadow", NULL), 0600);
    if (symlink(apr_pstrcat(p, root, "/etc-shadow", NULL), dev("vfio/5"))) {
        tap_failed++;
    }
    ok(strstr(apply(5, NULL, nobody), "is not the device node") != NULL,
       "a link in the node's place: refused");
    is_str(stat_of("../etc-shadow"), "file 0:0 0600",
           "what it points to is untouched");
    unlink(dev("vfio/5"));
    put("dev/vfio/5", "");
    ok(strstr(apply(5, NULL, nobody), "is not the device node") != NULL,
       "a plain file in the node's place: refused (this is no simulator)");
    unlink(dev("vfio/5"));
    node("vfio/5", 1, 7);
    snprintf(self, sizeof(self), "%s", dev("vfio/devices/vfio0"));
    unlink(self);
    if (symlink(dev("vfio/5"), self)) {
        tap_failed++;
    }
    ok(strstr(apply(5, vfiodev, nobody), "/dev/vfio/devices/vfio0 is not "
              "the device node") != NULL, "a link as the cdev node: refused");
    is_str(stat_of("vfio/devices/vfio0"), "link 0:0 0777",
           "the link itself untouched");
    /* The group node, handed over before the cdev was looked at, goes
     * back when the caller gives the group back. */
    is_str(apply(5, vfiodev, NULL), "/dev/vfio/devices/vfio0 is not the device "
           "node of this VFIO group or device (not a character device "
           "numbered as sysfs says): left as it is",
           "giving back reports the link too");
    is_str(stat_of("vfio/5"), "chr 0:0 0600", "and the group node is root's");
    (void)apply;
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (mknod, chown, a mount namespace)\n");
        return 0;
    }
    root = apr_pstrdup(p, "/tmp/vv-owner.XXXXXX");
    if (!mkdtemp((char *)root) || unshare(CLONE_NEWNS) != 0
        || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("1..0 # SKIP cannot set up a mount namespace: %s\n",
               strerror(errno));
        return 0;
    }
    sh(apr_psprintf(p, "mkdir -p '%s/dev' '%s/sys/devices' '%s/proc'", root,
                    root, root));
    if (mount("tmpfs", dev(""), "tmpfs", 0, "mode=0755") != 0) {
        printf("# mount tmpfs: %s\n", strerror(errno));
        tap_failed++;
    }
    sh(apr_psprintf(p, "mkdir -p '%s/vfio'", dev("")));
    vv_host_make(p, apr_pstrcat(p, root, "/sys", NULL), dev(""),
                 apr_pstrcat(p, root, "/proc", NULL), &host);
    parsing();
    nodes();
    umount2(dev(""), MNT_DETACH);
    sh(apr_psprintf(p, "rm -rf '%s'", root));
    return done_testing();
}
