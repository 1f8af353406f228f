# The API key: accepted in the three headers Volant clients use, never in the
# query string; 401 JSON otherwise; composing with Require ip as an authz
# provider does.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 29;

my $key = 'test-key-0123456789abcdef';
my $path = api('/devices/info');
my $body = { pci_address => '0000:01:00.0' };

for my $vhost (qw(vv_key vv_key_only)) {
    my ($code, $b, $res) = post_as($vhost, $path, $body);
    ok t_cmp($code, 401, "$vhost: no key is a 401");
    ok t_cmp($b, { error => 'invalid api key' }, "$vhost: Volant's message, as JSON");
    ok t_cmp($res->header('WWW-Authenticate'), qr/^Bearer /, "$vhost: with a challenge");
    ($code) = post_as($vhost, $path, $body, 'X-API-Key' => 'wrong');
    ok t_cmp($code, 401, "$vhost: a wrong key is a 401");
    ($code) = post_as($vhost, $path, $body, 'X-API-Key' => $key);
    ok t_cmp($code, 200, "$vhost: X-API-Key");
    ($code) = post_as($vhost, $path, $body, 'X-Volant-API-Key' => $key);
    ok t_cmp($code, 200, "$vhost: X-Volant-API-Key");
    ($code) = post_as($vhost, $path, $body, 'Authorization' => "Bearer $key");
    ok t_cmp($code, 200, "$vhost: Authorization: Bearer");
    ($code) = post_as($vhost, $path, $body, 'Authorization' => 'Bearer wrong');
    ok t_cmp($code, 401, "$vhost: a wrong key in Authorization: Bearer is a 401");
    ($code) = post_as($vhost, $path, $body, 'X-API-Key' => "${key}x");
    ok t_cmp($code, 401, "$vhost: the key with a suffix is wrong");
}

my $url_key = 'invalid api key: a key in the URL (?api_key=) is not taken, because URLs end up '
    . 'in access logs; send it in the X-API-Key header (or X-Volant-API-Key, or '
    . 'Authorization: Bearer)';
my ($code, $b) = post_as('vv_key', api("/devices/info?api_key=$key"), $body);
ok t_cmp([$code, $b->{error}], [401, $url_key],
         'a key in the query string is not accepted, and the 401 says why');
Apache::TestRequest::module('vv_key');
my (undef, undef, $res) = request_raw('GET', api("/host?x=1&api_key=$key"));
ok t_cmp([$res->code, $res->content =~ /because URLs end up in access logs/ ? 1 : 0], [401, 1],
         'nor on a GET, wherever api_key sits in the query');

($code) = post_as('vv_keyfile', $path, $body, 'X-API-Key' => 'file-key-0123456789abcdef');
ok t_cmp($code, 200, 'VolantVfioApiKeyFile: the key from the file');
($code) = post_as('vv_keyfile', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 401, 'VolantVfioApiKeyFile: another key is wrong');

($code) = post_as('vv_key_ip', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 200, 'RequireAll ip (allowed) + key: granted with the key');
($code) = post_as('vv_key_ip', $path, $body);
ok t_cmp($code, 401, 'RequireAll ip (allowed) + key: 401 without it');

($code) = post_as('default', $path, $body);
ok t_cmp($code, 200, 'no key configured: open');

# README's configuration with a nested section that names only an address
# (an operator narrowing /devices to loopback): the nested section's own
# Require lines replace the outer ones, so authorization never asks for
# the key there; the module does.
($code, $b) = post_as('vv_key_nested', $path, $body);
ok t_cmp([$code, $b->{error}], [401, 'invalid api key'],
         'a nested <Location> with only Require ip: the key is still required');
($code) = post_as('vv_key_nested', $path, $body, 'X-API-Key' => $key);
ok t_cmp($code, 200, 'and accepted there');
($code, $b) = post_as('vv_key_nested', api('/devices/bind'),
                      { pci_addresses => ['0000:01:00.0'] });
ok t_cmp($code, 401, 'a bind below it without the key: 401, before anything else');

# The module never logs the key (the access log records URLs as clients
# sent them, the query-string attempt above included).
my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> // '' };
ok t_cmp(index($log, $key), -1, 'the key appears nowhere in the error log');
