# The tree has the shape and formats of a real kernel's: device directories
# nested under their bridges (VMD domains under their controller), relative
# links that resolve, attribute texts, config space bytes, iommu_groups.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use Test::More;

sim_start('mixed-host');
my $GPU = '0000:01:00.0';
my $D = dev_path($GPU);

subtest 'device directory and links' => sub {
    is(rl($D), '../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0', 'nested under its root port');
    is(rl('sys/bus/pci/devices/0000:00:00.0'), '../../../devices/pci0000:00/0000:00:00.0');
    is(rl('sys/bus/pci/devices/0000:07:00.0'),
        '../../../devices/pci0000:00/0000:00:1c.5/0000:06:00.0/0000:07:00.0', 'two bridges deep');
    is(rl('sys/bus/pci/devices/10000:e0:00.0'),
        '../../../devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:00.0', 'VMD domain');
    is(rl("$D/subsystem"), '../../../../bus/pci');
    is(abs_path("$M/$D/subsystem"), "$M/sys/bus/pci", 'subsystem resolves');
    is(rl("$D/iommu_group"), '../../../../kernel/iommu_groups/2');
    is(rl('sys/kernel/iommu_groups/2/devices/0000:01:00.1'),
        '../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.1');
    my @g12 = map { s{.*/}{}r } glob("$M/sys/kernel/iommu_groups/12/devices/*");
    is_deeply(\@g12, ['0000:06:00.0', '0000:07:00.0'], 'a bridge is listed in its group');
    ok(-d "$M/" . dev_path('0000:00:1c.5') . '/pci_bus/0000:06', 'bridges have pci_bus/');
    is(rd(dev_path('0000:00:1c.5') . '/secondary_bus_number'), "6\n",
       'bridges show their secondary bus');
    is(rd(dev_path('0000:00:1c.5') . '/subordinate_bus_number'), "7\n",
       'and their subordinate bus');
    ok(!-e "$M/" . dev_path('0000:07:00.0') . '/secondary_bus_number',
       'endpoints do not');
    is(rd('sys/kernel/iommu_groups/2/type'), "DMA\n");
    ok(-e "$M/sys/class/iommu/dmar0", 'class/iommu has the IOMMU');
};

subtest 'attribute texts' => sub {
    is(rd("$D/vendor"), "0x10de\n");
    is(rd("$D/device"), "0x2204\n");
    is(rd("$D/subsystem_vendor"), "0x1458\n");
    is(rd("$D/subsystem_device"), "0x403b\n");
    is(rd("$D/class"), "0x030000\n");
    is(rd("$D/revision"), "0xa1\n");
    is(rd("$D/irq"), "0\n");
    is(rd("$D/numa_node"), "0\n");
    is(rd(dev_path('0000:00:14.2') . '/numa_node'), "-1\n", 'unknown node');
    is(rd("$D/enable"), "1\n");
    is(rd("$D/boot_vga"), "0\n");
    is(rd(dev_path('0000:07:00.0') . '/boot_vga'), "1\n");
    ok(!-e "$M/" . dev_path('0000:01:00.1') . '/boot_vga', 'no boot_vga on audio');
    is(rd("$D/modalias"), "pci:v000010DEd00002204sv00001458sd0000403Bbc03sc00i00\n");
    is(rd("$D/uevent"), "DRIVER=nvidia\nPCI_CLASS=30000\nPCI_ID=10DE:2204\n"
        . "PCI_SUBSYS_ID=1458:403B\nPCI_SLOT_NAME=0000:01:00.0\n"
        . "MODALIAS=pci:v000010DEd00002204sv00001458sd0000403Bbc03sc00i00\n");
    my @res = split /\n/, rd("$D/resource");
    is(scalar @res, 13, '13 resource lines');
    is($res[0], '0x0000000000000000 0x0000000000000000 0x0000000000000000');
    is(scalar(split /\n/, rd(dev_path('0000:00:01.0') . '/resource')), 17, '17 for a bridge');
    is(rd(dev_path('0000:00:00.0') . '/driver_override'), "(null)\n");
    is((stat "$M/$D/driver_override")[2] & 07777, 0644, 'driver_override 0644');
    is((stat "$M/sys/bus/pci/drivers/vfio-pci/bind")[2] & 07777, 0200, 'bind 0200');
    is((stat "$M/sys/bus/pci/drivers_probe")[2] & 07777, 0200, 'drivers_probe 0200');
    is((stat "$M/$D/vendor")[4], 0, 'owned by root');
};

subtest 'config space' => sub {
    my $c = rd("$D/config");
    is(length $c, 256, '256 bytes for root');
    my ($v, $d) = unpack('v v', $c);
    is(sprintf('%04x:%04x', $v, $d), '10de:2204', 'ids little-endian at 0');
    is(unpack('H6', reverse substr($c, 9, 3)), '030000', 'class at 0x09-0x0b');
    is(ord(substr($c, 8, 1)), 0xa1, 'revision at 8');
    is(ord(substr($c, 0x0e, 1)), 0x80, 'header type 0, multifunction bit (slot has .1)');
    is(sprintf('%04x:%04x', unpack('v v', substr($c, 0x2c, 4))), '1458:403b', 'subsystem at 0x2c');
    my $nodrv = rd(dev_path('0000:00:14.2') . '/config');
    is(ord(substr($nodrv, 0x0e, 1)), 0x00, 'a single-function device has no multifunction bit');
    my $rp = rd(dev_path('0000:00:1c.5') . '/config');
    is(ord(substr($rp, 0x0e, 1)) & 0x7f, 1, 'a bridge has header type 1');
    is(join(',', map { ord substr($rp, $_, 1) } 0x18 .. 0x1a), '0,6,7', 'primary, secondary, subordinate bus');
};

subtest 'dev and proc skeleton' => sub {
    ok(-e "$M/dev/vfio/vfio", 'dev/vfio/vfio');
    ok(-f "$M/dev/vfio/10", 'device nodes are regular files');
    is(rd('proc/sys/kernel/osrelease'), "6.1.0-sim\n");
    is(rl('proc/mounts'), 'self/mounts');
    ok(-e "$M/sim/state" && -e "$M/sim/log" && -e "$M/sim/last_error", 'sim/ files');
    is((stat "$M/sim/control")[2] & 07777, 0200, 'sim/control is root-only write-only');
};

subtest 'no IOMMU: empty iommu_groups, no group links' => sub {
    sim_start('noiommu-host');
    ok(-d "$M/sys/kernel/iommu_groups", 'the directory exists');
    is_deeply([glob("$M/sys/kernel/iommu_groups/*")], [], 'and is empty');
    ok(!defined rl("$D/iommu_group"), 'no iommu_group link');
    ok(!-e "$M/sys/class/iommu/dmar0", 'no IOMMU class device');
    is(w("$D/driver_override", 'vfio-pci'), 'ok');
    is(w("$D/driver/unbind", $GPU), 'ok');
    is(w('sys/bus/pci/drivers/vfio-pci/bind', $GPU), 'EINVAL', 'vfio-pci: no group, EINVAL');
};

done_testing();
