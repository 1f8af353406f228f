# The host's own devices are never taken: each way the host can be using a
# device refuses the bind with a message naming it, before a single sysfs
# write, and the device stays on its driver. A check that cannot be made
# refuses too. Each free twin (alike, but idle) binds and unbinds.
#
# Interface state comes over rtnetlink from the namespace t/run-apache-test
# made and VVSim::sim_load mirrors (build/sysfs-sim/netns-mirror); a case
# whose links this kernel cannot make (bond, team, vlan, ipvlan on a minimal
# kernel, Open vSwitch always) is skipped, saying which.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok skip);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

# [topology, address, reason, what, links the case needs => their kind]
my @refused = (
    ['mixed-host', '0000:03:00.0', 'network interface eno1 is up and carries 10.0.0.5/24',
     'the management NIC'],
    ['mixed-host', '0000:00:07.0', 'network interface ens5 is up and carries 192.168.50.2/24',
     'a virtio NIC, its interface below virtio0/'],
    ['mixed-host', '0000:08:00.0', 'block device nvme0n1p1 is mounted on /boot/efi',
     'the NVMe holding the root filesystem (on partitions)'],
    ['mixed-host', '0000:0a:00.0', 'block device nvme2n1 is held by dm-0 (LVM, md or device-mapper)',
     'an NVMe under LVM'],
    ['mixed-host', '0000:07:00.0', 'it is the boot VGA device (the host console runs on it)',
     'the boot VGA device'],
    ['mixed-host', '0000:02:00.0', '/dev/nvidia1 is open by pid 4242 (nvidia-persiste)',
     'a GPU a host process holds open'],
    ['mixed-host', '0000:0b:00.0', 'it is an SR-IOV physical function with 2 virtual functions, '
     . 'which unbinding its driver would destroy', 'a PF with live VFs'],

    ['inuse-host', '0000:00:02.0', 'network interface ens2 is a port of bridge vmbr0, '
     . 'which carries 10.0.0.5/24', 'a bridge port', {vmbr0 => 'bridge'}],
    ['inuse-host', '0000:00:03.0', 'network interface ens3 is a slave of bond bond0, '
     . 'which is a port of bridge vmbr1, which carries 10.3.0.5/24',
     'a bond slave, the bond in a bridge', {bond0 => 'bond', vmbr1 => 'bridge'}],
    ['inuse-host', '0000:00:04.0', 'network interface ens4 is the parent of vlan ens4.10, '
     . 'which carries 10.4.0.5/24', 'a VLAN parent', {'ens4.10' => 'vlan'}],
    ['inuse-host', '0000:00:05.0', 'network interface ens5 is the parent of macvlan mv0, '
     . 'which carries 10.5.0.5/24', 'a macvlan parent', {mv0 => 'macvlan'}],
    ['inuse-host', '0000:00:06.0', 'network interface ens6 is up and carries 10.6.0.5/24',
     'an address without prefix route, routes in table 100'],
    ['inuse-host', '0000:00:07.0', 'network interface ens7 is up and carries a route to '
     . '10.1.0.0/16 in table 100', 'a route in table 100 only'],
    ['inuse-host', '0000:00:08.0', 'network interface ens8 is up and carries a default route '
     . 'in table 200', 'a default route in table 200 only'],
    ['inuse-host', '0000:00:09.0', 'network interface ens9 is up and carries fd00:9::5/64',
     'an IPv6 address only'],
    ['inuse-host', '0000:00:0a.0', 'network interface ens10 is a port of Open vSwitch datapath '
     . 'ovs-system, which has the internal port br-ex, which carries 10.10.0.5/24',
     'an Open vSwitch port', {'ovs-system' => 'openvswitch', 'br-ex' => 'openvswitch'}],
    ['inuse-host', '0000:00:0f.0', 'network interface ens15 is a port of team team0, '
     . 'which carries 10.15.0.5/24', 'a team port', {team0 => 'team'}],
    ['inuse-host', '0000:00:10.0', 'network interface ens16 is the parent of ipvlan iv0, '
     . 'which carries 10.16.0.5/24', 'an ipvlan parent', {iv0 => 'ipvlan'}],
    ['inuse-host', '0000:00:11.0', 'block device nvme0n1 is mounted on /srv',
     'btrfs (mountinfo shows 0:NN, the source names the disk)'],
    ['inuse-host', '0000:00:12.0', 'block device nvme1n1 is in use as swap', 'swap on the disk'],
    ['inuse-host', '0000:00:17.0', 'block device nvme6n1p1 is in use as swap',
     'swap on a partition'],
    ['inuse-host', '0000:00:13.0', 'block device nvme2n1 is held by dm-1 (LVM, md or '
     . 'device-mapper)', 'a device-mapper holder'],
    ['inuse-host', '0000:00:14.0', 'block device nvme3n1 is open by pid 5151 (qemu-system-x86)',
     'a process holding the raw disk'],
    ['inuse-host', '0000:00:15.0', 'block device nvme4n1 is claimed by the kernel (an exclusive '
     . 'open is refused)', 'a claimed disk with nothing else to show'],
    ['inuse-host', '0000:00:18.0', '/dev/dri/renderD128 is open by pid 77 (Xorg)',
     'a GPU whose render node a process holds'],
    ['inuse-host', '0000:00:1a.0', 'the framebuffer console runs on it (fb0)',
     'the framebuffer console'],
    ['inuse-host', '0000:00:1b.0', '/dev/uio0 is open by pid 88 (dpdk-testpmd)',
     'a uio device held open'],
    ['inuse-host', '0000:00:1c.0', 'its resource0 is mapped by pid 99 (spdk_tgt)',
     'a BAR mapped by a user-space driver'],
);

