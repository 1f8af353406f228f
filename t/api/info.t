# POST /devices/info: Volant's six fields plus ours, for every kind of device
# of the fixture host, and the error rows of the contract.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 31;

sub info { return post_json(api('/devices/info'), { pci_address => $_[0] }) }

my ($code, $b, $res) = info('0000:01:00.0');
ok t_cmp($code, 200, 'a GPU is described');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'as JSON');
ok t_cmp($b, {
    address => '0000:01:00.0', vendor => '10de', device => '2204',
    driver => 'nvidia', iommu_group => '2', numa_node => '0',
    vendor_name => 'NVIDIA Corporation',
    device_name => 'GA102 [GeForce RTX 3090]',
    class => '0300', class_name => 'VGA compatible controller',
    subsystem_vendor => '1458', subsystem_device => '403b',
    is_bridge => JSON::PP::false,
    reset_method => ['flr', 'bus'], link => undef, has_rom => JSON::PP::false,
    sriov => undef, group_viable => JSON::PP::false,
}, 'every field as the contract shows it');
# JSON strings in the reply itself, not numbers that compare equal.
ok t_cmp(join(',', grep { $res->content =~ /"$_":"[^"]*"/ }
              qw(address vendor device driver iommu_group numa_node)),
         'address,vendor,device,driver,iommu_group,numa_node',
         "Volant's fields are all strings");

($code, $b) = info('0000:01:00.1');
ok t_cmp($b->{iommu_group}, '2', "the GPU's audio function shares its group");
ok t_cmp($b->{class_name}, 'Audio device', 'class name of the audio function');

($code, $b) = info('0000:03:00.0');
ok t_cmp($code, 200, 'a driverless device is described');
ok t_cmp($b->{driver}, '', 'its driver is the empty string');
ok t_cmp($b->{numa_node}, '-1', 'unknown NUMA node is "-1"');

($code, $b) = info('0000:04:00.0');
ok t_cmp($b->{iommu_group}, '', 'no IOMMU group is the empty string');
ok t_cmp($b->{driver}, 'virtio-pci', 'its driver');

($code, $b) = info('0000:00:01.0');
ok t_cmp($b->{is_bridge}, JSON::PP::true, 'a root port is a bridge');
ok t_cmp($b->{driver}, 'pcieport', 'on pcieport');

($code, $b) = info('0000:06:00.0');
ok t_cmp($code, 200, 'a device pci.ids does not know is described');
ok t_cmp([$b->{vendor_name}, $b->{device_name}], [undef, undef],
         'its names are null');

($code, $b) = info('10000:e0:06.0');
ok t_cmp($code, 200, 'a 5-digit (VMD) domain works');
ok t_cmp($b->{address}, '10000:e0:06.0', 'and keeps its five digits');

($code, $b) = info('0000:05:00.0');
ok t_cmp($b->{driver}, 'vfio-pci', 'a device on vfio-pci says so');

($code, $b) = info('10000:E0:06.0');
ok t_cmp($b->{address}, '10000:e0:06.0', 'upper case input is canonicalised');

($code, $b, $res) = info('01:00.0');
ok t_cmp($code, 400, 'the short form is a 400');
ok t_cmp($b->{error}, 'invalid PCI address format: 01:00.0 (expected format: '
         . '0000:01:00.0)', 'with the exact Volant message');

($code, $b) = info('0000:01:00.0/../../..');
ok t_cmp($code, 400, 'a traversal suffix is a 400');
($code, $b) = info("0000:01:00.0\n");
ok t_cmp($code, 400, 'a trailing newline is a 400');

($code, $b, $res) = info('0000:09:00.0');
ok t_cmp($code, 404, 'an absent device is a 404');
ok t_cmp($b->{error}, 'PCI device not found: 0000:09:00.0', 'Volant message');
ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'a JSON error');

($code, $b) = post_json(api('/devices/info'), {});
ok t_cmp($code, 400, 'a missing pci_address is a 400');
ok t_cmp($b->{error}, 'missing required field: pci_address', 'named');
($code, $b) = post_json(api('/devices/info'), { pci_address => 1 });
ok t_cmp($b->{error}, 'field pci_address must be a string', 'wrong type');
($code, $b) = post_json(api('/devices/info'),
                        { pci_address => '0000:01:00.0', extra => [1] });
ok t_cmp($code, 200, 'unknown fields are ignored');
($code, $b) = post_json(api('/devices/info'), { pci_address => ['0000:01:00.0'] });
ok t_cmp($code, 400, 'an array where a string belongs is a 400');
