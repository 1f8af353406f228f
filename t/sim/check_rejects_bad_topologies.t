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
    ['a virtual_net kind that is none', sub { $_[0]{virtual_net} = [{name => 'br0', kind => 'brdge'}] }, qr/virtual_net\[0\]: interface br0: bad "kind" \(a virtual_net interface is bridge, bond, team or openvswitch\)/],
    ['a master as an upper', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'br0', kind => 'bridge'}]}] }, qr/interface br0: bad "kind" \(an upper is vlan, macvlan or ipvlan\)/],
    ['a vlan without id', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'eth0.5', kind => 'vlan'}]}] }, qr/eth0\.5: a vlan needs an "id"/],
    ['an id on a macvlan', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'mv0', kind => 'macvlan', id => 3}]}] }, qr/mv0: a vlan needs an "id" \(1-4094\), other kinds have none/],
    ['a vlan id out of range', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'v', kind => 'vlan', id => 4095}]}] }, qr/"id" must be an integer from 1 to 4094/],
    ['one vlan id twice', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'a', kind => 'vlan', id => 7}, {name => 'b', kind => 'vlan', id => 7}]}] }, qr/vlan id 7 twice on eth0/],
    ['an upper above its lower\'s MTU', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'a', kind => 'macvlan', mtu => 9000}]}] }, qr/upper a: mtu 9000 above its lower's \(1500\)/],
    ['an unknown key on an upper', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', uppers => [{name => 'a', kind => 'macvlan', under => 'virtio0'}]}] }, qr/unknown key "under"/],
    ['a master that is not virtual', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', master => 'eth9'}] }, qr/interface eth0: master "eth9" is not another virtual_net interface/],
    ['a master loop', sub { $_[0]{virtual_net} = [{name => 'a', kind => 'bridge', master => 'b'}, {name => 'b', kind => 'bond', master => 'a'}] }, qr/interface a: master chain loops/],
    ['an OVS internal port on a bridge', sub { $_[0]{virtual_net} = [{name => 'br0', kind => 'bridge'}, {name => 'p', kind => 'openvswitch', master => 'br0'}] }, qr/interface p: an openvswitch interface with a master is an internal port/],
    ['a port of an OVS internal port', sub { $_[0]{virtual_net} = [{name => 'dp', kind => 'openvswitch'}, {name => 'p', kind => 'openvswitch', master => 'dp'}]; $_[0]{devices}[3]{net} = [{name => 'eth0', master => 'p'}] }, qr/master "p" is an Open vSwitch internal port, not a datapath/],
    ['one name for a device\'s interface and a virtual one', sub { $_[0]{virtual_net} = [{name => 'eth0', kind => 'bridge'}]; $_[0]{devices}[3]{net} = [{name => 'eth0'}] }, qr/interface name "eth0" used twice/],
    ['an interface called lo', sub { $_[0]{devices}[3]{net} = [{name => 'lo'}] }, qr/bad interface name "lo"/],
    ['table 0', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', routes => ['10.0.0.0/8 table 0']}] }, qr/bad route "10\.0\.0\.0\/8 table 0" \(.*"table N"\)/],
    ['a table by name', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', routes => ['10.0.0.0/8 table main']}] }, qr/bad route/],
    ['a default route without gateway', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', routes => ['default table 100']}] }, qr/bad route "default table 100"/],
    ['one route on two interfaces', sub {
        $_[0]{devices}[3]{net} = [{name => 'eth0', routes => ['default via 10.0.0.1 table 100']}];
        $_[0]{devices}[6]{net} = [{name => 'eth1', routes => ['0.0.0.0/0 via 10.1.0.1 table 100']}];
    }, qr/route 0\.0\.0\.0\/0 in table 100 is on eth0 and eth1: the kernel refuses the second/],
    ['an address flag that is none', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', addresses => ['10.0.0.5/24 nodad']}] }, qr/bad address "10\.0\.0\.5\/24 nodad" \(want ADDR\/PLEN, optionally followed by "noprefixroute"\)/],
    ['netns of the wrong type', sub { $_[0]{devices}[3]{net} = [{name => 'eth0', netns => 'no'}] }, qr/"netns" must be true or false/],
    ['swap and mounted', sub { $_[0]{devices}[3]{block} = [{name => 'sda', swap => JSON::PP::true, mounted => '/'}] }, qr/sda: swap and mounted at once/],
    ['an fstype without mount', sub { $_[0]{devices}[3]{block} = [{name => 'sda', fstype => 'btrfs'}] }, qr/sda: "fstype" is a filesystem name, for a mounted device/],
    ['an open_by comm too long', sub { $_[0]{devices}[3]{block} = [{name => 'sda', open_by => {pid => 9, comm => 'qemu-system-x86_64'}}] }, qr/open_by needs a pid and a comm of 1-15 characters/],
    ['open_by without pid', sub { $_[0]{devices}[3]{block} = [{name => 'sda', open_by => [{comm => 'qemu'}]}] }, qr/open_by needs a pid/],
    ['a DRM minor beyond the primaries', sub { $_[0]{devices}[2]{drm} = [{name => 'card64'}] }, qr/bad drm minor "card64" \(want card0-card63 or renderD128-renderD191\)/],
    ['a render node below 128', sub { $_[0]{devices}[2]{drm} = [{name => 'renderD5'}] }, qr/bad drm minor "renderD5"/],
    ['a DRM name with a leading zero', sub { $_[0]{devices}[2]{drm} = [{name => 'card01'}] }, qr/bad drm minor "card01"/],
    ['one DRM minor twice', sub { $_[0]{devices}[2]{drm} = [{name => 'card0'}]; $_[0]{devices}[5]{drm} = [{name => 'card0'}] }, qr/devices\[5\] 0000:02:00\.0: drm minor "card0" used twice/],
    ['one fb minor twice', sub { $_[0]{devices}[2]{fb} = {minor => 1}; $_[0]{devices}[5]{fb} = {minor => 1} }, qr/fb minor 1 used twice/],
    ['one uio minor twice', sub { $_[0]{devices}[2]{uio} = {minor => 0}; $_[0]{devices}[5]{uio} = {minor => 0} }, qr/uio minor 0 used twice/],
    ['an fb minor out of range', sub { $_[0]{devices}[2]{fb} = {minor => 32} }, qr/"minor" must be an integer from 0 to 31/],
    ['a resource that is none', sub { $_[0]{devices}[2]{mapped_by} = {pid => 9, comm => 'dpdk', resource => 'resource6'} }, qr/bad resource "resource6" \(want resource0-resource5, optionally _wc\)/],
    ['a mapping without resource', sub { $_[0]{devices}[2]{mapped_by} = [{pid => 9, comm => 'dpdk'}] }, qr/missing "resource"/],
    ['one pid, two comms', sub {
        $_[0]{devices}[2]{mapped_by} = {pid => 9, comm => 'dpdk', resource => 'resource0'};
        $_[0]{devices}[5]{drm} = [{name => 'renderD128', open_by => {pid => 9, comm => 'Xorg'}}];
    }, qr/pid 9 is "Xorg" here and "dpdk" elsewhere/],
    ['drm without a driver', sub { $_[0]{devices}[2]{driver} = undef; delete $_[0]{devices}[2]{nvidia}; $_[0]{devices}[2]{drm} = [{name => 'card0'}] }, qr/hints belong to a driver/],
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
