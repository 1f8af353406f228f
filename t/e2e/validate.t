# POST /api/v1/vfio/devices/validate judges the VM's devices the way API.md
# says: the test devices pass (with a warning for each one the kernel
# cannot reset); every problem of a request is listed, with
# Volant's texts for a bad address, an absent device and a request allowlist.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib';
use VVE2E qw(api devices guest_ok require_module);

require_module();
my $devs = devices();
my @test = map { $devs->{$_}{address} } qw(VMXNET3 NVME EDU VNET0 VNET1);

my $r = api(POST => '/api/v1/vfio/devices/validate', { pci_addresses => \@test });
is($r->{status}, 200, 'answers 200');
my %body = %{ $r->{json} // {} };
my $warnings = delete $body{warnings};
is_deeply(\%body, { valid => JSON::PP::true,
    message => 'All devices are valid and available for passthrough' },
    'the test devices are valid for passthrough');
# The warnings say what the guest's kernel says: a device without
# reset_method is named, one with it is not; nothing else on this host
# (interrupt remapping on, no ACS override, integrated endpoints).
my @want = grep { guest_ok("test -e /sys/bus/pci/devices/$_/reset_method && echo 1 || echo 0") =~ /0/ } @test;
is_deeply([sort map { /^device (\S+) has no reset method/ ? $1 : "other: $_" } @{ $warnings // [] }],
    [sort @want], 'warnings: exactly the devices without a reset method ('
    . (join(', ', @want) || 'none') . ')');

my $vmx = $devs->{VMXNET3}{address};
$r = api(POST => '/api/v1/vfio/devices/validate',
    { pci_addresses => [$devs->{NVME}{address}, $vmx], allowlist => ['1b36:*'] });
is($r->{status}, 200, 'an allowlist refusal is still 200');
ok(!$r->{json}{valid}, 'a device outside the request allowlist is invalid');
is_deeply($r->{json}{errors}, ["device $vmx (15ad:07b0) not in allowlist"], 'named with its IDs');
is($r->{json}{message}, $r->{json}{errors}[0], 'one problem: message equals it');

$r = api(POST => '/api/v1/vfio/devices/validate',
    { pci_addresses => ['0000:00:1e.0', '00:03.0', $vmx], allowlist => ['1b36:*'] });
ok(!$r->{json}{valid}, 'three bad devices: invalid');
is_deeply([sort @{ $r->{json}{errors} // [] }], [sort
    'PCI device not found: 0000:00:1e.0',
    'invalid PCI address format: 00:03.0 (expected format: 0000:01:00.0)',
    "device $vmx (15ad:07b0) not in allowlist"], 'every problem is listed, not just the first');

# The host bridge is outside VolantVfioAllow (and not an endpoint).
$r = api(POST => '/api/v1/vfio/devices/validate', { pci_addresses => ['0000:00:00.0'] });
ok(!$r->{json}{valid}, "a device outside the server's VolantVfioAllow is invalid");
like(join("\n", @{ $r->{json}{errors} // [] }), qr/0000:00:00\.0/, 'the error names it');

$r = api(POST => '/api/v1/vfio/devices/validate', { pci_addresses => [$vmx], allowlist => ['zz:*'] });
is($r->{status}, 400, 'an invalid allowlist pattern is 400');
like($r->{json}{error} // '', qr/zz:\*/, 'naming the pattern');

done_testing();
