# SIGTERM releases every blocked writer (its write returns EINTR), unmounts
# and exits 0 promptly, also while a client keeps a file open in the mount.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Time::HiRes qw(time);
use Test::More;

my $GPU = '0000:01:00.0';

subtest 'a writer blocked on a held group' => sub {
    my $sim = sim_start('gpu-host');
    for my $a ($GPU, '0000:01:00.1') {
        w(dev_path($a) . '/driver_override', 'vfio-pci');
        w(dev_path($a) . '/driver/unbind', $a);
        is(w('sys/bus/pci/drivers/vfio-pci/bind', $a), 'ok');
    }
    is(ctl('hold 2'), 'ok');
    my $bg = bg_write('sys/bus/pci/drivers/vfio-pci/unbind', $GPU);
    is(ctl('fault 0000:02:00.0 unbind hang'), 'ok');
    my $hang = bg_write(dev_path('0000:02:00.0') . '/driver/unbind', '0000:02:00.0');
    ok(wait_until(sub { @{sim_state()->{writers}} == 2 }), 'two writers blocked');
    my $t = time;
    ok(kill('TERM', $sim->{pid}), 'SIGTERM');
    is(bg_result($bg), 'EINTR', 'the blocked unbind returns EINTR');
    is(bg_result($hang), 'EINTR', 'so does the hung one');
    ok(wait_until(sub { !alive($sim->{pid}) && !sim_mounted($sim->{mnt}) }), 'exited and unmounted');
    cmp_ok(time - $t, '<', 3, 'promptly');
    ok(sim_stop($sim), 'nothing left to clean up');
};

subtest 'a client holding a file open does not keep it alive' => sub {
    my $sim = sim_start('gpu-host');
    open(my $fh, '<', "$M/sys/bus/pci/devices/$GPU/vendor") or die $!;
    opendir(my $dh, "$M/sys") or die $!;
    ok(kill('INT', $sim->{pid}), 'SIGINT');
    ok(wait_until(sub { !alive($sim->{pid}) && !sim_mounted($sim->{mnt}) }), 'exited and unmounted');
    ok(!defined sysread($fh, my $buf, 10), 'the open file is dead');
    close $fh;
};

subtest 'foreground mode' => sub {
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    mkdir "$dir/mnt";
    my $pid = fork // die;
    if (!$pid) {
        exec($SIM, '--topology', "$TOP/t/topologies/gpu-host.json", '--foreground',
            '--pidfile', "$dir/pid", "$dir/mnt") or POSIX::_exit(127);
    }
    ok(wait_until(sub { -s "$dir/pid" }), 'pidfile written once the mount answers');
    ok(-e "$dir/mnt/sys/bus/pci/devices/$GPU", 'mounted');
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is($?, 0, 'exit status 0');
    ok(!sim_mounted("$dir/mnt"), 'unmounted');
    ok(!-e "$dir/pid", 'pidfile removed');
};

done_testing();
