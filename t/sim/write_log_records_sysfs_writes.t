# sim/log holds every write made under sys/ since "log clear", one line
# each (resolved PATH, escaped DATA, ok or errno name), so a test can prove
# that no sysfs write happened.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Test::More;

sim_start('gpu-host');
my $GPU = '0000:01:00.0';
my $dir = 'sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0';

is(rd('sim/log'), '', 'empty at start');
rd(dev_path($GPU) . '/driver_override');
my $link = readlink("$M/" . dev_path($GPU) . '/driver');
is(rd('sim/log'), '', 'reads and readlinks are not writes');

w(dev_path($GPU) . '/driver_override', "vfio-pci\n");
w('sys/bus/pci/drivers/vfio-pci/unbind', $GPU);
w(dev_path($GPU) . "/driver/unbind", "$GPU\t\x01");
ctl('hold 2');
is(rd('sim/log'), join('',
    "/$dir/driver_override\tvfio-pci\\n\tok\n",
    "/sys/bus/pci/drivers/vfio-pci/unbind\t$GPU\tENODEV\n",
    "/sys/bus/pci/drivers/nvidia/unbind\t$GPU\\t\\x01\tENODEV\n"),
    'paths as the kernel resolves them, data escaped, control writes not logged');

is(ctl('log clear'), 'ok');
is(rd('sim/log'), '', 'cleared');

ctl("fault $GPU unbind hang");
my $bg = bg_write(dev_path($GPU) . '/driver/unbind', $GPU);
ok(wait_until(sub { (rd('sim/log') // '') =~ /\tpending\n/ }), 'a blocked write shows as pending');
ctl("release $GPU");
is(bg_result($bg), 'ok');
is(rd('sim/log'), "/sys/bus/pci/drivers/nvidia/unbind\t$GPU\tok\n", 'then its result');
is(sim_state()->{log_entries}, 1, 'sim/state counts the entries');

done_testing();
