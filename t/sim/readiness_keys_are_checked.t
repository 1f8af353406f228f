# The readiness keys (firmware_iommu, iommu_units, interrupt_remapping,
# cmdline, kvm, vfio_unsafe_interrupts; per device reset_method, link, rom)
# are parsed as strictly as the others: a wrong type or value, or one the
# rest of the host contradicts, exits 2 with a message naming the item;
# every value the README lists is accepted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use Test::More;

my $dir = tempdir(CLEANUP => 1);
my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub load {
    open my $fh, '<', topo($_[0]) or die $!;
    return decode_json(do { local $/; <$fh> });
}

# --check on BASE (a shipped topology) edited by EDIT: (exit code, message).
sub check {
    my ($base, $edit) = @_;
    my $t = load($base);
    $edit->($t);
    open my $out, '>', "$dir/t.json" or die $!;
    print $out encode_json($t);
    close $out;
    my $msg = `'$SIM' --check '$dir/t.json' 2>&1`;
    return ($? >> 8, $msg);
}

my $intel = {name => 'dmar0', cap => 'd2008c40660462', ecap => 'f050da'};
my $amd = {name => 'ivhd0', features => '25bf732fa2295afe'};
my $GPU = qr/devices\[2\] 0000:01:00\.0/;      # gpu-host's devices[2]
my $link = sub { +{speed => '8.0 GT/s PCIe', width => 16, max_speed => '16.0 GT/s PCIe', max_width => 16, @_} };

