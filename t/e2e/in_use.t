# The in-use guard on a real kernel: a device the host uses is refused by
# POST /bind with 500 and the guard's reason, and is left as it was (on its
# driver, driver_override untouched); once the use ends, the same device binds
# to vfio-pci and comes back. One scenario per kind of use: the vmxnet3 port
# as a bridge port, a bond slave, a VLAN parent, with an address and a route
# only in table 100, with its BAR mapped by a process; the NVMe namespace
# under a device-mapper table, open by a process, mounted (btrfs), as swap.
#
# Each scenario also checks the kernel facts the guard's reason rests on
# (KERNEL.md "Host use of a device"): where the address sits, what /proc and
# sysfs show, and what an exclusive open of the disk answers; those hold
# whatever the module does. Every scenario ends the use whatever happened
# (vv-inuse reset) and checks that nothing of it is left, so the next one
# starts from the boot state. The management NIC is never touched.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest guest_ok driver_of boot_state_drift restore_boot_state
    require_module);

require_module();

my $devs = devices();
my ($V, $N, $M) = map { $devs->{$_}{address} } qw(VMXNET3 NVME MGMT);
my %boot = map { $_->{address} => $_->{boot_driver} } values %$devs;
my $kernel = $ENV{VV_E2E_KERNEL} // 'this kernel';

sub bind_api   { api(POST => '/api/v1/vfio/devices/bind',   { pci_addresses => [@_] }, undef, 30) }
sub unbind_api { api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [@_] }, undef, 30) }
sub override_of { guest_ok("cat /sys/bus/pci/devices/$_[0]/driver_override") }
sub netif { my $x = guest_ok('vv-inuse netif'); chomp $x; $x }
sub disk  { my $x = guest_ok('vv-inuse disk');  chomp $x; $x }
# What open(O_RDONLY|O_EXCL) of /dev/DISK answers: "ok" or the errno name
# (the same with O_NONBLOCK, as the guard opens it, must agree).
sub excl {
    my %r = guest_ok("vv-use excl /dev/$_[0]") =~ /^(\w+)=(\S+)$/mg;
    return $r{excl} eq $r{excl_nonblock} ? $r{excl} : "$r{excl} (O_NONBLOCK: $r{excl_nonblock})";
}

# The bind of ADDR is refused with REASON, and ADDR is left as it was.
sub refused {
    my ($addr, $reason, $what) = @_;
    refused_with($addr, "device $addr is in use by host: $reason", $what);
}

# The guard could not tell, and said why: refused all the same.
sub cannot_tell {
    my ($addr, $why, $what) = @_;
    refused_with($addr, "cannot tell whether device $addr is in use: $why", $what);
}

sub refused_with {
    my ($addr, $message, $what) = @_;
    my $use = guest_ok('vv-inuse state');
    my $r = bind_api($addr);
    is($r->{status}, 500, "$what: bind answers 500") or diag $r->{content};
    ok(defined $r->{json} && !$r->{json}{success}, "$what: success is false");
    is($r->{json}{message}, $message, "$what: the message gives the reason");
    is(driver_of($addr), $boot{$addr}, "$what: $addr stays on $boot{$addr}");
    is(override_of($addr), "(null)\n", "$what: its driver_override is untouched");
    is(guest_ok('vv-inuse state'), $use, "$what: the use is as it was");
    # A guard that let it through: put the device back at once, so that the
    # use can be ended and the next scenario starts clean.
    unbind_api($addr) if $r->{status} == 200;
}

# Once the use has ended: ADDR binds, is on vfio-pci, unbinds, is back.
sub cycle {
    my ($addr) = @_;
    my $r = bind_api($addr);
    is($r->{status}, 200, "once the use ended, bind of $addr answers 200") or diag $r->{content};
    is(driver_of($addr), 'vfio-pci', "$addr is on vfio-pci");
    $r = unbind_api($addr);
    is($r->{status}, 200, "unbind of $addr answers 200") or diag $r->{content};
    is(driver_of($addr), $boot{$addr}, "$addr is back on $boot{$addr}");
}

