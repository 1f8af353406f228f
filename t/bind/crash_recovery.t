# kill -9 of the privileged helper (and everything it forked) in the middle
# of a bind: httpd restarts it, and the restarted helper finds the records
# the interrupted bind left and puts every device back where it was.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 8;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my ($first, $second) = ('0000:04:00.0', '0000:09:00.0');
sim("fault $second delay 1500");

my $bg = in_background(sub { my ($c, $b) = bind($first, $second);
                             return ($c, $b->{success} ? 1 : 0) });
ok t_cmp(wait_for(sub { driver_of($first) eq 'vfio-pci' }, 10) ? 1 : 0, 1,
         'the bind has moved the first device');
my $old = helper_pid();
ok t_cmp(defined $old ? 1 : 0, 1, 'the helper is up');
kill 'KILL', $old, descendants($old);

my ($code, $success) = finish($bg);
ok t_cmp($code, qr/^5\d\d$/, 'the interrupted request ends in a 5xx');
ok t_cmp($success, 0, 'reported as a failure');
my $new = wait_for(sub { my $p = helper_pid(); $p && $p != $old ? $p : 0 }, 15);
ok t_cmp($new ? 1 : 0, 1, 'httpd restarted the helper');
ok t_cmp(wait_for(sub { driver_of($first) eq 'igb' && driver_of($second) eq 'nvme' }, 15)
         ? 1 : 0, 1, 'recovery put both devices back on their drivers');
ok t_cmp(wait_for(sub { !records() }, 10) ? 1 : 0, 1, 'and dropped the records');
sim("clear $second");
($code) = bind($first);
ok t_cmp($code, 200, 'the restarted helper binds');
unbind($first);
