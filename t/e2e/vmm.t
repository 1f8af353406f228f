# The hand-off: a real VMM (Debian's qemu-system-x86_64, inside the VM)
# drives the devices the API bound. build/e2e/guest/vv-vmm starts QEMU with
# edu and nvme passed through (vfio-pci) and plays their guest driver over
# QEMU's qtest protocol; it reports what it saw and this test compares it
# with what the test bed set up: edu's registers, a DMA of fresh random
# bytes through the IOMMU, an interrupt, a DMA the IOMMU must block (the
# guest kernel's fault report names the device); nvme enabled with its
# queues in the VMM's memory, Identify answered with the test bed's serial
# and disk size. While the VMM runs, the kernel refuses a second one and
# the API refuses to unbind, naming the VMM. The same VMM then runs as an
# unprivileged user (vmm, the VolantVfioGroupOwner of the VM's httpd):
# with the group nodes the API handed it and RLIMIT_MEMLOCK above its RAM
# it works; with the limit below its RAM, or with the nodes root's as the
# kernel makes them, it does not. Between VMs the API resets nvme (its
# reset_method is flr) and checks its health; edu has no reset method.
# After the VMM exits, unbind gives nvme its namespace back.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest guest_ok driver_of group_of wait_until
    boot_state_drift restore_boot_state require_module);

require_module();

my $devs = devices();
my ($edu, $nvme) = map { $devs->{$_}{address} } qw(EDU NVME);
my ($ge, $gn) = (group_of($edu), group_of($nvme));
my $kernel = $ENV{VV_E2E_KERNEL} // '?';
(my $edu_short = $edu) =~ s/^[0-9a-f]{4}://;

# What QEMU was told: nvme's serial (devices.map) and its disk's size.
my ($serial) = do {
    open my $fh, '<', $ENV{VV_E2E_DEVICES} or die "$ENV{VV_E2E_DEVICES}: $!\n";
    map { /serial=([^,\s]+)/ ? $1 : () } grep { /^NVME\s/ } <$fh>;
};
my $disk_bytes = $ENV{VV_E2E_DISK_BYTES} or die "VV_E2E_DISK_BYTES not set\n";

# PCI IDs as the VMM's config space holds them: device << 16 | vendor.
sub cfg_id {
    my ($v, $d) = split /:/, $devs->{ $_[0] }{id};
    return sprintf '0x%04x%04x', hex $d, hex $v;
}
sub facts { my %f = $_[0] =~ /^(\w+)=(.*)$/mg; \%f }
sub faults {
    my $out = guest_ok('dmesg');
    my @l = grep { /DMAR: .*Request device \[\Q$edu_short\E\] fault addr 0x8000000\b/ }
        split /\n/, $out;
    return scalar @l;
}
sub namespace {
    my $out = guest_ok("ls -d /sys/bus/pci/devices/$nvme/nvme/nvme*/nvme*n1 2>/dev/null || true");
    chomp $out;
    return $out =~ m{/(nvme\d+n1)$} ? $1 : '';
}

is(driver_of($nvme), 'nvme', 'nvme starts on its host driver');
ok(namespace(), 'with its namespace (' . namespace() . ')');
my $faults_before = faults();

