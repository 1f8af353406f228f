#include "vv_claim.h"
#include "vv_device.h"
#include "vv_record.h"

#include <apr_strings.h>
#include <errno.h>
#include <string.h>

/* The four IDs of the card at the address, from sysfs. */
static int card_ids(const vv_sysdev_t *sd, unsigned id[4])
{
    static const char *const attr[4] = { "vendor", "device",
                                         "subsystem_vendor",
                                         "subsystem_device" };

    for (int i = 0; i < 4; i++) {
        if (vv_sysdev_read_hex(sd, attr[i], &id[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static vv_err_t *write_to(apr_pool_t *p, const vv_host_t *h, const char *rel,
                          const char *data, int timeout_ms)
{
    int rc = vv_sysfs_write(h, rel, data, timeout_ms);

    return rc ? vv_err(p, rc == -ETIMEDOUT ? VV_E_TIMEOUT : VV_E_KERNEL,
                       "writing %s to %s/%s: %s", data, h->sysfs, rel,
                       strerror(-rc))
              : NULL;
}

vv_err_t *vv_claim(apr_pool_t *p, const vv_host_t *h, const char *state_dir,
                   const char *driver, const char *address, int timeout_ms,
                   vv_claim_load_fn *load, const char **did)
{
    vv_record_t *r = NULL;
    vv_sysdev_t *sd;
    unsigned id[4];
    char now[256];
    vv_addr_t a;
    vv_err_t *e;

    *did = "nothing to do";
    if (!vv_addr_parse(address, &a)) {
        return vv_err(p, VV_E_BAD_REQUEST, "%s is not a PCI address",
                      address);
    }
    if (!vv_driver_name_ok(driver)) {
        return vv_err(p, VV_E_BAD_REQUEST, "%s is not a driver name", driver);
    }
    if ((e = vv_record_dir_ok(p, state_dir))
        || (e = vv_record_get(p, state_dir, a.text, &r))) {
        return e;
    }
    if (!r) {
        *did = "no record: not a persistent binding";
        return NULL;
    }
    if (!r->persist || (strcmp(r->phase, VV_PHASE_BOUND)
                        && strcmp(r->phase, VV_PHASE_UNCLAIMED))) {
        *did = apr_psprintf(p, "its record (phase %s) is not a persistent "
                            "binding in force: left alone", r->phase);
        return NULL;
    }
    if ((e = vv_sysdev_open(p, h, &a, &sd))) {
        return e;
    }
    if (card_ids(sd, id) != 0) {
        vv_sysdev_close(sd);
        return vv_err(p, VV_E_KERNEL, "cannot read the IDs of %s", a.text);
    }
    if (id[0] != r->vendor || id[1] != r->device || id[2] != r->subsys_vendor
        || id[3] != r->subsys_device) {
        vv_sysdev_close(sd);
        *did = apr_psprintf(p, "NOT claimed: its persistent binding was made "
                            "for %04x:%04x %04x:%04x, the card there is "
                            "%04x:%04x %04x:%04x; nothing written (httpd "
                            "marks the record hardware-changed)", r->vendor,
                            r->device, r->subsys_vendor, r->subsys_device,
                            id[0], id[1], id[2], id[3]);
        return NULL;
    }
    if (vv_sysdev_link_name(sd, "driver", now, sizeof(now)) != 0) {
        now[0] = '\0';
    }
    vv_sysdev_close(sd);
    if (!strcmp(now, driver)) {
        *did = apr_psprintf(p, "already on %s", driver);
        return NULL;
    }
    if (*now) {
        /* Built in, or loaded before this rule ran: an ordinary bind at
         * httpd's start moves it, with the in-use guard. */
        *did = apr_psprintf(p, "held by %s already (built in, or loaded "
                            "first): httpd re-binds it when it starts", now);
        return NULL;
    }
    if ((e = write_to(p, h, apr_pstrcat(p, "bus/pci/devices/", a.text,
                                        "/driver_override", NULL), driver,
                      timeout_ms))) {
        return e;
    }
    if (!vv_host_has(h->sysfs, apr_pstrcat(p, "bus/pci/drivers/", driver,
                                           NULL))
        && (!load || load(driver) != 0)) {
        *did = apr_psprintf(p, "driver_override set to %s, but %s could not "
                            "be loaded: no host driver will take it; httpd "
                            "binds it when it starts", driver, driver);
        return NULL;
    }
    /* Loading the driver probed it already; a driver loaded before needs
     * the probe asked for.  drivers_probe succeeds even when nothing
     * takes the device: the link says. */
    if (!*vv_sysfs_driver(p, h, a.text)
        && (e = write_to(p, h, "bus/pci/drivers_probe", a.text,
                         timeout_ms))) {
        return e;
    }
    apr_cpystrn(now, vv_sysfs_driver(p, h, a.text), sizeof(now));
    *did = !strcmp(now, driver)
        ? apr_psprintf(p, "claimed for %s", driver)
        : apr_psprintf(p, "driver_override set to %s, but the device is on "
                       "%s after the probe; httpd re-binds it when it starts",
                       driver, *now ? now : "no driver");
    return NULL;
}
