# Hostile input at every endpoint: malformed and truncated JSON, wrong types
# at every field, huge arrays and strings, deep nesting, NUL bytes and bad
# UTF-8, duplicate keys, path traversal, unusual methods, lying or missing
# lengths, chunked and stalled bodies, wrong media types, oversized headers.
# Each answers with the status API.md gives and a JSON body; none with a
# 5xx, a crash or a hang.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use JSON::PP ();
use Time::HiRes qw(time);
use VVTest;

my $json = JSON::PP->new->utf8->canonical;
my @posts = map { api("/devices/$_") } qw(info validate iommu-groups group-paths bind unbind);
my @gets = (api('/devices'), api('/host'), api('/records'), api('/usage'), '/openapi');
my %single = (api('/devices/info') => 1);
my @cases;

# A request and what it must get: status (number or regex) and, for 200,
# the field that must be there.
sub case { push @cases, { @_ } }

sub addresses_field { return $single{$_[0]} ? 'pci_address' : 'pci_addresses' }

# Well-formed requests carrying one hostile address.
sub with_address {
    my ($path, $addr) = @_;
    return $single{$path} ? { pci_address => $addr } : { pci_addresses => [$addr] };
}

# --- malformed and truncated JSON, every POST endpoint --------------------
for my $p (@posts) {
    for my $body ('{', '{"pci_address":', '{"pci_addresses":["0000:01:00.0"', 'nul',
                  '{"a":1,}', "{'pci_address':'0000:01:00.0'}", '[', ']', '{}}',
                  '{"pci_addresses":["0000:01:00.0"]} {}', '   ', '"\\ud800"') {
        case(name => "$p: malformed body " . substr($body, 0, 20), path => $p,
             body => $body, status => 400);
    }
}

# --- wrong types at every field --------------------------------------------
for my $p (@posts) {
    my $f = addresses_field($p);
    for my $v (1, 1.5, JSON::PP::true, {}, [[]], [1], [undef], ['0000:01:00.0', 7],
               [{}], '') {
        next if $single{$p} && ref $v eq '' && $v eq '';
        case(name => "$p: $f = " . $json->encode([$v]), path => $p,
             body => $json->encode({ $f => $v }), status => 400);
    }
}
for my $v ('10de:*', [1], [{}], ['nvidia'], ['10de:*', 5]) {
    case(name => 'validate: allowlist = ' . $json->encode([$v]),
         path => api('/devices/validate'),
         body => $json->encode({ pci_addresses => ['0000:01:00.0'], allowlist => $v }),
         status => 400);
}

# --- NUL bytes, invalid UTF-8, surrogates ---------------------------------
for my $p (@posts) {
    my $f = addresses_field($p);
    my $wrap = $single{$p} ? sub { qq({"$f":"$_[0]"}) } : sub { qq({"$f":["$_[0]"]}) };
    for my $bad ("0000:01:00.0\\u0000", "0000:01:00.0\0", "\xff\xfe", "\xc0\xaf",
                 "\xed\xa0\x80", "\xf4\x90\x80\x80") {
        case(name => "$p: " . ($bad =~ s/[^\x20-\x7e]/?/gr), path => $p,
             body => $wrap->($bad), status => 400);
    }
}

# --- path traversal and near-miss addresses --------------------------------
for my $p (@posts) {
    for my $addr ('0000:01:00.0/../../..', '../0000:01:00.0', '..%2F..%2Fetc',
                  '0000:01:00.0%00', "0000:01:00.0\n", ' 0000:01:00.0',
                  '/sys/bus/pci/devices/0000:01:00.0', '0000:01:00.0/driver',
                  '0000:01:00.0/../0000:01:00.1', '%2e%2e/0000:01:00.0',
                  ('9' x 5000) . ':01:00.0') {
        my $is_validate = $p =~ /validate$/;
        case(name => "$p: address " . substr($addr =~ s/\n/\\n/r, 0, 30), path => $p,
             body => $json->encode(with_address($p, $addr)),
             status => $is_validate ? 200 : 400,
             field => $is_validate ? 'errors' : undef);
    }
}

