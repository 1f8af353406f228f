# The helper's socket is its boundary: a socket directory another user can
# write (who could put their own socket in its place) refuses the helper's
# start, and a file at the socket's path that is not a socket is left alone
# and refuses it too; each says why and how to fix it.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use VVTest;
use VVHttpd;

plan tests => 6;

my %roots = (sysfs => $ENV{VV_TEST_SYSFS}, dev => $ENV{VV_TEST_DEV},
             proc => $ENV{VV_TEST_PROC});
sub helper_running {
    my ($h) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->get("$h->{base}/api/v1/vfio/host");
    my $host = eval { JSON::PP->new->decode($res->{content}) } // {};
    return $host->{helper}{running} ? 1 : 0;
}

my $open = File::Temp::tempdir('/tmp/vv-sockdir-XXXXXX', CLEANUP => 1);
chmod 0777, $open;
my $h = VVHttpd::start(%roots, socket => "$open/helper.sock");
my $why = qr/VFIO20017: helper: refusing to start: the socket's directory \Q$open\E is owned by uid 0 with mode 0777;.*chmod go-w/;
ok t_cmp(VVHttpd::wait_log($h, $why), $why, 'a world-writable socket directory: the error log says why and how to fix it');
ok t_cmp(helper_running($h), 0, 'and the helper does not run');
ok t_cmp(-e "$open/helper.sock" ? 1 : 0, 0, 'and no socket was made there');

my $dir = File::Temp::tempdir('/tmp/vv-sockdir-XXXXXX', CLEANUP => 1);
chmod 0755, $dir;
open my $fh, '>', "$dir/helper.sock" or die $!;
print $fh "an operator's file\n";
close $fh;
$h = VVHttpd::start(%roots, socket => "$dir/helper.sock");
$why = qr/VFIO20018: helper: refusing to start: \Q$dir\E\/helper\.sock exists and is not a socket/;
ok t_cmp(VVHttpd::wait_log($h, $why), $why, 'a plain file at the socket path: refused, saying so');
ok t_cmp(helper_running($h), 0, 'and the helper does not run');
ok t_cmp(do { local (@ARGV, $/) = ("$dir/helper.sock"); <> }, "an operator's file\n",
         'the file is untouched');
