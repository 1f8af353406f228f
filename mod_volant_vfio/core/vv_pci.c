#include "vv_pci.h"
#include "vv_log.h"

#include <apr_strings.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where libpci's fatal errors unwind to, per thread. */
static _Thread_local jmp_buf *error_trap;
static _Thread_local char error_text[256];

static struct pci_access *names;

__attribute__((noreturn, format(printf, 1, 2)))
static void on_error(char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(error_text, sizeof(error_text), fmt, ap);
    va_end(ap);
    if (error_trap) {
        longjmp(*error_trap, 1);
    }
    /* Only reachable by calling libpci outside a trap: a bug of ours. */
    vv_log(VV_LOG_ERR, VV_TAG(10201) "libpci error outside a trap: %s",
           error_text);
    abort();
}

__attribute__((format(printf, 1, 2)))
static void on_warning(char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    vv_log(VV_LOG_DEBUG, VV_TAG(10202) "libpci: %s", buf);
}

__attribute__((format(printf, 1, 2)))
static void on_debug(char *fmt, ...)
{
    (void)fmt;
}

static struct pci_access *new_access(void)
{
    struct pci_access *a = pci_alloc();

    a->error = on_error;
    a->warning = on_warning;
    a->debug = on_debug;
    /* No hwdb, no network, no ~/.pciids-cache: pci.ids only, read-only. */
    a->id_lookup_mode = 0;
    return a;
}

static apr_status_t names_unload(void *data)
{
    (void)data;
    if (names) {
        pci_cleanup(names);
        names = NULL;
    }
    return APR_SUCCESS;
}

void vv_pci_names_load(apr_pool_t *pconf, const char *ids_file)
{
    struct pci_access *volatile a = NULL;
    jmp_buf env;

    names_unload(NULL);
    if (setjmp(env)) {
        error_trap = NULL;
        vv_log(VV_LOG_WARNING, VV_TAG(10203) "cannot load PCI names: %s",
               error_text);
        if (a) {
            pci_cleanup(a);
        }
        return;
    }
    error_trap = &env;
    a = new_access();
    if (ids_file) {
        pci_set_name_list_path(a, (char *)ids_file, 0);
    }
    if (!pci_load_name_list(a)) {
        error_trap = NULL;
        vv_log(VV_LOG_WARNING, VV_TAG(10204) "PCI names unavailable: cannot "
               "open %s (install pci.ids); names will be null",
               a->id_file_name);
        pci_cleanup(a);
        return;
    }
    error_trap = NULL;
    names = a;
    apr_pool_cleanup_register(pconf, NULL, names_unload,
                              apr_pool_cleanup_null);
}

/* NO_NUMBERS: NULL rather than "Device 1234" for unknown IDs.
 * NO_HWDB: keeps lookups from inserting into the shared hash. */
#define LOOKUP (PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB)

static const char *lookup_copy(apr_pool_t *p, const char *found)
{
    return found ? apr_pstrdup(p, found) : NULL;
}

const char *vv_pci_vendor_name(apr_pool_t *p, unsigned vendor)
{
    char buf[256];

    if (!names) {
        return NULL;
    }
    return lookup_copy(p, pci_lookup_name(names, buf, sizeof(buf),
                                          LOOKUP | PCI_LOOKUP_VENDOR,
                                          (int)vendor));
}

const char *vv_pci_device_name(apr_pool_t *p, unsigned vendor,
                               unsigned device)
{
    char buf[256];

    if (!names) {
        return NULL;
    }
    return lookup_copy(p, pci_lookup_name(names, buf, sizeof(buf),
                                          LOOKUP | PCI_LOOKUP_DEVICE,
                                          (int)vendor, (int)device));
}

const char *vv_pci_class_name(apr_pool_t *p, unsigned class16)
{
    char buf[256];

    if (!names) {
        return NULL;
    }
    return lookup_copy(p, pci_lookup_name(names, buf, sizeof(buf),
                                          LOOKUP | PCI_LOOKUP_CLASS,
                                          (int)class16));
}

/* libpci enumerates the bus: its sysfs method lists the directory and
 * reads nothing of a device until asked. */
vv_err_t *vv_pci_addresses(apr_pool_t *p, const vv_host_t *h,
                           apr_array_header_t **out)
{
    struct pci_access *volatile a = NULL;
    apr_array_header_t *addrs = apr_array_make(p, 64, sizeof(vv_addr_t));
    jmp_buf env;

    if (setjmp(env)) {
        error_trap = NULL;
        if (a) {
            pci_cleanup(a);
        }
        return vv_err(p, VV_E_INTERNAL, "cannot enumerate PCI devices: %s",
                      error_text);
    }
    error_trap = &env;
    a = new_access();
    a->method = PCI_ACCESS_SYS_BUS_PCI;
    pci_set_param(a, "sysfs.path",
                  apr_pstrcat(p, h->sysfs, "/bus/pci", NULL));
    pci_init(a);
    pci_scan_bus(a);
    for (struct pci_dev *pd = a->devices; pd; pd = pd->next) {
        vv_addr_t *addr = &APR_ARRAY_PUSH(addrs, vv_addr_t);
        addr->domain = (unsigned)pd->domain;
        addr->bus = pd->bus;
        addr->slot = pd->dev;
        addr->func = pd->func;
        snprintf(addr->text, sizeof(addr->text), "%04x:%02x:%02x.%u",
                 addr->domain, addr->bus, addr->slot, addr->func);
    }
    error_trap = NULL;
    pci_cleanup(a);
    qsort(addrs->elts, (size_t)addrs->nelts, sizeof(vv_addr_t), vv_addr_cmp);
    *out = addrs;
    return NULL;
}

/* Each device read the way info reads one (the same fields, the same
 * confinement), which costs a few system calls where libpci's own fill
 * resolves every link component by component. */
vv_err_t *vv_pci_scan(apr_pool_t *p, const vv_host_t *h,
                      apr_array_header_t **out)
{
    apr_array_header_t *addrs, *list;
    vv_err_t *e;

    if ((e = vv_pci_addresses(p, h, &addrs))) {
        return e;
    }
    list = apr_array_make(p, addrs->nelts, sizeof(vv_devinfo_t *));
    for (int i = 0; i < addrs->nelts; i++) {
        vv_devinfo_t *d;
        e = vv_device_read(p, h, &APR_ARRAY_IDX(addrs, i, vv_addr_t), &d);
        /* One that vanished since the scan is simply not listed; any other
         * failure fails the listing: complete or an error, never short. */
        if (!e) {
            APR_ARRAY_PUSH(list, vv_devinfo_t *) = d;
        }
        else if (e->kind != VV_E_NOT_FOUND) {
            return e;
        }
    }
    *out = list;
    return NULL;
}
