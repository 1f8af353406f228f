#!/usr/bin/python3
"""Drives the passthrough console in headless Chromium (Selenium), as an
operator would: opens the page, types the API key, reads the groups, binds
and releases the GPU, meets a refusal and a wrong key, and checks that a
hostile name from pci.ids stays text.

    drive.py --url URL --key KEY --shots DIR --topology FILE [--pause]

Prints one JSON object per line on stdout:
    {"check": NAME, "ok": true|false, "detail": "..."}   an observation
    {"pause": NAME}                                      with --pause: the
        state named is on the page; waits for a line on stdin (the caller
        checks the host) before going on; "stop" ends the run
    {"done": true}                                       the end
and writes the same records, with the browser's console log, to
DIR/drive.json, and screenshots DIR/NN-name.png.  The caller (console.t)
knows the list of checks; a check missing from the output is a failure.
Exit status 0 whatever the checks said, 1 if the run broke off."""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

GPU = "0000:01:00.0"
AUDIO = "0000:01:00.1"
NIC = "0000:03:00.0"
BUSY_GPU = "0000:02:00.0"
WIDTH, HEIGHT = 1440, 1000
HOSTILE_NAME = ("GA102 <img src=x onerror=\"document.title='pwned'\">"
                "<script>window.pwned=1</script> [GeForce RTX 3090]")
TITLE = "Volant VFIO console"

records = []
console_log = []


def emit(obj):
    records.append(obj)
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def check(name, ok, detail=""):
    emit({"check": name, "ok": bool(ok), "detail": detail if isinstance(detail, str)
          else json.dumps(detail, sort_keys=True)})
    return ok


def pause(name, enabled):
    emit({"pause": name})
    if not enabled:
        return
    line = sys.stdin.readline()
    if not line or line.strip() == "stop":
        raise SystemExit("stopped by the caller at " + name)


class Page:
    def __init__(self, args):
        self.args = args
        self.profile = tempfile.mkdtemp(prefix="vv-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = args.chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--no-first-run",
                  "--no-default-browser-check", "--disable-extensions",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--lang=en-US",
                  "--force-device-scale-factor=1", "--hide-scrollbars",
                  "--window-size=%d,%d" % (WIDTH, HEIGHT),
                  "--user-data-dir=" + self.profile):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=args.chromedriver,
                          log_path=os.path.join(args.shots, "chromedriver.log"))
        self.d = webdriver.Chrome(service=service, options=opts)
        self.d.set_window_size(WIDTH, HEIGHT)
        self.shot_no = 0

    def close(self):
        try:
            self.d.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- the page ---------------------------------------------------------

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def until(self, cond, timeout=10):
        """Waits for cond(); False (not an exception) when it never held, so
        the check that follows reports what it saw."""
        try:
            WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda d: cond())
            return True
        except TimeoutException:
            return False

    def refreshes(self):
        return int(self.js("return Number(document.body.getAttribute('data-refreshes') || 0)"))

    def wait_refresh(self, before, timeout=20):
        """Until a refresh after `before` has finished and nothing is in flight."""
        WebDriverWait(self.d, timeout, poll_frequency=0.05).until(
            lambda d: self.refreshes() > before
            and d.execute_script("return document.body.getAttribute('data-busy')") == "false")
        return self.js("return document.body.getAttribute('data-state')")

    def usage(self):
        """address -> [data-held-by, the reason shown under the device]."""
        return self.js("""
            var out = {};
            document.querySelectorAll('li.device[data-address]').forEach(function (li) {
                var r = li.querySelector('.use-reason');
                out[li.getAttribute('data-address')] = [li.getAttribute('data-held-by'), r ? r.textContent : null];
            });
            return out;""")

    def q(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        els = self.q(css)
        return els[0].text if els else None

    def drivers(self):
        """{address: data-driver} for every device element on the page."""
        return self.js("""
            var out = {};
            document.querySelectorAll('li.device[data-address]').forEach(function (li) {
                var d = li.querySelector('.driver');
                out[li.getAttribute('data-address')] = d ? d.getAttribute('data-driver') : null;
            });
            return out;""")

    def groups(self):
        """{group: [addresses]} as the boxes show them."""
        return self.js("""
            var out = {};
            document.querySelectorAll('#groups section.group[data-group]').forEach(function (s) {
                out[s.getAttribute('data-group')] = Array.prototype.map.call(
                    s.querySelectorAll('li.device[data-address]'),
                    function (li) { return li.getAttribute('data-address'); });
            });
            return out;""")

    def visible_groups(self):
        return self.js("""
            return Array.prototype.filter.call(
                document.querySelectorAll('#groups section.group[data-group]'),
                function (s) { return !s.hidden && s.offsetParent !== null; })
              .map(function (s) { return s.getAttribute('data-group'); });""")

    def type_key(self, key):
        before = self.refreshes()
        box = self.d.find_element(By.ID, "key")
        box.clear()
        box.send_keys(key)
        box.send_keys(Keys.ENTER)
        return self.wait_refresh(before)

    def click(self, css):
        before = self.refreshes()
        el = self.q(css)
        if not el:
            raise AssertionError("no element " + css)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el[0])
        el[0].click()
        return before

    def log(self):
        """The browser's console entries since the last call."""
        entries = self.d.get_log("browser")
        console_log.extend(entries)
        return entries

    def shot(self, name, full=True, at=None):
        """The whole page (full), or the window scrolled to the element `at`
        (or the top)."""
        self.shot_no += 1
        path = os.path.join(self.args.shots, "%02d-%s.png" % (self.shot_no, name))
        if full:
            h = int(self.js("return Math.ceil(document.documentElement.scrollHeight)"))
            want = max(HEIGHT, min(h + 140, 6000))
            self.d.set_window_size(WIDTH, want)
            self.until(lambda: self.d.get_window_size()["height"] == want, 5)
        elif at:
            self.js("document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", at)
        else:
            self.js("window.scrollTo(0, 0)")
        self.d.save_screenshot(path)
        if full:
            self.d.set_window_size(WIDTH, HEIGHT)
        emit({"screenshot": path})
        return path


