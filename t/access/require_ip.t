# Require ip denials are 403 JSON "access denied", whatever the key; the
# key provider composes in RequireAll and RequireAny.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 18;

my $key = 'test-key-0123456789abcdef';
my $path = api('/devices/info');
my $body = { pci_address => '0000:01:00.0' };

my ($code, $b, $res) = post_as('vv_ip_denied', $path, $body);
ok t_cmp($code, 403, 'a client outside Require ip: 403');
ok t_cmp($b, { error => 'access denied' }, 'as JSON');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'not an HTML page');
($code, $b, $res) = get_as('vv_ip_denied', '/openapi');
ok t_cmp([$code, $b->{error}], [403, 'access denied'], '/openapi too');

($code, $b) = post_as('vv_key_ip_denied', $path, $body, 'X-API-Key' => $key);
ok t_cmp([$code, $b->{error}], [403, 'access denied'],
         'RequireAll key + ip (denied): the right key does not get in');
($code, $b) = post_as('vv_key_ip_denied', $path, $body);
ok t_cmp([$code, $b->{error}], [403, 'access denied'],
         'RequireAll key + ip (denied): no key is a 403, not a 401');
($code, $b) = post_as('vv_key_ip_denied', $path, $body, 'X-API-Key' => 'wrong');
ok t_cmp($code, 403, 'RequireAll key + ip (denied): a wrong key too');

($code) = post_as('vv_key_or_ip', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 200, 'RequireAny ip (denied) or key: the key gets in');
($code, $b) = post_as('vv_key_or_ip', $path, $body);
ok t_cmp([$code, $b->{error}], [401, 'invalid api key'],
         'RequireAny ip (denied) or key: without it, 401');

# RequireAny as README documents it: the key line, then the address;
# either suffices.
($code) = post_as('vv_ip_or_key', $path, $body);
ok t_cmp($code, 200, 'RequireAny key or ip (admitted): no key needed');
($code) = post_as('vv_ip_or_key', $path, $body, 'X-API-Key' => 'wrong');
ok t_cmp($code, 200, 'RequireAny key or ip (admitted): a wrong key does not matter');
# The address first: httpd grants without asking the key provider, and
# the module, which cannot tell that from a section that never names the
# provider, insists on the key.  The fail-safe side; httpd warned.
($code, $b) = post_as('vv_ip_first_or_key', $path, $body);
ok t_cmp([$code, $b->{error}], [401, 'invalid api key'],
         'RequireAny ip (admitted) first, then key: the key is still asked for');
($code) = post_as('vv_ip_first_or_key', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 200, 'and accepted');
my $startup = do { local (@ARGV, $/) = 't/logs/error_log'; <> // '' };
ok t_cmp(scalar($startup =~ /VFIO10505: .*extra\.conf:\d+: Require volant-vfio-api-key is not the first line of its <RequireAny>/), 1,
         'httpd warned at start-up, naming the file and line');
# The fail-safe stays where no Require line names the key provider.
($code, $b) = post_as('vv_key_only', $path, $body);
ok t_cmp([$code, $b->{error}], [401, 'invalid api key'],
         'a key with no Require line: still required');
($code) = post_as('vv_key_only', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 200, 'and accepted');

($code) = post_as('default', $path, $body);
ok t_cmp($code, 200, 'the default host lets loopback in');
my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> // '' };
ok t_cmp(scalar($log =~ /AH01630: client denied by server configuration/), 1,
         'httpd logged its own denial');
