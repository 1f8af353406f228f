# GET /api/v1/vfio/devices lists every PCI device of the VM (the same set as
# /sys/bus/pci/devices) with the driver each is on, and its filters select by
# vendor, class and driver.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest_ok sysfs_info require_module);

require_module();
my $devs = devices();

my $r = api(GET => '/api/v1/vfio/devices');
is($r->{status}, 200, 'GET /devices answers 200');
my $list = $r->{json} // [];
my $arr = ref $list eq 'ARRAY' ? $list : $list->{devices};
my %by = map { $_->{address} => $_ } @{ $arr // [] };
my @sys = sort split /\s+/, guest_ok('ls /sys/bus/pci/devices');
is_deeply([sort keys %by], \@sys, 'one entry per device in /sys/bus/pci/devices');

for my $n (sort keys %$devs) {
    my $a = $devs->{$n}{address};
    my $sys = sysfs_info($a);
    is($by{$a}{driver}, $sys->{driver}, "$n is listed on driver '$sys->{driver}'");
    ok(defined $by{$a}{is_bridge} && !$by{$a}{is_bridge}, "$n is not a bridge");
}

sub addrs { my $x = shift; $x = $x->{devices} if ref $x eq 'HASH'; [sort map { $_->{address} } @{ $x // [] }] }
my %want = (
    'vendor=1af4'       => [sort map { $devs->{$_}{address} } qw(MGMT VNET0 VNET1)],
    'driver=nvme'       => [$devs->{NVME}{address}],
    'class=0108'        => [$devs->{NVME}{address}],
    'vendor=15ad&class=0200' => [$devs->{VMXNET3}{address}],
);
for my $q (sort keys %want) {
    my $f = api(GET => "/api/v1/vfio/devices?$q");
    is($f->{status}, 200, "?$q answers 200");
    is_deeply(addrs($f->{json}), $want{$q}, "?$q selects exactly the matching devices");
}

my $none = api(GET => '/api/v1/vfio/devices?driver=vfio-pci');
is_deeply(addrs($none->{json}), [], '?driver=vfio-pci is empty while nothing is bound');

done_testing();
