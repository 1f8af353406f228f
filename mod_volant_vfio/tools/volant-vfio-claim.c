/* volant-vfio-claim: run by the package's udev rule (60-volant-vfio.rules)
 * on a PCI device's "add" event when mod_volant_vfio holds a record for its
 * address.  A persistent binding (bind's "persist": true) whose card is the
 * one it was made for gets its VFIO driver before any host driver loads;
 * anything else is left alone.  What it did goes to syslog (and stderr,
 * which udev shows with --debug), one line per device.
 *
 *   volant-vfio-claim [--state-dir DIR] [--sysfs ROOT] [--driver NAME]
 *                     [--timeout SECONDS] ADDRESS
 *
 * The defaults are the module's: /var/lib/volant-vfio, /sys, vfio-pci,
 * 20 s.  With --sysfs other than /sys (a test's simulator) no module is
 * ever loaded. */
#include "core/vv_claim.h"
#include "core/vv_log.h"

#include <apr_general.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

static void to_syslog(void *baton, int level, const char *msg)
{
    (void)baton;
    syslog(level, "%s", msg);
}

/* modprobe DRIVER, as udev's own rules would load a module. */
static int modprobe(const char *driver)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        execl("/sbin/modprobe", "modprobe", "-q", driver, (char *)NULL);
        execl("/usr/sbin/modprobe", "modprobe", "-q", driver, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: volant-vfio-claim [--state-dir DIR] [--sysfs "
            "ROOT] [--driver NAME] [--timeout SECONDS] ADDRESS\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *state = "/var/lib/volant-vfio", *sysfs = "/sys";
    const char *driver = "vfio-pci", *addr = NULL, *did = NULL;
    int timeout = 20, rc;
    apr_pool_t *p;
    vv_host_t *h;
    vv_err_t *e;

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--state-dir") && v) {
            state = argv[++i];
        }
        else if (!strcmp(argv[i], "--sysfs") && v) {
            sysfs = argv[++i];
        }
        else if (!strcmp(argv[i], "--driver") && v) {
            driver = argv[++i];
        }
        else if (!strcmp(argv[i], "--timeout") && v) {
            timeout = atoi(argv[++i]);
        }
        else if (argv[i][0] != '-' && !addr) {
            addr = argv[i];
        }
        else {
            return usage();
        }
    }
    if (!addr || timeout < 1 || timeout > 3600) {
        return usage();
    }
    openlog("volant-vfio-claim", LOG_PID | LOG_PERROR, LOG_DAEMON);
    vv_log_set(to_syslog, NULL);
    apr_initialize();
    apr_pool_create(&p, NULL);
    e = vv_host_make(p, sysfs, "/dev", "/proc", &h);
    if (!e) {
        e = vv_claim(p, h, state, driver, addr, timeout * 1000,
                     strcmp(h->sysfs, "/sys") ? NULL : modprobe, &did);
    }
    if (e) {
        syslog(LOG_ERR, "%s: %s", addr, e->msg);
    }
    else {
        syslog(strncmp(did, "NOT", 3) ? LOG_INFO : LOG_WARNING, "%s: %s",
               addr, did);
    }
    rc = e ? 1 : 0;
    apr_pool_destroy(p);
    apr_terminate();
    closelog();
    return rc;
}
