# Driver matching (override first, then dynamic and static ids, drivers in
# registration order), what vfio-pci's probe refuses, and the links a bind
# creates: relative, resolving, in both directions, plus uevent's DRIVER=.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use Test::More;

sim_start('mixed-host');
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';
my ($GPU, $AUDIO, $NIC2, $NODRV) = ('0000:01:00.0', '0000:01:00.1', '0000:04:00.0', '0000:00:14.2');

subtest 'a bind creates both links, relative and resolving' => sub {
    my $link = rl(dev_path($GPU) . '/driver');
    is($link, '../../../../bus/pci/drivers/nvidia', 'driver link as the kernel writes it');
    is(abs_path("$M/" . dev_path($GPU) . '/driver'), "$M/sys/bus/pci/drivers/nvidia", 'resolves');
    is(abs_path("$M/sys/bus/pci/drivers/nvidia/$GPU"), abs_path("$M/" . dev_path($GPU)),
        'drivers/nvidia/ADDR points back at the device');
    like(rd(dev_path($GPU) . '/uevent'), qr/\ADRIVER=nvidia\n/, 'uevent starts with DRIVER=');
    is(w(dev_path($GPU) . '/driver/unbind', "$GPU\n"), 'ok', 'unbind through the driver link');
    ok(!-e "$M/sys/bus/pci/drivers/nvidia/$GPU", 'back link gone');
    unlike(rd(dev_path($GPU) . '/uevent'), qr/DRIVER=/, 'no DRIVER= when unbound');
    is(rd(dev_path($GPU) . '/enable'), "0\n", 'disabled');
};

subtest 'drivers_probe picks the matching host driver; bind needs a match' => sub {
    is(w('sys/bus/pci/drivers/snd_hda_intel/bind', $GPU), 'ENODEV', 'class 0403 driver refuses a VGA');
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok');
    is(driver_of($GPU), 'nvidia', 'vendor 10de + class 03 matches nvidia');
    is(w('sys/bus/pci/drivers/nvidia/bind', $GPU), 'EBUSY', 'matching driver, already bound: EBUSY');
    is(w('sys/bus/pci/drivers/igb/bind', $GPU), 'ENODEV', 'non-matching driver: ENODEV first');
};

subtest 'an override admits exactly the named driver' => sub {
    is(w(dev_path($NODRV) . '/driver_override', 'igb'), 'ok');
    is(w('sys/bus/pci/drivers/igb/bind', $NODRV), 'ok', 'igb takes an Intel thermal device by override');
    is(driver_of($NODRV), 'igb');
    is(w('sys/bus/pci/drivers/igb/unbind', $NODRV), 'ok');
    is(w(dev_path($NODRV) . '/driver_override', "\n"), 'ok');
    is(w('sys/bus/pci/drivers/igb/bind', $NODRV), 'ENODEV', 'without it, no match');
};

subtest 'vfio-pci refuses bridges and devices without an IOMMU group (EINVAL)' => sub {
    my $RP = '0000:00:1c.1';
    is(w(dev_path($RP) . '/driver_override', 'vfio-pci'), 'ok');
    is(w(dev_path($RP) . '/driver/unbind', $RP), 'ok');
    is(w("$VFIO/bind", $RP), 'EINVAL', 'header type 1');
    is(driver_of($RP), '');
    is(w('sys/bus/pci/drivers_probe', $RP), 'ok', 'drivers_probe: the probe error is swallowed');
    is(driver_of($RP), '', 'nothing bound');
    w(dev_path($RP) . '/driver_override', "\n");
    is(w('sys/bus/pci/drivers_probe', $RP), 'ok');
    is(driver_of($RP), 'pcieport', 'back on pcieport');

    my $VMD_NVME = '10000:e0:00.0';
    ok(!defined rl(dev_path($VMD_NVME) . '/iommu_group'), 'the VMD NVMe has no group');
    is(w(dev_path($VMD_NVME) . '/driver_override', 'vfio-pci'), 'ok');
    is(w(dev_path($VMD_NVME) . '/driver/unbind', $VMD_NVME), 'ok');
    is(w("$VFIO/bind", $VMD_NVME), 'EINVAL', 'no IOMMU group');
    ok(!-e "$M/" . dev_path($VMD_NVME) . '/vfio-dev', 'no vfio-dev');
};

subtest 'a device already on vfio-pci at boot' => sub {
    my $PRE = '0000:05:00.0';
    is(driver_of($PRE), 'vfio-pci');
    is(rd(dev_path($PRE) . '/driver_override'), "vfio-pci\n");
    ok(-e "$M/dev/vfio/10", 'its group node exists');
    like((map { s{.*/}{}r } glob("$M/" . dev_path($PRE) . '/vfio-dev/*'))[0] // '', qr/^vfio\d+$/,
        'it has vfio-dev');
};

subtest 'VFs honour the PF sriov_drivers_autoprobe' => sub {
    my ($PF, $VF) = ('0000:0b:00.0', '0000:0b:02.1');
    is(w(dev_path($PF) . '/sriov_drivers_autoprobe', '0'), 'ok');
    is(w(dev_path($VF) . '/driver/unbind', $VF), 'ok');
    is(w('sys/bus/pci/drivers/iavf/bind', $VF), 'ENODEV', 'pci_device_can_probe() says no');
    is(w(dev_path($VF) . '/driver_override', 'iavf'), 'ok');
    is(w('sys/bus/pci/drivers/iavf/bind', $VF), 'ok', 'unless the override names the driver');
    is(w(dev_path($PF) . '/sriov_drivers_autoprobe', "1\n"), 'ok');
};

done_testing();
