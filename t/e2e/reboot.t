# Bindings that survive reboots, proven with real reboots: the kernel boots
# again (a new QEMU process on the same state disk, build/e2e/run's reboot
# sequence), Debian's systemd-udevd coldplugs the devices, the module's udev
# rule runs its claim program, and httpd's helper takes back what a built-in
# driver took anyway.
#
#   boot 1  the bed itself (udev, the state disk); bind VMXNET3 (modular
#           vmxnet3) and NVME (built-in nvme) with "persist": true
#   boot 2  both on vfio-pci; VMXNET3's interface never appeared; NVME was
#           taken by nvme at boot and taken back at httpd start
#   boot 3  another device (virtio-net, maps/swap03.map) at VMXNET3's
#           address: left alone, its record marked hardware-changed
#   boot 4  vmxnet3 back at its address: claimed again; unbind both
#   boot 5  both on their own drivers, no records
#
# Runs only in build/e2e/run's reboot sequence (VVE2E::reboot_vm).
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use JSON::PP;
use VVE2E qw(api devices guest guest_ok driver_of wait_until require_module reboot_vm);

require_module();
plan skip_all => 'needs build/e2e/run\'s reboot sequence (VV_E2E_REBOOT_DIR)'
    unless $ENV{VV_E2E_REBOOT_DIR};

my $devs = devices();
my %a = map { $_ => $devs->{$_}{address} } keys %$devs;
my ($VMX, $NVME) = @a{qw(VMXNET3 NVME)};
my $STATE = '/var/lib/volant-vfio';
my $json = JSON::PP->new->canonical;

