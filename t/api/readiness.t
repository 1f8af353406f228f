# Passthrough readiness: GET /host tells the firmware's IOMMU from the
# kernel's, interrupt remapping and unsafe interrupts, the ACS override,
# iommu=pt, vfio-pci.ids and /dev/kvm; info and GET /devices describe each
# device's reset methods, PCIe link, option ROM, SR-IOV and group
# viability; validate adds warnings.  Each host is a simulator tree written
# from a small topology and served by an httpd of its own.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use VVTest;
use VVHttpd;

plan tests => 48;

my $top = Apache::Test::vars('top_dir');
my $json = JSON::PP->new->utf8->canonical;
my $http = HTTP::Tiny->new(timeout => 20);

# A GPU with its audio function behind a root port, a NIC PF with a VF.
sub topology {
    my (%o) = @_;
    my %dev = %{ delete $o{dev} // {} };
    my $t = {
        name => 'readiness', kernel => '6.12.0-sim',
        drivers => [{ name => 'pcieport', classes => ['0604'] },
                    { name => 'nvidia', ids => ['10de:2204'] },
                    { name => 'snd_hda_intel', ids => ['10de:1aef'] },
                    { name => 'ixgbe', ids => ['8086:10fb'] },
                    { name => 'ixgbevf', ids => ['8086:10ed'] }],
        devices => [
            { address => '0000:00:00.0', vendor => '8086', device => '1237',
              class => '060000', iommu_group => 0 },
            { address => '0000:00:01.0', vendor => '8086', device => '1901',
              class => '060400', header_type => 1, iommu_group => 1,
              driver => 'pcieport' },
            { address => '0000:01:00.0', vendor => '10de', device => '2204',
              class => '030000', iommu_group => 2, driver => 'nvidia',
              parent => '0000:00:01.0',
              link => { speed => '16.0 GT/s PCIe', width => 16,
                        max_speed => '16.0 GT/s PCIe', max_width => 16 },
              rom => JSON::PP::true, %{ $dev{gpu} // {} } },
            { address => '0000:01:00.1', vendor => '10de', device => '1aef',
              class => '040300', iommu_group => 2, driver => 'snd_hda_intel',
              parent => '0000:00:01.0', %{ $dev{audio} // {} } },
            { address => '0000:02:00.0', vendor => '8086', device => '10fb',
              class => '020000', iommu_group => 3, driver => 'ixgbe',
              sriov_totalvfs => 63 },
            { address => '0000:02:10.0', vendor => '8086', device => '10ed',
              class => '020000', iommu_group => 4, driver => 'ixgbevf',
              physfn => '0000:02:00.0' },
        ],
        %o,
    };
    return $t;
}

# Serves TOPOLOGY; returns a function (METHOD, PATH, BODY) -> decoded reply.
my @keep;
sub host {
    my ($t) = @_;
    my $dir = File::Temp::tempdir('/tmp/vv-ready-XXXXXX', CLEANUP => 1);
    open my $fh, '>', "$dir/topology.json" or die $!;
    print $fh $json->encode($t);
    close $fh;
    my $out = `'$top/build/sysfs-sim/sysfs-sim' --static '$dir/host' --topology '$dir/topology.json' 2>&1`;
    die "sysfs-sim --static: $out" if $?;
    chmod 0755, $dir;
    my $h = VVHttpd::start(sysfs => "$dir/host/sys", dev => "$dir/host/dev",
                           proc => "$dir/host/proc", conf => 'VolantVfioAllow 10de:*');
    push @keep, $h;
    return sub {
        my ($method, $path, $body) = @_;
        my $res = $http->request($method, "$h->{base}/api/v1/vfio$path",
            defined $body ? { headers => { 'Content-Type' => 'application/json' },
                              content => $json->encode($body) } : {});
        return eval { $json->decode($res->{content}) } // { status => $res->{status} };
    };
}

sub any_like { my ($list, $re) = @_; return scalar grep { /$re/ } @{ $list // [] } }

# 1. A ready Intel host: DMAR, remapping on, kvm, iommu=pt.
my $api = host(topology());
my $h = $api->(GET => '/host');
ok t_cmp([@{$h}{qw(iommu_firmware acs_override iommu_passthrough kvm)}],
         ['DMAR', JSON::PP::false, JSON::PP::true, JSON::PP::true],
         'a ready Intel host: DMAR, no ACS override, iommu=pt, /dev/kvm');
ok t_cmp($h->{interrupt_remapping},
         { supported => JSON::PP::true, enabled => JSON::PP::true,
           unsafe_interrupts_allowed => JSON::PP::false },
         'interrupt remapping supported (ECAP.IR) and on (IR- chips)');
ok t_cmp([$h->{problems}, $h->{warnings}], [[], []], 'no problem, no warning');
ok t_cmp($h->{vfio_pci_ids}, [], 'no vfio-pci.ids');

my $i = $api->(POST => '/devices/info', { pci_address => '0000:01:00.0' });
ok t_cmp($i->{reset_method}, ['flr', 'bus'], 'info: the reset methods in order');
ok t_cmp($i->{link}, { speed => '16.0 GT/s PCIe', width => 16,
                       max_speed => '16.0 GT/s PCIe', max_width => 16 },
         'info: the PCIe link, current and maximum');
ok t_cmp([$i->{has_rom}, $i->{sriov}, $i->{group_viable}],
         [JSON::PP::true, undef, JSON::PP::false],
         'info: an option ROM, no SR-IOV, its group not viable (on nvidia)');
my $pf = $api->(POST => '/devices/info', { pci_address => '0000:02:00.0' });
ok t_cmp($pf->{sriov}, { total_vfs => 63, num_vfs => 1 }, 'a PF: its VFs');
ok t_cmp([$pf->{link}, $pf->{has_rom}], [undef, JSON::PP::false],
         'no link described: null; no ROM');
my $bridge = $api->(POST => '/devices/info', { pci_address => '0000:00:01.0' });
ok t_cmp($bridge->{reset_method}, [], 'a bridge without reset_method: an empty list');

my $v = $api->(POST => '/devices/validate', { pci_addresses => ['0000:01:00.0', '0000:01:00.1'] });
ok t_cmp([$v->{valid}, $v->{warnings}], [JSON::PP::true, []],
         'validate: valid, no warnings on a ready host');

my $list = $api->(GET => '/devices');
my %by = map { $_->{address} => $_ } @$list;
ok t_cmp([map { $by{$_}{group_viable} } '0000:01:00.0', '0000:02:10.0', '0000:00:00.0'],
         [JSON::PP::false, JSON::PP::false, JSON::PP::true],
         'GET /devices: group viability per device (a driverless host bridge\'s group is viable)');
ok t_cmp($by{'0000:01:00.0'}{reset_method}, ['flr', 'bus'], 'GET /devices: the same fields as info');
ok t_cmp(scalar(grep { !exists $_->{link} || !exists $_->{sriov} } @$list), 0,
         'every device has the readiness fields');

# 2. Firmware has the IOMMU, the kernel does not.
$api = host(topology(iommu => JSON::PP::false, cmdline => 'BOOT_IMAGE=/vmlinuz ro quiet',
            devices => [map { { %$_, iommu_group => undef } } @{ topology()->{devices} }]));
$h = $api->(GET => '/host');
ok t_cmp([$h->{iommu_enabled}, $h->{iommu_firmware}], [JSON::PP::false, 'DMAR'],
         'IOMMU off in the kernel, DMAR in the firmware');
ok t_cmp(any_like($h->{problems}, qr/^IOMMU not enabled on this system: the firmware has one \(ACPI DMAR table\) but the kernel did not enable it: add intel_iommu=on/), 1,
         'the fix is the kernel command line, not the BIOS');
ok t_cmp($h->{interrupt_remapping}{supported}, undef, 'remapping support unknown without the IOMMU');

# 3. Turned off on the command line.
$api = host(topology(iommu => JSON::PP::false, cmdline => 'ro intel_iommu=off',
            devices => [map { { %$_, iommu_group => undef } } @{ topology()->{devices} }]));
ok t_cmp(any_like($api->(GET => '/host')->{problems}, qr/turns it off \(intel_iommu=off\); remove that/), 1,
         'intel_iommu=off is named');

# 4. No IOMMU in the firmware at all.
$api = host(topology(iommu => JSON::PP::false, firmware_iommu => undef,
            devices => [map { { %$_, iommu_group => undef } } @{ topology()->{devices} }]));
$h = $api->(GET => '/host');
ok t_cmp($h->{iommu_firmware}, undef, 'no DMAR or IVRS');
ok t_cmp(any_like($h->{problems}, qr/the firmware reports none .*enable VT-d/), 1,
         'the fix is in the firmware setup');

# 5. AMD, with remapping off on the command line.
$api = host(topology(firmware_iommu => 'IVRS', interrupt_remapping => JSON::PP::false,
                     cmdline => 'ro amd_iommu=on intremap=off'));
$h = $api->(GET => '/host');
ok t_cmp([$h->{iommu_firmware}, $h->{interrupt_remapping}{supported},
          $h->{interrupt_remapping}{enabled}], ['IVRS', JSON::PP::true, JSON::PP::false],
         'AMD: remapping supported by the IOMMU, off in the kernel');
ok t_cmp(any_like($h->{problems}, qr/^interrupt remapping is off \(intremap=off on the kernel command line\) and vfio_iommu_type1 allow_unsafe_interrupts is off: attaching any group to a VM fails; remove intremap=off and reboot/), 1,
         'a problem naming intremap=off and the fix');
$v = $api->(POST => '/devices/validate', { pci_addresses => ['0000:01:00.0'] });
ok t_cmp($v->{valid}, JSON::PP::true, 'validate: still valid (a bind works)');
ok t_cmp(any_like($v->{warnings}, qr/^device 0000:01:00\.0: the host has no interrupt remapping: attaching its group to a VM will fail/), 1,
         'but warns, naming the device');

# 6. The same with allow_unsafe_interrupts: a warning, not a problem.
$api = host(topology(interrupt_remapping => JSON::PP::false, vfio_unsafe_interrupts => JSON::PP::true));
$h = $api->(GET => '/host');
ok t_cmp($h->{interrupt_remapping}{unsafe_interrupts_allowed}, JSON::PP::true, 'unsafe interrupts allowed');
ok t_cmp([any_like($h->{problems}, qr/interrupt remapping/), any_like($h->{warnings}, qr/allow_unsafe_interrupts is on/)],
         [0, 1], 'a warning about MSI injection, not a problem');

# 7. An Intel IOMMU without the IR capability.
$api = host(topology(iommu_units => [{ name => 'dmar0', cap => 'd2008c40660462', ecap => 'f050d2' }]));
$h = $api->(GET => '/host');
ok t_cmp($h->{interrupt_remapping}{supported}, JSON::PP::false, 'ECAP without IR: not supported');
ok t_cmp(any_like($h->{problems}, qr/cannot remap interrupts \(its ECAP register has no IR bit\)/), 1,
         'said as a problem');

# 8. ACS override, vfio-pci.ids, no kvm, a degraded link, no reset method.
$api = host(topology(cmdline => 'ro intel_iommu=on pcie_acs_override=downstream,multifunction vfio-pci.ids=10de:2204,10de:1aef',
                     kvm => JSON::PP::false,
                     dev => { gpu => { reset_method => undef,
                                       link => { speed => '2.5 GT/s PCIe', width => 1,
                                                 max_speed => '16.0 GT/s PCIe', max_width => 16 } },
                            audio => { link => { speed => 'Unknown', width => 0,
                                                 max_speed => 'Unknown', max_width => 0 } } }));
$h = $api->(GET => '/host');
ok t_cmp([$h->{acs_override}, $h->{iommu_passthrough}, $h->{kvm}],
         [JSON::PP::true, JSON::PP::false, JSON::PP::false], 'ACS override, no iommu=pt, no kvm');
ok t_cmp($h->{vfio_pci_ids}, ['10de:2204', '10de:1aef'], 'the IDs vfio-pci takes at boot');
ok t_cmp(any_like($h->{warnings}, qr/^pcie_acs_override=downstream,multifunction is on the kernel command line/), 1,
         'the ACS override is a warning');
ok t_cmp(any_like($h->{problems}, qr{^/dev/kvm does not exist}), 1, 'no /dev/kvm is a problem');
$i = $api->(POST => '/devices/info', { pci_address => '0000:01:00.0' });
ok t_cmp([$i->{reset_method}, $i->{link}{width}], [[], 1], 'info: no reset method, x1');
ok t_cmp($api->(POST => '/devices/info', { pci_address => '0000:01:00.1' })->{link}, undef,
         'a link the kernel calls Unknown x0 is no link (null), as on QEMU\'s root bus');
$v = $api->(POST => '/devices/validate', { pci_addresses => ['0000:01:00.0', '0000:01:00.1'] });
ok t_cmp($v->{valid}, JSON::PP::true, 'validate: valid');
ok t_cmp(any_like($v->{warnings}, qr/^device 0000:01:00\.0 has no reset method/), 1, 'warns: no reset method');
ok t_cmp(any_like($v->{warnings}, qr/^device 0000:01:00\.0 runs its PCIe link at 2\.5 GT\/s PCIe x1, below its maximum 16\.0 GT\/s PCIe x16/), 1,
         'warns: the link below its maximum');
ok t_cmp(any_like($v->{warnings}, qr/^device 0000:01:00\.0: IOMMU group 2 is isolated only as pcie_acs_override=downstream,multifunction claims/), 1,
         'warns: the ACS override, for its group');
ok t_cmp(any_like($v->{warnings}, qr/^device 0000:01:00\.1: IOMMU group 2/), 1, 'for each device');
ok t_cmp(any_like($v->{warnings}, qr/0000:01:00\.1 (has no reset|runs its)/), 0,
         'the audio function has its reset method and no link problem');
$v = $api->(POST => '/devices/validate', { pci_addresses => ['0000:00:01.0', 'bogus'] });
ok t_cmp([$v->{valid}, scalar @{ $v->{errors} }], [JSON::PP::false, 3],
         'errors stay as they were (outside VolantVfioAllow, a bridge, a bad address)');
ok t_cmp(any_like($v->{warnings}, qr/0000:00:01\.0/), 0, 'a bridge gets no device warnings');

# 9. A fresh host again: the answers do not carry over.
$api = host(topology());
$h = $api->(GET => '/host');
ok t_cmp($h->{interrupt_remapping}{enabled}, JSON::PP::true, 'a fresh host again');
my $bad = $api->(POST => '/devices/info', { pci_address => '0000:01:00.7' });
ok t_cmp($bad->{error}, 'PCI device not found: 0000:01:00.7', 'an absent device: as before');
ok t_cmp(scalar(@keep), 9, 'nine hosts served');

# 10. The answers match the OpenAPI document (the suite's own client).
ok t_cmp(ref $h->{warnings}, 'ARRAY', 'warnings is an array');
my ($code, $b) = get_json(api('/host'));
ok t_cmp($code, 200, 'the suite host answers /host');
ok t_cmp(ref $b->{interrupt_remapping}, 'HASH', 'with the readiness fields (checked by VVSchema)');