# scenario(NAME, ADDR, CODE): CODE sets up a use of ADDR and checks the
# refusal; then, whatever CODE did or died of, the use is ended, nothing of
# it may be left, and ADDR goes through a bind/unbind cycle.
sub scenario {
    my ($name, $addr, $code) = @_;
    subtest "$name ($kernel)" => sub {
        my $ok = eval { $code->(); 1 };
        ok($ok, 'the scenario ran to its end') or diag $@;
        my ($rc, undef, $err) = guest('vv-inuse reset');
        is($rc, 0, 'the use is ended') or diag $err;
        my $left = guest_ok('vv-inuse state');
        is($left, '', 'nothing of it is left') or diag $left;
        cycle($addr) if $ok && $left eq '';
        my $back = $addr eq $V ? eval { netif() } : eval { disk() };
        ok($back, $addr eq $V ? "the interface is back ($back)" : "the namespace is back ($back)")
            or diag $@;
        my @drift = boot_state_drift();
        ok(!@drift, 'the VM is back in its boot state') or diag join "\n", @drift;
        if (@drift) {
            restore_boot_state();
            guest('vv-inuse reset');
        }
    };
}

# ---------------------------------------------------------------- network

scenario 'vmxnet3 as a port of a bridge that carries an address', $V, sub {
    my $if = netif();
    guest_ok("modprobe bridge && ip2 link add e2ebr0 type bridge && ip2 link set $if master e2ebr0 && "
        . "ip2 addr add 192.0.2.1/24 dev e2ebr0 && ip2 link set e2ebr0 up && ip2 link set $if up");
    is(guest_ok("basename \$(readlink /sys/class/net/$if/master)"), "e2ebr0\n", "$if is a port of e2ebr0");
    is(guest_ok("ip2 -4 -o addr show dev $if"), '', 'the port itself has no IPv4 address');
    refused($V, "network interface $if is a port of bridge e2ebr0, which carries 192.0.2.1/24", 'bridge');
};

scenario 'vmxnet3 as a slave of a bond that carries an address', $V, sub {
    my $if = netif();
    # max_bonds=0: otherwise loading the module creates a bond0 of its own.
    guest_ok("modprobe bonding max_bonds=0 && ip2 link add e2ebond0 type bond && "
        . "ip2 link set $if down && ip2 link set $if master e2ebond0 && "
        . "ip2 addr add 198.51.100.1/24 dev e2ebond0 && ip2 link set e2ebond0 up");
    is(guest_ok("basename \$(readlink /sys/class/net/$if/master)"), "e2ebond0\n", "$if is a slave of e2ebond0");
    is(guest_ok("ls /sys/class/net | grep -c '^bond[0-9]' || true"), "0\n", 'loading bonding made no bond of its own');
    refused($V, "network interface $if is a slave of bond e2ebond0, which carries 198.51.100.1/24", 'bond');
};

scenario 'vmxnet3 under a VLAN that carries an address', $V, sub {
    my $if = netif();
    guest_ok("modprobe 8021q && ip2 link add link $if name e2evlan10 type vlan id 10 && "
        . "ip2 addr add 203.0.113.1/24 dev e2evlan10 && ip2 link set $if up && ip2 link set e2evlan10 up");
    ok(guest_ok("test -e /sys/class/net/$if/upper_e2evlan10 && echo yes") =~ /yes/,
        "$if has upper_e2evlan10 in sysfs");
    refused($V, "network interface $if is the parent of vlan e2evlan10, which carries 203.0.113.1/24", 'vlan');
};

