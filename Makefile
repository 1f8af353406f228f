# mod_volant_vfio: README's two commands are `make run` and `make test`.
# Every target installs the Debian packages it needs (build/install-deps;
# the OpenAPI validator installs nodejs and npm itself when they are missing).

APXS      ?= apxs
HTTPD     ?= /usr/sbin/apache2
CC        ?= gcc
WARN      := -std=c11 -Wall -Wextra -Werror
OUT       := build/out
MOD       := mod_volant_vfio
SO        := $(MOD)/.libs/mod_volant_vfio.so
CLAIM     := $(MOD)/tools/volant-vfio-claim

CORE_SRC  := $(wildcard $(MOD)/core/*.c)
GLUE_SRC  := $(MOD)/mod_volant_vfio.c $(MOD)/vv_config.c $(MOD)/vv_http.c \
             $(MOD)/vv_api.c $(MOD)/vv_authz.c $(MOD)/vv_helper.c \
             $(MOD)/vv_status.c $(MOD)/vv_openapi_doc.c $(MOD)/vv_console.c \
             $(MOD)/vv_console_assets.c
HEADERS   := $(wildcard $(MOD)/*.h $(MOD)/core/*.h)
# Expanded when used, not when make starts: on a fresh machine pkg-config and
# the APR headers arrive with the first target's install-deps.
APR_CFLAGS = $(shell pkg-config --cflags apr-1 2>/dev/null)
APR_LIBS   = $(shell pkg-config --libs apr-1 apr-util-1 2>/dev/null)

.PHONY: all deps module claim run test test-deps test-lint test-unit test-api test-bind \
        test-realsys test-run test-sim test-fidelity test-asan test-fuzz fuzz soak e2e \
        install uninstall deb test-openapi test-install test-deb test-trixie \
        test-apt-lock test-console test-mutants bench clean

all: module

deps:
	@build/install-deps build

module: deps $(SO) $(CLAIM)

claim: deps $(CLAIM)

# The udev rule's helper: the core's claim, as a small program, hardened
# as Debian builds its programs (dpkg-buildflags with hardening=+all).
CLAIM_HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
    -fstack-clash-protection -fcf-protection -fPIE -pie \
    -Wl,-z,relro -Wl,-z,now
$(CLAIM): $(MOD)/tools/volant-vfio-claim.c $(CORE_SRC) $(HEADERS)
	$(CC) $(WARN) -D_GNU_SOURCE -O2 $(CLAIM_HARDEN) $(APR_CFLAGS) \
	    -I/usr/include/cjson -I$(MOD) -o $@ $< $(CORE_SRC) -Wl,--as-needed \
	    $(APR_LIBS) -lcjson -lpci -lmnl

$(MOD)/vv_openapi_doc.c: $(MOD)/openapi.json build/embed-openapi
	build/embed-openapi $< > $@.tmp && mv $@.tmp $@

CONSOLE   := $(wildcard $(MOD)/console/*)
$(MOD)/vv_console_assets.c: $(CONSOLE) build/embed-console
	build/embed-console $(MOD)/console > $@.tmp && mv $@.tmp $@

# apxs is chatty: its log is shown only when the build fails.
$(SO): $(CORE_SRC) $(GLUE_SRC) $(HEADERS)
	@mkdir -p $(OUT)
	@echo "apxs -c $(MOD)/mod_volant_vfio.la"
	@cd $(MOD) && $(APXS) -c -o mod_volant_vfio.la \
	    -Wc,-std=c11 -Wc,-Wall -Wc,-Wextra -Wc,-Werror \
	    -I/usr/include/cjson \
	    $(patsubst $(MOD)/%,%,$(GLUE_SRC) $(CORE_SRC)) -lcjson -lpci -lmnl \
	    > $(CURDIR)/$(OUT)/apxs.log 2>&1 \
	    || { cat $(CURDIR)/$(OUT)/apxs.log; exit 1; }

# ---- make run: the API on 127.0.0.1:8080 against this host's /sys -------

RUN_DIR  ?= $(OUT)/run
RUN_PORT ?= 8080

run: module
	@mkdir -p $(RUN_DIR)/logs
	build/make-run-conf $(CURDIR) $(RUN_DIR) $(RUN_PORT) > $(RUN_DIR)/httpd.conf
	$(HTTPD) -t -f $(abspath $(RUN_DIR))/httpd.conf
	@echo "serving http://127.0.0.1:$(RUN_PORT)/api/v1/vfio (Ctrl-C stops)"
	exec $(HTTPD) -DFOREGROUND -f $(abspath $(RUN_DIR))/httpd.conf

# ---- make test ------------------------------------------------------------

test: test-deps module test-lint test-unit test-sim test-fidelity test-api \
      test-bind test-mutants test-console test-realsys test-run test-asan test-fuzz test-openapi \
      test-install test-deb test-trixie test-apt-lock e2e

test-deps:
	@build/install-deps build test

UNIT_TESTS := $(patsubst t/unit/%.c,$(OUT)/unit/%,$(wildcard t/unit/*.c))

$(OUT)/unit/%: t/unit/%.c t/unit/tap.h t/unit/tree.h $(CORE_SRC) $(HEADERS) | test-deps
	@mkdir -p $(@D)
	$(CC) $(WARN) -D_GNU_SOURCE -g $(APR_CFLAGS) -I/usr/include/cjson \
	    -I$(MOD) -o $@ $< $(CORE_SRC) $(APR_LIBS) -lcjson -lpci -lmnl

# Source checks: every log message tagged, each tag once.
test-lint: test-deps
	prove t/lint

test-unit: $(UNIT_TESTS)
	prove --exec '' $(UNIT_TESTS)

test-sim: test-deps
	t/sim/run

# The sysfs scenarios measured on the real kernel, replayed on the simulator.
test-fidelity: test-deps
	$(MAKE) -s -C build/sysfs-sim
	prove t/fidelity/sim.t

# The Apache-Test suite again (all but t/realsys), the module built with ASan
# and UBSan.
test-asan: test-deps module
	build/asan/run

# libFuzzer on every decoder: a short run of each, and every regression
# input replayed, in make test; make fuzz runs each FUZZ_SECONDS.
FUZZ_SECONDS ?= 600
test-fuzz:
	@build/install-deps fuzz
	build/fuzz/run 15

fuzz:
	@build/install-deps fuzz
	build/fuzz/run $(FUZZ_SECONDS)

# Throughput, latency, CPU, syscalls and memory against Apache's own
# static-file ceiling; writes BENCHMARKS.md and build/bench/bench.png.
# BENCH_QUICK=1 for a one-minute smoke run.
bench: module
	@build/install-deps build test bench
	build/bench/run

# Load, restarts and a kill -9 of the helper at once, on a simulator host.
soak: module
	build/soak/run

# Debian's kernel under QEMU with an emulated IOMMU; the API from the host.
e2e: module
	@build/install-deps e2e
	build/e2e/run

# The Apache-Test suite runs as root with workers dropping to nobody, in
# three settings: a static simulator tree (the read API), a live simulator
# mount (bind and unbind), and this host's /sys, read-only.
test-api: test-deps module
	t/run-apache-test

# bind and unbind against a live simulator mount, through the helper.
test-bind: test-deps module
	VV_SIM=1 t/run-apache-test t/bind

# The passthrough console in headless Chromium (Selenium) against a live
# simulator host: bind and release through the page.
test-console: test-deps module
	@build/install-deps console
	VV_SIM=1 t/run-apache-test t/console

test-realsys: test-deps module
	VV_REAL_SYS=1 t/run-apache-test t/realsys

# README's `make run`, on a free port and a private directory, read-only.
test-run: test-deps module
	prove t/run

# ---- for operators -----------------------------------------------------------

# make install [DESTDIR=/stage]: the module into apxs's LIBEXECDIR and
# conf/volant_vfio.{load,conf} into /etc/apache2/mods-available (enables
# nothing: a2enmod volant_vfio).  make uninstall removes exactly that.
install: module
	DESTDIR="$(DESTDIR)" APXS="$(APXS)" build/install/install

uninstall:
	DESTDIR="$(DESTDIR)" APXS="$(APXS)" build/install/uninstall

# The Debian package libapache2-mod-volant-vfio, into build/out/deb/.
deb: module
	@build/install-deps build deb
	build/deb/build

# The OpenAPI document by a standard validator (npm ci on first use).
test-openapi:
	build/openapi/validate $(MOD)/openapi.json

# Install/uninstall and the package on this machine's apache2 (a private
# loopback port; the system's configuration checked unchanged).
test-install: test-deps module
	build/install/test

test-deb: test-deps module
	@build/install-deps build deb
	build/deb/test

# Debian 13: that package installed with apt into a trixie root (mmdebstrap,
# cached in build/trixie/.work) and serving the API there; the module built
# there with gcc 14.  Nothing on this machine's apache2 or apt changes.
test-trixie: test-deps module
	@build/install-deps build deb trixie
	build/trixie/test

# build/install-deps waits for a held apt/dpkg lock (bounded), then installs.
test-apt-lock:
	build/apt-lock/test

# Each safety check's mutant, built in a private copy of the tree, must
# fail the tests named with it (build/mutants/README.md).
test-mutants: test-deps module
	build/mutants/run

clean:
	rm -rf $(OUT) $(MOD)/.libs $(MOD)/core/.libs $(MOD)/*.lo $(MOD)/*.la \
	    $(MOD)/*.o $(MOD)/*.slo $(MOD)/core/*.lo $(MOD)/core/*.o \
	    $(MOD)/core/*.slo $(MOD)/vv_openapi_doc.c $(MOD)/vv_console_assets.c t/tmp \
	    $(CLAIM)
	-$(MAKE) -s -C build/sysfs-sim clean
	-[ -f t/TEST.PL ] && perl t/TEST.PL -clean >/dev/null 2>&1 || true
