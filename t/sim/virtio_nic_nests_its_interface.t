# A net hint with "under": "virtioN" puts the interface where virtio-net
# keeps it, DEV/virtioN/net/IF (not DEV/net/IF), with class/net/IF pointing
# there; routes, addresses and the way hints follow the driver are those of
# any other interface. mixed-host's 0000:00:07.0 is such a NIC.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;

my $NIC = '0000:00:07.0';
my $VIRTIO = dev_path($NIC) . '/virtio0';

sim_start('mixed-host');

subtest 'layout' => sub {
    is(driver_of($NIC), 'virtio-pci', 'on virtio-pci');
    is(rl(dev_path($NIC)), '../../../devices/pci0000:00/0000:00:07.0', 'on the root bus');
    ok(-d "$M/$VIRTIO/net/ens5", 'virtio0/net/ens5');
    ok(!-e "$M/" . dev_path($NIC) . '/net', 'no net/ directly below the PCI device');
    is(rl('sys/class/net/ens5'), '../../devices/pci0000:00/0000:00:07.0/virtio0/net/ens5',
        'class/net/ens5 points below virtio0');
    is(abs_path("$M/sys/class/net/ens5"), abs_path("$M/$VIRTIO/net/ens5"), 'and resolves');
    # what a tool walking up from the interface finds: the PCI device two levels up
    is(abs_path("$M/sys/class/net/ens5/../../.."), abs_path("$M/" . dev_path($NIC)),
        'IF/../../.. is the PCI function');
    is(rd("$VIRTIO/net/ens5/operstate"), "up\n");
    is(rd("$VIRTIO/net/ens5/address"), "52:54:00:12:34:56\n");
    is(rd("$VIRTIO/net/ens5/carrier"), "1\n");
};

subtest 'the virtio device' => sub {
    opendir my $dh, "$M/$VIRTIO" or die $!;
    is_deeply([sort grep { !/^\./ } readdir $dh], [qw(device features modalias net status vendor)],
        'a few files, no driver link');
    is(rd("$VIRTIO/device"), "0x0001\n", 'VIRTIO_ID_NET');
    is(rd("$VIRTIO/vendor"), "0x1af4\n", 'the subsystem vendor, as virtio-pci sets it');
    like(rd("$VIRTIO/features"), qr/^[01]{64}\n$/, 'features: 64 bits as characters');
    is(substr(rd("$VIRTIO/features"), 32, 1), '1', 'VIRTIO_F_VERSION_1 (a modern device)');
    is(rd("$VIRTIO/status"), "0x0000000f\n", 'driver ok');
    is(rd("$VIRTIO/modalias"), "virtio:d00000001v00001AF4\n");
};

subtest 'routes like any interface' => sub {
    like(rd('proc/net/route'), qr/^ens5\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0 *$/m,
        '192.168.50.0/24 on ens5');
    like(rd('proc/net/route'), qr/^eno1\t00000000\t/m, 'eno1 still has the default route');
};

subtest 'hints follow the driver' => sub {
    is(w(dev_path($NIC) . '/driver/unbind', $NIC), 'ok', 'unbind virtio-pci');
    ok(!-e "$M/$VIRTIO", 'virtio0 goes with its driver');
    ok(!-e "$M/sys/class/net/ens5", 'class/net/ens5 gone');
    unlike(rd('proc/net/route'), qr/^ens5/m, 'no routes');
    is(w('sys/bus/pci/drivers_probe', $NIC), 'ok');
    is(driver_of($NIC), 'virtio-pci', 'probed back to virtio-pci');
    ok(-d "$M/$VIRTIO/net/ens5", 'virtio0/net/ens5 back');
    like(rd('proc/net/route'), qr/^ens5/m, 'routes back');

    is(w(dev_path($NIC) . '/driver_override', 'vfio-pci'), 'ok');
    is(w(dev_path($NIC) . '/driver/unbind', $NIC), 'ok');
    is(w('sys/bus/pci/drivers/vfio-pci/bind', $NIC), 'ok', 'on vfio-pci');
    ok(!-e "$M/$VIRTIO", 'no virtio0 on vfio-pci');
    ok(-e "$M/dev/vfio/26", 'its own group 26');
    is(w(dev_path($NIC) . '/driver_override', "\n"), 'ok');
    is(w('sys/bus/pci/drivers/vfio-pci/unbind', $NIC), 'ok');
    is(w('sys/bus/pci/drivers_probe', $NIC), 'ok');
    ok(-d "$M/$VIRTIO/net/ens5", 'back from vfio-pci');

    is(ctl("unplug $NIC"), 'ok');
    ok(!-e "$M/sys/class/net/ens5", 'unplugged: class link gone');
    unlike(rd('proc/net/route'), qr/^ens5/m, 'unplugged: no routes');
};

subtest '--static has the same shape' => sub {
    my $tree = tempdir(CLEANUP => 1) . '/tree';
    is(system($SIM, '--static', $tree, '--topology', topo('mixed-host')), 0, '--static');
    is(readlink("$tree/sys/class/net/ens5"), '../../devices/pci0000:00/0000:00:07.0/virtio0/net/ens5');
    ok(-d "$tree/sys/devices/pci0000:00/0000:00:07.0/virtio0/net/ens5", 'virtio0/net/ens5');
    ok(!-e "$tree/sys/devices/pci0000:00/0000:00:07.0/net", 'no net/ on the PCI device');
};

done_testing();
