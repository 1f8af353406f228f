# Like sysfs: no file can be created, removed or renamed; O_TRUNC on an
# attribute is a no-op; write-only control files cannot be read and
# read-only attributes cannot be opened for writing (even by root); an
# attribute removed under an open file answers ENODEV.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Fcntl qw(O_WRONLY O_CREAT O_TRUNC O_RDONLY O_EXCL);
use Test::More;

sim_start('gpu-host');
my $GPU = '0000:01:00.0';
my $D = "$M/" . dev_path($GPU);

ok(!sysopen(my $fh, "$D/no_such_attr", O_WRONLY | O_CREAT), 'O_CREAT of a new file fails');
is(errname(), 'EACCES', 'EACCES, like a sysfs directory');
ok(!-e "$D/no_such_attr", 'nothing created');
ok(!sysopen($fh, "$M/sys/bus/pci/drivers/vfio-pci/bind", O_WRONLY | O_CREAT | O_EXCL), 'O_EXCL');
is(errname(), 'EEXIST');
ok(sysopen($fh, "$D/driver_override", O_WRONLY | O_TRUNC), 'O_TRUNC on an attribute opens');
is(syswrite($fh, 'vfio-pci'), 8, 'and the write works');
close $fh;
is(rd(dev_path($GPU) . '/driver_override'), "vfio-pci\n", 'truncation did nothing else');
ok(!mkdir("$D/x"), 'mkdir');
is(errname(), 'EPERM');
ok(!unlink("$D/vendor"), 'unlink');
is(errname(), 'EPERM');
ok(!rename("$D/vendor", "$D/vendor2"), 'rename');
is(errname(), 'EPERM');
ok(!symlink('x', "$D/lnk"), 'symlink');
is(errname(), 'EPERM');
ok(!chmod(0666, "$D/vendor"), 'chmod');
is(errname(), 'EPERM');

ok(!sysopen($fh, "$M/sys/bus/pci/drivers/vfio-pci/bind", O_RDONLY), 'reading a 0200 file');
is(errname(), 'EACCES', 'EACCES even for root');
ok(!sysopen($fh, "$D/vendor", O_WRONLY), 'writing a 0444 file');
is(errname(), 'EACCES', 'EACCES even for root');

ok(sysopen($fh, "$D/vendor", O_RDONLY), 'an open attribute');
is(ctl("unplug $GPU"), 'ok', 'its device is unplugged');
ok(!defined sysread($fh, my $buf, 100), 'reading it fails');
is(errname(), 'ENODEV', 'with ENODEV, like kernfs');

done_testing();
