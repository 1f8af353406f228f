/* Durable records of the devices the helper moved, and the host-wide lock
 * that serialises every move.
 *
 * A record is written before the first write touches its device and says
 * what the device had (driver, driver_override, IDs) and who asked, so a
 * crash at any point leaves no device changed without a record of what it
 * was.  Records are JSON files an operator can read:
 * <state dir>/devices/<address>.json. */
#ifndef VV_RECORD_H
#define VV_RECORD_H

#include "vv_err.h"

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* Where a record's device stands. */
#define VV_PHASE_BINDING "binding"     /* a bind is moving it */
#define VV_PHASE_BOUND "bound"         /* on the target driver, ours */
#define VV_PHASE_UNBINDING "unbinding" /* a release is moving it back */
#define VV_PHASE_STUCK "stuck"         /* a kernel write did not return */
#define VV_PHASE_FAILED "restore-failed" /* released, original not back */
#define VV_PHASE_QUARANTINED "quarantined" /* failed its health check after
                                              a reset or a release: no bind
                                              until cleared */
/* Persistent bindings (bind's "persist": true) only: */
#define VV_PHASE_UNCLAIMED "unclaimed" /* off the VFIO driver (a host driver
                                          took it at boot): re-bound when
                                          httpd starts; reason says why not
                                          yet */
#define VV_PHASE_CHANGED "hardware-changed" /* another card answers at its
                                               address: never acted on */

typedef struct vv_record {
    const char *address;
    unsigned vendor, device;
    int has_subsys;           /* records before 1.2 lack them */
    unsigned subsys_vendor, subsys_device;
    int persist;              /* the binding survives reboots */
    const char *found;        /* hardware-changed: the IDs now at the
                                 address, "vvvv:dddd ssss:ssss" */
    long long vhost;          /* persistent: the identity of the virtual
                                 host whose policy made it, -1 unknown */
    const char *driver;       /* original driver, "" for none */
    const char *override;     /* original driver_override, NULL when unset */
    const char *phase;
    const char *companion_of; /* bound along with this address, or NULL */
    const char *remote;       /* the client that asked */
    const char *reason;       /* quarantined: why, NULL otherwise */
    const char *owner;        /* VolantVfioGroupOwner entry the group node
                                 was handed to, NULL for none (root's) */
    apr_time_t time;
    long pid;                 /* the process that last wrote it */
} vv_record_t;

/* Creates the state directory (mode 0700) if needed. */
vv_err_t *vv_record_init(apr_pool_t *p, const char *state_dir);

/* Whether the state directory and its devices/ exist and are private (the
 * caller's, writable by no one else), creating nothing: for readers that
 * act on records outside the helper (volant-vfio-claim). */
vv_err_t *vv_record_dir_ok(apr_pool_t *p, const char *state_dir);

/* Atomically replaces the record: temporary file, fsync, rename, fsync of
 * the directory. */
vv_err_t *vv_record_put(apr_pool_t *p, const char *state_dir,
                        const vv_record_t *rec);

/* NULL and *out = NULL when there is none. */
vv_err_t *vv_record_get(apr_pool_t *p, const char *state_dir,
                        const char *address, vv_record_t **out);

vv_err_t *vv_record_drop(apr_pool_t *p, const char *state_dir,
                         const char *address);

/* A record as its file has it (the caller deletes the tree). */
struct cJSON;
struct cJSON *vv_record_to_json(const vv_record_t *r);

/* Every record (vv_record_t *), sorted by address. */
vv_err_t *vv_record_list(apr_pool_t *p, const char *state_dir,
                         apr_array_header_t **out);

/* --- the lock -------------------------------------------------------------- */

typedef struct vv_lock vv_lock_t;

/* Takes the host-wide lock (a flock on <state dir>/lock, which also keeps a
 * second httpd on the same host out).  While another operation holds it:
 * if that operation names any of addrs, fails at once with VV_E_STATE;
 * otherwise waits up to wait_ms.  Released with the pool or vv_lock_free. */
vv_err_t *vv_lock_take(apr_pool_t *p, const char *state_dir,
                       const apr_array_header_t *addrs, int wait_ms,
                       vv_lock_t **out);

void vv_lock_free(vv_lock_t *lock);

#endif
