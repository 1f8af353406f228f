# driver_override beyond KERNEL.md's rows, as driver_set_override() does it
# (and as t/fidelity/driver-override.scen measured): the value ends at the
# first newline or NUL, 4095 bytes or more is EINVAL, the write never binds
# or unbinds, a zero-byte write never reaches the filesystem.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Test::More;

sim_start('mixed-host');
my $NODRV = '0000:00:14.2';
my $GPU = '0000:01:00.0';
my $OV = dev_path($NODRV) . '/driver_override';

is(w($OV, 'vfio-pci'), 'ok');
is(rd($OV), "vfio-pci\n", 'set without newline reads back with one');
is(w($OV, "vfio-pci\nextra"), 'ok');
is(rd($OV), "vfio-pci\n", 'only the text before the first newline is kept');
is(w($OV, "\0"), 'ok');
is(rd($OV), "(null)\n", 'a lone NUL clears (DPDK)');
is(w($OV, "  \n"), 'ok');
is(rd($OV), "  \n", 'spaces are a name, not a clear');
is(w($OV, 'x' x 4095), 'EINVAL', '4095 bytes: EINVAL (count >= PAGE_SIZE - 1)');
is(rd($OV), "  \n", 'the old value stays');
is(w($OV, 'x' x 4094), 'ok', '4094 bytes are accepted');
is(rd($OV), ('x' x 4094) . "\n");
is(w($OV, ''), 'ok', 'zero-byte write');
is(rd($OV), ('x' x 4094) . "\n", 'ignored: FUSE never delivers it, the kernel ignores it');
is(w($OV, "none\n"), 'ok');
is(w('sys/bus/pci/drivers_probe', $NODRV), 'ok', '"none": drivers_probe ok');
is(driver_of($NODRV), '', 'nothing binds');

is(w(dev_path($GPU) . '/driver_override', 'vfio-pci'), 'ok');
is(driver_of($GPU), 'nvidia', 'setting an override does not unbind');
is(w('sys/bus/pci/drivers_probe', $GPU), 'ok');
is(driver_of($GPU), 'nvidia', 'nor does a probe of a bound device');
is(w(dev_path($GPU) . '/driver_override', "\n"), 'ok');
is(rd(dev_path($GPU) . '/driver_override'), "(null)\n");

done_testing();