# What a hostile user, a container runtime or SR-IOV CNI does: an upper, or
# the interface itself, in another network namespace, invisible from the
# helper's.  The guard looks into every namespace a process, a descriptor
# or a mount keeps, and refuses when the device has an interface in one it
# cannot find.
scenario 'vmxnet3 under a macvlan moved into a process\'s network namespace', $V, sub {
    my $if = netif();
    my ($pid) = guest_ok('vv-inuse hold nsproc netns-hide -') =~ /^pid=(\d+)$/m;
    ok($pid, "a process ($pid) in a network namespace of its own");
    guest_ok("modprobe macvlan && ip2 link add e2emv0 link $if type macvlan && "
        . "ip2 link set e2emv0 netns $pid && "
        . "nsenter -n -t $pid /e2e/bin/ip2 addr add 198.18.0.1/24 dev e2emv0 && "
        . "nsenter -n -t $pid /e2e/bin/ip2 link set e2emv0 up && ip2 link set $if up");
    is(guest_ok("ls /sys/class/net/$if | grep '^upper_' || true"), '',
        "$if shows no upper from the helper's namespace");
    refused($V, "network interface $if is the parent of macvlan e2emv0 in the network "
        . "namespace of pid $pid (vv-use), which carries 198.18.0.1/24", 'macvlan in another namespace');
};

scenario 'vmxnet3 under a VLAN moved into a namespace kept by a mount (ip netns add)', $V, sub {
    my $if = netif();
    guest_ok("modprobe 8021q && ip2 netns add e2eblue && ip2 link set $if up && "
        . "ip2 link add link $if name e2evlan20 type vlan id 20 && ip2 link set e2evlan20 netns e2eblue && "
        . "ip2 -n e2eblue addr add 198.18.1.1/24 dev e2evlan20 && ip2 -n e2eblue link set e2evlan20 up");
    refused($V, "network interface $if is the parent of vlan e2evlan20 in the network namespace "
        . "mounted on /run/netns/e2eblue, which carries 198.18.1.1/24", 'VLAN in another namespace');
};

scenario 'vmxnet3\'s own interface moved into another network namespace', $V, sub {
    my $if = netif();
    guest_ok("ip2 netns add e2eblue && ip2 link set $if netns e2eblue && "
        . "ip2 -n e2eblue addr add 198.18.2.1/24 dev $if && ip2 -n e2eblue link set $if up");
    is(guest_ok("test -d /sys/bus/pci/devices/$V/net && ls /sys/bus/pci/devices/$V/net"), '',
        "the device's net directory stays, empty from the helper's namespace");
    refused($V, "network interface $if (in the network namespace mounted on /run/netns/e2eblue) "
        . "is up and carries 198.18.2.1/24", 'the interface in another namespace');
};

scenario 'vmxnet3\'s interface in a namespace nothing visible holds', $V, sub {
    my $if = netif();
    my ($pid) = guest_ok('vv-inuse hold hidden netns-hide -') =~ /^pid=(\d+)$/m;
    guest_ok("ip2 link set $if netns $pid && "
        . "nsenter -n -t $pid /e2e/bin/ip2 addr add 198.18.3.1/24 dev $if && "
        . "nsenter -n -t $pid /e2e/bin/ip2 link set $if up && kill -USR1 $pid && "
        . "i=0; while [ \$(readlink /proc/$pid/ns/net) != \$(readlink /proc/1/ns/net) ] && "
        . "[ \$i -lt 100 ]; do usleep 20000; i=\$((i + 1)); done");
    is(guest_ok("readlink /proc/$pid/ns/net"), guest_ok('readlink /proc/1/ns/net'),
        'the process is back in the first namespace: only its socket keeps the other');
    cannot_tell($V, 'it has a network interface in a network namespace that no process, '
        . 'descriptor or mount the helper can see holds', 'an interface nobody visible holds');
};

scenario 'vmxnet3 with a route and an address only in table 100 (policy routing)', $V, sub {
    my $if = netif();
    guest_ok("ip2 link set $if up && ip2 route add 198.51.100.0/24 dev $if table 100");
    is(guest_ok("awk '\$1 == \"$if\"' /proc/net/route"), '',
        '/proc/net/route (main table only) shows no route of it');
    refused($V, "network interface $if is up and carries a route to 198.51.100.0/24 in table 100",
        'route in table 100');

    guest_ok("ip2 addr add 192.0.2.10/24 dev $if noprefixroute && ip2 rule add from 192.0.2.10 table 100");
    like(guest_ok("ip2 -4 -o addr show dev $if"), qr{ inet 192\.0\.2\.10/24 .*noprefixroute}, 'the address is there, noprefixroute');
    is(guest_ok("ip2 route show table main dev $if"), '', 'and the main table has no route through it');
    refused($V, "network interface $if is up and carries 192.0.2.10/24", 'address without a prefix route');
};