# -- console log rules -----------------------------------------------------

def severe_unexpected(entries, allowed):
    """SEVERE entries not matched by one of the allowed patterns, and any
    entry (any level) about the Content-Security-Policy."""
    bad = []
    for e in entries:
        msg = e.get("message", "")
        if "Content Security Policy" in msg or "Content-Security-Policy" in msg:
            bad.append(e)
        elif e.get("level") == "SEVERE" and not any(re.search(p, msg) for p in allowed):
            bad.append(e)
    return bad


def network_refusal(path, status):
    return (r"/api/v1/vfio/%s - Failed to load resource: the server responded "
            r"with a status of %d\b" % (re.escape(path), status))


# -- the run ---------------------------------------------------------------

def run(args):
    topo = json.load(open(args.topology))
    devs = topo["devices"]
    want_groups = {}
    for d in devs:
        if d.get("iommu_group") is not None:
            want_groups.setdefault(str(d["iommu_group"]), []).append(d["address"])
    for g in want_groups:
        want_groups[g].sort()
    want_driver = {d["address"]: d.get("driver") or "" for d in devs}
    ungrouped = sorted(d["address"] for d in devs if d.get("iommu_group") is None)

    p = Page(args)
    try:
        # 1. The page, before any key: the API asks for one.
        p.d.get(args.url)
        try:
            state = p.wait_refresh(0)
        except TimeoutException:
            state = "timeout"
        check("page_loads", p.d.title == TITLE and p.q("#groups") and p.q("#refresh") and p.q("#key"),
              "title %r, state %s" % (p.d.title, state))
        auth = p.text("#auth") or ""
        check("asks_for_key", state == "auth" and "invalid api key" in auth
              and p.js("return document.activeElement && document.activeElement.id") == "key"
              and "wanted" in (p.q("#key-form")[0].get_attribute("class") or ""),
              {"state": state, "auth": auth})
        p.shot("key-prompt", full=False)
        entries = p.log()
        bad = severe_unexpected(entries, [network_refusal("host", 401), network_refusal("devices", 401),
                                            network_refusal("records", 401), network_refusal("usage", 401)])
        check("console_clean_at_load", not bad,
              {"unexpected": bad, "entries": len(entries)})

        # 2. The key, once: kept in sessionStorage, never in a URL.
        state = p.type_key(args.key)
        stored = p.js("return sessionStorage.getItem('volant-vfio-api-key')")
        urls = p.js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
                    ".concat([location.href])")
        check("key_accepted", state == "ready" and stored == args.key
              and not p.q("#auth")[0].is_displayed()
              and not any(args.key in u for u in urls)
              and p.d.find_element(By.ID, "key").get_attribute("value") == "",
              {"state": state, "stored": stored == args.key, "urls": urls})
        bad = severe_unexpected(p.log(), [])
        check("console_clean_after_key", not bad, bad)

        # 3. Readiness.
        rows = p.js("""
            var out = {};
            document.querySelectorAll('#checks tr[data-check]').forEach(function (tr) {
                out[tr.getAttribute('data-check')] = tr.querySelector('.state').className.replace('state ', '') +
                    ' ' + tr.querySelector('.state').textContent;
            });
            return out;""")
        need = ["iommu_firmware", "iommu_enabled", "interrupt_remapping", "kvm", "acs_override",
                "vfio_pci_available", "vfio_container", "group_policy", "allowlist", "helper"]
        problems = p.text("#problems") or ""
        check("readiness_shown",
              all(k in rows for k in need) and rows["iommu_enabled"].startswith("ok on, %d groups" % len(want_groups))
              and rows["helper"].startswith("ok running, pid ") and rows["allowlist"] == "info 10de:*"
              and rows["group_policy"] == "info companions" and rows["iommu_firmware"].startswith("ok ")
              and "No problems" in problems and p.q("#warnings"),
              {"rows": rows, "problems": problems})

        # 4. Every group and device, with its driver.
        shown = p.groups()
        shown_sorted = {g: sorted(a) for g, a in shown.items()}
        check("groups_complete", shown_sorted == want_groups,
              {"missing": sorted(set(want_groups) - set(shown)), "extra": sorted(set(shown) - set(want_groups)),
               "differ": sorted(g for g in want_groups if g in shown and shown_sorted[g] != want_groups[g])})
        drivers = p.drivers()
        wrong = {a: [drivers.get(a), want_driver[a]] for a in want_driver if drivers.get(a) != want_driver[a]}
        check("drivers_right", not wrong and len(drivers) == len(want_driver), wrong)
        loose = sorted(p.js("""return Array.prototype.map.call(
            document.querySelectorAll('#no-group li.device[data-address]'),
            function (li) { return li.getAttribute('data-address'); });"""))
        check("ungrouped_listed", loose == ungrouped and p.q("#no-group")[0].is_displayed(), loose)
        flags = p.js("""
            var out = {};
            document.querySelectorAll('li.device[data-address]').forEach(function (li) {
                out[li.getAttribute('data-address')] = [li.getAttribute('data-bridge'), li.getAttribute('data-allowed')];
            });
            return out;""")
        wrong = {}
        for d in devs:
            bridge = d.get("header_type") == 1 or d["class"].startswith("06")
            allowed = d["vendor"] == "10de"
            if flags.get(d["address"]) != ["true" if bridge else "false", "true" if allowed else "false"]:
                wrong[d["address"]] = flags.get(d["address"])
        check("bridges_and_allowlist_marked", not wrong, wrong)
        viable = p.js("""
            var out = {};
            document.querySelectorAll('section.group[data-group]').forEach(function (s) {
                out[s.getAttribute('data-group')] = s.getAttribute('data-viable');
            });
            return out;""")
        check("viability_shown", viable.get("2") == "false" and viable.get("10") == "true"
              and viable.get("24") == "false" and viable.get("1") == "true", viable)
        # Who holds each device (GET /usage), for the devices 10de:* admits.
        use = p.usage()
        note4 = p.text('section[data-group="4"] .group-use') or ""
        want_use = {GPU: ["nobody", None], AUDIO: ["nobody", None],
                    BUSY_GPU: ["host", "/dev/nvidia1 is open by pid 4242 (nvidia-persiste)"],
                    NIC: ["", None]}
        check("usage_shown", all(use.get(a) == w for a, w in want_use.items())
              and "0000:02:00.0 in use by the host" in note4 and "would be refused" in note4
              and not p.q('section[data-group="2"] .group-use')
              and p.text("#usage-note").startswith("Checked 6 devices") and "1 in use" in p.text("#usage-note"),
              {"use": {a: use.get(a) for a in want_use}, "group 4": note4, "note": p.text("#usage-note")})
        legend = p.text("#legend") or ""
        check("legend_shown", all(w in legend for w in ("vfio-pci", "host driver", "no driver", "viable",
                                                         "allowed", "bridge")), legend)

        # 5. The hostile name is text: shown literally, nothing of it ran.
        name = p.js("var e = document.querySelector('li[data-address=\"%s\"] .device-name');"
                    "return e ? e.textContent : null;" % GPU)
        injected = p.js("""return {title: document.title, pwned: typeof window.pwned,
            imgs: document.querySelectorAll('img').length,
            scripts: Array.prototype.map.call(document.scripts, function (s) { return s.getAttribute('src'); }),
            shown: document.body.innerText.indexOf('<script>window.pwned=1</script>') >= 0};""")
        check("hostile_name_is_text", name == HOSTILE_NAME and injected["title"] == TITLE
              and injected["pwned"] == "undefined" and injected["imgs"] == 0
              and injected["scripts"] == ["console.js"] and injected["shown"],
              {"name": name, "page": injected})
        p.shot("overview")

        # 6. Filters: vendor, class, driver, client-side.
        Select(p.d.find_element(By.ID, "filter-vendor")).select_by_value("10de")
        v_nvidia = sorted(p.visible_groups(), key=int)
        p.shot("filter-nvidia", full=False, at="#devices")
        Select(p.d.find_element(By.ID, "filter-vendor")).select_by_value("")
        Select(p.d.find_element(By.ID, "filter-class")).select_by_value("0108")
        v_nvme = sorted(p.visible_groups(), key=int)
        nvme_loose = p.q("#no-group")[0].is_displayed()
        Select(p.d.find_element(By.ID, "filter-class")).select_by_value("")
        Select(p.d.find_element(By.ID, "filter-driver")).select_by_value("igb")
        v_igb = sorted(p.visible_groups(), key=int)
        p.q("#filter-reset")[0].click()
        p.until(lambda: len(p.visible_groups()) == len(want_groups), 5)
        v_all = p.visible_groups()
        check("filters_work", v_nvidia == ["2", "4"] and v_nvme == ["14", "16", "18"] and nvme_loose
              and v_igb == ["6", "8"] and len(v_all) == len(want_groups),
              {"10de": v_nvidia, "0108": v_nvme, "igb": v_igb, "reset": len(v_all)})

        # 7. validate for a group: the API's errors, in its words.
        p.click('section[data-group="24"] button[data-action="validate"]')
        WebDriverWait(p.d, 10).until(lambda d: p.q('section[data-group="24"] .check-result'))
        cr = p.q('section[data-group="24"] .check-result')[0]
        check("group_check", cr.get_attribute("data-valid") == "false"
              and "0000:00:1f.4 (8086:a1a3) not in server allowlist (VolantVfioAllow)" in cr.text
              and "0000:00:1f.0 is a bridge, not an endpoint" in cr.text, cr.text)

        # 8. Bind the GPU through the page: its audio function goes along.
        before = p.click('li[data-address="%s"] button[data-action="bind"]' % GPU)
        state = p.wait_refresh(before)
        res = p.q("#result")[0]
        rows = p.js("""
            var out = {};
            document.querySelectorAll('#result tr[data-result-address]').forEach(function (tr) {
                out[tr.getAttribute('data-result-address')] = [tr.getAttribute('data-outcome'),
                    tr.querySelector('.now').textContent, tr.querySelector('.note').textContent];
            });
            return out;""")
        check("bind_answer_shown", state == "ready" and res.is_displayed()
              and res.get_attribute("data-status") == "200" and res.get_attribute("data-success") == "true"
              and p.text("#result-message") == "Devices successfully bound to vfio-pci driver"
              and rows.get(GPU, [None])[0] == "bound" and rows.get(GPU, [None, None])[1] == "vfio-pci"
              and rows.get(AUDIO, [None])[0] == "bound" and "companion" in rows.get(AUDIO, ["", "", ""])[2],
              {"state": state, "status": res.get_attribute("data-status"), "rows": rows,
               "message": p.text("#result-message")})
        drivers = p.drivers()
        check("bound_shown", drivers.get(GPU) == "vfio-pci" and drivers.get(AUDIO) == "vfio-pci"
              and p.q('section[data-group="2"]')[0].get_attribute("data-viable") == "true"
              and p.q('li[data-address="%s"] button[data-action="unbind"]' % GPU),
              {GPU: drivers.get(GPU), AUDIO: drivers.get(AUDIO)})
        # The records panel (GET /records): what each had, and the companion.
        recs = p.js("""
            var out = {};
            document.querySelectorAll('#records tr[data-record]').forEach(function (tr) {
                var td = tr.querySelectorAll('td');
                out[tr.getAttribute('data-record')] = [td[2].getAttribute('data-original-driver'),
                    tr.getAttribute('data-phase'), td[5].textContent, td[4].textContent];
            });
            return out;""")
        held = p.js("""return Array.prototype.map.call(document.querySelectorAll('li[data-address] .badge.held'),
            function (b) { return b.closest('li').getAttribute('data-address') + ' ' + b.getAttribute('data-held-from'); });""")
        # (the console binds without "persist": neither survives a reboot)
        check("records_shown", recs == {GPU: ["nvidia", "bound", "\u2013", "no"],
                                        AUDIO: ["snd_hda_intel", "bound", GPU, "no"]}
              and sorted(held) == [GPU + " nvidia", AUDIO + " snd_hda_intel"],
              {"records": recs, "held": held})
        p.shot("bound")
        bad = severe_unexpected(p.log(), [])
        check("console_clean_after_bind", not bad, bad)
        pause("bound", args.pause)

        # 8b. A hypervisor takes the group (the caller's "hold 2"): the page
        # shows the VM and its process, and a release is refused in the API's words.
        before = p.click("#refresh")
        p.wait_refresh(before)
        use = p.usage()
        vm = ["vm", "its IOMMU group 2 (/dev/vfio/2) is open by pid 4343 (qemu-system-x86)"]
        note2 = p.text('section[data-group="2"] .group-use') or ""
        check("vm_shown", use.get(GPU) == vm and use.get(AUDIO) == vm
              and "held by a VM" in note2 and "release it when the VM has stopped" in note2,
              {"use": [use.get(GPU), use.get(AUDIO)], "note": note2})
        p.shot("held-by-vm", full=False, at='section[data-group="2"]')
        before = p.click('li[data-address="%s"] button[data-action="unbind"]' % GPU)
        p.wait_refresh(before)
        res = p.q("#result")[0]
        msg = p.text("#result-message") or ""
        bad = severe_unexpected(p.log(), [network_refusal("devices/unbind", 500)])
        check("vm_release_refused", res.get_attribute("data-status") == "500"
              and msg.startswith("device %s is in use: its IOMMU group 2 is open by pid 4343" % GPU)
              and p.drivers().get(GPU) == "vfio-pci" and not bad,
              {"status": res.get_attribute("data-status"), "message": msg, "console": bad})
        pause("vm-held", args.pause)

        # 9. Release it: both back on their drivers.
        before = p.click('li[data-address="%s"] button[data-action="unbind"]' % GPU)
        state = p.wait_refresh(before)
        res = p.q("#result")[0]
        drivers = p.drivers()
        outcomes = p.js("""return Array.prototype.map.call(document.querySelectorAll('#result tr[data-result-address]'),
            function (tr) { return tr.getAttribute('data-result-address') + ' ' + tr.getAttribute('data-outcome'); });""")
        check("released_shown", state == "ready" and res.get_attribute("data-status") == "200"
              and drivers.get(GPU) == "nvidia" and drivers.get(AUDIO) == "snd_hda_intel"
              and sorted(outcomes) == [GPU + " restored", AUDIO + " restored"],
              {"drivers": [drivers.get(GPU), drivers.get(AUDIO)], "outcomes": outcomes,
               "message": p.text("#result-message")})
        check("records_empty_after_release",
              not p.q('#records tr[data-record]') and p.text("#records-note") == "No device is held by this module."
              and not p.q('li[data-address] .badge.held'),
              {"note": p.text("#records-note")})
        pause("released", args.pause)

        # 10. The group buttons: the same round trip, as a group.
        before = p.click('section[data-group="2"] button[data-action="bind-group"]')
        p.wait_refresh(before)
        d1 = p.drivers()
        before = p.click('section[data-group="2"] button[data-action="unbind-group"]')
        p.wait_refresh(before)
        d2 = p.drivers()
        check("group_buttons", [d1.get(GPU), d1.get(AUDIO), d2.get(GPU), d2.get(AUDIO)]
              == ["vfio-pci", "vfio-pci", "nvidia", "snd_hda_intel"],
              [d1.get(GPU), d1.get(AUDIO), d2.get(GPU), d2.get(AUDIO)])
        bad = severe_unexpected(p.log(), [])
        check("console_clean_after_release", not bad, bad)
        pause("group-round-trip", args.pause)

        # 11. A refused bind: the API's 403, in its words, nothing moved.
        before = p.click('li[data-address="%s"] button[data-action="bind"]' % NIC)
        state = p.wait_refresh(before)
        res = p.q("#result")[0]
        msg = p.text("#result-message")
        answer = p.text('section[data-group="6"] .answer') or ""
        want = "device %s (8086:1533) not in allowlist (VolantVfioAllow)" % NIC
        check("refusal_shown", res.get_attribute("data-status") == "403"
              and res.get_attribute("data-success") == "false" and msg == want
              and want in answer and "403" in answer and p.drivers().get(NIC) == "igb",
              {"status": res.get_attribute("data-status"), "message": msg, "box": answer})
        p.shot("refused")
        bad = severe_unexpected(p.log(), [network_refusal("devices/bind", 403)])
        check("console_after_refusal", not bad, bad)
        pause("refused", args.pause)

        # 12. A wrong key: the API's 401, and the page asks for the key.
        state = p.type_key("wrong-key-0000000000000000")
        auth = p.text("#auth") or ""
        check("wrong_key_shown", state == "auth" and "invalid api key" in auth
              and "refused" in auth and not p.groups() and p.q("#auth")[0].is_displayed(),
              {"state": state, "auth": auth})
        p.shot("wrong-key", full=False)
        bad = severe_unexpected(p.log(), [network_refusal("host", 401), network_refusal("devices", 401),
                                            network_refusal("records", 401), network_refusal("usage", 401)])
        check("console_after_wrong_key", not bad, bad)

        # 13. The right key again: all back.
        state = p.type_key(args.key)
        check("key_restored", state == "ready" and p.drivers() == want_driver, state)
        p.d.set_window_size(420, 900)
        p.until(lambda: p.js("return window.innerWidth") <= 420, 5)
        narrow = p.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        check("narrow_fits", narrow[0] <= narrow[1], {"scrollWidth": narrow[0], "innerWidth": narrow[1]})
        p.shot("narrow", full=False, at='section[data-group="2"]')
        p.d.set_window_size(WIDTH, HEIGHT)
        final = p.js("return {title: document.title, pwned: typeof window.pwned,"
                     " imgs: document.querySelectorAll('img').length};")
        all_csp = [e for e in console_log if "Content Security Policy" in e.get("message", "")]
        check("nothing_injected", final == {"title": TITLE, "pwned": "undefined", "imgs": 0} and not all_csp
              and not severe_unexpected(p.log(), []), {"page": final, "csp": all_csp})
    finally:
        try:
            p.log()
        except Exception:
            pass
        p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the console's page, e.g. http://127.0.0.1:8080/vfio-console/")
    ap.add_argument("--key", required=True)
    ap.add_argument("--shots", required=True, help="directory for screenshots and logs")
    ap.add_argument("--topology", required=True)
    ap.add_argument("--pause", action="store_true", help="wait for a line on stdin at each pause")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    os.makedirs(args.shots, exist_ok=True)
    code = 0
    try:
        run(args)
    except SystemExit as e:
        emit({"aborted": str(e)})
        code = 1
    except Exception:
        emit({"aborted": traceback.format_exc()})
        code = 1
    emit({"done": code == 0})
    with open(os.path.join(args.shots, "drive.json"), "w") as f:
        json.dump({"records": records, "console": console_log}, f, indent=1, sort_keys=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
