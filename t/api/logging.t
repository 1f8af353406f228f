# Logging fits httpd: LogLevel volant_vfio:debug shows each request, every
# line the module writes carries its VFIOnnnnn tag, and a request body never
# reaches the log.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 4;

my $marker = 'marker-' . time . '-0000:01:00.0';
post_json(api('/devices/info'), { pci_address => '0000:01:00.0', note => $marker });
post_json(api('/devices/info'), { pci_address => 'not-an-address' });
# bind answers in its own shape; its refusals are logged all the same.
my $tag = 'x' . time;
post_json(api('/devices/bind'), "{\"pci_addresses\": [\"$tag");
post_json(api('/devices/bind'), { pci_addresses => ['0000:01:00.0'] });
my @lines = grep { /\[volant_vfio:/ } split /\n/, do { local (@ARGV, $/) = 't/logs/error_log'; <> };

ok t_cmp(scalar(grep { /\[volant_vfio:debug\].*VFIO10002: POST \/api\/v1\/vfio\/devices\/info: 200 in \d+ us/ } @lines) > 0 ? 1 : 0,
         1, 'LogLevel volant_vfio:debug shows each request');
ok t_cmp([grep { !/\] VFIO\d{5}: / && !/ VFIO\d{5}: / } @lines], [],
         'every module line carries a VFIO tag');
ok t_cmp(scalar(grep { /\Q$marker\E/ } @lines), 0, 'no request body in the log');
ok t_cmp([scalar(grep { m{VFIO10401: 400 /api/v1/vfio/devices/bind: } } @lines) > 0 ? 1 : 0,
          scalar(grep { m{VFIO10401: 403 /api/v1/vfio/devices/bind: .*VolantVfioAllow} } @lines) > 0 ? 1 : 0],
         [1, 1], 'bind refusals, the worker\'s own and the helper\'s, are logged');
