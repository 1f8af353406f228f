# POST /api/v1/vfio/devices/info returns, for every test device of the VM,
# exactly what the guest's sysfs says (IDs, driver, IOMMU group, NUMA node,
# class, subsystem IDs) with names from pci.ids, and the readiness fields
# (reset methods, PCIe link, ROM, SR-IOV); a missing device is 404 and
# a short address 400 with Volant's text.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest_ok sysfs_info pci_ids_name require_module);

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
        # Readiness: the kernel's own files, read in the guest.
        my $d = "/sys/bus/pci/devices/$addr";
        my $k = guest_ok(join '; ',
            "echo reset=\$(cat $d/reset_method 2>/dev/null)",
            (map { "echo $_=\$(cat $d/$_ 2>/dev/null)" }
                 qw(current_link_speed current_link_width max_link_speed max_link_width)),
            "test -e $d/rom && echo rom=1 || echo rom=0",
            "echo totalvfs=\$(cat $d/sriov_totalvfs 2>/dev/null)");
        my %k = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $k;
        is_deeply($got->{reset_method}, [split ' ', $k{reset}],
            "reset_method is the kernel's '$k{reset}'");
        # QEMU's root-bus devices show "Unknown" x0 (max x255): no link.
        my $trained = $k{current_link_speed} =~ /^[\d.]+ GT\/s/ && $k{max_link_speed} =~ /^[\d.]+ GT\/s/
            && $k{current_link_width} =~ /^\d+$/ && $k{current_link_width} >= 1 && $k{current_link_width} <= 32
            && $k{max_link_width} =~ /^\d+$/ && $k{max_link_width} >= 1 && $k{max_link_width} <= 32;
        if ($trained) {
            is_deeply($got->{link}, { speed => $k{current_link_speed},
                width => $k{current_link_width} + 0, max_speed => $k{max_link_speed},
                max_width => $k{max_link_width} + 0 },
                "link is the kernel's $k{current_link_speed} x$k{current_link_width}");
        }
        else {
            is($got->{link}, undef, "no trained link ('$k{current_link_speed}' x$k{current_link_width}): null");
        }
        is($got->{has_rom} ? 1 : 0, $k{rom}, 'has_rom as the rom attribute says');
        is($got->{sriov}, undef, 'no SR-IOV') if $k{totalvfs} eq '';
        ok(JSON::PP::is_bool($got->{group_viable}), 'group_viable is a boolean');
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