scenario 'vmxnet3 with a BAR mapped by a process', $V, sub {
    my $out = guest_ok("vv-inuse hold bar map /sys/bus/pci/devices/$V");
    my ($pid) = $out =~ /^pid=(\d+)$/m;
    my ($res) = $out =~ /^resource=(resource\d)$/m;
    ok($pid && $res, "a process ($pid) maps ${V}'s $res") or diag $out;
    # While vmxnet3 holds its register BARs, a kernel built with
    # IO_STRICT_DEVMEM (Debian's) refuses to map them: only the MSI-X BAR is free.
    like($out, qr/^refused=resource0 EINVAL$/m, 'resource0, claimed by vmxnet3, cannot be mapped (IO_STRICT_DEVMEM)');
    like(guest_ok("grep -c 'devices/pci0000:00/$V/$res\$' /proc/$pid/maps"), qr/^[1-9]/,
        "/proc/$pid/maps shows /sys/devices/pci0000:00/$V/$res");
    refused($V, "its $res is mapped by pid $pid (vv-use)", 'mapped BAR');
};

# ---------------------------------------------------------------- block

scenario 'NVMe under a device-mapper table', $N, sub {
    my $d = disk();
    is(excl($d), 'ok', "nothing uses $d: an exclusive open succeeds");
    guest_ok("modprobe dm_mod && DM_DISABLE_UDEV=1 dmsetup create e2elin "
        . "--table \"0 \$(cat /sys/class/block/$d/size) linear /dev/$d 0\"");
    my $holder = guest_ok("ls /sys/class/block/$d/holders");
    chomp $holder;
    like($holder, qr/^dm-\d+$/, "$d is held by $holder");
    is(excl($d), 'EBUSY', 'an exclusive open is refused (EBUSY) while a dm table holds it');
    refused($N, "block device $d is held by $holder (LVM, md or device-mapper)", 'device-mapper');
};

scenario 'NVMe open by a process', $N, sub {
    my $d = disk();
    my $out = guest_ok("vv-inuse hold disk open /dev/$d");
    my ($pid) = $out =~ /^pid=(\d+)$/m;
    ok($pid, "a process ($pid) has /dev/$d open") or diag $out;
    is(excl($d), 'ok', 'an ordinary open does not stop an exclusive one');
    refused($N, "block device $d is open by pid $pid (vv-use)", 'open by a process');
};

