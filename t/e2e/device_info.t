# POST /api/v1/vfio/devices/info returns, for every test device of the VM,
# exactly what the guest's sysfs says (IDs, driver, IOMMU group, NUMA node,
# class, subsystem IDs) with names from pci.ids; a missing device is 404 and
# a short address 400 with Volant's text.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices sysfs_info pci_ids_name require_module);

require_module();
my $devs = devices();

for my $n (sort keys %$devs) {
    my $addr = $devs->{$n}{address};
    subtest "$n ($addr)" => sub {
        my $r = api(POST => '/api/v1/vfio/devices/info', { pci_address => $addr });
        is($r->{status}, 200, 'answers 200') or diag $r->{content};
        my $got = $r->{json} // {};
        my $sys = sysfs_info($addr);
        is($got->{address}, $addr, 'address');
        is($got->{$_}, $sys->{$_}, "$_ is sysfs's '$sys->{$_}'")
            for qw(vendor device driver iommu_group numa_node class
                   subsystem_vendor subsystem_device);
        is($got->{vendor_name}, pci_ids_name($sys->{vendor}), 'vendor_name from pci.ids');
        is($got->{device_name}, pci_ids_name($sys->{vendor}, $sys->{device}),
            'device_name from pci.ids');
        ok(defined $got->{class_name}, 'class_name is named');
    };
}

my $upper = uc $devs->{NVME}{address};
my $r = api(POST => '/api/v1/vfio/devices/info', { pci_address => $upper });
is($r->{json}{address}, $devs->{NVME}{address}, 'an upper-case address is answered in lower case');

$r = api(POST => '/api/v1/vfio/devices/info', { pci_address => '0000:00:1e.0' });
is($r->{status}, 404, 'a device absent from the VM is 404');
is_deeply($r->{json}, { error => 'PCI device not found: 0000:00:1e.0' }, 'with the Volant text');

$r = api(POST => '/api/v1/vfio/devices/info', { pci_address => '00:04.0' });
is($r->{status}, 400, 'the short form is 400');
is($r->{json}{error},
    'invalid PCI address format: 00:04.0 (expected format: 0000:01:00.0)', 'with the Volant text');

done_testing();
