# Every sim/control fault: hangs and errnos on unbind, bind and probe
# failures, override errors, delays, late driver links, hot-unplug (now or
# after N writes), clear/release, load, and control-command errors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Time::HiRes qw(time);
use Test::More;

sim_start('mixed-host');
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';
my ($GPU, $GPU2, $NIC2, $NVME1) = ('0000:01:00.0', '0000:02:00.0', '0000:04:00.0', '0000:09:00.0');

subtest 'unbind hang: the host driver unbind blocks until "release ADDR"' => sub {
    is(ctl("fault $GPU2 unbind hang"), 'ok');
    my $bg = bg_write(dev_path($GPU2) . '/driver/unbind', $GPU2);
    ok(wait_until(sub { driver_of($GPU2) eq '' }), 'driver link gone while it hangs');
    is(bg_result($bg, 0.3), undef, 'still blocked');
    like(sim_state()->{writers}[0]{waiting}, qr/unbind hang/, 'state says why');
    ok(-e "$M/dev/nvidia1", 'the driver has not torn down yet');
    is(ctl("release $GPU2"), 'ok');
    is(bg_result($bg), 'ok', 'released: success');
    ok(!-e "$M/dev/nvidia1", 'now the driver is gone');
    is(ctl("release $GPU2"), 'EINVAL', 'nothing left to release');
};

subtest 'unbind errno' => sub {
    is(ctl("fault $GPU unbind errno EIO"), 'ok');
    is(w(dev_path($GPU) . '/driver/unbind', $GPU), 'EIO');
    is(driver_of($GPU), 'nvidia', 'still bound');
    is(ctl("clear $GPU"), 'ok');
    is(w(dev_path($GPU) . '/driver/unbind', $GPU), 'ok');
};

subtest 'bind errno: fails before probe (bind returns it, drivers_probe EINVAL)' => sub {
    is(ctl("fault $GPU bind errno ENOMEM"), 'ok');
    is(w('sys/bus/pci/drivers/nvidia/bind', $GPU), 'ENOMEM');
    is(w('sys/bus/pci/drivers_probe', $GPU), 'EINVAL', 'drivers_probe_store() makes it EINVAL');
    is(driver_of($GPU), '');
    ctl("clear $GPU");
};

subtest 'probe errno: the driver probe fails (bind returns it, drivers_probe ok)' => sub {
    is(ctl("fault $GPU probe errno EIO"), 'ok');
    is(w('sys/bus/pci/drivers/nvidia/bind', $GPU), 'EIO');
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok', 'probe errors are ignored by the bus walk');
    is(driver_of($GPU), '', 'and nothing bound');
    is(sim_state()->{devices}[2]{faults}{probe_errno}, 'EIO', 'state lists the fault');
    ctl("clear $GPU");
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok');
    is(driver_of($GPU), 'nvidia');
};

subtest 'override errno' => sub {
    is(ctl("fault $NIC2 override errno EPERM"), 'ok');
    is(w(dev_path($NIC2) . '/driver_override', 'vfio-pci'), 'EPERM');
    is(rd(dev_path($NIC2) . '/driver_override'), "(null)\n");
    ctl('clear all');
};

subtest 'delay: every write about the device takes longer' => sub {
    is(ctl("fault $NIC2 delay 300"), 'ok');
    my $t = time;
    is(w(dev_path($NIC2) . '/driver_override', 'vfio-pci'), 'ok');
    cmp_ok(time - $t, '>=', 0.29, 'the override write took 300 ms');
    $t = time;
    is(w('sys/bus/pci/drivers/igb/unbind', $NIC2), 'ok');
    cmp_ok(time - $t, '>=', 0.29, 'so did the unbind');
    $t = time;
    is(w(dev_path($GPU) . '/driver_override', "\n"), 'ok');
    cmp_ok(time - $t, '<', 0.25, 'another device is not delayed');
    ctl("clear $NIC2");
};

subtest 'async: bind returns at once, the links appear later' => sub {
    is(ctl("fault $NIC2 async 400"), 'ok');
    is(w("$VFIO/bind", $NIC2), 'ok');
    is(driver_of($NIC2), '', 'no driver link yet');
    ok(!-e "$M/dev/vfio/8", 'no group node yet');
    is(w("$VFIO/bind", $NIC2), 'EBUSY', 'but the device is bound');
    ok(wait_until(sub { driver_of($NIC2) eq 'vfio-pci' }), 'the link appears');
    ok(-e "$M/dev/vfio/8", 'and the group node');
    ctl("clear $NIC2");
    w(dev_path($NIC2) . '/driver_override', "\n");
    w("$VFIO/unbind", $NIC2);
    w('sys/bus/pci/drivers_probe', $NIC2);
    is(driver_of($NIC2), 'igb');
};

