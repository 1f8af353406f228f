# GET /devices: every function of the host through libpci, sorted, with
# filters; GET /host: what passthrough needs, checked.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 24;

my @want = sort map { s{.*/}{}r } glob(sysfs_root() . '/bus/pci/devices/*');

my ($code, $b, $res) = get_json(api('/devices'));
ok t_cmp($code, 200, 'the list');
ok t_cmp([map { $_->{address} } @$b], \@want,
         'every function sysfs has, sorted by address');
my ($gpu) = grep { $_->{address} eq '0000:01:00.0' } @$b;
my (undef, $info) = post_json(api('/devices/info'), { pci_address => '0000:01:00.0' });
ok t_cmp($gpu, $info, 'each entry is the info object');
my ($bridge) = grep { $_->{address} eq '0000:00:01.0' } @$b;
ok t_cmp($bridge->{is_bridge}, JSON::PP::true, 'bridges are marked');

($code, $b) = get_json(api('/devices?vendor=10de'));
ok t_cmp([sort map { $_->{vendor} } @$b], [('10de') x scalar @$b], 'vendor filter');
ok t_cmp(scalar(@$b) >= 3 ? 1 : 0, 1, 'several NVIDIA functions');
($code, $b) = get_json(api('/devices?vendor=10DE&class=03'));
ok t_cmp([map { $_->{address} } @$b], ['0000:01:00.0', '0000:05:00.0'],
         'vendor and base class together');
# The bridges of t/topologies/read-api.json (classes 0600, 0604, 0604).
($code, $b) = get_json(api('/devices?class=06'));
ok t_cmp([[map { $_->{address} } @$b], [grep { $_->{class} !~ /^06/ } @$b]],
         [['0000:00:00.0', '0000:00:01.0', '0000:00:1e.0'], []],
         'a base-class filter');
($code, $b) = get_json(api('/devices?driver=vfio-pci'));
ok t_cmp([map { $_->{address} } @$b], ['0000:05:00.0', '0000:07:00.0'],
         'driver filter');
# The fixture's devices with "driver": null.
($code, $b) = get_json(api('/devices?driver='));
ok t_cmp([[map { $_->{address} } @$b], [grep { $_->{driver} ne '' } @$b]],
         [['0000:00:00.0', '0000:00:1e.0', '0000:03:00.0', '0000:06:00.0', '0000:0a:00.1'], []],
         'driver= lists driverless devices');
($code, $b) = get_json(api('/devices?device=1aef'));
ok t_cmp([map { $_->{address} } @$b], ['0000:01:00.1'], 'device filter');
($code, $b) = get_json(api('/devices?unknown=1'));
ok t_cmp($code, 200, 'unknown parameters are ignored');

($code, $b, $res) = get_json(api('/devices?vendor=nvidia'));
ok t_cmp([$code, $b->{error}], [400, 'invalid vendor filter: nvidia'],
         'a bad vendor filter');
($code, $b) = get_json(api('/devices?class=030'));
ok t_cmp($code, 400, 'an odd-length class filter');

($code, $b) = get_json(api('/host'));
ok t_cmp($code, 200, 'the host report');
ok t_cmp([@{$b}{qw(iommu_enabled vfio_pci_available vfio_container)}],
         [JSON::PP::true, JSON::PP::true, JSON::PP::true],
         'IOMMU on, vfio-pci loaded, container present');
my @groups = glob(sysfs_root() . '/kernel/iommu_groups/*');
ok t_cmp($b->{iommu_group_count}, scalar @groups, 'group count from sysfs');
ok t_cmp($b->{kernel}, '6.1.0-sim', 'kernel release');
ok t_cmp([$b->{helper}{running}, $b->{helper}{pid} =~ /^\d+$/ ? 1 : 0],
         [JSON::PP::true, 1], 'the privileged helper is up, with its pid');
ok t_cmp(scalar(grep { /VolantVfioAllow/ } @{$b->{problems}}), 1,
         'without an allowlist the report says how to add one');

Apache::TestRequest::module('vv_companions');
($code, $b) = get_json(api('/host'));
ok t_cmp([$b->{group_policy}, $b->{allowlist}], ['companions', ['10de:*']],
         "the virtual host's policy and allowlist");
ok t_cmp(scalar(grep { /VolantVfioAllow/ } @{$b->{problems}}), 0,
         'with one, no such problem');
Apache::TestRequest::module('default');
ok t_cmp((get_json(api('/host')))[1]{group_policy}, 'companions', 'the default group policy is companions');
Apache::TestRequest::module('vv_bind');
ok t_cmp((get_json(api('/host')))[1]{group_policy}, 'strict',
         'VolantVfioGroupPolicy strict is reported');
