# POST /api/v1/vfio/devices/bind and /unbind move real devices on a real
# kernel and put them back: a modular host driver (vmxnet3), a built-in one
# (nvme), a device with no driver (edu), a two-function IOMMU group. The
# group a bind produces is one a hypervisor can use (vv-vfio attaches it to
# a VFIO container); the strict group policy, the in-use check on the
# management NIC and the refusal to unbind a group held open are checked
# against what the guest's sysfs shows afterwards.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest guest_ok driver_of group_of wait_until
    hold_start hold_stop boot_state_drift restore_boot_state require_module);

require_module();

my $devs = devices();
my %a = map { $_ => $devs->{$_}{address} } keys %$devs;

sub api_bind   { api(POST => '/api/v1/vfio/devices/bind',   { pci_addresses => [@_] }) }
sub api_unbind { api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [@_] }) }
sub group_node_exists { guest_ok("test -c /dev/vfio/$_[0] && echo yes || echo no") =~ /yes/ }

# Bind ADDRS, check the answer and the guest, check the group is usable by a
# hypervisor, unbind, check every device is back on WANT_BACK{addr}.
sub cycle {
    my ($label, $want_back, @addrs) = @_;
    my $group = group_of($addrs[0]);
    my %before = map { $_ => driver_of($_) } @addrs;

    my $r = api_bind(@addrs);
    is($r->{status}, 200, "$label: bind answers 200") or diag $r->{content};
    ok($r->{json}{success}, "$label: success is true");
    is($r->{json}{message}, 'Devices successfully bound to vfio-pci driver', "$label: Volant's message");
    is_deeply([sort @{ $r->{json}{bound_devices} // [] }], [sort @addrs], "$label: bound_devices");
    is(driver_of($_), 'vfio-pci', "$label: sysfs shows $_ on vfio-pci") for @addrs;
    for my $d (@{ $r->{json}{devices} // [] }) {
        is($d->{previous_driver}, $before{ $d->{address} } // '',
            "$label: previous_driver of $d->{address} is what it had");
        is($d->{group_path}, "/dev/vfio/$group", "$label: group_path of $d->{address}");
    }
    ok(group_node_exists($group), "$label: /dev/vfio/$group exists");
    is(guest_ok("cat /sys/bus/pci/devices/$_/driver_override"), "vfio-pci\n",
        "$label: the override of $_ stays vfio-pci while assigned") for @addrs;

    my $gp = api(POST => '/api/v1/vfio/devices/group-paths', { pci_addresses => [@addrs] });
    is($gp->{status}, 200, "$label: group-paths answers 200");
    is_deeply($gp->{json}{group_paths}, ["/dev/vfio/$group"], "$label: group-paths names the node");
    for my $d (@{ $gp->{json}{devices} // [] }) {
        is($d->{group_path}, "/dev/vfio/$group", "$label: group-paths devices[$d->{address}].group_path");
        ok(exists $d->{cdev_path} && !defined $d->{cdev_path}, "$label: no cdev_path (no IOMMUFD in Debian's kernels)");
        is($d->{sysfs_path}, "/sys/bus/pci/devices/$d->{address}", "$label: sysfs_path");
    }
    my ($rc, $out) = guest("vv-vfio attach /dev/vfio/$group $addrs[0]");
    is($rc, 0, "$label: a hypervisor can attach the group to a VFIO container") or diag $out;
    like($out, qr/^viable=1$/m, "$label: the group is viable");
    like($out, qr/^device_fd=1$/m, "$label: and get a device fd for $addrs[0]");

    $r = api_unbind(@addrs);
    is($r->{status}, 200, "$label: unbind answers 200") or diag $r->{content};
    ok($r->{json}{success}, "$label: unbind success is true");
    is($r->{json}{message}, 'Devices successfully unbound from vfio-pci driver', "$label: Volant's message");
    is_deeply([sort @{ $r->{json}{unbound_devices} // [] }], [sort @addrs], "$label: unbound_devices");
    for my $x (@addrs) {
        is(driver_of($x), $want_back->{$x}, "$label: $x is back on '" . ($want_back->{$x} || 'no driver') . "'");
        is(guest_ok("cat /sys/bus/pci/devices/$x/driver_override"), "(null)\n",
            "$label: the override of $x is cleared");
    }
    ok(!group_node_exists($group), "$label: /dev/vfio/$group is gone");
}

sub after_each {
    my @drift = boot_state_drift();
    ok(!@drift, 'the VM is back in its boot state') or diag join "\n", @drift;
    restore_boot_state() if @drift;
}

subtest 'vmxnet3: bound, then its module driver restored' => sub {
    cycle('vmxnet3', { $a{VMXNET3} => 'vmxnet3' }, $a{VMXNET3});
    ok(wait_until(5, sub { guest_ok("ls /sys/bus/pci/devices/$a{VMXNET3}/net 2>/dev/null") =~ /\S/ }),
        'vmxnet3 has its network interface again');
    after_each();
};

subtest 'nvme: bound, then its built-in driver restored' => sub {
    cycle('nvme', { $a{NVME} => 'nvme' }, $a{NVME});
    ok(wait_until(10, sub { guest_ok("ls /sys/bus/pci/devices/$a{NVME}/nvme 2>/dev/null") =~ /\S/ }),
        'the nvme controller comes back');
    after_each();
};

subtest 'edu: bound, then left without a driver as it was' => sub {
    cycle('edu', { $a{EDU} => '' }, $a{EDU});
    after_each();
};

subtest 'two-function slot: strict policy refuses half a group' => sub {
    my $r = api_bind($a{VNET0});
    is($r->{status}, 403, 'binding one function of the group is refused as a policy refusal (403)');
    ok(!$r->{json}{success}, 'success is false');
    like($r->{json}{message} // '', qr/\Q$a{VNET1}\E/, 'the refusal names the missing member');
    is(driver_of($_), 'virtio-pci', "$_ was not touched") for @a{qw(VNET0 VNET1)};
    ok(!group_node_exists(group_of($a{VNET0})), 'no group node appeared');
    after_each();
};

subtest 'two-function slot: the whole group binds and comes back' => sub {
    cycle('slot 05', { $a{VNET0} => 'virtio-pci', $a{VNET1} => 'virtio-pci' }, @a{qw(VNET0 VNET1)});
    after_each();
};

subtest 'unbind while a hypervisor holds the group: refused at once' => sub {
    my $group = group_of($a{EDU});
    is(api_bind($a{EDU})->{status}, 200, 'edu bound');
    my $pid = hold_start('edu', "/dev/vfio/$group", 'attach');
    like($pid, qr/^\d+$/, "a holder process ($pid) has the group in a container");
    # GET /usage sees it from the guest's real procfs, and the host's NIC.
    my $u = api(GET => '/api/v1/vfio/usage');
    is($u->{status}, 200, 'GET /usage answers 200') or diag $u->{content};
    my %use = map { $_->{address} => $_ } @{ $u->{json}{devices} // [] };
    is_deeply([@{ $use{$a{EDU}} // {} }{qw(held_by reason)}],
        ['vm', "its IOMMU group $group (/dev/vfio/$group) is open by pid $pid (vv-vfio)"],
        'usage: edu held by the VM, naming the holder');
    is($use{$a{MGMT}}{held_by} // '', 'host', 'usage: the management NIC is the host\'s');
    like($use{$a{MGMT}}{reason} // '', qr/^network interface \S+ is up and carries /,
        'with the reason a bind would give');
    is($use{$a{VMXNET3}}{held_by} // '', 'nobody', 'usage: the idle vmxnet3 is nobody\'s');
    my $r = api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [$a{EDU}] }, undef, 30);
    isnt($r->{status}, 599, 'the request does not hang');
    cmp_ok($r->{seconds}, '<', 5, sprintf('it is answered at once (%.2f s)', $r->{seconds}));
    is($r->{status}, 500, 'with 500');
    ok(!$r->{json}{success}, 'success is false');
    like($r->{json}{message} // '', qr/in use/, 'the message says the group is in use');
    is(driver_of($a{EDU}), 'vfio-pci', 'the device stays on vfio-pci');
    ok(group_node_exists($group), 'the group node stays');
    my ($rc) = hold_stop('edu');
    is($rc, 0, 'the holder ends when told');
    $r = api_unbind($a{EDU});
    is($r->{status}, 200, 'once released, unbind succeeds') or diag $r->{content};
    is(driver_of($a{EDU}), '', 'and edu is driverless again');
    after_each();
};

subtest 'devices bound by someone else count as bound' => sub {
    guest_ok("echo vfio-pci > /sys/bus/pci/devices/$a{EDU}/driver_override && "
        . "echo $a{EDU} > /sys/bus/pci/drivers/vfio-pci/bind");
    my $r = api_bind($a{EDU});
    is($r->{status}, 200, 'bind of a device already on vfio-pci answers 200');
    is_deeply($r->{json}{bound_devices}, [$a{EDU}], 'and lists it as bound');
    $r = api_unbind($a{EDU});
    is($r->{status}, 200, 'unbind without a record answers 200') or diag $r->{content};
    is(driver_of($a{EDU}), '', 'a device with no default driver is left without one');
    after_each();
};

subtest 'refusals on devices not on vfio-pci' => sub {
    my $r = api_unbind($a{VMXNET3});
    is($r->{status}, 500, 'unbind of a device on its host driver is 500');
    is($r->{json}{message}, "device $a{VMXNET3} not bound to vfio-pci", "with Volant's text");
    is(driver_of($a{VMXNET3}), 'vmxnet3', 'and nothing moved');
    $r = api(POST => '/api/v1/vfio/devices/group-paths', { pci_addresses => [$a{VMXNET3}] });
    is($r->{status}, 409, 'group-paths of a device not on vfio-pci is 409');
    is($r->{json}{error}, "device $a{VMXNET3} is not bound to vfio-pci (current driver: vmxnet3)",
        'naming its driver');
    after_each();
};

subtest 'the privileged helper does the writes' => sub {
    my $h = api(GET => '/api/v1/vfio/host')->{json}{helper} // {};
    ok($h->{running}, 'the helper is running');
    my $pid = $h->{pid} // 0;
    like(guest_ok("ps -o pid,user | awk '\$1 == $pid {print \$2}'"), qr/^root$/m,
        "helper pid $pid is a root process in the guest");
    like(guest_ok("ps -o user,comm | grep apache2 | grep -v '^ *root' || true"),
        qr/^\s*nobody\s+apache2/m, 'while the workers that answered run as nobody');
};

# Last: if the module takes the NIC that carries this very traffic, the
# guest's vv-guard puts it back so the run can report it and end cleanly.
subtest 'management NIC: refused, in use by host' => sub {
    guest_ok('vv-guard start 40');
    my $r = api(POST => '/api/v1/vfio/devices/bind', { pci_addresses => [$a{MGMT}] }, undef, 20);
    my $guard = eval { guest_ok('vv-guard stop') } // 'control channel lost';
    is($r->{status}, 500, 'binding the NIC that carries the host route is refused (500, in use)');
    ok(!$r->{json}{success}, 'success is false');
    like($r->{json}{message} // '', qr/^device \Q$a{MGMT}\E is in use by host/,
        'message: device ... is in use by host');
    like($guard, qr/^restored 0$/m, 'the NIC never left virtio-pci (vv-guard had nothing to undo)');
    is(driver_of($a{MGMT}), 'virtio-pci', 'the NIC is on virtio-pci');
    is(api(GET => '/api/v1/vfio/host')->{status}, 200, 'and the API still answers through it');
    after_each();
};

done_testing();