sub sysfs {
    my ($addr, $attr) = @_;
    my $v = guest_ok("cat /sys/bus/pci/devices/$addr/$attr");
    chomp $v;
    return $v =~ s/^0x//r;
}
sub ids_of { my ($addr) = @_; return { map { $_ => sysfs($addr, $_) } qw(vendor device subsystem_vendor subsystem_device) } }
sub override_of { sysfs($_[0], 'driver_override') }
sub boot_facts {
    my %f = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/,
        guest_ok('cat /run/e2e/boot.env 2>/dev/null; echo boot_id=$(cat /proc/sys/kernel/random/boot_id)');
    return \%f;
}
sub record_file {
    my ($addr) = @_;
    my ($rc, $out) = guest("cat $STATE/devices/$addr.json");
    return $rc ? undef : eval { $json->decode($out) };
}
sub records { my $r = api(GET => '/api/v1/vfio/records'); return ref $r->{json} eq 'ARRAY' ? $r->{json} : [] }
sub record_of { my ($addr) = @_; return (grep { ($_->{address} // '') eq $addr } @{ records() })[0] }
sub monitor_log { return guest_ok('cat /run/e2e/udev-monitor.log 2>/dev/null; true') }
sub dmesg { return guest_ok('dmesg') }
# Network interfaces of ADDR registered in this boot, as the udev monitor
# (started before the coldplug) and the kernel log saw them.
sub netdev_events { my ($addr) = @_; return grep { m{/\Q$addr\E/net/} } split /\n/, monitor_log() }
sub vmxnet3_probe_lines { my ($addr) = @_; return grep { /vmxnet3 \Q$addr\E/ } split /\n/, dmesg() }
sub nvme_block_events { return grep { m{/\Q$NVME\E/.*/block/} || m{ \(block\)$} && m{\Q$NVME\E} } split /\n/, monitor_log() }

# The block devices (namespaces) under the NVMe controller at NVME now.
sub nvme_namespaces { return grep { /^nvme\d+n\d+$/ } split /\s+/, guest_ok("ls /sys/bus/pci/devices/$NVME/nvme/*/ 2>/dev/null; true") }

my @boot_ids;
my $ids_vmx = ids_of($VMX);
my $ids_nvme = ids_of($NVME);

# ------------------------------------------------------------ boot 1
subtest 'boot 1: the bed (udev, state disk) and the persistent binds' => sub {
    is($ENV{VV_E2E_BOOT_N}, 1, 'first boot of the sequence');
    my $f = boot_facts();
    push @boot_ids, $f->{boot_id};
    is($f->{udev}, 1, 'the init coldplugged with udev');
    like(guest_ok('pidof systemd-udevd || true'), qr/^\d+/, 'systemd-udevd runs');
    like(guest_ok("grep ' $STATE ' /proc/mounts || true"), qr{^/dev/\S+ \Q$STATE\E ext4 rw}m,
        "the state disk is mounted read-write on $STATE");
    is(guest_ok("stat -c %a $STATE"), "700\n", 'the state directory is 0700');
    is(guest_ok("wc -l < $STATE/e2e-boots") + 0, 1, 'the state disk has seen one boot');
    is($f->{vmxnet3_after_udev}, 'loaded', 'udev loaded vmxnet3 (80-drivers.rules)');
    is(driver_of($VMX), 'vmxnet3', 'VMXNET3 on vmxnet3');
    is(driver_of($NVME), 'nvme', 'NVME on nvme');
    is(driver_of($a{MGMT}), 'virtio-pci', 'MGMT on virtio-pci');
    ok(scalar(netdev_events($VMX)), 'the udev monitor saw the vmxnet3 interface appear')
        or diag monitor_log();
    ok(guest_ok('test -f /usr/lib/udev/rules.d/60-volant-vfio.rules && echo yes || echo no') =~ /yes/,
        "the module's udev rule is installed");
    ok(guest_ok('test -x /usr/libexec/volant-vfio/volant-vfio-claim && echo yes || echo no') =~ /yes/,
        'the claim program is installed');
    is_deeply(records(), [], 'no records yet');

    for my $addr ($VMX, $NVME) {
        my $r = api(POST => '/api/v1/vfio/devices/bind',
            { pci_addresses => [$addr], persist => JSON::PP::true });
        is($r->{status}, 200, "bind $addr with persist answers 200") or diag $r->{content};
        is(driver_of($addr), 'vfio-pci', "$addr on vfio-pci");
        my $rec = record_file($addr);
        ok($rec, "$STATE/devices/$addr.json exists") or next;
        ok($rec->{persist} && JSON::PP::is_bool($rec->{persist}), 'the record says persist: true');
        is($rec->{phase}, 'bound', 'phase bound');
        my $ids = $addr eq $VMX ? $ids_vmx : $ids_nvme;
        is($rec->{$_}, $ids->{$_}, "the record's $_ is the device's ($ids->{$_})")
            for qw(vendor device subsystem_vendor subsystem_device);
    }
};

# ------------------------------------------------------------ boot 2
reboot_vm('default');
subtest 'boot 2: both claimed again at boot' => sub {
    is($ENV{VV_E2E_BOOT_N}, 2, 'second boot');
    my $f = boot_facts();
    isnt($f->{boot_id}, $boot_ids[-1], 'a new kernel boot (boot_id changed)');
    push @boot_ids, $f->{boot_id};
    is(guest_ok("wc -l < $STATE/e2e-boots") + 0, 2, 'the state disk kept the first boot\'s line');

    is(driver_of($VMX), 'vfio-pci', 'VMXNET3 is on vfio-pci');
    is(override_of($VMX), 'vfio-pci', 'its driver_override is vfio-pci');
    is($f->{vfio_pci_after_udev}, 'loaded', 'vfio-pci was loaded during the coldplug (the claim program)');
    is($f->{vmxnet3_after_udev}, 'loaded', 'vmxnet3 was loaded by udev all the same');
    my @net = netdev_events($VMX);
    is(scalar(@net), 0, 'no network interface of VMXNET3 appeared in this boot (udev monitor)')
        or diag join "\n", @net;
    my @probe = vmxnet3_probe_lines($VMX);
    is(scalar(@probe), 0, 'vmxnet3 never probed it (kernel log)') or diag join "\n", @probe;
    is(guest_ok("ls -l /sys/class/net | grep -c '/$VMX/' || true") + 0, 0, 'no interface of it now');

    is(driver_of($NVME), 'vfio-pci', 'NVME is on vfio-pci again (taken back at httpd start)');
    is(override_of($NVME), 'vfio-pci', 'its driver_override is vfio-pci');
    my @nvme_log = grep { /nvme nvme\d+: pci function \Q$NVME\E/ } split /\n/, dmesg();
    ok(scalar(@nvme_log), 'the built-in nvme took it at boot, before any rule ran (kernel log)');
    my @blk = nvme_block_events();
    diag "NVME block events this boot: " . (join(' | ', @blk) || 'none');
    ok(scalar(grep { /\bremove\b/ } @blk), 'its namespace went away when it was taken back (udev monitor)');
    is(scalar(nvme_namespaces()), 0, 'no namespace of it now');
    is(guest_ok("ls /sys/bus/pci/devices/$NVME/ | grep -c '^nvme' || true") + 0, 0, 'no nvme controller left under it');

    for my $addr ($VMX, $NVME) {
        my $rec = record_of($addr);
        ok($rec, "GET /records lists $addr") or next;
        is($rec->{phase}, 'bound', "$addr: phase bound");
    }
};

# ------------------------------------------------------------ boot 3
reboot_vm('swap03');
subtest 'boot 3: another device at VMXNET3\'s address is left alone' => sub {
    is($ENV{VV_E2E_BOOT_N}, 3, 'third boot');
    my $f = boot_facts();
    isnt($f->{boot_id}, $boot_ids[-1], 'a new kernel boot');
    push @boot_ids, $f->{boot_id};
    my $now = ids_of($VMX);
    is("$now->{vendor}:$now->{device}", '1af4:1000', "a virtio NIC sits at $VMX");
    is(driver_of($VMX), 'virtio-pci', 'it stays on its own driver, virtio-pci');
    is(override_of($VMX), '(null)', 'nothing was written to its driver_override');
    my $rec = record_of($VMX);
    ok($rec, "GET /records still lists $VMX") or diag explain records();
    if ($rec) {
        is($rec->{phase}, 'hardware-changed', 'its record is marked hardware-changed');
        is(join(' ', map { $rec->{$_} // '' } qw(vendor device subsystem_vendor subsystem_device)),
            "$ids_vmx->{vendor} $ids_vmx->{device} $ids_vmx->{subsystem_vendor} $ids_vmx->{subsystem_device}",
            'it keeps the IDs the binding was made for (vmxnet3\'s)');
        my %rest = %$rec;
        delete @rest{qw(vendor device subsystem_vendor subsystem_device)};
        my $text = $json->encode(\%rest);
        like($text, qr/\b\Q$now->{vendor}:$now->{device}\E\b/,
            "and names the IDs found now ($now->{vendor}:$now->{device})");
        like($text, qr/\b\Q$now->{subsystem_vendor}:$now->{subsystem_device}\E\b/,
            "with their subsystem IDs ($now->{subsystem_vendor}:$now->{subsystem_device})");
        diag "record: " . $json->encode($rec);
    }
    my $host = api(GET => '/api/v1/vfio/host');
    my @w = grep { $json->encode($_) =~ /\Q$VMX\E/ } @{ $host->{json}{warnings} // [] };
    ok(scalar(@w), "GET /host warns about $VMX") or diag $host->{content};
    is(driver_of($NVME), 'vfio-pci', 'NVME is on vfio-pci again');
};

# ------------------------------------------------------------ boot 4
reboot_vm('default');
subtest 'boot 4: vmxnet3 back at its address; unbind both' => sub {
    is($ENV{VV_E2E_BOOT_N}, 4, 'fourth boot');
    my $f = boot_facts();
    push @boot_ids, $f->{boot_id};
    is(ids_of($VMX)->{vendor}, '15ad', 'vmxnet3 is back at its address');
    is(driver_of($VMX), 'vfio-pci', 'its IDs match the record again: claimed at boot');
    is(driver_of($NVME), 'vfio-pci', 'NVME on vfio-pci');
    diag "record of $VMX now: " . $json->encode(record_of($VMX) // {});
    for my $addr ($VMX, $NVME) {
        my $r = api(POST => '/api/v1/vfio/devices/unbind', { pci_addresses => [$addr] });
        is($r->{status}, 200, "unbind $addr answers 200") or diag $r->{content};
    }
    is(driver_of($VMX), 'vmxnet3', 'VMXNET3 back on vmxnet3');
    is(driver_of($NVME), 'nvme', 'NVME back on nvme');
    ok(wait_until(10, sub { nvme_namespaces() }), 'with its namespace');
    is_deeply(records(), [], 'no records left');
    is(guest_ok("ls $STATE/devices | grep -c json || true") + 0, 0, "nothing left in $STATE/devices");
};

# ------------------------------------------------------------ boot 5
reboot_vm('default');
subtest 'boot 5: unbound devices stay on their own drivers' => sub {
    is($ENV{VV_E2E_BOOT_N}, 5, 'fifth boot');
    my $f = boot_facts();
    push @boot_ids, $f->{boot_id};
    is(driver_of($VMX), 'vmxnet3', 'VMXNET3 on vmxnet3');
    is(override_of($VMX), '(null)', 'no driver_override on it');
    ok(scalar(netdev_events($VMX)), 'its interface appeared in this boot');
    is(driver_of($NVME), 'nvme', 'NVME on nvme');
    is(override_of($NVME), '(null)', 'no driver_override on it');
    ok(nvme_namespaces(), 'with its namespace');
    is_deeply(records(), [], 'GET /records is empty');
    is(guest_ok("wc -l < $STATE/e2e-boots") + 0, 5, 'the state disk has seen five boots');
    my %uniq = map { $_ => 1 } grep { defined } @boot_ids;
    is(scalar(keys %uniq), 5, 'five different boot_ids: five kernel boots');
};

done_testing();