# [name, base topology, edit, what the message must say]
my @bad = (
    ['an unknown firmware table', 'gpu-host', sub { $_[0]{firmware_iommu} = 'AMD' }, qr/: "firmware_iommu" must be "DMAR", "IVRS" or null$/m],
    ['a lowercase firmware table', 'gpu-host', sub { $_[0]{firmware_iommu} = 'dmar' }, qr/"firmware_iommu" must be "DMAR", "IVRS" or null/],
    ['a firmware table of the wrong type', 'gpu-host', sub { $_[0]{firmware_iommu} = JSON::PP::true }, qr/"firmware_iommu" must be/],
    ['an IOMMU without firmware table', 'gpu-host', sub { $_[0]{firmware_iommu} = undef }, qr/"iommu" is true but "firmware_iommu" is null/],
    ['units that are no array', 'gpu-host', sub { $_[0]{iommu_units} = $intel }, qr/"iommu_units" must be an array/],
    ['units with the IOMMU off', 'noiommu-host', sub { $_[0]{iommu_units} = [$intel] }, qr/"iommu_units" listed but "iommu" is false/],
    ['a unit that is no object', 'gpu-host', sub { $_[0]{iommu_units} = ['dmar0'] }, qr/iommu_units\[0\]: must be an object/],
    ['a unit without name', 'gpu-host', sub { $_[0]{iommu_units} = [{cap => '1', ecap => '1'}] }, qr/iommu_units\[0\]: missing "name"/],
    ['a unit with an unknown key', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, version => '1:0'}] }, qr/iommu_units\[0\]: unknown key "version"/],
    ['an Intel unit without ecap', 'gpu-host', sub { $_[0]{iommu_units} = [{name => 'dmar0', cap => 'd2008c40660462'}] }, qr/iommu_units\[0\] dmar0: an Intel unit needs both "cap" and "ecap"/],
    ['a unit both Intel and AMD', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, features => '1'}] }, qr/iommu_units\[0\] dmar0: an Intel unit has "cap" and "ecap", an AMD one "features", not both/],
    ['a unit with no registers', 'gpu-host', sub { $_[0]{iommu_units} = [{name => 'dmar0'}] }, qr/iommu_units\[0\] dmar0: missing "cap" and "ecap" \(Intel\) or "features" \(AMD\)/],
    ['an Intel unit named like an AMD one', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, name => 'ivhd0'}] }, qr/iommu_units\[0\] ivhd0: bad name \(an Intel unit is dmarN/],
    ['an AMD unit named like an Intel one', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS'; $_[0]{iommu_units} = [{%$amd, name => 'dmar0'}] }, qr/iommu_units\[0\] dmar0: bad name \(an AMD unit is ivhdN/],
    ['a unit number with a leading zero', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, name => 'dmar01'}] }, qr/iommu_units\[0\] dmar01: bad name/],
    ['a unit name without number', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, name => 'dmar'}] }, qr/iommu_units\[0\] dmar: bad name/],
    ['an AMD unit on DMAR firmware', 'gpu-host', sub { $_[0]{iommu_units} = [$amd] }, qr/iommu_units\[0\] ivhd0: an AMD unit needs "firmware_iommu": "IVRS"/],
    ['an Intel unit on IVRS firmware', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS'; $_[0]{iommu_units} = [$intel] }, qr/iommu_units\[0\] dmar0: an Intel unit needs "firmware_iommu": "DMAR"/],
    ['cap in uppercase', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, cap => 'D2008C40660462'}] }, qr/iommu_units\[0\] dmar0: "cap" must be 1-16 lowercase hex digits without 0x or leading zeros/],
    ['ecap with 0x', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, ecap => '0xf050da'}] }, qr/iommu_units\[0\] dmar0: "ecap" must be 1-16 lowercase hex digits/],
    ['an empty ecap', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, ecap => ''}] }, qr/"ecap" must be 1-16 lowercase hex digits/],
    ['features of 17 digits', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS'; $_[0]{iommu_units} = [{%$amd, features => '125bf732fa2295afe'}] }, qr/iommu_units\[0\] ivhd0: "features" must be 1-16 lowercase hex digits/],
    ['features with a leading zero', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS'; $_[0]{iommu_units} = [{%$amd, features => '0f'}] }, qr/"features" must be .* leading zeros/],
    ['a register as a number', 'gpu-host', sub { $_[0]{iommu_units} = [{%$intel, cap => 12}] }, qr/iommu_units\[0\] dmar0: "cap" must be a string/],
    ['one unit twice', 'gpu-host', sub { $_[0]{iommu_units} = [$intel, $intel] }, qr/iommu_units\[1\] dmar0: unit listed twice/],
    ['remapping of the wrong type', 'gpu-host', sub { $_[0]{interrupt_remapping} = 'yes' }, qr/"interrupt_remapping" must be true or false/],
    ['remapping without firmware', 'noiommu-host', sub { $_[0]{firmware_iommu} = undef; $_[0]{interrupt_remapping} = $T }, qr/"interrupt_remapping" is true but "firmware_iommu" is null/],
    ['a command line of the wrong type', 'gpu-host', sub { $_[0]{cmdline} = ['ro'] }, qr/"cmdline" must be a string/],
    ['a command line with a newline', 'gpu-host', sub { $_[0]{cmdline} = "ro\nquiet" }, qr/"cmdline" must be at most 2047 characters without newline/],
    ['a command line too long', 'gpu-host', sub { $_[0]{cmdline} = 'x' x 2048 }, qr/"cmdline" must be at most 2047 characters/],
    ['kvm of the wrong type', 'gpu-host', sub { $_[0]{kvm} = 1 }, qr/"kvm" must be true or false/],
    ['unsafe interrupts of the wrong type', 'gpu-host', sub { $_[0]{vfio_unsafe_interrupts} = 'Y' }, qr/"vfio_unsafe_interrupts" must be true or false/],
    ['unsafe interrupts without vfio', 'novfio-host', sub { $_[0]{vfio_unsafe_interrupts} = $T }, qr/"vfio_unsafe_interrupts" is a parameter of vfio_iommu_type1, loaded with vfio-pci: "vfio_pci_loaded" is false/],
    ['a reset method as a string', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = 'flr' }, qr/$GPU: "reset_method" must be a non-empty array of method names or null/],
    ['no reset method as an empty list', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = [] }, qr/$GPU: "reset_method" must be a non-empty array/],
    ['an unknown reset method', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = ['flr', 'reboot'] }, qr/$GPU: "reset_method": bad method "reboot" \(want device_specific, acpi, flr, af_flr, pm, bus or cxl_bus\)/],
    ['a reset method in uppercase', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = ['FLR'] }, qr/"reset_method": bad method "FLR"/],
    ['a reset method as a number', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = [3] }, qr/"reset_method": bad method \(not a string\)/],
    ['a reset method twice', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = ['flr', 'bus', 'flr'] }, qr/$GPU: "reset_method": "flr" listed twice/],
    ['a link as a string', 'gpu-host', sub { $_[0]{devices}[2]{link} = 'x16' }, qr/$GPU: "link" must be an object or null/],
    ['a link without width', 'gpu-host', sub { my $l = $link->(); delete $l->{width}; $_[0]{devices}[2]{link} = $l }, qr/$GPU: link: missing "width"/],
    ['a link without max_speed', 'gpu-host', sub { my $l = $link->(); delete $l->{max_speed}; $_[0]{devices}[2]{link} = $l }, qr/$GPU: link: missing "max_speed"/],
    ['a link with an unknown key', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(lanes => 16) }, qr/$GPU link: unknown key "lanes"/],
    ['a speed without unit', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(speed => '8 GT/s') }, qr{$GPU: link: "speed" must be "2\.5 GT/s PCIe", "5\.0 GT/s PCIe", "8\.0 GT/s PCIe", "16\.0 GT/s PCIe", "32\.0 GT/s PCIe", "64\.0 GT/s PCIe" or "Unknown"}],
    ['a speed PCIe does not have', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(max_speed => '128.0 GT/s PCIe') }, qr/link: "max_speed" must be/],
    ['a speed as a number', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(speed => 8) }, qr/link: "speed" must be/],
    ['a width PCIe does not have', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(width => 3) }, qr/$GPU: link: "width" must be one of 0, 1, 2, 4, 8, 12, 16, 32 \(lanes\)/],
    ['a width as a string', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(max_width => '16') }, qr/link: "max_width" must be one of/],
    ['a fractional width', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(width => 16.5) }, qr/link: "width" must be one of/],
    ['a link faster than its maximum', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(speed => '16.0 GT/s PCIe', max_speed => '8.0 GT/s PCIe') }, qr{$GPU: link: "speed" 16\.0 GT/s PCIe is above "max_speed" 8\.0 GT/s PCIe}],
    ['a link wider than its maximum', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(max_width => 8) }, qr/$GPU: link: "width" 16 is above "max_width" 8/],
    ['rom of the wrong type', 'gpu-host', sub { $_[0]{devices}[2]{rom} = 'yes' }, qr/$GPU: "rom" must be true or false/],
    ['rom as null', 'gpu-host', sub { $_[0]{devices}[2]{rom} = undef }, qr/$GPU: "rom" must be true or false/],
);

