# What is stacked on a device's interface shows in sysfs as on a real
# kernel: a port has master and upper_M links (a bridge port brport/, a bond
# slave bonding_slave/), its master lower_N; a vlan or macvlan is a virtual
# interface (devices/virtual/net/U, class/net/U) linked upper_U / lower_L
# with its lower. Masters (virtual_net) live for the host; a port leaves its
# master, and an upper goes, with the device's driver.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use File::Basename qw(basename);
use File::Temp qw(tempdir);
use Test::More;

sim_start('inuse-host');
my $net = 'sys/class/net';

sub entries {
    my ($dir) = @_;
    opendir my $dh, "$M/$dir" or return ();
    return sort grep { !/^\./ } readdir $dh;
}

subtest 'virtual interfaces' => sub {
    for my $v (qw(vmbr0 vmbr1 vmbr2 bond0 team0 ovs-system br-ex)) {
        is(rl("$net/$v"), "../../devices/virtual/net/$v", "class/net/$v");
        ok(-d "$M/sys/devices/virtual/net/$v", "devices/virtual/net/$v");
    }
    is(rd("$net/vmbr0/operstate"), "up\n");
    is(rd("$net/vmbr0/flags"), "0x1003\n", 'up, broadcast, multicast');
    is(rd("$net/ovs-system/operstate"), "down\n", 'the OVS datapath is down');
    is(rd("$net/vmbr0/ifindex"), rd("$net/vmbr0/iflink"), 'iflink: itself');
    like(rd("$net/vmbr0/address"), qr/^52:54:00:00:00:[0-9a-f]{2}\n$/, 'a MAC from its ifindex');
    ok(-d "$M/$net/vmbr0/bridge" && -d "$M/$net/vmbr0/brif", 'a bridge has bridge/ and brif/');
    is(rd("$net/vmbr0/bridge/stp_state"), "0\n");
    is(rd("$net/bond0/bonding/mode"), "active-backup 1\n", 'a bond has bonding/');
    is(rd("$net/bond0/flags"), "0x1403\n", 'IFF_MASTER on a bond');
};

subtest 'a bridge port' => sub {
    is(rl("$net/ens2/master"), '../../../../virtual/net/vmbr0', 'master');
    is(rl("$net/ens2/upper_vmbr0"), '../../../../virtual/net/vmbr0', 'upper_vmbr0');
    is(abs_path("$M/$net/ens2/master"), abs_path("$M/$net/vmbr0"), 'resolves');
    is(rl("$net/vmbr0/lower_ens2"), '../../../pci0000:00/0000:00:02.0/net/ens2', 'lower_ens2');
    is(abs_path("$M/$net/vmbr0/lower_ens2"), abs_path("$M/$net/ens2"), 'resolves');
    is_deeply([entries("$net/ens2/brport")], [qw(bridge path_cost port_no priority state)], 'brport/');
    is(abs_path("$M/$net/ens2/brport/bridge"), abs_path("$M/$net/vmbr0"), 'brport/bridge');
    is(rd("$net/ens2/brport/state"), "3\n", 'forwarding');
    is(rd("$net/ens2/brport/port_no"), "0x1\n");
    is_deeply([entries("$net/vmbr0/brif")], ['ens2'], 'brif/ lists the port');
    is(abs_path("$M/$net/vmbr0/brif/ens2"), abs_path("$M/$net/ens2/brport"), 'brif/ens2 is its brport');
    ok(!-e "$M/$net/ens2/bonding_slave", 'no bonding_slave/');
    ok(!-e "$M/$net/ens12/master", 'a free NIC has no master');
};

subtest 'a bond slave, the bond in a bridge' => sub {
    is(basename(rl("$net/ens3/master")), 'bond0');
    ok(-d "$M/$net/ens3/bonding_slave", 'bonding_slave/');
    is(rd("$net/ens3/bonding_slave/state"), "active\n", 'the first slave is active');
    is(rd("$net/ens3/bonding_slave/mii_status"), "up\n");
    is(rd("$net/ens3/flags"), "0x1803\n", 'IFF_SLAVE');
    is(rd("$net/bond0/bonding/slaves"), "ens3\n");
    ok(!-e "$M/$net/ens3/brport", 'no brport/');
    is(basename(rl("$net/bond0/master")), 'vmbr1', 'bond0 is a port of vmbr1');
    is(rl("$net/bond0/master"), '../vmbr1', 'a relative link between virtual interfaces');
    ok(-d "$M/$net/bond0/brport", 'with brport/');
    is(rl("$net/vmbr1/lower_bond0"), '../bond0');
    is(basename(rl("$net/br-ex/master")), 'ovs-system', 'an OVS internal port');
    is(basename(rl("$net/ens10/master")), 'ovs-system', 'an OVS port');
    ok(!-e "$M/$net/ens10/brport" && !-e "$M/$net/ens10/bonding_slave", 'links only');
    is(basename(rl("$net/ens15/master")), 'team0', 'a team port');
};