# --- duplicate keys, deep nesting, huge strings ----------------------------
for my $p (@posts) {
    my $f = addresses_field($p);
    # Parsers disagree on which duplicate wins: such a body is refused,
    # at the top level and nested.
    case(name => "$p: duplicate keys are a 400", path => $p,
         body => $single{$p} ? qq({"$f":"0000:01:00.0","$f":"../../x"})
                             : qq({"$f":["0000:01:00.0"],"$f":["../../x"]}),
         status => 400, message => "duplicate key in request body: $f");
    case(name => "$p: a duplicate key in a nested object is a 400", path => $p,
         body => qq({"$f":) . ($single{$p} ? '"0000:01:00.0"' : '["0000:01:00.0"]')
                 . ',"x":{"y":1,"y":2}}',
         status => 400, message => 'duplicate key in request body: y');
    case(name => "$p: nesting 5000 deep", path => $p,
         body => qq({"$f":) . ('[' x 5000) . (']' x 5000) . '}', status => 400);
    case(name => "$p: a 60 KB string", path => $p,
         body => $json->encode(with_address($p, 'x' x 60000)),
         status => $p =~ /validate$/ ? 200 : 400);
}

# --- huge arrays (100k entries; a virtual host with an 8 MB cap) -----------
for my $p (grep { !$single{$_} } @posts) {
    case(name => "$p: 100k copies of one absent address", path => $p,
         vhost => 'vv_big_body',
         body => $json->encode({ pci_addresses => [('0000:0c:00.0') x 100000] }),
         status => $p =~ m{/(un)?bind$} ? 403 : $p =~ /validate$/ ? 200 : 404,
         max_seconds => 5);
    case(name => "$p: 100k distinct malformed addresses", path => $p,
         vhost => 'vv_big_body',
         body => $json->encode({ pci_addresses => [map { "bad$_" } 1 .. 100000] }),
         status => $p =~ /validate$/ ? 200 : 400, max_seconds => 20);
}
case(name => 'bind: 256 distinct real-looking addresses', path => api('/devices/bind'),
     body => $json->encode({ pci_addresses => [map { sprintf('0000:%02x:00.0', $_ % 256) . '' }
                                               0 .. 255] }),
     # 256 well-formed addresses, at the per-request cap: the default virtual
     # host has no VolantVfioAllow, so the helper refuses before it looks at
     # a device (vv_bind.c need_allowlist), as for the 100k case above.
     status => 403);
case(name => 'bind: more devices than one request may move', path => api('/devices/bind'),
     vhost => 'vv_big_body',
     body => $json->encode({ pci_addresses => [map { sprintf('0000:%02x:%02x.0', $_ >> 5, $_ & 31) }
                                               0 .. 299] }),
     status => 400, message => qr/too many devices/);

# --- methods ------------------------------------------------------------------
for my $p (@posts) {
    for my $m (qw(GET HEAD PUT DELETE PATCH PROPFIND MKCOL TRACE FOO)) {
        case(name => "$p: $m", path => $p, method => $m, status => 405,
             json => $m ne 'HEAD');
    }
}
for my $p (@gets) {
    for my $m (qw(POST PUT DELETE PATCH TRACE)) {
        case(name => "$p: $m", path => $p, method => $m, body => '{}', status => 405);
    }
}

# --- media types --------------------------------------------------------------
for my $p (@posts) {
    for my $ct ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data',
                'text/json', 'application/json-patch+json', 'application/jsonp', '') {
        case(name => "$p: Content-Type '$ct'", path => $p, ctype => $ct,
             body => $json->encode(with_address($p, '0000:01:00.0')), status => 415);
    }
}

# --- query strings and URL paths ----------------------------------------------
for my $q ('vendor=zzzz', 'vendor=10de0', 'class=03000', 'class=%00', 'vendor=%ZZ',
           'device=' . ('a' x 5000), 'driver=%00') {
    case(name => "GET devices?$q", path => api("/devices?$q"), method => 'GET',
         status => 400);
}
# What httpd makes of each path before the module routes it (exact match):
for my $u ([api('/devices/info%2F..%2F..'), 404],  # encoded slash: httpd's 404
                                                    # (AllowEncodedSlashes Off)
           [api('/devices/%2e%2e/host'), 405],      # normalised to /host, a GET
           [api('/nope'), 404],                     # no such route
           [api('/devices/info/'), 404],            # a trailing slash is another path
           [api('//devices//info'), 200],           # MergeSlashes (on): /devices/info
           [api('/devices/info;x=1'), 404]) {       # no path parameters: no route
    my ($path, $status) = @$u;
    case(name => "URL $path", path => $path, method => 'POST',
         body => '{"pci_address":"0000:01:00.0"}', status => $status,
         field => $status == 200 ? 'address' : undef);
}

# --- the request line and headers, byte by byte ------------------------------
my $info = api('/devices/info');
my $good = '{"pci_address":"0000:01:00.0"}';
sub post_bytes { my ($extra, $body) = @_;
    return "POST $info HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
         . "Connection: close\r\n$extra\r\n$body" }
case(name => 'no Content-Length, no body', raw => [post_bytes('', '')], status => 400);
# A body that stops arriving: vv_slow's Timeout (2 s) expires on the read,
# httpd reports APR_TIMEUP and ap_map_http_request_error() makes it 408,
# sent as JSON by the error filter.  Nothing closes the connection early, so
# no other status can come of it.
case(name => 'Content-Length larger than the body (a stall)', vhost => 'vv_slow',
     raw => [post_bytes("Content-Length: 500\r\n", $good)], status => 408,
     max_seconds => 6);
case(name => 'Content-Length smaller than the body', raw =>
     [post_bytes("Content-Length: 10\r\n", $good)], status => 400);
case(name => 'two different Content-Lengths', raw =>
     [post_bytes("Content-Length: 29\r\nContent-Length: 30\r\n", $good)], status => 400);
case(name => 'a negative Content-Length', raw =>
     [post_bytes("Content-Length: -1\r\n", $good)], status => 400);
case(name => 'a Content-Length that is not a number', raw =>
     [post_bytes("Content-Length: 29x\r\n", $good)], status => 400);
case(name => 'a huge Content-Length', raw =>
     [post_bytes("Content-Length: 99999999999999\r\n", $good)], status => 413);
case(name => 'chunked body over the cap', raw =>
     [post_bytes("Transfer-Encoding: chunked\r\n",
                 join('', map { "1000\r\n" . ('x' x 4096) . "\r\n" } 1 .. 20) . "0\r\n\r\n")],
     status => 413);
case(name => 'chunked body, malformed chunk size', raw =>
     [post_bytes("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n")], status => 400);
case(name => 'chunked and Content-Length together', raw =>
     [post_bytes("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                 sprintf("%x\r\n%s\r\n0\r\n\r\n", length $good, $good))],
     # Transfer-Encoding wins and httpd drops the Content-Length (RFC 7230
     # 3.3.3): the chunked body is read whole.
     status => 200, field => 'address');
case(name => 'a body that stalls halfway', vhost => 'vv_slow', raw =>
     [post_bytes("Content-Length: " . length($good) . "\r\n", substr($good, 0, 10)),
      substr($good, 10)], pause => 4, status => 408, max_seconds => 8);  # as the stall above
case(name => 'a body sent a byte at a time', raw =>
     [post_bytes("Content-Length: " . length($good) . "\r\n", ''), split(//, $good)],
     pause => 0.01, status => 200);
case(name => 'a header line over 8 KB', raw =>
     [post_bytes('X-Big: ' . ('a' x 9000) . "\r\n", $good)], status => 400);
case(name => 'two hundred headers', raw =>
     [post_bytes(join('', map { "X-H$_: v\r\n" } 1 .. 200), $good)], status => 400);
case(name => 'an API key header 100 KB long', raw =>
     [post_bytes('X-API-Key: ' . ('k' x 100000) . "\r\n", $good)], status => 400);

plan tests => scalar(@cases) + 2;

# The client's own first-request set-up (configuration, user agent) is not
# the server's time: warm it up before the hang bounds start counting.
Apache::TestRequest::GET('/api/v1/vfio/host');

for my $c (@cases) {
    Apache::TestRequest::module($c->{vhost} // 'default');
    my $t0 = time;
    my ($code, $ctype, $body);
    if ($c->{raw}) {
        ($code, $ctype, $body) = raw_http(parts => $c->{raw}, pause => $c->{pause});
    }
    else {
        my $method = $c->{method} // 'POST';
        my @h = exists $c->{ctype} ? ($c->{ctype} eq '' ? () : ('Content-Type' => $c->{ctype}))
                                   : ('Content-Type' => 'application/json');
        my (undef, undef, $res) = request_raw($method, $c->{path}, \@h, $c->{body});
        ($code, $ctype, $body) = ($res->code, $res->header('Content-Type') // '',
                                  $res->content);
    }
    my $took = time - $t0;
    my $decoded = eval { $json->decode($body) };
    my @problems;
    my $want = $c->{status};
    push @problems, "status $code" unless ref $want ? $code =~ $want : $code == $want;
    push @problems, "a 5xx" if $code >= 500 && !(ref $want ? 0 : $want >= 500);
    if ($c->{json} // 1) {
        push @problems, "Content-Type '$ctype'" unless $ctype =~ m{^application/json};
        push @problems, 'no JSON body' unless ref $decoded;
        push @problems, "no $c->{field}" if $c->{field} && !$decoded->{$c->{field}};
        push @problems, 'no error text' if $code >= 400 && ref $decoded eq 'HASH'
            && !defined($decoded->{error} // $decoded->{message});
        push @problems, "message '" . ($decoded->{error} // '') . "'"
            if $c->{message} && ($decoded->{error} // '') !~ $c->{message};
    }
    push @problems, sprintf('%.1f s', $took)
        if $took > ($c->{max_seconds} // 3) * ($ENV{VV_TEST_SLOWDOWN} || 1);
    ok t_cmp(join('; ', @problems), '', $c->{name});
}

Apache::TestRequest::module('default');
my ($code) = post_json($info, { pci_address => '0000:01:00.0' });
ok t_cmp($code, 200, 'the server still answers');
my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> } // '';
ok t_cmp([$log =~ /(exit signal|Segmentation|AH00052|AH00060|double free|stack smashing)/g], [],
         'no child crashed');
