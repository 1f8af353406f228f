# In-use hints live while the device is on its topology driver, in the
# kernel's formats: net/IFNAME, nvme/nvmeX/DISK with holders and partitions,
# class links, dev/nvidiaN and proc/PID/fd, proc/net/route, ipv6_route,
# if_inet6, mountinfo and mounts. Routes only for interfaces that exist and
# are up; a device that goes takes its hints with it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use Test::More;

sim_start('mixed-host');
my ($MGMT, $NIC2, $ROOT, $LVM, $GPU2) =
    ('0000:03:00.0', '0000:04:00.0', '0000:08:00.0', '0000:0a:00.0', '0000:02:00.0');

subtest 'net' => sub {
    my $eno1 = dev_path($MGMT) . '/net/eno1';
    is(rd("$eno1/operstate"), "up\n");
    is(rd("$eno1/flags"), "0x1003\n");
    is(rd("$eno1/address"), "ac:1f:6b:01:02:03\n");
    like(rd("$eno1/ifindex"), qr/^\d+\n$/);
    is(rd("$eno1/mtu"), "1500\n");
    is(rd(dev_path($NIC2) . '/net/eno2/operstate'), "down\n");
    is(rd(dev_path($NIC2) . '/net/eno2/flags'), "0x1002\n");
    ok(!defined rd(dev_path($NIC2) . '/net/eno2/carrier'), 'carrier of a down link');
    is(errname(), 'EINVAL', 'is EINVAL, as the kernel says');
    is(abs_path("$M/sys/class/net/eno1"), abs_path("$M/$eno1"), 'class/net/eno1 resolves');
    like(rl('sys/class/net/eno1'), qr{^\.\./\.\./devices/pci0000:00/0000:00:1c\.0/0000:03:00\.0/net/eno1$});
    ok(-e "$M/sys/class/net/lo", 'lo is there, outside the PCI tree');
};

subtest 'proc/net: routes of up interfaces only, kernel formats' => sub {
    my @route = split /\n/, rd('proc/net/route');
    like($route[0], qr/^Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT +$/);
    is(length $route[0], 127, 'lines padded to 127 characters');
    like($route[1], qr/^eno1\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0 *$/, 'default via 10.0.0.1');
    like($route[2], qr/^eno1\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t/, '10.0.0.0/24');
    like($route[3], qr/^ens5\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t/, 'the virtio NIC: 192.168.50.0/24');
    is(scalar @route, 4, 'eno2 (down) has none');
    my $v6 = rd('proc/net/ipv6_route');
    like($v6, qr/^fd000000000000000000000000000000 40 0{32} 00 0{32} 00000100 00000001 00000000 00000001     eno1$/m);
    like($v6, qr/^0{32} 00 0{32} 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eno1$/m);
    like($v6, qr/^0{31}1 80 .* lo$/m, 'loopback');
    my $if6 = rd('proc/net/if_inet6');
    like($if6, qr/^fd000000000000000000000000000005 [0-9a-f]{2} 40 00 80     eno1$/m, 'global address');
    like($if6, qr/^fe80000000000000ae1f6bfffe010203 [0-9a-f]{2} 40 20 80     eno1$/m, 'link-local scope 20');
    like($if6, qr/^0{31}1 01 80 10 80       lo$/m);
};

subtest 'block: nvme shape, partitions, holders, class links, mounts' => sub {
    my $disk = dev_path($ROOT) . '/nvme/nvme0/nvme0n1';
    is(rd("$disk/dev"), "259:0\n");
    is(rd("$disk/nvme0n1p2/dev"), "259:2\n");
    is(rd("$disk/nvme0n1p2/partition"), "2\n");
    ok(-d "$M/$disk/holders", 'holders/ exists');
    is(rl('sys/class/block/nvme0n1p1'), '../../devices/pci0000:00/0000:00:1d.0/0000:08:00.0/nvme/nvme0/nvme0n1/nvme0n1p1');
    ok(-e "$M/sys/block/nvme0n1", 'sys/block/nvme0n1');
    ok(-e "$M/sys/class/nvme/nvme0", 'sys/class/nvme/nvme0');
    my @held = map { s{.*/}{}r } glob("$M/" . dev_path($LVM) . '/nvme/nvme2/nvme2n1/holders/*');
    is_deeply(\@held, ['dm-0'], 'the LVM disk is held by dm-0');
    is(rd('sys/class/block/dm-0/dev'), "254:0\n", 'dm-0 exists under devices/virtual/block');
    like(rd('proc/self/mountinfo'), qr{^21 1 259:2 / / rw,relatime shared:21 - ext4 /dev/nvme0n1p2 rw$}m);
    like(rd('proc/self/mountinfo'), qr{ 259:1 / /boot/efi rw,relatime shared:\d+ - vfat /dev/nvme0n1p1 rw$}m);
    like(rd('proc/mounts'), qr{^/dev/nvme0n1p2 / ext4 rw,relatime 0 0$}m);
};

subtest 'nvidia: dev node and the process holding it' => sub {
    ok(-e "$M/dev/nvidia1", 'dev/nvidia1');
    is(rd('proc/4242/comm'), "nvidia-persiste\n");
    is(rl('proc/4242/fd/4'), '/dev/nvidia1', 'proc/4242/fd/4 -> /dev/nvidia1');
    is((stat "$M/proc/4242/fd")[2] & 07777, 0500, 'fd/ is owner-only, like /proc');
};

subtest 'hints go with the driver and come back with it' => sub {
    is(w(dev_path($MGMT) . '/driver/unbind', $MGMT), 'ok');
    ok(!-e "$M/" . dev_path($MGMT) . '/net', 'net/ gone');
    ok(!-e "$M/sys/class/net/eno1", 'class/net/eno1 gone');
    unlike(rd('proc/net/route'), qr/eno1/, 'no routes');
    unlike(rd('proc/net/if_inet6'), qr/eno1/, 'no addresses');
    is(w('sys/bus/pci/drivers_probe', $MGMT), 'ok');
    like(rd('proc/net/route'), qr/^eno1/m, 'back with igb');

    is(w(dev_path($GPU2) . '/driver/unbind', $GPU2), 'ok');
    ok(!-e "$M/dev/nvidia1", 'dev/nvidia1 gone');
    ok(!-e "$M/proc/4242", 'proc/4242 gone');

    is(ctl("unplug $ROOT"), 'ok');
    unlike(rd('proc/self/mountinfo'), qr/nvme0n1/, 'an unplugged disk is not mounted');
    like(rd('proc/self/mountinfo'), qr{^21 1 \S+ / / rw,relatime shared:21 - overlay overlay rw$}m,
        'root falls back to an overlay');
    ok(!-e "$M/sys/class/block/nvme0n1", 'class/block entry gone');
};

subtest 'hold with a pid shows the hypervisor in proc' => sub {
    my $PRE = '0000:05:00.0';   # on vfio-pci from boot, group 10
    is(ctl('hold 10 777 qemu-system-x86'), 'ok');
    is(rd('proc/777/comm'), "qemu-system-x86\n");
    is(rl('proc/777/fd/110'), '/dev/vfio/10');
    is(ctl('release 10'), 'ok');
    ok(!-e "$M/proc/777", 'gone with the release');
};

done_testing();
