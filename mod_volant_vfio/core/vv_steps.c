#include "vv_steps.h"
#include "vv_inuse.h"
#include "vv_log.h"

#include <apr_strings.h>
#include <errno.h>
#include <string.h>

static vv_err_t *write_err(vv_ctx_t *c, int rc, const char *addr,
                           const char *what)
{
    if (rc == -ETIMEDOUT) {
        return vv_err(c->p, VV_E_TIMEOUT, "device %s: %s did not finish "
                      "within %d s; the kernel is still waiting (a process "
                      "may hold the device), and the device's record is kept",
                      addr, what, c->pol->timeout_ms / 1000);
    }
    if (rc == -EACCES || rc == -EPERM) {
        return vv_err(c->p, VV_E_KERNEL, "device %s: %s: permission denied "
                      "(the privileged helper runs as uid %d; start httpd as "
                      "root)", addr, what, (int)geteuid());
    }
    return vv_err(c->p, VV_E_KERNEL, "device %s: %s failed: %s", addr, what,
                  strerror(-rc));
}

static int kwrite(vv_ctx_t *c, const char *rel, const char *data)
{
    return vv_sysfs_write(c->h, rel, data, c->pol->timeout_ms);
}

/* Polls the driver link until it names want ("" for none). */
static int wait_driver(vv_ctx_t *c, const char *addr, const char *want,
                       int timeout_ms)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);

    for (;;) {
        if (strcmp(vv_sysfs_driver(c->p, c->h, addr), want) == 0) {
            return 1;
        }
        if (apr_time_now() >= deadline) {
            return 0;
        }
        apr_sleep(apr_time_from_msec(10));
    }
}

static const char *shown(const char *driver)
{
    return driver[0] ? driver : "none";
}

int vv_step_on_target(vv_ctx_t *c, const char *addr, const char *driver)
{
    vv_devinfo_t d = { 0 };

    d.driver = driver;
    d.path = apr_pstrcat(c->p, c->h->sysfs, "/bus/pci/devices/", addr, NULL);
    return vv_device_on_vfio(&d, c->pol->driver);
}

vv_err_t *vv_step_override(vv_ctx_t *c, const char *addr, const char *name)
{
    const char *rel = apr_pstrcat(c->p, "bus/pci/devices/", addr,
                                  "/driver_override", NULL);
    int rc = kwrite(c, rel, name ? apr_pstrcat(c->p, name, "\n", NULL)
                                 : "\n");

    return rc ? write_err(c, rc, addr, name ? apr_psprintf(c->p,
                          "setting driver_override to %s", name)
                          : "clearing driver_override") : NULL;
}

vv_err_t *vv_step_reset(vv_ctx_t *c, const char *addr)
{
    int rc = kwrite(c, apr_pstrcat(c->p, "bus/pci/devices/", addr, "/reset",
                                   NULL), "1");

    return rc ? write_err(c, rc, addr, "resetting it") : NULL;
}

vv_err_t *vv_step_unbind(vv_ctx_t *c, const char *addr, const char *driver)
{
    const char *rel = apr_pstrcat(c->p, "bus/pci/drivers/", driver,
                                  "/unbind", NULL);
    int rc = kwrite(c, rel, addr);
    const char *now;

    if (rc) {
        return write_err(c, rc, addr, apr_psprintf(c->p, "unbinding from %s",
                                                   driver));
    }
    now = vv_sysfs_driver(c->p, c->h, addr);
    if (now[0]) {
        return vv_err(c->p, VV_E_KERNEL, "device %s: still on %s after "
                      "unbinding from %s", addr, now, driver);
    }
    return NULL;
}

vv_err_t *vv_step_bind_target(vv_ctx_t *c, const char *addr)
{
    const char *target = c->pol->driver;
    const char *rel = apr_pstrcat(c->p, "bus/pci/drivers/", target, "/bind",
                                  NULL);
    int rc = kwrite(c, rel, addr);

    /* EBUSY: something bound it meanwhile; ENODEV: the kernel did not
     * match.  Either way the link, not the errno, is the truth; a probe
     * gives the override one more chance. */
    if ((rc == -EBUSY || rc == -ENODEV)
        && strcmp(vv_sysfs_driver(c->p, c->h, addr), target) != 0) {
        rc = kwrite(c, "bus/pci/drivers_probe", addr);
    }
    else if (rc == -EBUSY || rc == -ENODEV) {
        rc = 0;
    }
    if (rc) {
        return write_err(c, rc, addr, apr_psprintf(c->p, "binding to %s",
                                                   target));
    }
    /* Success is not proof: some drivers attach asynchronously. */
    if (!wait_driver(c, addr, target, c->pol->timeout_ms)) {
        return vv_err(c->p, VV_E_KERNEL, "device %s did not bind to %s "
                      "(driver now: %s)", addr, target,
                      shown(vv_sysfs_driver(c->p, c->h, addr)));
    }
    return NULL;
}

