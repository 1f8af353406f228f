# kill -9 of the privileged helper (and everything it forked) in the middle
# of an unbind (t/bind/crash_recovery.t kills it mid-bind).  Whatever
# moment the kill lands on, the restarted helper's recovery must leave
# every device where its record says (or back on its driver, the record
# dropped) and nothing driverless without a record.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 6;

my $slowdown = $ENV{VV_TEST_SLOWDOWN} || 1;
my ($first, $second) = ('0000:04:00.0', '0000:09:00.0');
Apache::TestRequest::module('vv_bind');

sub kill_helper {
    my $old = helper_pid();
    kill 'KILL', $old, descendants($old);
    return wait_for(sub { my $p = helper_pid(); $p && $p != $old ? $p : 0 }, 15 * $slowdown);
}

# --- in the middle of an unbind -------------------------------------------
sim_load('mixed-host');
my ($code) = bind($first, $second);
ok t_cmp([$code, driver_of($first), driver_of($second)], [200, 'vfio-pci', 'vfio-pci'],
         'both bound');
# Each write about the second device takes 1.5 s: the kill lands while it
# is being released, after the first is back on igb.
sim("fault $second delay 1500");
my $bg = in_background(sub { (unbind($first, $second))[0] });
ok t_cmp(wait_for(sub { driver_of($first) eq 'igb' && ((record_of($second) // {})->{phase} // '') eq 'unbinding' },
                  10 * $slowdown) ? 1 : 0, 1,
         'the unbind has released the first and is releasing the second');
ok t_cmp(kill_helper() ? 1 : 0, 1, 'helper killed mid-unbind; httpd restarted it');
sim("clear $second");
my ($c2) = finish($bg);
ok t_cmp($c2, qr/^5\d\d$/, 'the interrupted unbind ends in a 5xx');
ok t_cmp(wait_for(sub { driver_of($first) eq 'igb' && driver_of($second) eq 'nvme' }, 15 * $slowdown)
         ? 1 : 0, 1, 'recovery finished the release: both on their host drivers');
ok t_cmp(wait_for(sub { !records() }, 10 * $slowdown) ? 1 : 0, 1, 'no record left');
