package VVTest;
# Request helpers shared by the Apache-Test suite.
use strict;
use warnings;

use Apache::TestRequest ();
use HTTP::Request ();
use JSON::PP ();
use Exporter 'import';

our @EXPORT = qw(api post_json get_json request_raw json_of is_json_error
                 sysfs_root dev_root);

my $json = JSON::PP->new->utf8->canonical->allow_nonref;

sub api { return "/api/v1/vfio$_[0]" }

# (status, decoded body or undef, HTTP::Response)
sub json_of {
    my ($res) = @_;
    my $body = eval { $json->decode($res->content) };
    return ($res->code, $body, $res);
}

sub post_json {
    my ($path, $data, %headers) = @_;
    my $content = ref $data ? $json->encode($data) : $data;
    my $res = Apache::TestRequest::POST($path,
        'Content-Type' => 'application/json', %headers,
        content => $content);
    return json_of($res);
}

sub get_json {
    my ($path, %headers) = @_;
    return json_of(Apache::TestRequest::GET($path, %headers));
}

sub request_raw {
    my ($method, $path, $headers, $content) = @_;
    my $req = HTTP::Request->new($method,
        Apache::TestRequest::resolve_url($path), $headers || [], $content);
    return json_of(Apache::TestRequest::user_agent()->request($req));
}

# True when the response is application/json {"error": ...}.
sub is_json_error {
    my ($res, $body) = @_;
    return ($res->header('Content-Type') // '') =~ m{^application/json}
        && ref $body eq 'HASH' && defined $body->{error}
        && !ref $body->{error};
}

sub sysfs_root { return $ENV{VV_TEST_SYSFS} }
sub dev_root   { return $ENV{VV_TEST_DEV} }

1;
