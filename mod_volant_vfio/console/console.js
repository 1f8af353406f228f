/* The passthrough console of mod_volant_vfio: a client of the API like any
 * other.  It shows what GET /host and GET /devices answer, and sends bind,
 * unbind and validate requests when asked; what is safe is decided by the
 * server (allowlist, group policy, in-use guard), never here.
 *
 * Every string that comes from the API (names from pci.ids, messages) is
 * inserted as text: createTextNode, textContent, or setAttribute of an
 * attribute that is not a URL.  The page's Content-Security-Policy forbids
 * inline script and style, so nothing here uses either. */
"use strict";

(function () {
    var API = "/api/v1/vfio";
    var KEY_STORE = "volant-vfio-api-key";
    var NO_DRIVER = "(none)";

    var state = {
        host: null,         /* GET /host */
        devices: [],        /* GET /devices */
        records: null,      /* GET /records: [] or the failed answer */
        usage: null,        /* GET /usage: address -> entry, or the failed answer */
        last: null,         /* the last bind or unbind: {action, addresses, status, body, text, time} */
        history: [],        /* earlier ones, newest first */
        checks: {},         /* group -> validate answer */
        busy: 0,
        refreshes: 0
    };
    var memoryKey = null;    /* the key as set in this page; null: read sessionStorage */
    var focusAfter = null;   /* data-focus of the button to focus after the next render */
    var pending = null;      /* the refresh in flight */

    /* ---- DOM: text only ------------------------------------------------ */

    /* Attributes that take a URL or code are never set from here. */
    var FORBIDDEN_ATTR = /^(on|href$|src$|srcset$|action$|formaction$|style$|xlink:)/i;

    function h(tag, attrs) {
        var e = document.createElement(tag);
        var name, i;
        if (attrs) {
            for (name in attrs) {
                if (!Object.prototype.hasOwnProperty.call(attrs, name)) {
                    continue;
                }
                var v = attrs[name];
                if (v === null || v === undefined || v === false) {
                    continue;
                }
                if (name === "class") {
                    e.className = v;
                } else if (name === "text") {
                    e.textContent = String(v);
                } else if (FORBIDDEN_ATTR.test(name)) {
                    throw new Error("attribute " + name + " is not set from data");
                } else {
                    e.setAttribute(name, v === true ? "" : String(v));
                }
            }
        }
        for (i = 2; i < arguments.length; i++) {
            append(e, arguments[i]);
        }
        return e;
    }

    function append(parent, child) {
        if (child === null || child === undefined || child === false) {
            return;
        }
        if (Array.isArray(child)) {
            child.forEach(function (c) { append(parent, c); });
        } else if (typeof child === "string" || typeof child === "number") {
            parent.appendChild(document.createTextNode(String(child)));
        } else {
            parent.appendChild(child);
        }
    }

    function clear(e) {
        while (e.firstChild) {
            e.removeChild(e.firstChild);
        }
        return e;
    }

    function $(id) {
        return document.getElementById(id);
    }

    function show(e, on) {
        if (on) {
            e.removeAttribute("hidden");
        } else {
            e.setAttribute("hidden", "");
        }
    }

    function clock(d) {
        function two(n) { return (n < 10 ? "0" : "") + n; }
        return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    }

    function plural(n, one, many) {
        return n + " " + (n === 1 ? one : (many || one + "s"));
    }

    /* ---- the API ------------------------------------------------------- */

    function apiKey() {
        try {
            return window.sessionStorage.getItem(KEY_STORE) || "";
        } catch (e) {
            return "";
        }
    }

    function setApiKey(key) {
        try {
            if (key) {
                window.sessionStorage.setItem(KEY_STORE, key);
            } else {
                window.sessionStorage.removeItem(KEY_STORE);
            }
        } catch (e) {
            /* storage disabled: the key lives as long as this page */
        }
        memoryKey = key;
    }

    function currentKey() {
        return memoryKey !== null ? memoryKey : apiKey();
    }

    /* One request: {status, body (parsed JSON or null), text}.  The key
     * goes in a header, never in the URL. */
    function call(method, path, body) {
        var headers = { "Accept": "application/json" };
        var key = currentKey();
        var init = {
            method: method,
            headers: headers,
            cache: "no-store",
            credentials: "same-origin",
            redirect: "error",
            referrerPolicy: "no-referrer"
        };
        if (key) {
            headers["X-API-Key"] = key;
        }
        if (body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        return fetch(API + path, init).then(function (res) {
            return res.text().then(function (text) {
                var json = null;
                try {
                    json = JSON.parse(text);
                } catch (e) {
                    json = null;
                }
                return { status: res.status, body: json, text: text };
            });
        }, function (err) {
            return { status: 0, body: null, text: "no answer from the server (" + err.message + ")" };
        });
    }

    /* The API's own words for an answer. */
    function messageOf(r) {
        var b = r.body;
        if (b && typeof b === "object") {
            if (typeof b.message === "string" && b.message) {
                return b.message;
            }
            if (typeof b.error === "string" && b.error) {
                return b.error;
            }
        }
        if (r.status === 0) {
            return r.text;
        }
        return "HTTP " + r.status + (r.text ? ": " + r.text.slice(0, 300) : "");
    }

    /* ---- model helpers ------------------------------------------------- */

    function targetDriver() {
        return (state.host && state.host.driver) || "vfio-pci";
    }

    function onVfio(d) {
        return d.driver !== "" && (d.driver === targetDriver() || /vfio/.test(d.driver));
    }

    function driverKind(d) {
        if (!d.driver) {
            return "drv-none";
        }
        return onVfio(d) ? "drv-vfio" : "drv-host";
    }

    function allowlist() {
        return (state.host && Array.isArray(state.host.allowlist)) ? state.host.allowlist : [];
    }

    /* vvvv:dddd or vvvv:* against the device's IDs, as VolantVfioAllow
     * matches them. */
    function allowed(d) {
        var id = (d.vendor + ":" + d.device).toLowerCase();
        return allowlist().some(function (p) {
            p = String(p).toLowerCase();
            if (/^[0-9a-f]{4}:\*$/.test(p)) {
                return p.slice(0, 4) === id.slice(0, 4);
            }
            return p === id;
        });
    }

    function groups() {
        var map = {};
        state.devices.forEach(function (d) {
            if (d.iommu_group === "" || d.iommu_group === null || d.iommu_group === undefined) {
                return;
            }
            (map[d.iommu_group] = map[d.iommu_group] || []).push(d);
        });
        return Object.keys(map).sort(function (a, b) { return Number(a) - Number(b); })
            .map(function (g) { return { id: g, members: map[g] }; });
    }

    function ungrouped() {
        return state.devices.filter(function (d) { return d.iommu_group === "" || d.iommu_group === null; });
    }

    /* ---- busy state (t/console waits on data-busy and data-refreshes) -- */

    function setBusy(delta) {
        state.busy += delta;
        document.body.setAttribute("data-busy", state.busy > 0 ? "true" : "false");
        var buttons = document.querySelectorAll("button[data-action], #refresh");
        for (var i = 0; i < buttons.length; i++) {
            buttons[i].disabled = state.busy > 0;
        }
    }

    function setState(s) {
        document.body.setAttribute("data-state", s);
    }

    /* ---- refresh ------------------------------------------------------- */

    function refresh() {
        if (pending) {
            return pending;
        }
        setState("loading");
        setBusy(1);
        pending = Promise.all([call("GET", "/host"), call("GET", "/devices"),
                               call("GET", "/records"), call("GET", "/usage")]).then(function (rs) {
            var host = rs[0], devs = rs[1];
            /* The records and the usage need the helper: without it the rest still shows. */
            state.records = rs[2].status === 200 && Array.isArray(rs[2].body) ? rs[2].body : rs[2];
            state.usage = usageMap(rs[3]);
            var denied = host.status === 401 ? host : (devs.status === 401 ? devs : null);
            show($("load-error"), false);
            if (denied) {
                state.host = null;
                state.devices = [];
                askForKey(denied);
                render();
                setState("auth");
                return;
            }
            show($("auth"), false);
            $("key-form").classList.remove("wanted");
            var bad = host.status !== 200 ? host : (devs.status !== 200 || !Array.isArray(devs.body) ? devs : null);
            if (bad) {
                state.host = null;
                state.devices = [];
                var le = clear($("load-error"));
                append(le, [h("strong", { text: "The API answered " + (bad.status || "nothing") + ": " }),
                            messageOf(bad)]);
                show(le, true);
                render();
                setState("error");
                return;
            }
            state.host = host.body;
            state.devices = devs.body;
            state.loadedAt = new Date();
            render();
            setState("ready");
        }).catch(function (err) {
            /* a bug of the page: shown, and left in the console for a developer */
            var le = clear($("load-error"));
            append(le, "The console failed to show the answer: " + err.message);
            show(le, true);
            setState("error");
            throw err;
        }).finally(function () {
            pending = null;
            state.refreshes++;
            document.body.setAttribute("data-refreshes", String(state.refreshes));
            setBusy(-1);
        });
        return pending;
    }

    function askForKey(r) {
        var a = clear($("auth"));
        append(a, [
            h("strong", { text: "The API answered " + r.status + ": " }),
            h("span", { class: "api-message", text: messageOf(r) }),
            h("br"),
            currentKey() ? "The API key this tab sent was refused. Type the right one in the API key field above."
                         : "This API needs a key. Type it in the API key field above; it is kept in this tab only."
        ]);
        show(a, true);
        $("key-form").classList.add("wanted");
        $("key").focus();
    }

    /* ---- actions ------------------------------------------------------- */

    function act(action, addresses, where) {
        if (!addresses.length || state.busy) {
            return Promise.resolve();
        }
        setBusy(1);
        setState("busy");
        return call("POST", "/devices/" + action, { pci_addresses: addresses }).then(function (r) {
            if (state.last) {
                state.history.unshift(state.last);
                state.history.length = Math.min(state.history.length, 8);
            }
            state.last = { action: action, addresses: addresses, status: r.status, body: r.body,
                           text: r.text, time: new Date(), where: where };
            state.checks = {};   /* the host changed, or may have */
            renderResult();
            if (r.status === 401) {
                askForKey(r);
            }
        }).finally(function () {
            setBusy(-1);
            return refresh();
        });
    }

    function check(group, addresses) {
        if (!addresses.length || state.busy) {
            return Promise.resolve();
        }
        setBusy(1);
        return call("POST", "/devices/validate", { pci_addresses: addresses }).then(function (r) {
            state.checks[group] = { status: r.status, body: r.body, text: r.text, addresses: addresses };
            if (r.status === 401) {
                askForKey(r);
            }
            renderGroups();
        }).finally(function () {
            setBusy(-1);
        });
    }

    function onClick(ev) {
        var b = ev.target.closest("button[data-action]");
        if (!b || b.disabled) {
            return;
        }
        var action = b.getAttribute("data-action");
        var devEl = b.closest("[data-address]");
        var groupEl = b.closest("[data-group]");
        var members = [];
        if (groupEl) {
            var g = groupEl.getAttribute("data-group");
            members = state.devices.filter(function (d) { return d.iommu_group === g; });
        }
        focusAfter = b.getAttribute("data-focus");
        if (devEl && (action === "bind" || action === "unbind")) {
            act(action, [devEl.getAttribute("data-address")],
                groupEl ? groupEl.getAttribute("data-group") : null);
        } else if (action === "bind-group") {
            /* the group's endpoints: what bind takes (bridges stay, as the API says) */
            act("bind", members.filter(function (d) { return !d.is_bridge; })
                .map(function (d) { return d.address; }), groupEl.getAttribute("data-group"));
        } else if (action === "unbind-group") {
            act("unbind", members.filter(onVfio).map(function (d) { return d.address; }),
                groupEl.getAttribute("data-group"));
        } else if (action === "validate") {
            check(groupEl.getAttribute("data-group"), members.map(function (d) { return d.address; }));
        }
    }

    /* ---- rendering ----------------------------------------------------- */

    function render() {
        show($("readiness"), !!state.host);
        show($("devices"), !!state.host);
        renderSummary();
        renderReadiness();
        renderFilters();
        renderGroups();
        renderRecords();
        usageNote();
    }

    /* GET /usage as address -> entry; the failed answer as it came. */
    function usageMap(r) {
        if (r.status !== 200 || !r.body || !Array.isArray(r.body.devices)) {
            return r;
        }
        var map = {};
        r.body.devices.forEach(function (u) { map[u.address] = u; });
        return { map: map };
    }

    function usageOf(address) {
        var u = state.usage && state.usage.map ? state.usage.map[address] : null;
        return u && u.held_by !== "nobody" ? u : null;
    }

    var HELD_BY = {
        host: ["in use by the host", "a bind would be refused: the host uses it"],
        vm: ["held by a VM", "a process holds its VFIO group or device node: a release would be refused"],
        unknown: ["use unknown", "the helper could not tell who uses it"]
    };

    function usageNote() {
        var n = clear($("usage-note"));
        var u = state.usage;
        if (!state.host || !u) {
            return;
        }
        if (!u.map) {
            append(n, "Who holds each device is unavailable: " + messageOf(u));
            return;
        }
        var held = Object.keys(u.map).filter(function (a) { return u.map[a].held_by !== "nobody"; });
        append(n, "Checked " + plural(Object.keys(u.map).length, "device") +
               " the allowlist admits or this module moved: " +
               (held.length ? held.length + " in use" : "none in use") + ".");
    }

    function recordOf(address) {
        var list = Array.isArray(state.records) ? state.records : [];
        for (var i = 0; i < list.length; i++) {
            if (list[i].address === address) {
                return list[i];
            }
        }
        return null;
    }

    /* The devices this module moved and holds, and what they had. */
    function renderRecords() {
        var panel = $("records");
        show(panel, !!state.host);
        var body = clear(panel.querySelector("tbody"));
        var note = clear($("records-note"));
        if (!Array.isArray(state.records)) {
            append(note, state.records ? "The records are unavailable: " + messageOf(state.records) : "");
            show($("records-table"), false);
            return;
        }
        append(note, state.records.length ? "" : "No device is held by this module.");
        show($("records-table"), state.records.length > 0);
        state.records.forEach(function (r) {
            append(body, h("tr", { "data-record": r.address, "data-phase": r.phase,
                                   "data-persist": r.persist ? "true" : "false" },
                h("td", { class: "addr", text: r.address }),
                h("td", { class: "ids", text: r.vendor + ":" + r.device }),
                h("td", { "data-original-driver": r.original_driver, text: r.original_driver || "no driver" }),
                h("td", { class: "phase " + (r.phase === "bound" ? "ok" : "bad"),
                          text: r.phase + (r.reason ? ": " + r.reason : "") }),
                h("td", { class: "persist", text: r.persist ? "yes" : "no" }),
                h("td", { text: r.companion_of || "\u2013" }),
                h("td", { text: r.remote || "\u2013" }),
                h("td", { text: r.time || "" })));
        });
    }

    function renderSummary() {
        var s = clear($("summary"));
        if (!state.host) {
            append(s, location.host + " \u00b7 not loaded");
            return;
        }
        var n = state.devices.length;
        var vfio = state.devices.filter(onVfio).length;
        append(s, [
            h("span", { text: location.host }), " \u00b7 kernel ",
            h("span", { text: state.host.kernel || "unknown" }), " \u00b7 ",
            plural(state.host.iommu_group_count, "IOMMU group"), " \u00b7 ",
            plural(n, "function"), " (" + vfio + " on " + targetDriver() + ")",
            state.loadedAt ? " \u00b7 refreshed " + clock(state.loadedAt) : ""
        ]);
    }

    function yesNo(v, yes, no, unknown) {
        return v === true ? yes : (v === false ? no : unknown);
    }

    function readinessRows(host) {
        var ir = host.interrupt_remapping || {};
        var fw = host.iommu_firmware;
        var rows = [];
        rows.push(["iommu_firmware", "IOMMU in firmware",
                   fw ? "ok" : "bad",
                   fw === "DMAR" ? "Intel VT-d (ACPI DMAR)" : fw === "IVRS" ? "AMD-Vi (ACPI IVRS)" : "none described",
                   "the firmware describes an IOMMU; without one, enable VT-d or AMD-Vi in its setup"]);
        rows.push(["iommu_enabled", "IOMMU in the kernel",
                   host.iommu_enabled ? "ok" : "bad",
                   host.iommu_enabled ? "on, " + plural(host.iommu_group_count, "group") : "off",
                   "the kernel turned the IOMMU on (/sys/kernel/iommu_groups)"]);
        var irState, irText;
        if (ir.enabled === true) {
            irState = "ok";
            irText = "enabled";
        } else if (ir.enabled === false) {
            irState = ir.unsafe_interrupts_allowed ? "warn" : "bad";
            irText = ir.unsafe_interrupts_allowed ? "off, unsafe interrupts allowed" : "off";
        } else {
            irState = "info";
            irText = "unknown";
        }
        rows.push(["interrupt_remapping", "Interrupt remapping", irState, irText,
                   "hardware support: " + yesNo(ir.supported, "yes", "no", "unknown") +
                   "; vfio_iommu_type1 allow_unsafe_interrupts: " +
                   yesNo(ir.unsafe_interrupts_allowed, "Y", "N", "module not loaded")]);
        rows.push(["kvm", "KVM", host.kvm ? "ok" : "bad", host.kvm ? "/dev/kvm present" : "no /dev/kvm",
                   "hardware virtualization for the hypervisor"]);
        rows.push(["acs_override", "ACS override", host.acs_override ? "warn" : "ok",
                   host.acs_override ? "pcie_acs_override= in effect" : "not in use",
                   "with an override the groups are what the patch claims, not what the hardware isolates"]);
        rows.push(["iommu_passthrough", "iommu=pt", host.iommu_passthrough ? "ok" : "info",
                   host.iommu_passthrough ? "set" : "not set", "host devices skip IOMMU translation (faster)"]);
        var ids = Array.isArray(host.vfio_pci_ids) ? host.vfio_pci_ids : [];
        rows.push(["vfio_pci_ids", "vfio-pci.ids=", "info", ids.length ? ids.join(", ") : "none",
                   "IDs vfio-pci takes at boot, from the kernel command line"]);
        rows.push(["vfio_pci_available", "VFIO driver", host.vfio_pci_available ? "ok" : "bad",
                   targetDriver() + (host.vfio_pci_available ? " loaded" : " not loaded"),
                   "the driver devices are bound to (VolantVfioDriver)"]);
        rows.push(["vfio_container", "VFIO container", host.vfio_container ? "ok" : "bad",
                   host.vfio_container ? "/dev/vfio/vfio present" : "no /dev/vfio/vfio",
                   "what a hypervisor opens with a group; per-device interface (cdev): " +
                   (host.cdev_supported ? "yes" : "no")]);
        var policy = host.group_policy || "companions";
        rows.push(["group_policy", "Group policy", "info", policy,
                   policy === "strict" ? "a bind must name every endpoint of the groups it touches"
                                       : "a bind takes the group's other endpoints along (each checked)"]);
        var allow = allowlist();
        rows.push(["allowlist", "Allowlist", allow.length ? "info" : "warn",
                   allow.length ? allow.join(" ") : "none: every bind is refused",
                   "VolantVfioAllow: the IDs bind may take"]);
        var helper = host.helper || {};
        rows.push(["helper", "Privileged helper", helper.running ? "ok" : "bad",
                   helper.running ? "running, pid " + helper.pid : "not running",
                   helper.running ? "the root process that writes to sysfs"
                                  : "bind and unbind answer 503 until it runs (see the error log)"]);
        rows.push(["kernel", "Kernel", "info", host.kernel || "unknown", ""]);
        return rows;
    }

    /* A list of problems or warnings under its heading, or the all-clear. */
    function verdict(el, items, badClass, noun, meaning, okClass, allClear) {
        if (!items.length) {
            el.classList.add(okClass);
            append(el, h("h3", { text: allClear }));
            return;
        }
        el.classList.add(badClass);
        append(el, [h("h3", { text: plural(items.length, noun) + meaning }),
                    h("ul", null, items.map(function (t) { return h("li", { text: t }); }))]);
    }

    function renderReadiness() {
        var host = state.host;
        var tbody = clear($("checks").tBodies[0]);
        var p = clear($("problems")), w = clear($("warnings"));
        p.className = "verdict";
        w.className = "verdict";
        if (!host) {
            append(p, "Not loaded.");
            return;
        }
        var problems = Array.isArray(host.problems) ? host.problems : [];
        var warnings = Array.isArray(host.warnings) ? host.warnings : [];
        verdict(p, problems, "bad", "problem", ": passthrough will not work until fixed",
                "ok", "No problems: the host is ready for passthrough");
        verdict(w, warnings, "warn", "warning", ": passthrough works, weakened",
                "ok-quiet", "No warnings");
        readinessRows(host).forEach(function (r) {
            tbody.appendChild(h("tr", { "data-check": r[0], class: "st-" + r[2] },
                h("th", { scope: "row", text: r[1] }),
                h("td", null, h("span", { class: "state " + r[2], text: r[3] })),
                h("td", { class: "why", text: r[4] })));
        });
    }

    /* ---- filters ------------------------------------------------------- */

    function fillSelect(sel, options) {
        var keep = sel.value;
        while (sel.options.length > 1) {
            sel.remove(1);
        }
        options.forEach(function (o) {
            sel.appendChild(h("option", { value: o[0], text: o[1] }));
        });
        sel.value = options.some(function (o) { return o[0] === keep; }) ? keep : "";
    }

    function renderFilters() {
        var vendors = {}, classes = {}, drivers = {};
        state.devices.forEach(function (d) {
            vendors[d.vendor] = d.vendor_name || vendors[d.vendor] || "";
            classes[d["class"]] = d.class_name || classes[d["class"]] || "";
            drivers[d.driver || NO_DRIVER] = true;
        });
        fillSelect($("filter-vendor"), Object.keys(vendors).sort().map(function (v) {
            return [v, v + (vendors[v] ? "  " + vendors[v] : "")];
        }));
        fillSelect($("filter-class"), Object.keys(classes).sort().map(function (c) {
            return [c, c + (classes[c] ? "  " + classes[c] : "")];
        }));
        fillSelect($("filter-driver"), Object.keys(drivers).sort().map(function (d) {
            return [d, d === NO_DRIVER ? "no driver" : d];
        }));
    }

    function filterOf() {
        return {
            vendor: $("filter-vendor").value,
            cls: $("filter-class").value,
            driver: $("filter-driver").value,
            text: $("filter-text").value.trim().toLowerCase(),
            endpoints: $("filter-endpoints").checked
        };
    }

    function filtering(f) {
        return !!(f.vendor || f.cls || f.driver || f.text);
    }

    function matches(d, f) {
        if (f.vendor && d.vendor !== f.vendor) {
            return false;
        }
        if (f.cls && d["class"] !== f.cls) {
            return false;
        }
        if (f.driver && (d.driver || NO_DRIVER) !== f.driver) {
            return false;
        }
        if (f.text) {
            var hay = [d.address, d.vendor + ":" + d.device, d.vendor_name, d.device_name,
                       d.class_name, d.driver].join("\n").toLowerCase();
            if (hay.indexOf(f.text) < 0) {
                return false;
            }
        }
        return true;
    }

    /* ---- the groups ---------------------------------------------------- */

    function outcomeFor(addr) {
        var l = state.last;
        if (!l || !l.body || !Array.isArray(l.body.devices)) {
            return null;
        }
        for (var i = 0; i < l.body.devices.length; i++) {
            if (l.body.devices[i].address === addr) {
                return l.body.devices[i];
            }
        }
        return null;
    }

    function linkText(link) {
        if (!link) {
            return null;
        }
        var now = link.speed + " x" + link.width;
        var max = link.max_speed + " x" + link.max_width;
        return now === max ? now : now + " (max " + max + ")";
    }

    function deviceItem(d, f, focusKeys) {
        var kind = driverKind(d);
        var ok = allowed(d);
        var match = matches(d, f);
        var out = outcomeFor(d.address);
        var vfio = onVfio(d);
        var button = vfio
            ? h("button", { type: "button", class: "act release", "data-action": "unbind",
                            "data-focus": "unbind " + d.address,
                            title: "POST " + API + "/devices/unbind for " + d.address, text: "Release" })
            : h("button", { type: "button", class: "act bind" + (d.is_bridge ? " quiet" : ""),
                            "data-action": "bind", "data-focus": "bind " + d.address,
                            title: "POST " + API + "/devices/bind for " + d.address, text: "Bind" });
        focusKeys.push(button);
        var meta = [];
        meta.push(h("span", { class: "cls" }, (d.class_name || "class") + " ",
                    h("span", { class: "hex", text: "[" + d["class"] + "]" })));
        meta.push(h("span", { class: "numa", text: "NUMA " + (d.numa_node === "-1" ? "\u2013" : d.numa_node) }));
        var resets = Array.isArray(d.reset_method) ? d.reset_method : [];
        meta.push(h("span", { class: "reset" + (resets.length ? "" : " none"),
                              text: "reset " + (resets.length ? resets.join(", ") : "none") }));
        var lt = linkText(d.link);
        if (lt) {
            var degraded = d.link.speed !== d.link.max_speed || d.link.width !== d.link.max_width;
            meta.push(h("span", { class: "link" + (degraded ? " degraded" : ""), text: "link " + lt }));
        }
        if (d.subsystem_vendor && d.subsystem_device &&
            (d.subsystem_vendor !== "0000" || d.subsystem_device !== "0000")) {
            meta.push(h("span", { class: "subsys", text: "subsystem " + d.subsystem_vendor + ":" + d.subsystem_device }));
        }
        var badges = [];
        if (d.is_bridge) {
            badges.push(h("span", { class: "badge bridge", title: "a bridge: the API never binds it", text: "bridge" }));
        }
        if (ok) {
            badges.push(h("span", { class: "badge allowed", title: "matches VolantVfioAllow", text: "allowed" }));
        }
        if (d.sriov) {
            badges.push(h("span", { class: "badge sriov", title: "SR-IOV physical function",
                                    text: "SR-IOV " + d.sriov.num_vfs + "/" + d.sriov.total_vfs + " VFs" }));
        }
        var rec = recordOf(d.address);
        if (rec) {
            badges.push(h("span", { class: "badge held", "data-held-from": rec.original_driver,
                                    title: "moved by this module (record phase " + rec.phase + ")",
                                    text: "held, from " + (rec.original_driver || "no driver") }));
        }
        var use = usageOf(d.address);
        if (use) {
            var hb = HELD_BY[use.held_by] || HELD_BY.unknown;
            badges.push(h("span", { class: "badge use-" + use.held_by, title: hb[1], text: hb[0] }));
        } else if (state.usage && state.usage.map && state.usage.map[d.address]) {
            badges.push(h("span", { class: "badge use-nobody", title: "no process or host use holds it", text: "free" }));
        }
        if (d.has_rom) {
            badges.push(h("span", { class: "badge rom", title: "has an expansion ROM", text: "ROM" }));
        }
        if (out && out.outcome) {
            badges.push(h("span", { class: "badge outcome o-" + out.outcome, "data-outcome": out.outcome,
                                    title: "the last action's outcome for this device" +
                                           (out.requested === false ? " (a group companion)" : ""),
                                    text: out.outcome + (out.requested === false ? " (companion)" : "") }));
        }
        var checked = state.usage && state.usage.map ? state.usage.map[d.address] : null;
        return h("li", { class: "device " + kind + (match ? "" : " dim") + (d.is_bridge ? " is-bridge" : ""),
                         "data-address": d.address, "data-allowed": ok ? "true" : "false",
                         "data-held-by": checked ? checked.held_by : "",
                         "data-bridge": d.is_bridge ? "true" : "false", "data-match": match ? "true" : "false" },
            h("div", { class: "body" },
                h("div", { class: "line" },
                    h("span", { class: "addr", text: d.address }),
                    h("span", { class: "ids", title: "vendor:device", text: d.vendor + ":" + d.device }),
                    h("span", { class: "driver " + kind, "data-driver": d.driver, title: "driver",
                                text: d.driver || "no driver" }),
                    badges),
                h("div", { class: "name" },
                    h("span", { class: "vendor-name", text: d.vendor_name || "unknown vendor" }), " ",
                    h("span", { class: "device-name", text: d.device_name || "unknown device" })),
                h("div", { class: "meta" }, meta),
                use && use.reason ? h("div", { class: "use-reason use-" + use.held_by, text: use.reason }) : null,
                out && out.error ? h("div", { class: "dev-error", text: out.error }) : null),
            h("div", { class: "do" }, button));
    }

    /* The last action's answer, in the box it was asked from. */
    function answerBlock(groupId, members) {
        var l = state.last;
        if (!l) {
            return null;
        }
        var addrs = members.map(function (d) { return d.address; });
        var touches = l.where === groupId || l.addresses.some(function (a) { return addrs.indexOf(a) >= 0; });
        if (!touches) {
            return null;
        }
        var ok = l.status === 200;
        var errors = l.body && Array.isArray(l.body.errors) ? l.body.errors : [];
        return h("div", { class: "answer " + (ok ? "ok" : "bad"), "data-status": l.status },
            h("span", { class: "http", text: (l.action === "bind" ? "bind" : "release") + ": " + (l.status || "no answer") }),
            " ",
            h("span", { class: "api-message", text: messageOf(l) }),
            errors.length > 1 ? h("ul", null, errors.map(function (e) { return h("li", { text: e }); })) : null);
    }

    function checkBlock(groupId) {
        var c = state.checks[groupId];
        if (!c) {
            return null;
        }
        var b = c.body || {};
        if (c.status !== 200) {
            return h("div", { class: "check-result bad", "data-valid": "unknown" },
                     h("strong", { text: "validate: " + (c.status || "no answer") + " " }), messageOf(c));
        }
        var errors = Array.isArray(b.errors) ? b.errors : [];
        var warnings = Array.isArray(b.warnings) ? b.warnings : [];
        return h("div", { class: "check-result " + (b.valid ? "ok" : "bad"), "data-valid": b.valid ? "true" : "false" },
            h("strong", { text: b.valid ? "valid: " : "not valid: " }),
            b.valid ? (b.message || "") : null,
            errors.length ? h("ul", { class: "errors" }, errors.map(function (e) { return h("li", { text: e }); })) : null,
            warnings.length ? h("ul", { class: "warnings" }, warnings.map(function (e) { return h("li", { text: e }); })) : null);
    }

    function groupBox(g, f, focusKeys) {
        var members = g.members;
        var viable = members[0].group_viable;
        var endpoints = members.filter(function (d) { return !d.is_bridge; });
        var onV = members.filter(onVfio);
        var notV = endpoints.filter(function (d) { return !onVfio(d); });
        var actions = [];
        if (members.length > 1 && notV.length) {
            actions.push(h("button", { type: "button", class: "act bind", "data-action": "bind-group",
                                       "data-focus": "bind-group " + g.id,
                                       title: "POST " + API + "/devices/bind for the group's endpoints",
                                       text: "Bind group" }));
        }
        if (members.length > 1 && onV.length) {
            actions.push(h("button", { type: "button", class: "act release", "data-action": "unbind-group",
                                       "data-focus": "unbind-group " + g.id,
                                       title: "POST " + API + "/devices/unbind for the members on " + targetDriver(),
                                       text: "Release group" }));
        }
        actions.push(h("button", { type: "button", class: "act quiet", "data-action": "validate",
                                   "data-focus": "validate " + g.id,
                                   title: "POST " + API + "/devices/validate for every member", text: "Check" }));
        focusKeys.push.apply(focusKeys, actions);
        var bridgesOnly = endpoints.length === 0;
        var used = members.filter(function (d) { return usageOf(d.address); });
        var byVm = used.length && used.every(function (d) { return usageOf(d.address).held_by === "vm"; });
        var usedNote = used.length
            ? h("p", { class: "group-use" + (byVm ? " vm" : ""),
                       "data-used": used.map(function (d) { return d.address; }).join(" ") },
                used.map(function (d) {
                    return d.address + " " + (HELD_BY[usageOf(d.address).held_by] || HELD_BY.unknown)[0];
                }).join("; ") + ": " + (byVm ? "release it when the VM has stopped."
                                             : "a bind of this group would be refused."))
            : null;
        return h("section", { class: "group " + (viable ? "viable" : "not-viable") + (bridgesOnly ? " bridges-only" : ""),
                              "data-group": g.id, "data-viable": viable ? "true" : "false",
                              "aria-label": "IOMMU group " + g.id },
            h("header", { class: "group-head" },
                h("h3", null, "Group ", h("span", { class: "gid", text: g.id })),
                h("span", { class: "badge " + (viable ? "viable" : "not-viable"),
                            title: viable ? "every endpoint is on VFIO, pci-stub or no driver"
                                          : "an endpoint is on a host driver",
                            text: viable ? "viable" : "not viable" }),
                h("span", { class: "members", text: plural(members.length, "function") }),
                h("span", { class: "grow" }),
                actions),
            usedNote,
            h("ul", { class: "device-list" }, members.map(function (d) { return deviceItem(d, f, focusKeys); })),
            answerBlock(g.id, members),
            checkBlock(g.id));
    }

    function renderGroups() {
        var f = filterOf();
        var box = clear($("groups"));
        var focusKeys = [];
        var all = groups();
        var shown = 0, shownDevices = 0;
        all.forEach(function (g) {
            var any = g.members.some(function (d) { return matches(d, f); });
            var bridgesOnly = g.members.every(function (d) { return d.is_bridge; });
            var visible = any && !(f.endpoints && bridgesOnly);
            var el = groupBox(g, f, focusKeys);
            show(el, visible);
            if (visible) {
                shown++;
                shownDevices += g.members.filter(function (d) { return matches(d, f); }).length;
            }
            box.appendChild(el);
        });
        if (state.host && !all.length) {
            box.appendChild(h("p", { class: "empty", text: state.host.iommu_enabled
                ? "No IOMMU groups." : "No IOMMU groups: the IOMMU is off (see the readiness checks above)." }));
        }
        var ng = $("no-group");
        var list = clear(ng.querySelector(".device-list"));
        var loose = ungrouped();
        var looseShown = loose.filter(function (d) { return matches(d, f); });
        loose.forEach(function (d) {
            var li = deviceItem(d, f, focusKeys);
            show(li, matches(d, f));
            list.appendChild(li);
        });
        var oldAnswer = ng.querySelector(".answer");
        if (oldAnswer) {
            oldAnswer.remove();
        }
        append(ng, answerBlock("", loose));
        show(ng, looseShown.length > 0);
        var fc = $("filter-count");
        if (!state.host) {
            fc.textContent = "";
        } else {
            fc.textContent = (filtering(f) || f.endpoints
                ? "showing " + shown + " of " + plural(all.length, "group") + ", " +
                  (shownDevices + looseShown.length) + " of " + plural(state.devices.length, "function") + " match"
                : plural(all.length, "group") + ", " + plural(state.devices.length, "function")) +
                (loose.length ? " (" + loose.length + " without a group)" : "");
        }
        setBusy(0);
        if (focusAfter) {
            for (var i = 0; i < focusKeys.length; i++) {
                if (focusKeys[i].getAttribute("data-focus") === focusAfter) {
                    focusKeys[i].focus({ preventScroll: true });
                    break;
                }
            }
            focusAfter = null;
        }
    }

    /* ---- the last action ----------------------------------------------- */

    function resultTable(devices) {
        return h("table", { class: "moved" },
            h("thead", null, h("tr", null,
                h("th", { scope: "col", text: "device" }),
                h("th", { scope: "col", text: "driver before" }),
                h("th", { scope: "col", text: "driver now" }),
                h("th", { scope: "col", text: "outcome" }),
                h("th", { scope: "col", text: "note" }))),
            h("tbody", null, devices.map(function (m) {
                return h("tr", { "data-result-address": m.address, "data-outcome": m.outcome || "" },
                    h("td", { class: "addr", text: m.address }),
                    h("td", { text: m.previous_driver || "none" }),
                    h("td", { class: "now", text: m.driver || "none" }),
                    h("td", null, h("span", { class: "badge outcome o-" + (m.outcome || "none"), text: m.outcome || "" })),
                    h("td", { class: "note", text: [m.requested === false ? "group companion" : "",
                                                    m.error || ""].filter(Boolean).join("; ") }));
            })));
    }

    function renderResult() {
        var l = state.last;
        var panel = $("result");
        var body = clear($("result-body"));
        if (!l) {
            show(panel, false);
            return;
        }
        var ok = l.status === 200 && l.body && l.body.success !== false;
        panel.setAttribute("data-action", l.action);
        panel.setAttribute("data-status", String(l.status));
        panel.setAttribute("data-success", ok ? "true" : "false");
        panel.className = "panel result " + (ok ? "ok" : "bad");
        var b = l.body || {};
        var errors = Array.isArray(b.errors) ? b.errors : [];
        if (errors.length === 1 && errors[0] === messageOf(l)) {
            errors = [];   /* said once is enough */
        }
        append(body, [
            h("p", { class: "what" },
                h("span", { class: "verb", text: l.action === "bind" ? "Bind" : "Release" }), " ",
                h("span", { class: "addr", text: l.addresses.join(", ") }),
                " \u2192 ",
                h("span", { class: "http " + (ok ? "ok" : "bad"), text: l.status ? "HTTP " + l.status : "no answer" }),
                h("span", { class: "when", text: " at " + clock(l.time) })),
            h("p", { id: "result-message", class: "api-message", text: messageOf(l) }),
            errors.length ? h("ul", { id: "result-errors", class: "errors" },
                              errors.map(function (e) { return h("li", { text: e }); })) : null,
            Array.isArray(b.devices) && b.devices.length ? resultTable(b.devices) : null
        ]);
        if (state.history.length) {
            append(body, h("details", { class: "history" },
                h("summary", { text: "Earlier actions (" + state.history.length + ")" }),
                h("ol", null, state.history.map(function (e) {
                    return h("li", null,
                        h("span", { class: "when", text: clock(e.time) + " " }),
                        (e.action === "bind" ? "bind " : "release ") + e.addresses.join(", ") + " \u2192 " +
                        (e.status || "no answer") + ": ",
                        h("span", { text: messageOf(e) }));
                }))));
        }
        show(panel, true);
    }

    /* ---- wiring -------------------------------------------------------- */

    function init() {
        var keyInput = $("key");
        function keyHint() {
            keyInput.placeholder = currentKey() ? "set for this tab" : "X-API-Key, this tab only";
            $("key-forget").disabled = !currentKey();
        }
        $("key-form").addEventListener("submit", function (ev) {
            ev.preventDefault();
            var k = keyInput.value.trim();
            if (k && !/^[\x21-\x7e]+$/.test(k)) {
                var a = clear($("auth"));
                append(a, "An API key is printable ASCII without spaces; that one cannot be sent in a header.");
                show(a, true);
                return;
            }
            setApiKey(k);
            keyInput.value = "";
            keyHint();
            refresh();
        });
        $("key-forget").addEventListener("click", function () {
            setApiKey("");
            keyInput.value = "";
            keyHint();
            refresh();
        });
        $("refresh").addEventListener("click", function () { refresh(); });
        $("result-close").addEventListener("click", function () { show($("result"), false); });
        $("groups").addEventListener("click", onClick);
        $("no-group").addEventListener("click", onClick);
        var filters = $("filters");
        filters.addEventListener("input", function () { renderGroups(); });
        filters.addEventListener("change", function () { renderGroups(); });
        filters.addEventListener("submit", function (ev) { ev.preventDefault(); });
        filters.addEventListener("reset", function () { window.setTimeout(renderGroups, 0); });
        keyHint();
        refresh();
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", init);
    } else {
        init();
    }
}());