my $r = api(POST => '/api/v1/vfio/devices/bind', { pci_addresses => [$edu, $nvme] });
is($r->{status}, 200, 'the API binds edu and nvme') or diag $r->{content};
my %owner = map { $_->{address} => $_->{owner} } @{ $r->{json}{devices} // [] };
is_deeply([@owner{$edu, $nvme}], ['vmm:vmm', 'vmm:vmm'],
    'and hands both groups to the VMM\'s user (VolantVfioGroupOwner vmm:vmm)');
is(guest_ok("stat -c '%U:%G %a' /dev/vfio/$ge /dev/vfio/$gn"), "vmm:vmm 660\nvmm:vmm 660\n",
    'the group nodes are vmm:vmm 0660 in the guest');

my $ready = '/run/e2e/hold/vmm.pid';

# Starts vv-vmm run in the background (as root, or as UID GID with a
# memlock limit in MiB) and waits until it has driven the devices; returns
# what it saw.
sub vmm_up {
    my @as = @_;
    guest_ok("mkdir -p /run/e2e/hold && rm -f $ready /run/e2e/vmm.out && "
        . "(setsid vv-vmm run $ready $edu $nvme @as </dev/null >/run/e2e/vmm.out 2>&1 &)");
    my $up = wait_until(120, sub {
        my (undef, $out) = guest("test -s $ready && echo up; cat /run/e2e/vmm.out");
        return $out =~ /^up$/m ? 'up' : $out =~ /^error=/m ? 'failed' : '';
    });
    my $f = facts(guest_ok('cat /run/e2e/vmm.out'));
    is($up, 'up', 'the VMM started on the bound devices and drove them'
        . (@as ? " as uid $as[0] with RLIMIT_MEMLOCK $as[2] MiB" : ' as root'))
        or diag guest_ok('cat /run/e2e/vmm.out /run/e2e/vmm-qemu.log');
    diag sprintf 'QEMU pid %s: answering after %s ms, checks done after %s ms',
        map { $_ // '?' } @$f{qw(qemu_pid start_ms checks_ms)};
    return $f;
}

sub vmm_down {
    my ($rc, $out, $err) = guest("kill \$(cat $ready)");
    is($rc, 0, 'the VMM is told to stop') or diag $err;
    ok(wait_until(30, sub { guest_ok('cat /run/e2e/vmm.out') =~ /^stopped=1$/m }),
        'and QEMU is gone');
}

# What the VMM saw of edu and nvme, against what the bed set up.
sub drove {
    my ($f, $how, $faults_before) = @_;
    subtest "edu through the VMM, $how ($kernel)" => sub {
        is($f->{edu_vendor_device}, cfg_id('EDU'), "the VMM's config space shows edu");
        is($f->{edu_id}, '0x010000ed', 'BAR0: the identification register');
        is(hex($f->{edu_live_read} // 0), ~hex($f->{edu_live_written} // 0) & 0xffffffff,
            "BAR0: the liveness register inverts what was written ($f->{edu_live_written})");
        is($f->{edu_factorial_10}, 3628800, 'BAR0: the device computes 10!');
        my $n = length($f->{dma_pattern} // '');
        is($n, 512, '256 random bytes were sent');
        unlike($f->{dma_pattern} // '', qr/^0*$/, 'not all zero');
        like($f->{dma_before} // '', qr/^0{544}$/, 'the destination in VMM memory was zero before');
        is(substr($f->{dma_after} // '', 0, 512), $f->{dma_pattern},
            'DMA into the device and back: the bytes landed in the VMM memory');
        is(substr($f->{dma_after} // '', 512), '0' x 32, 'exactly there: nothing after them');
        is($f->{irq_pci_raises_unprovoked}, 0, 'no PCI interrupt comes before the device is told to raise one');
        my $pin = $f->{irq_raised_pin} // -1;
        ok($pin >= 16 && $pin <= 23, "the interrupt the device raised reached the VMM's "
            . "IOAPIC on a PCI pin ($pin)") or diag "IRQ lines (pin:raised/lowered): $f->{irq_lines}";
        is($f->{irq_status}, '0x1', 'the device says it raised it');
        is($f->{irq_pci_raises_after_ack}, 0, 'acknowledged: it comes no more')
            or diag "IRQ lines (pin:raised/lowered): $f->{irq_lines}";
        is($f->{irq_down}, 1, 'and the line is down');
        is($f->{irq_status_after}, '0x0', 'and the status is clear');
        my $faults = wait_until(10, sub { faults() > $faults_before ? faults() : 0 });
        is($faults, $faults_before + 1, "a DMA to an address the VMM never mapped is blocked: "
            . "the kernel reports one fault at 0x8000000 from $edu_short");
    };
    subtest "nvme through the VMM, $how ($kernel)" => sub {
        is($f->{nvme_vendor_device}, cfg_id('NVME'), "the VMM's config space shows nvme");
        is($f->{nvme_vs}, '0x00010400', 'BAR0: the controller version (NVMe 1.4)');
        is($f->{nvme_ready}, 1, 'enabled with its admin queues in the VMM memory');
        is($f->{nvme_identify_ctrl_status}, 0, 'Identify Controller completes with success');
        is($f->{nvme_cid_1}, 1, 'in a completion entry for its command');
        (my $sn = $f->{nvme_serial} // '') =~ s/\s+$//;
        is($sn, $serial, "and its data, written by DMA, carries the serial the test bed gave ($serial)");
        is($f->{nvme_identify_ns_status}, 0, 'Identify Namespace completes with success');
        is(($f->{nvme_nsze} // 0) * 2**($f->{nvme_lbads} // 0), $disk_bytes,
            "namespace 1 is the test bed's disk: $f->{nvme_nsze} blocks of "
            . 2**($f->{nvme_lbads} // 0) . " bytes");
    };
}

my $f = vmm_up();
drove($f, 'as root', $faults_before);

subtest "while the VMM runs ($kernel)" => sub {
    my $qemu = $f->{qemu_pid} // 'none';
    my $second = facts(guest_ok("vv-vmm start $edu $nvme"));
    is($second->{started}, 0, 'a second VMM on the same devices does not start');
    like($second->{qemu_error} // '', qr{/dev/vfio/\d+: Device or resource busy},
        "the kernel refuses it the group: $second->{qemu_error}");
    my $u = api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [$edu] }, undef, 30);
    is($u->{status}, 500, 'unbind of edu is refused');
    like($u->{json}{message} // '', qr/\bpid \Q$qemu\E\b/, "naming the VMM's pid ($qemu)")
        or diag $u->{content};
    is(driver_of($edu), 'vfio-pci', 'edu stays on vfio-pci');
    is(guest_ok("stat -c '%U:%G %a' /dev/vfio/$ge"), "vmm:vmm 660\n",
        'and its group node stays the VMM user\'s');
    my $use = api(GET => '/api/v1/vfio/usage');
    my %by = map { $_->{address} => $_ } @{ $use->{json}{devices} // [] };
    for ([$edu, $ge], [$nvme, $gn]) {
        my ($a, $g) = @$_;
        is($by{$a}{held_by} // '', 'vm', "GET /usage: $a held by a VM");
        like($by{$a}{reason} // '', qr{\(/dev/vfio/$g\) is open by pid \Q$qemu\E\b}, 'the VMM');
    }
};
vmm_down();

# The same VMM as the user the API handed the groups to.
my ($uid, $gid) = (1000, 1000);
$faults_before = faults();
$f = vmm_up($uid, $gid, 64);
drove($f, 'as an unprivileged user', $faults_before);
vmm_down();
subtest "what an unprivileged VMM still needs ($kernel)" => sub {
    my $s = facts(guest_ok("vv-vmm start $edu $nvme $uid $gid 16"));
    is($s->{started}, 0, 'with RLIMIT_MEMLOCK (16 MiB) below its RAM (32 MiB), it does not start');
    like($s->{qemu_error} // '', qr/Cannot allocate memory/,
        "the kernel refuses to pin its RAM: $s->{qemu_error}");
    guest_ok("chown root:root /dev/vfio/$ge && chmod 600 /dev/vfio/$ge");
    $s = facts(guest_ok("vv-vmm start $edu $nvme $uid $gid 64"));
    is($s->{started}, 0, 'with the group node root\'s, as the kernel makes it, it does not start');
    like($s->{qemu_error} // '', qr{/dev/vfio/$ge: Permission denied},
        "it may not open the group: $s->{qemu_error}");
};

# Between VMs: the kernel's reset, then the health check.
subtest "reset between VMs ($kernel)" => sub {
    my $methods = guest_ok("cat /sys/bus/pci/devices/$nvme/reset_method");
    chomp $methods;
    my $r = api(POST => '/api/v1/vfio/devices/reset', { pci_addresses => [$nvme] });
    is($r->{status}, 200, "nvme (reset_method: $methods) is reset") or diag $r->{content};
    is($r->{json}{devices}[0]{outcome}, 'reset', 'and passes its health check');
    is(driver_of($nvme), 'vfio-pci', 'still on vfio-pci');
    $r = api(POST => '/api/v1/vfio/devices/reset', { pci_addresses => [$edu] });
    is($r->{status}, 409, 'edu, which has no reset method: 409');
    is($r->{json}{error}, "device $edu has no reset method (its reset_method is absent): it "
        . 'cannot be reset between VMs', 'saying so');
};

$r = api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [$edu, $nvme] });
is($r->{status}, 200, 'once the VMM has exited, unbind succeeds') or diag $r->{content};
is(driver_of($nvme), 'nvme', 'nvme is back on its host driver');
my $ns = wait_until(20, \&namespace);
ok($ns, "and its namespace is back ($ns)");
is(driver_of($edu), '', 'edu is driverless again');

my @drift = boot_state_drift();
ok(!@drift, 'the VM is back in its boot state') or diag join "\n", @drift;
if (@drift) {
    guest("[ -s $ready ] && kill \$(cat $ready); true");
    restore_boot_state();
}
done_testing();
