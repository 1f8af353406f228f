package VVTest;
# Request helpers shared by the Apache-Test suite.
use strict;
use warnings;

use Apache::TestRequest ();
use HTTP::Request ();
use JSON::PP ();
use VVSchema ();
use Exporter 'import';

our @EXPORT = qw(api post_json get_json request_raw json_of is_json_error
                 sysfs_root dev_root raw_http post_as get_as);

my $json = JSON::PP->new->utf8->canonical->allow_nonref;

sub api { return "/api/v1/vfio$_[0]" }

# (status, decoded body or undef, HTTP::Response).  Every response is
# checked against the OpenAPI document on the way (VVSchema).
sub json_of {
    my ($res) = @_;
    my $body = eval { $json->decode($res->content) };
    VVSchema::check($res, $body);
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

# post_json and get_json against one virtual host (a name from
# t/conf/extra.conf.in, or 'default'), leaving the selection as it was.
# Apache::TestRequest::module() returns the current selection but cannot set
# it back to none (a false argument is ignored), so the package variable it
# keeps is localised instead: restored on return and if the request dies.
sub post_as {
    my ($vhost, $path, $body, %headers) = @_;
    local $Apache::TestRequest::Module = Apache::TestRequest::module();
    Apache::TestRequest::module($vhost);
    return post_json($path, $body, %headers);
}

sub get_as {
    my ($vhost, $path, %headers) = @_;
    local $Apache::TestRequest::Module = Apache::TestRequest::module();
    Apache::TestRequest::module($vhost);
    return get_json($path, %headers);
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

# Bytes straight to the server of the selected virtual host, for what LWP
# will not send (lying lengths, stalled bodies, duplicate headers).  Writes
# each chunk of @parts after pausing `pause` seconds; returns the first
# response as (status, content type, body).
sub raw_http {
    my (%o) = @_;
    require IO::Socket::INET;
    my $sock = IO::Socket::INET->new(PeerAddr => Apache::TestRequest::hostport(),
                                     Timeout => 10) or die "connect: $!";
    for my $i (0 .. $#{$o{parts}}) {
        select(undef, undef, undef, $o{pause}) if $i && $o{pause};
        local $SIG{PIPE} = 'IGNORE';
        print $sock $o{parts}[$i];
    }
    $sock->shutdown(1) if $o{close};
    my ($reply, $buf) = ('', '');
    my $deadline = time + ($o{timeout} // 15);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        last unless select(my $rout = $rin, undef, undef, 1) >= 0;
        next unless vec($rout, fileno($sock), 1);
        last unless sysread($sock, $buf, 65536);
        $reply .= $buf;
        last if _complete($reply);
    }
    close $sock;
    my ($status) = $reply =~ m{^HTTP/1\.\d (\d{3})};
    my ($type) = $reply =~ m{\r\nContent-Type: ([^\r]*)}i;
    my ($body) = $reply =~ m{\r\n\r\n(.*)}s;
    if (defined $body && $reply =~ m{\r\nContent-Length: (\d+)}i) {
        $body = substr($body, 0, $1);
    }
    return ($status // 0, $type // '', $body // '');
}

sub _complete {
    my ($r) = @_;
    my ($head, $body) = split /\r\n\r\n/, $r, 2;
    return 0 unless defined $body;
    my ($len) = $head =~ m{\r\nContent-Length: (\d+)}i;
    return defined $len && length($body) >= $len;
}

sub sysfs_root { return $ENV{VV_TEST_SYSFS} }
sub dev_root   { return $ENV{VV_TEST_DEV} }

1;
