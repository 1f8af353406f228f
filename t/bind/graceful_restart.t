# A graceful restart in the middle of traffic: reads keep answering, and
# binds and unbinds issued across the helper's replacement all complete
# (workers wait out the moment its socket is absent).
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use Time::HiRes qw(time sleep);
use VVTest;
use VVSim;

plan tests => 5;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my $dev = '0000:04:00.0';

my $reads = in_background(sub {
    my ($n, $bad) = (0, 0);
    my $until = time + 6;
    while (time < $until) {
        my ($c) = info($dev);
        $n++;
        $bad++ if $c != 200;
    }
    return ($n, $bad);
});
my $cycles = in_background(sub {
    my ($n, $bad) = (0, '');
    my $until = time + 6;
    while (time < $until) {
        my ($c1) = bind($dev);
        my ($c2) = unbind($dev);
        $n++;
        $bad .= "$c1/$c2 " if $c1 != 200 || $c2 != 200;
    }
    return ($n, $bad);
});
sleep 1.5;
my $before = helper_pid();
kill 'USR1', httpd_pid();
sleep 1.5;
kill 'USR1', httpd_pid();

my ($n, $bad) = finish($reads);
ok t_cmp($bad, 0, "every read answered 200 ($n reads)");
my ($cn, $cbad) = finish($cycles);
ok t_cmp($cbad, '', "every bind and unbind answered 200 ($cn cycles)");
ok t_cmp($cn > 2 ? 1 : 0, 1, 'several cycles ran across the restarts');
ok t_cmp(driver_of($dev), 'igb', 'the device ends on its driver');
ok t_cmp((helper_pid() // 0) != $before ? 1 : 0, 1, 'the helper was replaced');
