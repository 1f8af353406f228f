# The request rules every endpoint shares: media type, size caps, methods,
# paths and body syntax, each a JSON error with the contract's status.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use File::Path ();
use VVTest;

plan tests => 48;

my $info = api('/devices/info');
my $good = '{"pci_address":"0000:01:00.0"}';

sub raw_post {
    my ($path, $ct, $content) = @_;
    return request_raw('POST', $path, [$ct ? ('Content-Type' => $ct) : ()],
                       $content);
}

# media type
my ($code, $b, $res) = raw_post($info, 'text/plain', $good);
ok t_cmp($code, 415, 'text/plain is a 415');
ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'as JSON');
($code) = raw_post($info, undef, $good);
ok t_cmp($code, 415, 'no Content-Type is a 415');
($code) = raw_post($info, 'application/json; charset=utf-8', $good);
ok t_cmp($code, 200, 'parameters are allowed');
($code) = raw_post($info, 'Application/JSON', $good);
ok t_cmp($code, 200, 'the type is case-insensitive');
($code) = raw_post($info, 'application/jsonx', $good);
ok t_cmp($code, 415, 'a longer type is not JSON');

# body syntax
for my $case (['{"pci_address":', 'truncated JSON'],
              ['not json', 'not JSON at all'],
              ['[1,2]', 'an array'],
              ['"0000:01:00.0"', 'a bare string'],
              ['', 'an empty body'],
              ["$good junk", 'trailing garbage'],
              ['{"pci_address":"0000:01:00.0\u0000x"}', 'an escaped NUL'],
              ["{\"pci_address\":\"0000:01:00.0\0\"}", 'a raw NUL byte'],
              ["{\"pci_address\":\"\xff\xfe\"}", 'invalid UTF-8'],
              ["{\"pci_address\":\"\xc0\xaf\"}", 'an overlong UTF-8 sequence'],
              [('[' x 2000) . (']' x 2000), 'deep nesting']) {
    ($code, $b, $res) = raw_post($info, 'application/json', $case->[0]);
    ok t_cmp($code, 400, "$case->[1] is a 400");
    ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'a JSON error');
}
($code, $b) = raw_post($info, 'application/json',
                       '{"pci_address":"0000:01:00.0","pci_address":"x"}');
ok t_cmp($code, 400, 'a duplicate key is a 400: parsers disagree on which counts');
ok t_cmp($b->{error}, 'duplicate key in request body: pci_address',
         'the error names the key');

# methods
($code, $b, $res) = request_raw('GET', $info);
ok t_cmp($code, 405, 'GET on a POST endpoint is a 405');
ok t_cmp($res->header('Allow'), 'POST, OPTIONS', 'Allow lists POST');
ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'as JSON');
for my $m (qw(PUT DELETE PATCH)) {
    ($code, $b, $res) = request_raw($m, $info, ['Content-Type' => 'application/json'], $good);
    ok t_cmp($code, 405, "$m is a 405");
}
($code, $b, $res) = request_raw('POST', api('/devices'),
                                ['Content-Type' => 'application/json'], '{}');
ok t_cmp([$code, $res->header('Allow')], [405, 'GET, HEAD, OPTIONS'],
         'POST on a GET endpoint');
($code, $b, $res) = request_raw('OPTIONS', $info);
ok t_cmp([$code, $res->header('Allow')], [204, 'POST, OPTIONS'], 'OPTIONS');
($code, $b, $res) = request_raw('HEAD', api('/host'));
ok t_cmp([$code, $res->content], [200, ''], 'HEAD on a GET endpoint: no body');

# paths
($code, $b, $res) = get_json(api('/nope'));
ok t_cmp($code, 404, 'an unknown path under the base is a 404');
ok t_cmp(is_json_error($res, $b) ? 1 : 0, 1, 'as JSON');
($code) = get_json(api('/devices/info/'));
ok t_cmp($code, 404, 'a trailing slash is another path');
# A directory of the same name under DocumentRoot changes nothing (no
# mod_dir redirect, no file walk): the URI is the module's.
my $docroot = Apache::Test::vars('documentroot');
my $made = "$docroot/api";
END { File::Path::remove_tree($made) if $made }   # also when get_json dies
File::Path::make_path("$made/v1/vfio/host");
($code, $b, $res) = get_json(api('/host'));
ok t_cmp([$code, $res->header('Content-Type')], [200, qr{^application/json}],
         'a same-named directory under DocumentRoot does not get in the way');
File::Path::remove_tree($made);

# size caps
Apache::TestRequest::module('vv_small_body');
my $big = '{"pci_address":"0000:01:00.0","pad":"' . ('x' x 100) . '"}';
($code, $b, $res) = raw_post($info, 'application/json', $big);
ok t_cmp($code, 413, 'over VolantVfioMaxBodySize with Content-Length');
ok t_cmp($b->{error}, 'request body too large (limit 64 bytes, VolantVfioMaxBodySize)',
         'the message names the limit');
# A chunked POST over a raw socket (LWP would send Content-Length).
my $chunks = join '', map { sprintf("%x\r\n%s\r\n", length, $_) } unpack('(a16)*', $big);
my ($st, $type, $text) = raw_http(parts => [
    "POST $info HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n$chunks" . "0\r\n\r\n"]);
ok t_cmp([$st, $type, $text],
         [413, qr{^application/json}, qr/^\{"error":"request body too large/],
         'over the cap with a chunked body, as JSON');

Apache::TestRequest::module('vv_limit_body');
($code, $b, $res) = raw_post($info, 'application/json', $big);
ok t_cmp($code, 413, "httpd's own LimitRequestBody");
ok t_cmp($b, { error => 'request body too large' }, 'is JSON too');

Apache::TestRequest::module('default');

