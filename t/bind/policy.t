# What bind refuses before it writes anything: devices outside the
# allowlist (or no allowlist at all), bridges, incomplete IOMMU groups
# (strict), hosts without an IOMMU or vfio-pci; and what companions does.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 29;

sub no_writes {
    my $log = do { local (@ARGV, $/) = (mount() . '/sim/log'); <> } // '';
    return $log eq '' ? 1 : $log;
}

sim_load('mixed-host');
Apache::TestRequest::module('default');
my ($code, $b) = bind('0000:04:00.0');
ok t_cmp($code, 403, 'no allowlist configured: 403');
ok t_cmp($b->{message}, qr/VolantVfioAllow/, 'the message names the directive');
($code, $b) = unbind('0000:05:00.0');
ok t_cmp([$code, $b->{message}], [403, qr/^unbind refused: .*VolantVfioAllow/],
         'so is unbind');
sim_load('mixed-host');

Apache::TestRequest::module('vv_bind');
($code, $b) = bind('0000:00:14.2');
ok t_cmp([$code, $b->{message}],
         [403, 'device 0000:00:14.2 (8086:a1b1) not in allowlist (VolantVfioAllow)'],
         'a device outside VolantVfioAllow');
($code, $b) = bind('0000:00:01.0');
ok t_cmp([$code, $b->{message}], [403, 'device 0000:00:01.0 is a bridge, not an '
         . 'endpoint: it cannot be passed through'], 'a bridge');
($code, $b) = bind('10000:e0:00.0');
ok t_cmp($code, 403, 'a device without a group outside the allowlist');
($code, $b) = bind('0000:01:00.0');
ok t_cmp($code, 403, 'strict: half a group is refused');
ok t_cmp($b->{message}, qr/IOMMU group 2 would not be viable: .*0000:01:00\.1 \(snd_hda_intel\).*VolantVfioGroupPolicy companions/,
         'naming the missing member and the way out');
($code, $b) = bind('0000:01:00.0', 'bogus');
ok t_cmp([$code, $b->{message}], [400, 'invalid PCI address format: bogus '
         . '(expected format: 0000:01:00.0)'], 'a malformed address');
($code, $b) = bind('0000:0c:00.0');
ok t_cmp([$code, $b->{message}], [404, 'PCI device not found: 0000:0c:00.0'],
         'an absent device');
($code, $b) = post_json(api('/devices/bind'), { pci_addresses => [] });
ok t_cmp([$code, $b->{success}], [400, JSON::PP::false], 'an empty list');
($code, $b) = request_raw('POST', api('/devices/bind'), ['Content-Type' => 'text/plain'], '{}');
ok t_cmp([$code, $b->{success}], [415, JSON::PP::false], 'a wrong media type, same shape');
ok t_cmp(no_writes(), 1, 'not one sysfs write for any of them');

# companions
Apache::TestRequest::module('vv_bind_companions');
($code, $b) = bind('0000:01:00.0');
ok t_cmp($code, 200, 'companions: the GPU alone is enough');
ok t_cmp($b->{bound_devices}, ['0000:01:00.0', '0000:01:00.1'], 'its audio came along');
ok t_cmp([map { $_->{requested} ? 1 : 0 } @{$b->{devices}}], [1, 0],
         'marked as not requested');
ok t_cmp(record_of('0000:01:00.1')->{companion_of}, '0000:01:00.0',
         'recorded as a companion');
($code, $b) = unbind('0000:01:00.0');
ok t_cmp($code, 200, 'unbinding the GPU');
ok t_cmp([driver_of('0000:01:00.0'), driver_of('0000:01:00.1')],
         ['nvidia', 'snd_hda_intel'], 'releases its companion too');
ok t_cmp([records()], [], 'no record left');
sim_load('gpu-host');
Apache::TestRequest::module('vv_bind_narrow');
($code, $b) = bind('0000:02:00.0');
ok t_cmp($code, 403, 'companions: a companion outside the allowlist');
ok t_cmp($b->{message}, qr/0000:02:00\.1 \(10de:10f8\) shares IOMMU group 4/,
         'is named');
Apache::TestRequest::module('vv_bind_companions');
($code, $b) = bind('0000:02:00.0');
ok t_cmp([$code, scalar @{$b->{bound_devices}}], [200, 4],
         'a four-function GPU group moves as one');
my (undef, $g) = post_json(api('/devices/iommu-groups'), { pci_addresses => ['0000:02:00.0'] });
ok t_cmp($g->[0]{viable}, JSON::PP::true, 'and the group is viable');
($code) = unbind('0000:02:00.0');
ok t_cmp([map { driver_of("0000:02:00.$_") } 0 .. 3],
         ['nvidia', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'],
         'every function back on its own driver');

Apache::TestRequest::module('vv_bind');
sim_load('noiommu-host');
($code, $b) = bind(first_endpoint());
ok t_cmp([$code, $b->{message}], [409, 'IOMMU not enabled on this system'],
         'no IOMMU: 409');
ok t_cmp(no_writes(), 1, 'and no write');
sim_load('novfio-host');
($code, $b) = bind(first_endpoint());
ok t_cmp([$code, $b->{message}], [409, 'driver vfio-pci is not loaded (modprobe vfio-pci)'],
         'vfio-pci not loaded: 409');
ok t_cmp(no_writes(), 1, 'and no write');
sim_load('mixed-host');

# The first allowlisted endpoint of the loaded host.
sub first_endpoint {
    my (undef, $all) = get_json(api('/devices?vendor=10de'));
    return (grep { !$_->{is_bridge} } @$all)[0]{address};
}
