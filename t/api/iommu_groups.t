# POST /devices/iommu-groups: every member of each group, not just the ones
# asked for, in order of first appearance, with viability.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 17;

sub groups { return post_json(api('/devices/iommu-groups'),
                              { pci_addresses => [@_] }) }

my ($code, $b) = groups('0000:01:00.0');
ok t_cmp($code, 200, 'one device');
ok t_cmp(scalar @$b, 1, 'one group');
ok t_cmp($b->[0]{id}, '2', 'its id, a string');
ok t_cmp($b->[0]{devices}, ['0000:01:00.0', '0000:01:00.1'],
         'every member, the audio function included, sorted');
ok t_cmp($b->[0]{viable}, JSON::PP::false, 'on host drivers: not viable');
ok t_cmp($b->[0]{members}, [
    { address => '0000:01:00.0', driver => 'nvidia', is_bridge => JSON::PP::false },
    { address => '0000:01:00.1', driver => 'snd_hda_intel', is_bridge => JSON::PP::false },
], 'members with their drivers');

($code, $b) = groups('0000:02:00.0', '0000:01:00.1', '0000:01:00.0');
ok t_cmp([map { $_->{id} } @$b], ['3', '2'],
         'distinct groups in order of first appearance');

($code, $b) = groups('0000:05:00.0');
ok t_cmp($b->[0]{viable}, JSON::PP::true, 'a group on vfio-pci is viable');

($code, $b) = groups('0000:07:00.0');
ok t_cmp($b->[0]{devices}, ['0000:07:00.0', '0000:08:00.0'],
         'a shared group lists the unrelated member');
ok t_cmp($b->[0]{viable}, JSON::PP::false,
         'one member on vfio-pci, one on a host driver: not viable');

($code, $b) = groups('0000:0a:00.0');
ok t_cmp($b->[0]{viable}, JSON::PP::true,
         'pci-stub, driverless members and a bridge keep a group viable');

($code, $b) = groups('0000:04:00.0');
ok t_cmp($code, 409, 'a device with no group: 409');
ok t_cmp($b->{error}, 'device 0000:04:00.0 has no IOMMU group', 'says so');

($code, $b) = groups('0000:09:00.0');
ok t_cmp([$code, $b->{error}], [404, 'PCI device not found: 0000:09:00.0'],
         'an absent device: 404');
($code, $b) = groups('0000:01:00.0', 'bogus');
ok t_cmp($code, 400, 'a malformed address: 400');
ok t_cmp($b->{error}, 'invalid PCI address format: bogus (expected format: '
         . '0000:01:00.0)', 'with the format message');
($code, $b) = post_json(api('/devices/iommu-groups'), { pci_addresses => [] });
ok t_cmp($code, 400, 'an empty list: 400');
