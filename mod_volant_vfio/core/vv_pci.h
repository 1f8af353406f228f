/* libpci: the pci.ids name database and whole-bus enumeration.
 *
 * The name database is loaded once, in the parent before it forks, and is
 * read-only afterwards: lookups never touch udev's hwdb, the network or the
 * cache file, so the event MPM's threads share it without a lock.  libpci's
 * default error handler calls exit(); ours unwinds back to the caller. */
#ifndef VV_PCI_H
#define VV_PCI_H

#include "vv_device.h"

#include <apr_tables.h>

/* Loads pci.ids (NULL: libpci's default path) for this process and the
 * children it forks; unloaded with the pool.  Without a database every
 * name is NULL and a warning is logged. */
void vv_pci_names_load(apr_pool_t *pconf, const char *ids_file);

/* Names from pci.ids, or NULL when the database does not know the ID. */
const char *vv_pci_vendor_name(apr_pool_t *p, unsigned vendor);
const char *vv_pci_device_name(apr_pool_t *p, unsigned vendor,
                               unsigned device);
const char *vv_pci_class_name(apr_pool_t *p, unsigned class16);

/* The address of every PCI function of the host under the sysfs root,
 * sorted (vv_addr_t): a directory listing, no device read. */
vv_err_t *vv_pci_addresses(apr_pool_t *p, const vv_host_t *h,
                           apr_array_header_t **out);

/* Every PCI function of the host under the sysfs root, sorted by address
 * (vv_devinfo_t *). */
vv_err_t *vv_pci_scan(apr_pool_t *p, const vv_host_t *h,
                      apr_array_header_t **out);

#endif
