# Browsers cannot drive the API: with the shipped `Require local` and no
# key, any page a browser on the host opens could otherwise bind through
# DNS rebinding or a cross-origin POST.  A Host that is not one of the
# server's names or a literal address is refused (403, before the key is
# asked for); a request a browser marks as cross-origin is refused unless
# VolantVfioCorsOrigin lists the origin, which then gets CORS headers and
# preflights answered without a key.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 21;

my $key = 'test-key-0123456789abcdef';
my $path = api('/devices/info');
my $body = { pci_address => '0000:01:00.0' };

my ($code, $b, $res) = post_as('default', $path, $body, Host => 'attacker.example');
ok t_cmp([$code, $b->{error}],
         [403, 'host attacker.example is not a name of this server (DNS rebinding?): use its name or address'],
         'a rebinding Host: 403 naming it');
ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'as JSON');
# The machine's own names are names of this server, whatever ServerName
# says (make run names 127.0.0.1 only): its host name and its FQDN.
{
    use Socket qw(getaddrinfo AI_CANONNAME);
    use Sys::Hostname qw(hostname);
    my $short = hostname();
    my ($err, @ai) = getaddrinfo($short, undef, { flags => AI_CANONNAME });
    my $fqdn = !$err && @ai && $ai[0]{canonname} ? $ai[0]{canonname} : $short;
    for my $name ($short, $fqdn, uc $short) {
        my ($c) = post_as('default', $path, $body, Host => $name);
        ok t_cmp($c, 200, "Host: $name (this machine's own name) is served");
    }
    ($code) = post_as('default', $path, $body, Host => "$short.attacker.example");
    ok t_cmp($code, 403, 'a name that only starts with it is still refused');
}
($code) = post_as('vv_key', $path, $body, Host => 'attacker.example');
ok t_cmp($code, 403, 'refused before the key is asked for (403, not 401)');
($code) = post_as('default', $path, $body, Host => '127.0.0.1');
ok t_cmp($code, 200, 'a literal IPv4 address is fine');
($code) = post_as('default', $path, $body, Host => '[::1]');
ok t_cmp($code, 200, 'a literal IPv6 address too');

($code, $b) = post_as('default', $path, $body, Origin => 'http://evil.example');
ok t_cmp([$code, $b->{error}],
         [403, qr/^cross-origin request from http:\/\/evil\.example refused: list the origin with VolantVfioCorsOrigin/],
         'a cross-origin POST: 403');
($code, $b) = post_as('default', $path, $body, 'Sec-Fetch-Site' => 'cross-site');
ok t_cmp($code, 403, 'Sec-Fetch-Site: cross-site without Origin: 403');
my $self = 'http://' . Apache::TestRequest::hostport(Apache::Test::config());
($code) = post_as('default', $path, $body, Origin => $self);
ok t_cmp($code, 200, "a same-origin POST ($self) is fine");

my $console = 'https://console.example:8443';
($code, $b, $res) = post_as('vv_cors', $path, $body, Origin => $console,
                            'X-API-Key' => $key);
ok t_cmp([$code, $res->header('Access-Control-Allow-Origin')], [200, $console],
         'a listed origin with the key: 200 with its CORS header');
ok t_cmp($res->header('Vary') // '', qr/Origin/, 'and Vary: Origin');
($code, $b, $res) = post_as('vv_cors', $path, $body, Origin => $console);
ok t_cmp([$code, $res->header('Access-Control-Allow-Origin')], [401, $console],
         'without the key: a 401 the page can read');
{
    local $Apache::TestRequest::Module = Apache::TestRequest::module();
    Apache::TestRequest::module('vv_cors');
    ($code, $b, $res) = request_raw('OPTIONS', $path,
        [Origin => $console, 'Access-Control-Request-Method' => 'POST',
         'Access-Control-Request-Headers' => 'content-type,x-api-key']);
    ok t_cmp($code, 204, 'its preflight, which carries no key: 204');
    ok t_cmp([map { $res->header($_) // '' } qw(Access-Control-Allow-Origin
              Access-Control-Allow-Methods Access-Control-Allow-Headers)],
             [$console, 'GET, POST, OPTIONS', qr/X-API-Key/],
             'with the CORS answer');
    ($code) = request_raw('OPTIONS', $path,
        [Origin => 'https://other.example', 'Access-Control-Request-Method' => 'POST']);
    ok t_cmp($code, 403, 'a preflight from an origin not listed: 403');
}
($code, $b, $res) = post_as('vv_cors', $path, $body, Origin => 'https://console.example',
                            'X-API-Key' => $key);
ok t_cmp($code, 403, 'the same host on another port is another origin: 403');
($code, $b, $res) = post_as('default', $path, $body, Origin => $console);
ok t_cmp($code, 403, 'an origin listed for one virtual host only: 403 on the others');
my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> } // '';
ok t_cmp($log, qr/VFIO10504: cross-origin request from http:\/\/evil\.example refused/,
         'each refusal is logged');
