# The process scan behind the in-use guard reads what any local user
# shapes, so it is bounded, and it never starves binds and unbinds:
#  - a scan past VolantVfioOpTimeout answers "cannot tell" and the bind is
#    refused, its lock released, the device untouched;
#  - GET /usage takes at most 8 of the helper's 16 places: more are
#    answered busy (503) while a bind is still served;
#  - a GET /usage whose client went away ends its scan: its root child
#    does not outlive the client;
#  - VolantVfioShowHolders Off: /usage counts holders and names none.
# The simulator's "fault proc PID slow MS" makes reading one process's maps
# slow, as a kernel is while another thread holds that process's memory
# map lock.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(time sleep);
use VVTest;
use VVSim;

plan tests => 12;

my $slow = $ENV{VV_TEST_SLOWDOWN} // 1;
sim_load('mixed-host');
my $helper = helper_pid() or die "no helper";
wait_for(sub { !descendants($helper) }, 10 * $slow);

# 1. The deadline: vv_bind's VolantVfioOpTimeout is 2 s.
Apache::TestRequest::module('vv_bind');
sim('fault proc 4242 slow 8000');
my $t0 = time;
my ($code, $b) = bind('0000:04:00.0');
my $took = time - $t0;
ok t_cmp([$code, $b->{message}],
         [500, 'cannot tell whether device 0000:04:00.0 is in use: the process scan '
               . 'took longer than 2 s (a process with a great many open files or '
               . 'mappings, or a read the kernel held up)'],
         'a scan past VolantVfioOpTimeout: refused, "cannot tell"');
ok t_cmp($took < 2 + 3 * $slow ? 1 : 0, 1, sprintf('at the bound (%.1f s), not after the read', $took));
ok t_cmp([driver_of('0000:04:00.0'), override_of('0000:04:00.0')], ['igb', '(null)'],
         'the device untouched');
sim('fault proc 4242 slow 0');
($code) = bind('0000:05:00.0');
ok t_cmp($code, 200, 'the lock was released: the next bind is served at once');
unbind('0000:05:00.0');

# 2. Capacity: 16 slow surveys at once, then a bind.
wait_for(sub { !descendants($helper) }, 10 * $slow);
sim('fault proc 4242 slow 4000');
my @usage = map { in_background(sub { (get_as('vv_usage', api('/usage')))[0, 1] }) } 1 .. 16;
# Every one has reached the helper once 8 have been answered (the busy
# ones, at once) and 8 are being served.
my (%done, $kids);
wait_for(sub {
    $done{$_->{pid}} ||= waitpid($_->{pid}, POSIX::WNOHANG()) == $_->{pid} for @usage;
    $kids = () = grep { state_of($_) ne 'Z' } descendants($helper);
    return grep({ $_ } values %done) == 8 && $kids == 8;
}, 10 * $slow);
ok t_cmp([scalar(grep { $_ } values %done), $kids], [8, 8],
         '16 GET /usage at once: 8 answered at once, 8 served');
sim('fault proc 4242 slow 0');
($code, $b) = bind('0000:04:00.0');
ok t_cmp($code, 200, 'a bind meanwhile is served, not 503');
my @codes = sort map { (finish($_))[0] } @usage;
ok t_cmp(\@codes, [(200) x 8, (503) x 8], 'the surveys: 8 answered, 8 told the helper is busy');
unbind('0000:04:00.0');

# 3. A client that goes away ends its scan.
wait_for(sub { !descendants($helper) }, 10 * $slow);
sim('fault proc 4242 slow 20000');
Apache::TestRequest::module('vv_usage');
my ($port) = Apache::TestRequest::hostport() =~ /:(\d+)$/;
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die "connect to port $port: $@";
print $sock "GET /api/v1/vfio/usage HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
ok t_cmp(wait_for(sub { (() = descendants($helper)) >= 1 }, 5 * $slow) ? 1 : 0, 1,
         'a survey under way in the helper');
close $sock;
$t0 = time;
my $gone = wait_for(sub { !descendants($helper) }, 10 * $slow);
ok t_cmp($gone ? 1 : 0, 1, sprintf('its client gone, the scan ended (%.1f s, not 20)', time - $t0));
my $log = do { local (@ARGV, $/) = ('t/logs/error_log'); <> } // '';
ok t_cmp(scalar($log =~ /VFIO20023: the client went away/), 1, 'the worker said why');
sim('fault proc 4242 slow 0');

# 4. Holders counted, not named.
($code, $b) = get_as('vv_usage_anon', api('/usage'));
my ($gpu) = grep { $_->{address} eq '0000:02:00.0' } @{ $b->{devices} // [] };
ok t_cmp([$gpu->{held_by}, $gpu->{reason}], ['host', '/dev/nvidia1 is open by a process'],
         'VolantVfioShowHolders Off: no pid, no command');
($code, $b) = get_as('vv_usage', api('/usage'));
($gpu) = grep { $_->{address} eq '0000:02:00.0' } @{ $b->{devices} // [] };
ok t_cmp($gpu->{reason}, '/dev/nvidia1 is open by pid 4242 (nvidia-persiste)',
         'the default names it');

sub state_of {
    open my $fh, '<', "/proc/$_[0]/stat" or return '';
    my $line = <$fh> // return '';
    return $line =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}
