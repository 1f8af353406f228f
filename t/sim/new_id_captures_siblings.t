# new_id adds a dynamic id and at once binds every unbound device that now
# matches (the sibling capture that makes driver_override the better tool);
# a duplicate is EEXIST; remove_id only forgets the id.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Test::More;

sim_start('mixed-host');
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';
my @NVME = ('0000:08:00.0', '0000:09:00.0');   # two Samsung 144d:a808

is(w(dev_path($NVME[1]) . '/driver/unbind', $NVME[1]), 'ok', 'the free disk leaves nvme');
is(w("$VFIO/new_id", "144d a808\n"), 'ok', 'new_id 144d a808');
is(driver_of($NVME[1]), 'vfio-pci', 'the unbound disk is captured at once');
is(driver_of($NVME[0]), 'nvme', 'the bound root disk is left alone');
ok(-e "$M/dev/vfio/16", 'its group node appeared');
is(w("$VFIO/new_id", '144d a808'), 'EEXIST', 'a second new_id of the same id');
like(sim_state()->{drivers}[-1]{dynamic_ids}[0], qr/^144d a808/, 'sim/state lists the dynamic id');

subtest 'a later unbound sibling is captured by drivers_probe' => sub {
    is(w(dev_path($NVME[0]) . '/driver/unbind', $NVME[0]), 'ok');
    is(w('sys/bus/pci/drivers_probe', $NVME[0]), 'ok');
    is(driver_of($NVME[0]), 'nvme', 'nvme registered first: it wins the probe');
};

subtest 'an override forbids the capture' => sub {
    is(w(dev_path($NVME[0]) . '/driver_override', 'nvme'), 'ok');
    is(w(dev_path($NVME[0]) . '/driver/unbind', $NVME[0]), 'ok');
    is(w("$VFIO/remove_id", '144d a808'), 'ok');
    is(w("$VFIO/new_id", '144d a808'), 'ok');
    is(driver_of($NVME[0]), '', 'override names nvme: vfio-pci may not take it');
    is(w('sys/bus/pci/drivers_probe', $NVME[0]), 'ok');
    is(driver_of($NVME[0]), 'nvme');
};

subtest 'new_id also takes unbound devices whose override names the driver' => sub {
    my $NODRV = '0000:00:14.2';
    is(w(dev_path($NODRV) . '/driver_override', 'vfio-pci'), 'ok');
    is(w("$VFIO/new_id", '1234 5678'), 'ok', 'an unrelated id');
    is(driver_of($NODRV), 'vfio-pci', 'driver_attach() probes every matching device');
};

subtest 'remove_id' => sub {
    is(w("$VFIO/remove_id", '144d a808'), 'ok');
    is(w("$VFIO/remove_id", '144d a808'), 'ENODEV', 'already gone');
    is(w("$VFIO/remove_id", 'garbage'), 'EINVAL');
    is(driver_of($NVME[1]), 'vfio-pci', 'remove_id does not unbind');
    # EEXIST is judged on a fake device with class 0: class-only tables
    # (nvme's 010802) do not count, static ids do
    is(w('sys/bus/pci/drivers/nvme/new_id', '144d a808'), 'ok', 'nvme matches by class only');
    is(w('sys/bus/pci/drivers/nvme/new_id', '144d a808'), 'EEXIST', 'now it is a dynamic id');
    is(w('sys/bus/pci/drivers/igb/new_id', '8086 1533'), 'EEXIST', 'a static id of igb');
};

done_testing();
