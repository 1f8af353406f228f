# GET /api/v1/vfio/host on a real kernel with an emulated Intel IOMMU reports
# what the guest's sysfs and /dev say: IOMMU on, its group count, vfio-pci
# loaded, the container node, no cdev interface (Debian's 6.1 and 6.12 are
# built without IOMMUFD), the kernel release.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api guest_ok require_module);

require_module();

my $r = api(GET => '/api/v1/vfio/host');
is($r->{status}, 200, 'GET /host answers 200');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON');
my $h = $r->{json} // {};

ok(JSON::PP::is_bool($h->{iommu_enabled}) && $h->{iommu_enabled}, 'iommu_enabled is true');
my $groups = guest_ok('ls /sys/kernel/iommu_groups | wc -l') + 0;
cmp_ok($groups, '>', 0, "the guest has $groups IOMMU groups");
is($h->{iommu_group_count}, $groups, 'iommu_group_count matches /sys/kernel/iommu_groups');
ok($h->{vfio_pci_available}, 'vfio_pci_available: vfio-pci is loaded');
ok($h->{vfio_container}, 'vfio_container: /dev/vfio/vfio exists');
ok(JSON::PP::is_bool($h->{cdev_supported}) && !$h->{cdev_supported},
    'cdev_supported is false on ' . ($ENV{VV_E2E_KERNEL} // 'this kernel') . ' (group interface only)');
chomp(my $release = guest_ok('uname -r'));
is($h->{kernel}, $release, "kernel is the guest's release ($release)");
ok(ref $h->{helper} eq 'HASH', 'helper is reported');
is(ref $h->{problems}, 'ARRAY', 'problems is an array');
ok(!grep({ /iommu|vt-d|amd-vi|vfio-pci/i } @{ $h->{problems} // [] }),
    'no IOMMU or vfio-pci problem is reported on a host that has both')
    or diag explain $h->{problems};

done_testing();
