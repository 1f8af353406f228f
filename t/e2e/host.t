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

my $iommu_on = ($ENV{VV_E2E_BOOT} // '') ne 'iommu-off';
my $groups = guest_ok('ls /sys/kernel/iommu_groups | wc -l') + 0;
if ($iommu_on) {
    ok(JSON::PP::is_bool($h->{iommu_enabled}) && $h->{iommu_enabled}, 'iommu_enabled is true');
    cmp_ok($groups, '>', 0, "the guest has $groups IOMMU groups");
}
is($h->{iommu_group_count}, $groups, 'iommu_group_count matches /sys/kernel/iommu_groups');
ok($h->{vfio_pci_available}, 'vfio_pci_available: vfio-pci is loaded');
ok($h->{vfio_container}, 'vfio_container: /dev/vfio/vfio exists');
ok(JSON::PP::is_bool($h->{cdev_supported}) && !$h->{cdev_supported},
    'cdev_supported is false on ' . ($ENV{VV_E2E_KERNEL} // 'this kernel') . ' (group interface only)');
chomp(my $release = guest_ok('uname -r'));
is($h->{kernel}, $release, "kernel is the guest's release ($release)");
ok(ref $h->{helper} eq 'HASH', 'helper is reported');
# The helper is root's and answers: GET /healthz says ok.
my $hz = api(GET => '/healthz');
is_deeply([$hz->{status}, $hz->{json}], [200, { status => 'ok' }], 'GET /healthz: 200 {"status": "ok"}');
is(ref $h->{problems}, 'ARRAY', 'problems is an array');
ok(!grep({ /iommu|vt-d|amd-vi|vfio-pci/i } @{ $h->{problems} // [] }),
    'no IOMMU or vfio-pci problem is reported on a host that has both')
    or diag explain $h->{problems}
    if ($ENV{VV_E2E_BOOT} // 'default') eq 'default';

# Readiness, against the guest's own files.  build/e2e/run boots each
# kernel a second time with intremap=off and a third with intel_iommu=off
# (VV_E2E_BOOT names the variant) and runs this file alone.
my $boot = $ENV{VV_E2E_BOOT} // 'default';
chomp(my $cmdline = guest_ok('cat /proc/cmdline'));
my $dmar = guest_ok('test -e /sys/firmware/acpi/tables/DMAR && echo 1 || echo 0') + 0;
is($dmar, 1, 'the guest firmware (QEMU with intel-iommu) has a DMAR table');
is($h->{iommu_firmware}, 'DMAR', 'iommu_firmware: DMAR');
my $ir_chips = guest_ok(q{grep -c ' IR-' /proc/interrupts || true}) + 0;
is($h->{interrupt_remapping}{enabled} ? 1 : 0, $ir_chips > 0 ? 1 : 0,
    "interrupt_remapping.enabled agrees with /proc/interrupts ($ir_chips IR- lines)");
is($h->{iommu_passthrough} ? 1 : 0, $cmdline =~ /(^| )iommu=pt( |$)/ ? 1 : 0, 'iommu_passthrough as the command line says');
is($h->{acs_override} ? 1 : 0, 0, 'no ACS override');
is($h->{kvm} ? 1 : 0, guest_ok('test -e /dev/kvm && echo 1 || echo 0') + 0, 'kvm as /dev/kvm says');
if ($boot eq 'default') {
    chomp(my $ecap = guest_ok('cat /sys/class/iommu/dmar0/intel-iommu/ecap'));
    is($h->{interrupt_remapping}{supported} ? 1 : 0, (hex($ecap) & 8) ? 1 : 0,
        "supported agrees with dmar0's ECAP ($ecap)");
    ok($h->{interrupt_remapping}{enabled}, 'remapping is on (QEMU intremap=on, x2apic)');
    ok(!grep({ /interrupt remapping/ } @{ $h->{problems} }), 'no remapping problem');
}
elsif ($boot eq 'intremap-off') {
    like($cmdline, qr/intremap=off/, 'booted with intremap=off');
    ok($h->{iommu_enabled}, 'the IOMMU is still on');
    is($h->{interrupt_remapping}{enabled}, JSON::PP::false, 'remapping is off');
    ok(grep({ /^interrupt remapping is off \(intremap=off on the kernel command line\)/ } @{ $h->{problems} }),
        'a problem names intremap=off') or diag explain $h->{problems};
}
elsif ($boot eq 'iommu-off') {
    like($cmdline, qr/intel_iommu=off/, 'booted with intel_iommu=off');
    ok(!$h->{iommu_enabled}, 'no IOMMU groups');
    ok(grep({ /^IOMMU not enabled on this system: the kernel command line turns it off \(intel_iommu=off\)/ } @{ $h->{problems} }),
        'a problem names intel_iommu=off') or diag explain $h->{problems};
}

done_testing();
