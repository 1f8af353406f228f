# The VM is the host the other e2e tests assume: every device of
# build/e2e/devices.map sits at its address with its IDs and boot driver, the
# IOMMU is on with one group per slot (the two-function slot shares one),
# vfio-pci is loaded but owns nothing, and httpd runs as root + nobody.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use JSON::PP;
use VVE2E qw(devices guest_ok driver_of group_of require_vm);

require_vm();
my $devs = devices();

if (my $kver = $ENV{VV_E2E_KVER}) {
    chomp(my $running = guest_ok('uname -r'));
    is($running, $kver, "the guest runs the kernel build/e2e/run booted ($kver)");
}

for my $d (sort keys %$devs) {
    my $x = $devs->{$d};
    my $a = $x->{address};
    my $ids = guest_ok("cat /sys/bus/pci/devices/$a/vendor /sys/bus/pci/devices/$a/device");
    my ($v, $dv) = map { s/^0x//r } split /\s+/, $ids;
    is("$v:$dv", $x->{id}, "$d at $a has ID $x->{id}");
    is(driver_of($a), $x->{boot_driver}, "$d boots on driver '" . ($x->{boot_driver} || 'none') . "'");
    like(group_of($a), qr/^\d+$/, "$d is in an IOMMU group");
}

my %group = map { $_ => group_of($devs->{$_}{address}) } keys %$devs;
is($group{VNET0}, $group{VNET1}, 'the two functions of slot 05 share one IOMMU group');
my @others = grep { !/^VNET/ } sort keys %group;
my %seen;
$seen{ $group{$_} }++ for @others, 'VNET0';
is(scalar(grep { $_ > 1 } values %seen), 0, 'every other test device has a group of its own');

my $members = guest_ok("ls /sys/kernel/iommu_groups/$group{VNET0}/devices");
is_deeply([sort split /\s+/, $members], [sort map { $devs->{$_}{address} } qw(VNET0 VNET1)],
    'the shared group holds exactly the two functions');

ok(guest_ok('test -c /dev/vfio/vfio && echo yes') =~ /yes/, '/dev/vfio/vfio exists (vfio loaded)');
is(guest_ok('ls /sys/bus/pci/drivers/vfio-pci | grep -c "^0000:" || true') + 0, 0,
    'vfio-pci is loaded and owns no device');
is(guest_ok('ls /dev/vfio | grep -vc "^vfio\$" || true') + 0, 0, 'no /dev/vfio/N group node yet');

my $ps = guest_ok('ps -o user,comm | grep apache2 || true');
like($ps, qr/^\s*root\s+apache2/m, 'httpd parent runs as root');
like($ps, qr/^\s*nobody\s+apache2/m, 'httpd workers run as nobody');

# t/fidelity/e2e-vm.json is the simulator's copy of this VM: it must say
# what the guest's sysfs says, or fidelity runs compare different hosts.
subtest 't/fidelity/e2e-vm.json describes this VM' => sub {
    open my $fh, '<', 't/fidelity/e2e-vm.json' or plan skip_all => "no e2e-vm.json: $!";
    my $topo = JSON::PP->new->decode(do { local $/; <$fh> });
    my @listed = sort map { $_->{address} } @{ $topo->{devices} };
    is_deeply(\@listed, [sort split /\s+/, guest_ok('ls /sys/bus/pci/devices')],
        'it lists every PCI device of the VM');
    for my $d (@{ $topo->{devices} }) {
        my $a = $d->{address};
        my %sys = map { /^(\w+)=(?:0x)?(.*)$/ ? ($1 => $2) : () } split /\n/, guest_ok(join '; ',
            map { "echo $_=\$(cat /sys/bus/pci/devices/$a/$_)" }
            qw(vendor device subsystem_vendor subsystem_device class revision));
        is(join(' ', map { $d->{$_} // '' } qw(vendor device subsystem_vendor subsystem_device class)),
           join(' ', map { $sys{$_} } qw(vendor device subsystem_vendor subsystem_device class)),
           "$a: IDs and class");
        is($d->{revision} // '00', $sys{revision}, "$a: revision");
        is($d->{iommu_group}, group_of($a), "$a: IOMMU group");
        is($d->{driver} // '', driver_of($a), "$a: boot driver");
    }
};

done_testing();