# [topology, address, what, setup]
my @free = (
    ['mixed-host', '0000:04:00.0', 'an idle NIC (interface down)'],
    ['mixed-host', '0000:09:00.0', 'an unmounted NVMe'],
    ['inuse-host', '0000:00:0c.0', 'an up NIC with a link-local address only'],
    ['inuse-host', '0000:00:0d.0', 'a port of a bridge that carries nothing'],
    ['inuse-host', '0000:00:0e.0', 'the parent of a macvlan that is down'],
    ['inuse-host', '0000:00:16.0', 'a partitioned NVMe with nothing on it'],
    ['inuse-host', '0000:00:19.0', 'a GPU nobody has open'],
    ['inuse-host', '0000:00:1d.0', 'a uio device nobody uses'],
    ['inuse-host', '0000:00:1a.0', 'the framebuffer once fbcon is unbound',
     sub { sim_write('sys/class/vtconsole/vtcon1/bind', "0\n") }],
);

plan tests => 4 * @refused + 4 + 4 * @free;

sub sim_write {
    my ($path, $data) = @_;
    open my $fh, '>', mount() . "/$path" or die "$path: $!";
    syswrite($fh, $data) // die "$path: $!";
    close $fh;
}

# Refusals write nothing: the host is loaded again only when something
# changed (a case that bound by mistake must not spoil the next).
my $loaded = '';
sub fresh {
    my ($topo) = @_;
    my @left = records();
    return if $loaded eq $topo && sim_log() eq '' && !@left;
    sim_load($topo);
    $loaded = $topo;
}

Apache::TestRequest::module('vv_bind_companions');
for my $c (@refused) {
    my ($topo, $addr, $why, $what, $needs) = @$c;
    fresh($topo);
    my @missing = grep { (netns_kind($_) // '') ne $needs->{$_} } sort keys %{$needs || {}};
    if (@missing) {
        my $reason = join ', ', map { "$_ ($needs->{$_})" } @missing;
        skip("$what: this kernel cannot make $reason in the namespace", 0) for 1 .. 4;
        next;
    }
    my $before = driver_of($addr);
    my ($code, $b) = bind($addr);
    ok t_cmp($code, 500, "$what: refused");
    ok t_cmp($b->{message}, "device $addr is in use by host: $why", "$what: the reason");
    ok t_cmp(driver_of($addr), $before, "$what: still on its driver");
    ok t_cmp(sim_log(), '', "$what: no sysfs write");
}

# An interface sysfs shows but the helper's namespace lacks: no answer, so
# no bind.
{
    my $addr = '0000:00:0b.0';
    fresh('inuse-host');
    ok t_cmp(netns_kind('ens11'), undef, 'ens11 is not in the namespace');
    my ($code, $b) = bind($addr);
    ok t_cmp($code, 500, 'an interface missing from the namespace: refused');
    ok t_cmp($b->{message}, "cannot tell whether device $addr is in use: network interface "
             . "ens11 is in sysfs but not in the helper's network namespace", 'and says why');
    ok t_cmp([driver_of($addr), sim_log()], ['igb', ''], 'still on igb, no sysfs write');
}

# The free twins.
for my $c (@free) {
    my ($topo, $addr, $what, $setup) = @$c;
    sim_load($topo);
    $loaded = '';
    if ($setup) {
        $setup->();
        sim('log clear');
    }
    my $before = driver_of($addr);
    my ($code, $b) = bind($addr);
    ok t_cmp($code, 200, "$what: binds") or print "# $b->{message}\n";
    ok t_cmp(driver_of($addr), 'vfio-pci', "$what: on vfio-pci");
    ($code, $b) = unbind($addr);
    ok t_cmp($code, 200, "$what: unbinds") or print "# $b->{message}\n";
    ok t_cmp(driver_of($addr), $before, "$what: back on $before");
}