for my $case (@bad) {
    my ($name, $base, $edit, $want) = @$case;
    my ($rc, $msg) = check($base, $edit);
    is($rc, 2, "$name: exit 2");
    like($msg, $want, "$name: the message names it") or diag $msg;
}

# Every value the README lists, and the combinations a real host can have.
my @speeds = ('2.5 GT/s PCIe', '5.0 GT/s PCIe', '8.0 GT/s PCIe', '16.0 GT/s PCIe', '32.0 GT/s PCIe', '64.0 GT/s PCIe');
my @good = (
    (map { my $s = $_; ["speed $s", 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(speed => $s, max_speed => '64.0 GT/s PCIe') }] } @speeds),
    (map { my $s = $_; ["max_speed $s", 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(speed => '2.5 GT/s PCIe', max_speed => $s) }] } @speeds),
    ['Unknown speeds, either side', 'gpu-host', sub {
        $_[0]{devices}[2]{link} = $link->(speed => 'Unknown', max_speed => '2.5 GT/s PCIe');
        $_[0]{devices}[5]{link} = $link->(speed => '64.0 GT/s PCIe', max_speed => 'Unknown');
    }],
    (map { my $w = $_; ["width $w", 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(width => $w, max_width => 32) }] } 0, 1, 2, 4, 8, 12, 16, 32),
    ['max_width 0 with width 0', 'gpu-host', sub { $_[0]{devices}[2]{link} = $link->(width => 0, max_width => 0) }],
    ['a null link', 'gpu-host', sub { $_[0]{devices}[2]{link} = undef }],
    (map { my $m = $_; ["reset method $m alone", 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = [$m] }] }
        qw(device_specific acpi flr af_flr pm bus cxl_bus)),
    ['every reset method, in any order', 'gpu-host', sub { $_[0]{devices}[2]{reset_method} = [qw(cxl_bus bus pm af_flr flr acpi device_specific)] }],
    ['a reset list on a bridge, null on an endpoint', 'gpu-host', sub { $_[0]{devices}[1]{reset_method} = ['pm', 'bus']; $_[0]{devices}[2]{reset_method} = undef }],
    ['rom true and false', 'gpu-host', sub { $_[0]{devices}[2]{rom} = $T; $_[0]{devices}[3]{rom} = $F }],
    ['firmware DMAR spelt out, explicit units', 'gpu-host', sub { $_[0]{firmware_iommu} = 'DMAR'; $_[0]{iommu_units} = [$intel, {%$intel, name => 'dmar1', cap => '0', ecap => '0'}] }],
    ['firmware IVRS, default unit', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS' }],
    ['firmware IVRS, explicit units', 'gpu-host', sub { $_[0]{firmware_iommu} = 'IVRS'; $_[0]{iommu_units} = [$amd, {name => 'ivhd10', features => 'f'}] }],
    ['no unit registered', 'gpu-host', sub { $_[0]{iommu_units} = [] }],
    ['no unit listed with the IOMMU off', 'noiommu-host', sub { $_[0]{iommu_units} = [] }],
    ['no firmware table with the IOMMU off', 'noiommu-host', sub { $_[0]{firmware_iommu} = undef }],
    ['remapping without DMA remapping', 'noiommu-host', sub { $_[0]{interrupt_remapping} = $T }],
    ['no remapping with the IOMMU on', 'gpu-host', sub { $_[0]{interrupt_remapping} = $F }],
    ['no remapping and no firmware', 'noiommu-host', sub { $_[0]{firmware_iommu} = undef; $_[0]{interrupt_remapping} = $F }],
    ['an empty command line', 'gpu-host', sub { $_[0]{cmdline} = '' }],
    ['a command line of 2047 characters', 'gpu-host', sub { $_[0]{cmdline} = 'x' x 2047 }],
    ['kvm true and false', 'gpu-host', sub { $_[0]{kvm} = $F }],
    ['unsafe interrupts on', 'gpu-host', sub { $_[0]{vfio_unsafe_interrupts} = $T }],
    ['unsafe interrupts off without vfio', 'novfio-host', sub { $_[0]{vfio_unsafe_interrupts} = $F }],
);

for my $case (@good) {
    my ($name, $base, $edit) = @$case;
    my ($rc, $msg) = check($base, $edit);
    is($rc, 0, "accepted: $name") or diag $msg;
}

for my $file (glob "$FindBin::Bin/topologies/*.json") {
    my $out = `'$SIM' --check '$file' 2>&1`;
    is($?, 0, "fixture $file passes") or diag $out;
}

done_testing();
