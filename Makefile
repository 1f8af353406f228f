# mod_volant_vfio.  Every target installs the Debian packages it needs.

.PHONY: all deps test test-sim

all: deps
	$(MAKE) -C build/sysfs-sim

deps:
	@build/install-deps build test

test: deps test-sim

# The sysfs simulator and its own tests (FUSE, as root).
test-sim:
	t/sim/run
