# --check accepts the shipped topologies and rejects a bad one with exit 2
# and a message naming the item, so a typo in a fixture fails loudly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use Test::More;

for my $file (glob "$TOP/t/topologies/*.json") {
    my $out = `'$SIM' --check '$file' 2>&1`;
    is($?, 0, "$file passes") or diag $out;
}

my $dir = tempdir(CLEANUP => 1);
open my $fh, '<', "$TOP/t/topologies/gpu-host.json" or die $!;
my $base = do { local $/; <$fh> };

# Each case edits a copy of gpu-host and names what the error must say.
my @cases = (
    ['unknown top-level key', sub { $_[0]{iommmu} = 1 }, qr/unknown key "iommmu"/],
    ['unknown device key', sub { $_[0]{devices}[2]{drvier} = 'x' }, qr/devices\[2\] 0000:01:00\.0: unknown key "drvier"/],
    ['uppercase address', sub { $_[0]{devices}[2]{address} = '0000:01:00.0'; $_[0]{devices}[3]{address} = '0000:0A:00.0' }, qr/devices\[3\].*bad address/],
    ['short address', sub { $_[0]{devices}[3]{address} = '01:00.1' }, qr/bad address/],
    ['slot above 1f', sub { $_[0]{devices}[3]{address} = '0000:01:20.1' }, qr/bad address/],
    ['duplicate address', sub { $_[0]{devices}[3]{address} = '0000:01:00.0' }, qr/listed twice/],
    ['unknown driver', sub { $_[0]{devices}[2]{driver} = 'nouveau' }, qr/unknown driver "nouveau"/],
    ['driver that does not match', sub { $_[0]{devices}[3]{driver} = 'nvidia' }, qr/devices\[3\] 0000:01:00\.1: driver "nvidia" does not match/],
    ['driver against its override', sub { $_[0]{devices}[2]{driver_override} = 'vfio-pci' }, qr/override names another driver/],
    ['vfio-pci not loaded', sub { $_[0]{vfio_pci_loaded} = JSON::PP::false; $_[0]{devices}[0]{driver} = 'vfio-pci' }, qr/vfio_pci_loaded is false/],
    ['vfio-pci on a bridge', sub { $_[0]{devices}[1]{driver} = 'vfio-pci'; $_[0]{devices}[1]{driver_override} = 'vfio-pci' }, qr/vfio-pci needs an endpoint/],
    ['group with iommu off', sub { $_[0]{iommu} = JSON::PP::false }, qr/iommu_group given but "iommu" is false/],
    ['group of the wrong type', sub { $_[0]{devices}[2]{iommu_group} = '2' }, qr/"iommu_group" must be an integer/],
    ['boot_vga on audio', sub { $_[0]{devices}[3]{boot_vga} = JSON::PP::true }, qr/boot_vga is only for display-class/],
    ['bad vendor', sub { $_[0]{devices}[2]{vendor} = '10DE' }, qr/"vendor" must be 4 lowercase hex digits/],
    ['bad class', sub { $_[0]{devices}[2]{class} = '0300' }, qr/"class" must be 6 lowercase hex digits/],
    ['parent that is no bridge', sub { $_[0]{devices}[3]{parent} = '0000:01:00.0' }, qr/is not a listed bridge/],
    ['hints without a driver', sub { $_[0]{devices}[2]{driver} = undef }, qr/hints belong to a driver/],
    ['bad route', sub { $_[0]{devices}[2]{net} = [{name => 'eth0', routes => ['10.0.0.0']}] }, qr/bad route "10\.0\.0\.0"/],
    ['duplicate interface', sub { $_[0]{devices}[3]{net} = $_[0]{devices}[2]{net} = [{name => 'eth0'}] }, qr/name "eth0" used twice/],
    ['duplicate nvidia minor', sub { $_[0]{devices}[5]{nvidia}{minor} = 0 }, qr/nvidia minor 0 used twice/],
    ['under that is no virtio device', sub { $_[0]{devices}[2]{net} = [{name => 'eth0', under => 'net'}] }, qr/devices\[2\] 0000:01:00\.0: bad "under" "net" \(want virtioN/],
    ['under with a leading zero', sub { $_[0]{devices}[2]{net} = [{name => 'eth0', under => 'virtio01'}] }, qr/bad "under" "virtio01"/],
    ['under of the wrong type', sub { $_[0]{devices}[2]{net} = [{name => 'eth0', under => 1}] }, qr/"under" must be a string/],
    ['one virtio device under two functions', sub {
        $_[0]{devices}[2]{net} = [{name => 'eth0', under => 'virtio0'}];
        $_[0]{devices}[3]{net} = [{name => 'eth1', under => 'virtio0'}];
    }, qr/"under" "virtio0" is also under 0000:01:00\.[01]/],
    ['empty nvidia model', sub { $_[0]{devices}[2]{nvidia}{model} = '' }, qr/devices\[2\] 0000:01:00\.0: "model" must be 1-95 characters/],
    ['nvidia model with a newline', sub { $_[0]{devices}[2]{nvidia}{model} = "A\nDevice Minor: 9" }, qr/"model" must be 1-95 characters without newline/],
    ['bad driver id', sub { $_[0]{drivers}[1]{ids} = ['10de-2204'] }, qr/drivers\[1\] nvidia: bad id "10de-2204"/],
    ['VF of a driverless PF', sub {
        push @{$_[0]{devices}}, {address => '0000:00:1f.0', vendor => '8086', device => '1572', class => '020000', driver => undef},
            {address => '0000:00:1f.1', vendor => '8086', device => '154c', class => '020000', physfn => '0000:00:1f.0', driver => undef};
    }, qr/VF of a PF without a driver/],
);

for my $case (@cases) {
    my ($name, $edit, $want) = @$case;
    my $t = decode_json($base);
    $edit->($t);
    open my $out, '>', "$dir/bad.json" or die $!;
    print $out encode_json($t);
    close $out;
    my $msg = `'$SIM' --check '$dir/bad.json' 2>&1`;
    is($? >> 8, 2, "$name: exit 2");
    like($msg, $want, "$name: the message says so");
}

subtest 'invalid JSON and a missing file' => sub {
    open my $out, '>', "$dir/broken.json" or die $!;
    print $out '{"name": "x", "devices": [}';
    close $out;
    my $msg = `'$SIM' --check '$dir/broken.json' 2>&1`;
    is($? >> 8, 2);
    like($msg, qr/invalid JSON at byte \d+/);
    $msg = `'$SIM' --check '$dir/none.json' 2>&1`;
    is($? >> 8, 2);
    like($msg, qr/none\.json: No such file/);
    $msg = `'$SIM' --topology '$dir/broken.json' --daemon '$dir' 2>&1`;
    is($? >> 8, 2, 'mounting a bad topology exits 2 too, before mounting');
};

done_testing();
