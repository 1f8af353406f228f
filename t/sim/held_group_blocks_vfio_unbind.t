# While a hypervisor owns a group ("hold"), unbinding a member from vfio-pci
# blocks the writer until release; the driver link is already gone while it
# waits (KERNEL.md). An open of /dev/vfio/N alone does not block (6.1
# without a container, measured in t/fidelity/group-two-functions.scen).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use POSIX ();
use Test::More;

sim_start('mixed-host');
my ($GPU, $AUDIO) = ('0000:01:00.0', '0000:01:00.1');
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';

for my $a ($GPU, $AUDIO) {
    w(dev_path($a) . '/driver_override', 'vfio-pci');
    w(dev_path($a) . '/driver/unbind', $a);
    is(w("$VFIO/bind", $a), 'ok', "$a on vfio-pci");
}
my $vfiodev = (grep { /^vfio\d+$/ } map { s{.*/}{}r } glob("$M/" . dev_path($GPU) . '/vfio-dev/*'))[0];
ok($vfiodev, "vfio-dev/$vfiodev exists");

subtest 'an open fd of dev/vfio/2 is exclusive but does not block unbind' => sub {
    open(my $fh, '+<', "$M/dev/vfio/2") or die "open: $!";
    ok(!open(my $fh2, '+<', "$M/dev/vfio/2"), 'second open fails');
    is(errname(), 'EBUSY', 'with EBUSY');
    is(w("$VFIO/unbind", $AUDIO), 'ok', 'unbind returns at once');
    is(w("$VFIO/bind", $AUDIO), 'ok', 'and the member comes back');
    close $fh;
};

