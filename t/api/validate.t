# POST /devices/validate: every device checked, every problem listed, always
# 200 once the body parses.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 24;

sub validate { return post_json(api('/devices/validate'), { @_ }) }

my ($code, $b) = validate(pci_addresses => ['0000:01:00.0', '0000:01:00.1']);
ok t_cmp($code, 200, 'valid devices: 200');
ok t_cmp($b, { valid => JSON::PP::true, message =>
               'All devices are valid and available for passthrough',
               warnings => [] },
         'the Volant success body (and no warning on a ready host)');

($code, $b) = validate(pci_addresses => ['01:00.0']);
ok t_cmp($code, 200, 'a malformed address: still 200');
ok t_cmp($b->{valid}, JSON::PP::false, 'not valid');
my $fmt = 'invalid PCI address format: 01:00.0 (expected format: 0000:01:00.0)';
ok t_cmp($b->{errors}, [$fmt], 'one error');
ok t_cmp($b->{message}, $fmt, 'message equals the single error');

($code, $b) = validate(pci_addresses => ['0000:09:00.0', '01:00.0',
                                         '0000:04:00.0', '0000:00:01.0'],
                       allowlist => ['10de:*']);
ok t_cmp($b->{errors}, [
    'PCI device not found: 0000:09:00.0',
    $fmt,
    'device 0000:04:00.0 (1af4:1041) not in allowlist',
    'device 0000:04:00.0 has no IOMMU group',
    'device 0000:00:01.0 (8086:1901) not in allowlist',
    'device 0000:00:01.0 is a bridge, not an endpoint: it cannot be passed through',
], 'every problem of every device, in request order');
ok t_cmp($b->{message}, join('; ', @{$b->{errors}}[0 .. 4]) . '; and 1 more problems',
         'message joins the first five and counts the rest');

($code, $b) = validate(pci_addresses => ['0000:01:00.0'], allowlist => ['10DE:2204']);
ok t_cmp($b->{valid}, JSON::PP::true, 'allowlist patterns are case-insensitive');
($code, $b) = validate(pci_addresses => ['0000:01:00.0'], allowlist => ['1002:*']);
ok t_cmp($b->{errors}, ['device 0000:01:00.0 (10de:2204) not in allowlist'],
         'a device outside the client allowlist');
($code, $b) = validate(pci_addresses => ['0000:01:00.0'], allowlist => []);
ok t_cmp($b->{valid}, JSON::PP::true, 'an empty allowlist restricts nothing');

($code, $b) = validate(pci_addresses => ['0000:01:00.0'], allowlist => ['nvidia']);
ok t_cmp($code, 400, 'an invalid pattern is a 400');
ok t_cmp($b->{error}, 'invalid allowlist pattern: nvidia (expected vvvv:dddd '
         . 'or vvvv:*)', 'naming it');
($code, $b) = validate(pci_addresses => ['0000:01:00.0'], allowlist => '10de:*');
ok t_cmp($code, 400, 'allowlist must be an array');

($code, $b) = validate(pci_addresses => ['0000:01:00.0', '0000:01:00.0']);
ok t_cmp($b->{valid}, JSON::PP::true, 'duplicates are fine');
($code, $b) = validate(pci_addresses => ['0000:09:00.0', '0000:09:00.0']);
ok t_cmp(scalar @{$b->{errors}}, 1, 'duplicates are reported once');
($code, $b) = validate(pci_addresses => ['10000:E0:06.0', '10000:e0:06.0',
                                         '0000:09:00.0']);
ok t_cmp($b->{errors}, ['PCI device not found: 0000:09:00.0'],
         'duplicates compare in canonical form');

($code, $b) = validate(pci_addresses => []);
ok t_cmp($code, 400, 'an empty list is a 400');
ok t_cmp($b->{error}, 'pci_addresses must not be empty', 'named');
($code, $b) = validate(pci_addresses => '0000:01:00.0');
ok t_cmp([$code, $b->{error}], [400, 'field pci_addresses must be an array of strings'],
         'a string where an array belongs');
($code, $b) = validate(pci_addresses => [1, 2]);
ok t_cmp($code, 400, 'numbers in the list');
($code, $b) = validate();
ok t_cmp($b->{error}, 'missing required field: pci_addresses', 'missing list');

# The server's allowlist applies too when configured.
Apache::TestRequest::module('vv_allow');
($code, $b) = validate(pci_addresses => ['0000:01:00.0', '0000:03:00.0']);
ok t_cmp($b->{errors}, ['device 0000:03:00.0 (1234:11e8) not in server '
                        . 'allowlist (VolantVfioAllow)'],
         'a device outside VolantVfioAllow');
($code, $b) = validate(pci_addresses => ['0000:02:00.0']);
ok t_cmp($b->{valid}, JSON::PP::true, 'a device inside VolantVfioAllow');
