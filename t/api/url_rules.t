# The operator's URL rules apply to the API: a server-level Redirect
# (mod_alias) and RewriteRule [F] (mod_rewrite) answer before the module
# claims its URIs, whichever order the modules were loaded in.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 5;

my $body = { pci_addresses => ['0000:01:00.0'] };
local $VVSchema::operator_rules = 1;
my ($code) = post_as('vv_url_rules', api('/devices/unbind'), $body);
ok t_cmp($code, 410, 'Redirect 410 retires unbind');
my $b0;
($code, $b0) = post_as('vv_url_rules', api('/devices/bind'), $body);
ok t_cmp([$code, $b0->{message}], [403, undef],
         'RewriteRule [F] forbids bind (httpd answers, not the module)');
my $res;
($code, undef, $res) = post_as('vv_url_rules', api('/devices/bind'), $body);
ok t_cmp($res->header('Content-Type') // '', qr{^application/json},
         'the refusal is still JSON on the API');
$VVSchema::operator_rules = 0;
($code) = post_as('vv_url_rules', api('/devices/info'),
                  { pci_address => '0000:01:00.0' });
ok t_cmp($code, 200, 'the rest of the API is served as before');
my $b;
($code, $b) = post_as('default', api('/devices/bind'), $body);
ok t_cmp($b->{message} // '', qr/VolantVfioAllow/,
         'and the rules belong to that virtual host alone: elsewhere the '
         . 'module answers (here: no allowlist)');