subtest 'held: unbind blocks, the driver link goes at once' => sub {
    is(ctl('hold 2'), 'ok');
    ok(!open(my $fh, '+<', "$M/dev/vfio/2"), 'open of a held group fails');
    is(errname(), 'EBUSY', 'with EBUSY');
    my $bg = bg_write("$VFIO/unbind", $GPU);
    ok(wait_until(sub { !defined rl(dev_path($GPU) . '/driver') }), 'driver link gone');
    ok(!-e "$M/$VFIO/$GPU", 'drivers/vfio-pci/ADDR gone');
    is(bg_result($bg, 0.3), undef, 'the writer is still blocked');
    my ($wr) = @{sim_state()->{writers}};
    like($wr->{waiting} // '', qr/group 2 in use/, 'sim/state shows what it waits for');
    ok(-e "$M/" . dev_path($GPU) . "/vfio-dev/$vfiodev", 'vfio-dev stays until remove() ends');
    ok(-e "$M/dev/vfio/2", 'dev/vfio/2 stays');
    like(rd(dev_path($GPU) . '/uevent'), qr/^DRIVER=vfio-pci$/m, 'dev->driver is still set');
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok', 'drivers_probe: still "bound", no-op');
    # kernfs does not serialise writers of one attribute across open files;
    # FUSE can follow only on host kernels >= 6.2 (FOPEN_PARALLEL_DIRECT_WRITES)
    SKIP: {
        my ($maj, $min) = (POSIX::uname())[2] =~ /^(\d+)\.(\d+)/;
        skip 'host kernel < 6.2 serialises FUSE writers of one file', 1
            if $maj < 6 || ($maj == 6 && $min < 2);
        my $other = bg_write("$VFIO/unbind", '0000:05:00.0');
        is(bg_result($other), 'ok', 'another device leaves vfio-pci meanwhile');
    }
    my $second = bg_write("$VFIO/unbind", $GPU);
    ok(wait_until(sub { grep { ($_->{waiting} // '') =~ /device lock/ } @{sim_state()->{writers}} }),
        'a second unbind waits for the device lock');
    is(bg_result($second, 0.1), undef, 'it has not returned');
    is(ctl('release 2'), 'ok');
    is(bg_result($bg), 'ok', 'released: the unbind returns success');
    is(bg_result($second), 'ok', 'and so does the second one');
    ok(!-e "$M/" . dev_path($GPU) . '/vfio-dev', 'vfio-dev gone');
    ok(-e "$M/dev/vfio/2", 'dev/vfio/2 stays: the audio function is still on vfio-pci');
};

subtest 'held: a vfio-pci bind into the owned group is fine' => sub {
    is(ctl('hold 2'), 'ok');
    is(w("$VFIO/bind", $GPU), 'ok', 'vfio-pci does not use the default domain');
    is(ctl('release 2'), 'ok');
};

subtest 'held: driver_override of a device whose unbind blocks waits too' => sub {
    is(ctl('hold 2'), 'ok');
    my $bg = bg_write("$VFIO/unbind", $AUDIO);
    ok(wait_until(sub { driver_of($AUDIO) eq '' }), 'unbind in progress');
    my $ov = bg_write(dev_path($AUDIO) . '/driver_override', "\n");
    ok(wait_until(sub { grep { ($_->{waiting} // '') =~ /device lock/ } @{sim_state()->{writers}} }),
        'the override write waits for the device lock');
    is(bg_result($ov, 0.1), undef, 'it has not returned');
    is(ctl('release all'), 'ok');
    is(bg_result($bg), 'ok');
    is(bg_result($ov), 'ok');
    is(rd(dev_path($AUDIO) . '/driver_override'), "(null)\n");
};

subtest 'attach: the group is owned, only the devices named are in use' => sub {
    is(w(dev_path($AUDIO) . '/driver_override', 'vfio-pci'), 'ok');
    is(w("$VFIO/bind", $AUDIO), 'ok', 'both functions on vfio-pci');
    is(w(dev_path($AUDIO) . '/driver_override', "\n"), 'ok');
    is(ctl("attach 2 $GPU"), 'ok', 'a container attached, the GPU opened');
    ok(!open(my $fh, '+<', "$M/dev/vfio/2"), 'the node is busy');
    is(w("$VFIO/unbind", $AUDIO), 'ok', 'the audio function (not opened) leaves at once');
    is(w('sys/bus/pci/drivers_probe', $AUDIO), 'EINVAL', 'its host driver is refused');
    my $bg = bg_write("$VFIO/unbind", $GPU);
    ok(wait_until(sub { driver_of($GPU) eq '' }), 'the GPU unbind started');
    is(bg_result($bg, 0.3), undef, 'and blocks: its device fd is open');
    is(ctl('release 2'), 'ok');
    is(bg_result($bg), 'ok');
    is(w('sys/bus/pci/drivers_probe', $AUDIO), 'ok');
    is(driver_of($AUDIO), 'snd_hda_intel');
    is(w("$VFIO/bind", $GPU), 'ok', 'the GPU back on vfio-pci (override still set)');
};

subtest 'a group that is not viable cannot be attached' => sub {
    is(ctl('hold 2'), 'EPERM', 'the audio function is on snd_hda_intel');
    like(last_error(), qr/group 2 is not viable: 0000:01:00\.1 is on snd_hda_intel/);
    is(ctl('attach 2'), 'EPERM');
    is(ctl("attach 2 $AUDIO"), 'EINVAL', 'only vfio-pci members can be opened');
};

subtest 'the last member leaving removes dev/vfio/2' => sub {
    w(dev_path($GPU) . '/driver_override', "\n");
    is(w("$VFIO/unbind", $GPU), 'ok');
    ok(!-e "$M/dev/vfio/2", 'gone');
    ok(!open(my $fh, '<', "$M/dev/vfio/2"), 'open fails');
    is(errname(), 'ENOENT', 'with ENOENT');
    is(ctl('hold 2'), 'EINVAL', 'a group without node cannot be held');
    like(last_error(), qr/no \/dev\/vfio\/2/, 'sim/last_error says why');
};

done_testing();
