# POST /api/v1/vfio/devices/iommu-groups lists whole groups as the VM's
# kernel formed them: the two-function slot's group has both functions even
# when one is asked for, groups come in order of first appearance, and each
# member's driver is the one sysfs shows.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices group_of driver_of guest_ok require_module);

require_module();
my $devs = devices();
my %a = map { $_ => $devs->{$_}{address} } keys %$devs;

my $r = api(POST => '/api/v1/vfio/devices/iommu-groups', { pci_addresses => [$a{VNET0}] });
is($r->{status}, 200, 'answers 200');
my $g = $r->{json}[0] // {};
is(scalar @{ $r->{json} // [] }, 1, 'one group');
is($g->{id}, group_of($a{VNET0}), "it is the kernel's group of $a{VNET0}");
is_deeply($g->{devices}, [sort @a{qw(VNET0 VNET1)}],
    'it lists both functions of the slot though one was asked for');
my @sysfs = sort split /\s+/, guest_ok("ls /sys/kernel/iommu_groups/$g->{id}/devices");
is_deeply($g->{devices}, \@sysfs, 'exactly the members in /sys/kernel/iommu_groups/N/devices');
is_deeply([map { $_->{driver} } @{ $g->{members} // [] }],
    [map { driver_of($_) } @{ $g->{devices} }], 'members carry their sysfs drivers');
ok(defined $g->{viable} && !$g->{viable}, 'not viable while its members are on virtio-pci');

$r = api(POST => '/api/v1/vfio/devices/iommu-groups',
    { pci_addresses => [@a{qw(NVME VNET1 EDU VNET0 NVME)}] });
is_deeply([map { $_->{id} } @{ $r->{json} // [] }],
    [map { group_of($_) } @a{qw(NVME VNET1 EDU)}],
    'distinct groups in order of first appearance');
my ($edu) = grep { $_->{id} eq group_of($a{EDU}) } @{ $r->{json} // [] };
ok($edu->{viable}, 'a group whose only member has no driver is viable');
is_deeply($edu->{devices}, [$a{EDU}], 'a single-device group lists just it');

$r = api(POST => '/api/v1/vfio/devices/iommu-groups', { pci_addresses => ['0000:00:1e.0'] });
is($r->{status}, 404, 'an absent device is 404');

done_testing();
