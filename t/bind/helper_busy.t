# The helper's concurrency is capped: connections held open and idle (a
# process of the workers' uid could open hundreds) get at most 16 root
# children; past that the helper answers "busy" itself, at once, and the
# API says 503.  Once they go, binds are served again.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use IO::Socket::UNIX ();
use Time::HiRes qw(time sleep);
use VVTest;
use VVSim;

plan tests => 6;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my $helper = helper_pid() or die "no helper";
# Sanitized builds fork and exit slower; an earlier test's child may still
# be finishing (LeakSanitizer scans at exit): start from none.
my $slow = $ENV{VV_TEST_SLOWDOWN} // 1;
wait_for(sub { !descendants($helper) }, 10 * $slow);
my @idle = map {
    IO::Socket::UNIX->new(Peer => $ENV{VV_TEST_SOCKET}) // die "connect: $!"
} 1 .. 40;
my $kids = 0;
wait_for(sub { ($kids = () = descendants($helper)) >= 16 }, 10 * $slow);
# Past the cap nothing more may appear: look again a moment later.
sleep 0.5 * $slow;
$kids = () = descendants($helper) if $kids == 16;
ok t_cmp($kids, 16, '40 idle connections: 16 children serve them, no more');

my $t0 = time;
my ($code, $b) = bind('0000:04:00.0');
my $took = time - $t0;
ok t_cmp([$code, $b->{message}], [503, qr/privileged helper busy/],
         'a bind meanwhile: 503, the helper is busy');
ok t_cmp($took < 2 * $slow ? 1 : 0, 1, sprintf('answered at once (%.2f s)', $took));
my $log = do { local (@ARGV, $/) = ('t/logs/error_log'); <> } // '';
ok t_cmp(scalar(() = $log =~ /VFIO20019/g), 1, 'the helper warned once');

# The 16 end together (their clients hung up) while the helper waits for
# the next connection: ended, not yet reaped, they serve no one, and the
# next request must not be told the helper is busy.
close $_ for @idle;
my @zombies;
wait_for(sub { (@zombies = grep { state_of($_) eq 'Z' } descendants($helper)) >= 16 }, 10 * $slow);
($code, $b) = bind('0000:04:00.0');
ok t_cmp([$code, $b->{message}], [200, 'Devices successfully bound to vfio-pci driver'],
         sprintf('a bind right after %d children ended: served, not busy', scalar @zombies));
unbind('0000:04:00.0');
wait_for(sub { !descendants($helper) }, 10 * $slow);
($code) = bind('0000:04:00.0');
ok t_cmp($code, 200, 'once they are gone, binds are served again');
unbind('0000:04:00.0');

sub state_of {
    open my $fh, '<', "/proc/$_[0]/stat" or return '';
    my $line = <$fh> // return '';
    return $line =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}
