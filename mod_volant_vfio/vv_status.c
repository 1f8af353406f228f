#include "vv_status.h"
#include "vv_helper.h"

#include <apr_strings.h>
#include <mod_status.h>

static const struct {
    const char *field; /* in the helper's status */
    const char *label; /* the HTML row */
    const char *key;   /* the ?auto line */
} rows[] = {
    { "pid", "Helper pid", "VolantVfioHelperPid" },
    { "uptime", "Helper uptime (s)", "VolantVfioHelperUptime" },
    { "binds", "Binds", "VolantVfioBinds" },
    { "unbinds", "Unbinds", "VolantVfioUnbinds" },
    { "refusals", "Refusals", "VolantVfioRefusals" },
    { "failures", "Failures", "VolantVfioFailures" },
    { "held", "Devices held on vfio-pci", "VolantVfioDevicesHeld" },
    { "last_error", "Last error", "VolantVfioLastError" },
    { "last_error_time", "Last error at", "VolantVfioLastErrorTime" },
};

static const char *field_text(request_rec *r, const cJSON *body,
                              const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, name);

    if (cJSON_IsNumber(f)) {
        return apr_psprintf(r->pool, "%.0f", f->valuedouble);
    }
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static int status_hook(request_rec *r, int flags)
{
    cJSON *body = NULL;
    int kind, up = !vv_helper_call(r, "status", NULL, &kind, &body);
    int brief = flags & AP_STATUS_SHORT;

    if (brief) {
        ap_rprintf(r, "VolantVfioHelper: %s\n", up ? "up" : "down");
    }
    else {
        ap_rputs("<hr />\n<h2>Volant VFIO</h2>\n<table border=\"0\">\n", r);
        ap_rprintf(r, "<tr><th align=\"left\">Privileged helper</th>"
                   "<td>%s</td></tr>\n", up ? "up" : "down");
    }
    for (size_t i = 0; up && i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *v = field_text(r, body, rows[i].field);
        if (!v) {
            continue;
        }
        if (brief) {
            /* One line per key: no newline from a message may split it. */
            ap_rprintf(r, "%s: %s\n", rows[i].key,
                       ap_escape_logitem(r->pool, v));
        }
        else {
            ap_rprintf(r, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n",
                       rows[i].label, ap_escape_html(r->pool, v));
        }
    }
    if (!brief) {
        ap_rputs("</table>\n", r);
    }
    cJSON_Delete(body);
    return OK;
}

void vv_status_register(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
