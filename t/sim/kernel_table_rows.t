# Every row of KERNEL.md's table of measured 6.1 write results, by plain
# open/write/readlink, with the exact errno.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Test::More;

sim_start('mixed-host');
my $GPU = '0000:01:00.0';       # nvidia
my $NIC2 = '0000:04:00.0';      # igb, idle
my $NODRV = '0000:00:14.2';     # no driver
my $VF = '0000:0b:02.0';        # iavf
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';

subtest 'driver/unbind of a device without driver: ENOENT on open' => sub {
    is(driver_of($NODRV), '', 'no driver');
    is(w(dev_path($NODRV) . '/driver/unbind', $NODRV), 'open:ENOENT');
};

subtest 'vfio-pci/unbind of a device not on vfio-pci: ENODEV, driver stays' => sub {
    is(w("$VFIO/unbind", $GPU), 'ENODEV');
    is(driver_of($GPU), 'nvidia');
};

subtest 'drivers_probe with an unknown address or garbage: ENODEV' => sub {
    is(w('sys/bus/pci/drivers_probe', '0000:00:1e.0'), 'ENODEV');
    is(w('sys/bus/pci/drivers_probe', "garbage\n"), 'ENODEV');
};

subtest 'vfio-pci/bind with a bogus address: ENODEV' => sub {
    is(w("$VFIO/bind", "0000:00:1e.0\n"), 'ENODEV');
    is(w("$VFIO/bind", 'garbage'), 'ENODEV');
};

subtest 'vfio-pci/bind of a driverless device without override: ENODEV' => sub {
    is(rd(dev_path($NODRV) . '/driver_override'), "(null)\n");
    is(w("$VFIO/bind", $NODRV), 'ENODEV');
    is(driver_of($NODRV), '');
};

subtest 'host driver bind while the override names vfio-pci: ENODEV' => sub {
    is(w(dev_path($NIC2) . '/driver_override', 'vfio-pci'), 'ok');
    is(w(dev_path($NIC2) . '/driver/unbind', $NIC2), 'ok');
    is(w('sys/bus/pci/drivers/igb/bind', $NIC2), 'ENODEV');
    is(driver_of($NIC2), '');
};

subtest 'vfio-pci/bind with the override set: ok' => sub {
    is(w("$VFIO/bind", "$NIC2\n"), 'ok');
    is(driver_of($NIC2), 'vfio-pci');
};

subtest 'vfio-pci/bind of a device already on vfio-pci: EBUSY' => sub {
    is(w("$VFIO/bind", $NIC2), 'EBUSY');
    is(driver_of($NIC2), 'vfio-pci');
};

subtest 'drivers_probe of a device that has a driver: ok, no-op' => sub {
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok');
    is(driver_of($GPU), 'nvidia');
    is(w('sys/bus/pci/drivers_probe', $NIC2), 'ok');
    is(driver_of($NIC2), 'vfio-pci');
};

subtest 'vfio-pci/new_id with garbage: EINVAL' => sub {
    is(w("$VFIO/new_id", "garbage\n"), 'EINVAL');
    is(w("$VFIO/new_id", '1234'), 'EINVAL');
};

subtest 'driver_override of 5000 characters: EINVAL' => sub {
    is(w(dev_path($GPU) . '/driver_override', 'x' x 5000), 'EINVAL');
    is(rd(dev_path($GPU) . '/driver_override'), "(null)\n");
};

subtest 'override no-such-driver, unbind, drivers_probe: all ok, no driver' => sub {
    is(w(dev_path($VF) . '/driver_override', "no-such-driver\n"), 'ok');
    is(w(dev_path($VF) . '/driver/unbind', $VF), 'ok');
    is(w('sys/bus/pci/drivers_probe', $VF), 'ok');
    is(driver_of($VF), '');
    is(rd(dev_path($VF) . '/driver_override'), "no-such-driver\n");
};

subtest 'drivers_probe of a member of an owned group: EINVAL, stays driverless' => sub {
    my $AUDIO = '0000:01:00.1';
    for my $a ($GPU, $AUDIO) {
        is(w(dev_path($a) . '/driver_override', 'vfio-pci'), 'ok');
        is(w(dev_path($a) . '/driver/unbind', $a), 'ok');
        is(w("$VFIO/bind", $a), 'ok');
    }
    # the audio function leaves vfio-pci while nobody owns the group
    is(w(dev_path($AUDIO) . '/driver_override', "\n"), 'ok');
    is(w("$VFIO/unbind", $AUDIO), 'ok');
    is(ctl('hold 2'), 'ok', 'a hypervisor owns group 2 (the GPU is still on vfio-pci)');
    is(w('sys/bus/pci/drivers_probe', $AUDIO), 'EINVAL');
    is(driver_of($AUDIO), '', 'driverless while the owner holds the group');
    # drivers/D/bind reports the same refusal as the kernel source does:
    # iommu_device_use_default_domain() says EBUSY (not in KERNEL.md's table)
    is(w('sys/bus/pci/drivers/snd_hda_intel/bind', $AUDIO), 'EBUSY');
    is(ctl('release 2'), 'ok', 'the owner exits');
    is(w('sys/bus/pci/drivers_probe', $AUDIO), 'ok');
    is(driver_of($AUDIO), 'snd_hda_intel');
};

subtest 'writing "\n" to driver_override clears it' => sub {
    is(w(dev_path($GPU) . '/driver_override', "\n"), 'ok');
    is(rd(dev_path($GPU) . '/driver_override'), "(null)\n");
};

subtest 'a zero-byte write to driver_override is ignored' => sub {
    is(w(dev_path($NIC2) . '/driver_override', ''), 'ok');
    is(rd(dev_path($NIC2) . '/driver_override'), "vfio-pci\n", 'the override stays');
};

done_testing();
