# A graceful restart in the middle of traffic: reads keep answering, and
# binds and unbinds issued across the helper's replacement all complete
# (workers wait out the moment its socket is absent).
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use Time::HiRes qw(time sleep);
use VVTest;
use VVSim;

plan tests => 6;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my $dev = '0000:04:00.0';

# The loops run until the parent says stop (a file), bounded by a deadline
# of their own in case it never does.  Each iteration appends a byte to its
# progress file: its size is how many requests (cycles) have completed.
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $stop = "$dir/stop";
sub progress { return (-s "$dir/$_[0]") || 0 }
sub tick { open my $fh, '>>', "$dir/$_[0]" or die "$dir/$_[0]: $!"; print $fh '.'; close $fh }
my $hard_stop = time + 90;
sub running { return -d $dir && !-e $stop && time < $hard_stop }
sub stop_traffic { open my $fh, '>', $stop or die "$stop: $!"; close $fh }
# Should this script die first, the loops stop anyway (in_background's
# children leave with _exit and never run this).
END { stop_traffic() if $dir && -d $dir }

my $reads = in_background(sub {
    my ($n, $bad) = (0, 0);
    while (running()) {
        my ($c) = info($dev);
        $n++;
        $bad++ if $c != 200;
        tick('reads');
    }
    return ($n, $bad);
});
my $cycles = in_background(sub {
    my ($n, $bad) = (0, '');
    while (running()) {
        my ($c1) = bind($dev);
        my ($c2) = unbind($dev);
        $n++;
        $bad .= "$c1/$c2 " if $c1 != 200 || $c2 != 200;
        tick('cycles');
    }
    return ($n, $bad);
});

# Traffic first, then two restarts, each waited out until a new helper
# answers; then at least one more complete cycle issued after the second.
wait_for(sub { progress('reads') && progress('cycles') }, 20);
my $before = helper_pid() // 0;
my $new_helper = sub {
    my ($old) = @_;
    return wait_for(sub { my $p = eval { helper_pid() }; $p && $p != $old ? $p : 0 }, 20);
};
kill 'USR1', httpd_pid();
my $mid = $new_helper->($before);
kill 'USR1', httpd_pid();
my $after = $new_helper->($mid // 0);
my $done = progress('cycles');
wait_for(sub { progress('cycles') >= $done + 2 }, 20);
stop_traffic();

my ($n, $bad) = finish($reads);
ok t_cmp($bad, 0, "every read answered 200 ($n reads)");
my ($cn, $cbad) = finish($cycles);
ok t_cmp($cbad, '', "every bind and unbind answered 200 ($cn cycles)");
ok t_cmp($cn > 2 ? 1 : 0, 1, 'several cycles ran across the restarts');
ok t_cmp(driver_of($dev), 'igb', 'the device ends on its driver');
ok t_cmp([$mid ? 1 : 0, $after ? 1 : 0], [1, 1],
         'each restart replaced the helper (a new pid after each signal)');
ok t_cmp((helper_pid() // 0) != $before ? 1 : 0, 1, 'the helper was replaced');