subtest 'uppers' => sub {
    is(rl("$net/ens4.10"), '../../devices/virtual/net/ens4.10', 'a vlan is virtual');
    is(rl("$net/ens4/upper_ens4.10"), '../../../../virtual/net/ens4.10', 'upper_ens4.10 on the lower');
    is(rl("$net/ens4.10/lower_ens4"), '../../../pci0000:00/0000:00:04.0/net/ens4', 'lower_ens4 on the vlan');
    ok(!-e "$M/$net/ens4/master" && !-e "$M/$net/ens4.10/master", 'an upper is no master');
    is(rd("$net/ens4.10/iflink"), rd("$net/ens4/ifindex"), 'iflink: its lower');
    is(rd("$net/ens4/iflink"), rd("$net/ens4/ifindex"));
    is(basename(rl("$net/ens5/upper_mv0")), 'mv0', 'a macvlan');
    is(rd("$net/mv1/operstate"), "down\n", 'down as the hint says');
    ok(-e "$M/$net/iv0/lower_ens16", 'an ipvlan');
};

subtest 'ifindexes: the devices\' own, then virtual_net, then uppers' => sub {
    is(rd("$net/ens2/ifindex"), "2\n");
    is(rd("$net/ens16/ifindex"), "16\n");
    is(rd("$net/vmbr0/ifindex"), "17\n");
    is(rd("$net/vmbr2/ifindex"), "23\n");
    is(rd("$net/ens4.10/ifindex"), "24\n");
    is(rd("$net/iv0/ifindex"), "27\n");
};

subtest 'proc/net: the main table only in route, every table in ipv6_route' => sub {
    my $route = rd('proc/net/route');
    like($route, qr/^vmbr0\t00000000\t0100000A\t0003\t/m, 'a virtual interface\'s default route');
    unlike($route, qr/^ens[678]\t/m, 'routes in tables 100 and 200 are not there');
    like(rd('proc/net/ipv6_route'), qr/^fd000099000000000000000000000000 40 .* ens9$/m,
         'an IPv6 route in table 100 is');
    like(rd('proc/net/if_inet6'), qr/^fd000009000000000000000000000005 09 40 00 80 +ens9$/m);
};

subtest 'ports and uppers follow the driver' => sub {
    is(w(dev_path('0000:00:02.0') . '/driver/unbind', '0000:00:02.0'), 'ok', 'unbind igb from ens2');
    ok(!-e "$M/$net/ens2", 'ens2 gone');
    ok(!-e "$M/$net/vmbr0/lower_ens2", 'vmbr0 lost lower_ens2');
    is_deeply([entries("$net/vmbr0/brif")], [], 'and its brif/ entry');
    ok(-d "$M/$net/vmbr0", 'the bridge stays');
    is(w(dev_path('0000:00:03.0') . '/driver/unbind', '0000:00:03.0'), 'ok');
    is(rd("$net/bond0/bonding/slaves"), "\n", 'bond0 has no slave left');
    is(w(dev_path('0000:00:04.0') . '/driver/unbind', '0000:00:04.0'), 'ok');
    ok(!-e "$M/$net/ens4.10", 'the vlan goes with its lower');
    ok(!-e "$M/sys/devices/virtual/net/ens4.10", 'its directory too');
    for my $a (qw(0000:00:02.0 0000:00:03.0 0000:00:04.0)) {
        is(w('sys/bus/pci/drivers_probe', $a), 'ok', "$a back to igb");
    }
    is(abs_path("$M/$net/vmbr0/lower_ens2"), abs_path("$M/$net/ens2"), 'the port is back in its bridge');
    ok(-e "$M/$net/vmbr0/brif/ens2", 'brif/ens2 back');
    is(rd("$net/bond0/bonding/slaves"), "ens3\n", 'the slave is back');
    is(rl("$net/ens4/upper_ens4.10"), '../../../../virtual/net/ens4.10', 'the vlan is back');
    is(ctl('unplug 0000:00:05.0'), 'ok', 'unplug the macvlan parent');
    ok(!-e "$M/$net/mv0" && !-e "$M/$net/ens5", 'both gone');
};

subtest '--static has the same links' => sub {
    my $tree = tempdir(CLEANUP => 1) . '/tree';
    is(system($SIM, '--static', $tree, '--topology', topo('inuse-host')), 0, '--static');
    is(readlink("$tree/sys/class/net/ens2/master"), '../../../../virtual/net/vmbr0');
    is(readlink("$tree/sys/devices/virtual/net/vmbr0/brif/ens2"),
        '../../../../pci0000:00/0000:00:02.0/net/ens2/brport');
    is(readlink("$tree/sys/class/net/ens4.10/lower_ens4"), '../../../pci0000:00/0000:00:04.0/net/ens4');
};

done_testing();
