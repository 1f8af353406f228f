# GET /openapi: the embedded OpenAPI 3 document covers every endpoint.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 12;

my ($code, $doc, $res) = get_json('/openapi');
ok t_cmp($code, 200, 'served');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'as JSON');
ok t_cmp($doc->{openapi}, qr/^3\./, 'an OpenAPI 3 document');

my %want = (
    '/api/v1/vfio/devices/info' => 'post',
    '/api/v1/vfio/devices/validate' => 'post',
    '/api/v1/vfio/devices/iommu-groups' => 'post',
    '/api/v1/vfio/devices/bind' => 'post',
    '/api/v1/vfio/devices/unbind' => 'post',
    '/api/v1/vfio/devices/reset' => 'post',
    '/api/v1/vfio/devices/group-paths' => 'post',
    '/api/v1/vfio/devices' => 'get',
    '/api/v1/vfio/host' => 'get',
    '/api/v1/vfio/metrics' => 'get',
    '/api/v1/vfio/records' => 'get',
    '/api/v1/vfio/usage' => 'get',
    '/openapi' => 'get',
    '/healthz' => 'get',
);
ok t_cmp([sort keys %{$doc->{paths}}], [sort keys %want], 'every endpoint');
ok t_cmp([grep { !$doc->{paths}{$_}{$want{$_}} } sort keys %want], [],
         'each with its method');

# Every $ref resolves.
my @refs;
my $walk; $walk = sub {
    my ($n) = @_;
    if (ref $n eq 'HASH') {
        push @refs, $n->{'$ref'} if $n->{'$ref'};
        $walk->($_) for values %$n;
    } elsif (ref $n eq 'ARRAY') { $walk->($_) for @$n }
};
$walk->($doc);
my @broken = grep {
    my @p = split m{/}, s{^#/}{}r; my $n = $doc;
    $n = ref $n eq 'HASH' ? $n->{$_} : undef for @p; !defined $n
} @refs;
ok t_cmp(\@broken, [], 'every $ref resolves');

my $info = $doc->{components}{schemas}{DeviceInfo}{properties};
ok t_cmp([sort grep { $info->{$_} } qw(address vendor device driver iommu_group
          numa_node vendor_name device_name class class_name subsystem_vendor
          subsystem_device is_bridge)],
         [sort qw(address vendor device driver iommu_group numa_node
          vendor_name device_name class class_name subsystem_vendor
          subsystem_device is_bridge)], 'DeviceInfo has every field');
my $bind = $doc->{paths}{'/api/v1/vfio/devices/bind'}{post}{responses};
ok t_cmp([sort keys %$bind], [qw(200 400 401 403 404 405 409 413 415 500 503 504)],
         'bind documents every status it can answer');

my $etag = $res->header('ETag');
ok t_cmp($etag, qr/^"[0-9a-f]{16}"$/, 'an ETag');
my (undef, undef, $again) = get_json('/openapi', 'If-None-Match' => $etag);
ok t_cmp($again->code, 304, 'a matching If-None-Match is a 304');
my ($c2) = request_raw('POST', '/openapi', ['Content-Type' => 'application/json'], '{}');
ok t_cmp($c2, 405, 'POST /openapi is a 405');
my (undef, undef, $head) = request_raw('HEAD', '/openapi');
ok t_cmp([$head->code, $head->content], [200, ''], 'HEAD /openapi');
