/* The named kernel steps bind and release are made of, each checking its
 * own result (libvirt's virpci.c style).  Internal to the core. */
#ifndef VV_STEPS_H
#define VV_STEPS_H

#include "vv_bind.h"
#include "vv_record.h"

typedef struct vv_ctx {
    apr_pool_t *p;
    const vv_host_t *h;
    const vv_policy_t *pol;
} vv_ctx_t;

/* driver_override <- name, or cleared with "\n" when name is NULL. */
vv_err_t *vv_step_override(vv_ctx_t *c, const char *addr, const char *name);

/* drivers/<driver>/unbind <- addr, then the link must be gone. */
vv_err_t *vv_step_unbind(vv_ctx_t *c, const char *addr, const char *driver);

/* drivers/<target>/bind <- addr (drivers_probe when the kernel says the
 * device is busy or unmatched), then the link must name the target. */
vv_err_t *vv_step_bind_target(vv_ctx_t *c, const char *addr);

/* Moves one device from its host driver to the target.  rec says what it
 * had; on failure the device may be anywhere between: restore it. */
vv_err_t *vv_step_move(vv_ctx_t *c, const char *addr);

/* Puts a device back as rec says it was (driver and override); without a
 * record, clears the override and lets the kernel pick.  *now receives
 * the driver it ends on. */
vv_err_t *vv_step_restore(vv_ctx_t *c, const char *addr,
                          const vv_record_t *rec, const char **now);

/* devices/<addr>/reset <- "1": the kernel resets the function by the
 * first of its reset_method that works. */
vv_err_t *vv_step_reset(vv_ctx_t *c, const char *addr);

/* Whether driver is the target or a VFIO variant of it. */
int vv_step_on_target(vv_ctx_t *c, const char *addr, const char *driver);

#endif