subtest 'unplug: the device and everything about it vanish; blocked writers get ENODEV' => sub {
    is(ctl("fault $NVME1 unbind hang"), 'ok');
    my $bg = bg_write(dev_path($NVME1) . '/driver/unbind', $NVME1);
    ok(wait_until(sub { driver_of($NVME1) eq '' }), 'unbind hangs');
    ok(-e "$M/sys/class/block/nvme1n1", 'disk still there');
    is(ctl("unplug $NVME1"), 'ok');
    is(bg_result($bg), 'ENODEV', 'the blocked writer is released with ENODEV');
    ok(!-e "$M/" . dev_path($NVME1), 'gone from bus/pci/devices');
    ok(!-e "$M/sys/kernel/iommu_groups/16", 'its group went with its only member');
    ok(!-e "$M/sys/class/block/nvme1n1", 'its disk went too');
    is(w('sys/bus/pci/drivers_probe', $NVME1), 'ENODEV');
    is(ctl("unplug $NVME1"), 'EINVAL', 'cannot unplug twice');
};

subtest 'rescan brings unplugged devices back, without override' => sub {
    is(w(dev_path($NIC2) . '/driver_override', 'none'), 'ok');
    is(ctl("unplug 0000:00:1c.1"), 'ok', 'unplug a root port: its subtree goes too');
    ok(!-e "$M/" . dev_path($NIC2), 'the NIC below it is gone');
    is(w('sys/bus/pci/rescan', '1'), 'ok');
    is(driver_of($NIC2), 'igb', 'back, probed, no override left');
    is(driver_of($NVME1), 'nvme', 'the unplugged NVMe is back too');
    is(ctl("clear all"), 'ok');
};

subtest 'unplug after N writes: hot removal in the middle of a sequence' => sub {
    is(ctl("fault $NIC2 unplug-after-writes 2"), 'ok');
    is(w(dev_path($NIC2) . '/driver_override', 'vfio-pci'), 'ok', 'write 1');
    is(w(dev_path($NIC2) . '/driver/unbind', $NIC2), 'ok', 'write 2');
    ok(!-e "$M/" . dev_path($NIC2), 'unplugged right after');
    is(w("$VFIO/bind", $NIC2), 'ENODEV', 'write 3 finds no device');
};

subtest 'load replaces the topology; refused while a writer is blocked' => sub {
    is(ctl("hold 4"), 'EINVAL', 'nothing on vfio-pci in group 4');
    is(ctl("fault $GPU unbind hang"), 'ok');
    my $bg = bg_write(dev_path($GPU) . '/driver/unbind', $GPU);
    ok(wait_until(sub { @{sim_state()->{writers}} == 1 }), 'one writer blocked');
    is(ctl("load $TOP/t/topologies/gpu-host.json"), 'EBUSY');
    like(last_error(), qr/in flight/);
    is(ctl('release all'), 'ok');
    is(bg_result($bg), 'ok');
    is(ctl("load $TOP/t/topologies/nonexistent.json"), 'EINVAL');
    like(last_error(), qr/nonexistent\.json/, 'the error names the file');
    is(ctl("load $TOP/t/topologies/gpu-host.json"), 'ok');
    is(sim_state()->{name}, 'gpu-host');
    is(driver_of($GPU), 'nvidia', 'fresh state');
    ok(!-e "$M/" . dev_path($NIC2), 'the old devices are gone');
};

subtest 'control errors: EINVAL and a message in sim/last_error' => sub {
    for my $cmd ("\n", 'frobnicate', "fault $GPU unbind errno EWHAT", 'fault 0000:99:00.0 delay 5',
        "fault $GPU bind hang", 'hold x', 'release 99', 'clear', "unplug 0000:99:00.0",
        "log clear\nlog clear") {
        is(ctl($cmd), 'EINVAL', "\"$cmd\"");
        isnt(last_error(), '', 'with a message');
    }
    is(ctl('log clear'), 'ok');
    is(last_error(), '', 'a good command clears it');
};

done_testing();