scenario 'NVMe with btrfs mounted', $N, sub {
    my $d = disk();
    guest_ok("modprobe btrfs && mkfs.btrfs -f -K /dev/$d > /dev/null && mkdir -p /mnt/e2e && "
        . "mount -t btrfs /dev/$d /mnt/e2e");
    my $mi = guest_ok("grep ' /mnt/e2e ' /proc/self/mountinfo");
    my ($num, $src) = $mi =~ /^\d+ \d+ (\d+:\d+) .* - btrfs (\S+) /;
    my $disk_num = guest_ok("cat /sys/class/block/$d/dev");
    chomp $disk_num;
    like($num // '', qr/^0:\d+$/, "mountinfo gives btrfs an anonymous device number ($num)");
    isnt($num, $disk_num, "not the disk's own $disk_num");
    is($src, "/dev/$d", 'its source field names the disk');
    is(guest_ok("ls /sys/class/block/$d/holders"), '', 'btrfs leaves holders/ empty');
    is(excl($d), 'EBUSY', 'an exclusive open is refused (EBUSY) while btrfs is mounted');
    refused($N, "block device $d is mounted on /mnt/e2e", 'btrfs');
};

# A hostile user's ways of hiding that a process uses the disk.
scenario 'NVMe open by a thread whose leader exited', $N, sub {
    my $d = disk();
    my ($pid) = guest_ok("vv-inuse hold thread thread-open /dev/$d") =~ /^pid=(\d+)$/m;
    like(guest_ok("cat /proc/$pid/stat"), qr/^\d+ \(vv-use\) Z /, "the leader of $pid is a zombie");
    is(guest_ok("ls /proc/$pid/fd | wc -l"), "0\n", 'and its descriptor table is gone');
    refused($N, "block device $d is open by pid $pid (vv-use)", 'leader exited');
};

scenario 'NVMe open by a thread with a descriptor table of its own', $N, sub {
    my $d = disk();
    my ($pid) = guest_ok("vv-inuse hold private private-open /dev/$d") =~ /^pid=(\d+)$/m;
    is(guest_ok("ls -l /proc/$pid/fd | grep -c $d || true"), "0\n", "$pid\'s own table does not have it");
    refused($N, "block device $d is open by pid $pid (vv-use)", 'thread-private table');
};

scenario 'NVMe mapped, its descriptor closed', $N, sub {
    my $d = disk();
    my ($pid) = guest_ok("vv-inuse hold mapped map-node /dev/$d") =~ /^pid=(\d+)$/m;
    is(guest_ok("ls -l /proc/$pid/fd | grep -c $d || true"), "0\n", 'no descriptor of it');
    like(guest_ok("grep -c ' /dev/$d\$' /proc/$pid/maps"), qr/^[1-9]/, "/proc/$pid/maps maps /dev/$d");
    is(excl($d), 'ok', 'a mapping claims nothing: an exclusive open succeeds');
    refused($N, "block device $d is mapped by pid $pid (vv-use)", 'mapped only');
};

scenario 'NVMe behind a loop device', $N, sub {
    my $d = disk();
    guest_ok("modprobe loop && losetup /dev/loop0 /dev/$d");
    is(guest_ok("ls /sys/class/block/$d/holders"), '', 'a loop device leaves holders/ empty');
    like(guest_ok('cat /sys/block/loop0/loop/backing_file'), qr{^/dev/$d$}, "loop0 reads /dev/$d");
    refused($N, "block device $d is the backing device of loop device loop0", 'loop device');
};

scenario 'NVMe exported by the NVMe-oF target', $N, sub {
    my $d = disk();
    my $nq = '/sys/kernel/config/nvmet/subsystems/nqn.2026-12.org.e2e:blue';
    guest_ok("modprobe nvmet && { grep -q ' /sys/kernel/config ' /proc/mounts || "
        . "mount -t configfs none /sys/kernel/config; } && mkdir $nq $nq/namespaces/1 && "
        . "echo -n /dev/$d > $nq/namespaces/1/device_path && echo 1 > $nq/namespaces/1/enable");
    is(guest_ok("ls /sys/class/block/$d/holders"), '', 'the target leaves holders/ empty');
    is(excl($d), 'ok', 'and claims nothing: an exclusive open succeeds');
    refused($N, "block device $d is exported by the NVMe-oF target (subsystem "
        . "nqn.2026-12.org.e2e:blue, namespace 1)", 'NVMe-oF target');
};

# Last of the disk's: swap on a disk that was taken cannot be turned off
# until reboot, so a guard that lets it through spoils only this scenario.
scenario 'NVMe as swap', $N, sub {
    my $d = disk();
    guest_ok("mkswap /dev/$d > /dev/null && swapon /dev/$d");
    like(guest_ok('cat /proc/swaps'), qr{^/dev/$d\s}m, "/proc/swaps lists /dev/$d");
    is(guest_ok("ls /sys/class/block/$d/holders"), '', 'swap leaves holders/ empty');
    is(excl($d), 'EBUSY', 'an exclusive open is refused (EBUSY) while swap is on');
    refused($N, "block device $d is in use as swap", 'swap');
};

subtest 'the management NIC was never touched' => sub {
    is(driver_of($M), 'virtio-pci', "$M is on virtio-pci");
    my $if = guest_ok("ls /sys/bus/pci/devices/$M/virtio*/net");
    chomp $if;
    like(guest_ok("ip2 -4 -o addr show dev $if"), qr{ inet 10\.0\.2\.15/24 }, "$if keeps 10.0.2.15/24");
    like(guest_ok('ip2 route show default'), qr/^default via 10\.0\.2\.2 dev \Q$if\E/m, 'and the default route');
};

done_testing();