vv_err_t *vv_step_move(vv_ctx_t *c, const char *addr)
{
    const char *cur;
    vv_err_t *e;

    /* The override first: no host driver can take the device once its own
     * driver lets go. */
    if ((e = vv_step_override(c, addr, c->pol->driver))) {
        return e;
    }
    cur = vv_sysfs_driver(c->p, c->h, addr);
    if (cur[0] && (e = vv_step_unbind(c, addr, cur))) {
        return e;
    }
    return vv_step_bind_target(c, addr);
}

/* drivers_probe, then an explicit bind of the original if the kernel chose
 * otherwise. */
static vv_err_t *reprobe(vv_ctx_t *c, const char *addr, const char *orig)
{
    int rc = kwrite(c, "bus/pci/drivers_probe", addr);

    if (rc) {
        return write_err(c, rc, addr, "probing for its original driver");
    }
    if (orig && !wait_driver(c, addr, orig, 200)
        && vv_host_has(c->h->sysfs, apr_pstrcat(c->p, "bus/pci/drivers/",
                                                orig, NULL))) {
        rc = kwrite(c, apr_pstrcat(c->p, "bus/pci/drivers/", orig, "/bind",
                                   NULL), addr);
        if (rc && rc != -EBUSY) {
            return write_err(c, rc, addr, apr_psprintf(c->p, "binding back "
                                                       "to %s", orig));
        }
    }
    return NULL;
}

/* driver_override reads as want ("(null)" when want is NULL). */
static int override_is(vv_ctx_t *c, const char *addr, const char *want)
{
    const char *now = vv_host_read(c->p, c->h->sysfs, apr_pstrcat(c->p,
                                   "bus/pci/devices/", addr,
                                   "/driver_override", NULL));

    return now && strcmp(now, want ? want : "(null)") == 0;
}

vv_err_t *vv_step_restore(vv_ctx_t *c, const char *addr,
                          const vv_record_t *rec, const char **now)
{
    const char *orig = rec ? rec->driver : NULL;
    const char *cur = vv_sysfs_driver(c->p, c->h, addr);
    vv_err_t *e;

    *now = cur;
    /* Written only when it differs: a move refused at its first write left
     * the device as its record says, with nothing to undo. */
    if (!override_is(c, addr, rec ? rec->override : NULL)
        && (e = vv_step_override(c, addr, rec ? rec->override : NULL))) {
        return e;
    }
    if (cur[0] && (!orig || strcmp(cur, orig) != 0)
        && (e = vv_step_unbind(c, addr, cur))) {
        *now = vv_sysfs_driver(c->p, c->h, addr);
        return e;
    }
    /* A device that had no driver stays without one: probing would attach
     * a driver its operator did not want. */
    if (orig && !orig[0]) {
        *now = vv_sysfs_driver(c->p, c->h, addr);
        return NULL;
    }
    if ((!orig || strcmp(vv_sysfs_driver(c->p, c->h, addr), orig) != 0)
        && (e = reprobe(c, addr, orig))) {
        *now = vv_sysfs_driver(c->p, c->h, addr);
        return e;
    }
    if (orig && !wait_driver(c, addr, orig, c->pol->timeout_ms)) {
        *now = vv_sysfs_driver(c->p, c->h, addr);
        return vv_err(c->p, VV_E_KERNEL, "device %s was released but %s did "
                      "not take it back (driver now: %s); its record is "
                      "kept", addr, orig, shown(*now));
    }
    *now = vv_sysfs_driver(c->p, c->h, addr);
    if (!orig && vv_step_on_target(c, addr, *now)) {
        return vv_err(c->p, VV_E_KERNEL, "device %s went back to %s: it "
                      "claims the device by ID (vfio-pci.ids= or new_id); "
                      "remove that to release it", addr, *now);
    }
    return NULL;
}
