# unbind never hangs: a group a hypervisor holds is refused at once, a device
# never bound is refused, and a kernel write that blocks ends in 504 within
# the bound with the device's record kept, so a later unbind finishes.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use Time::HiRes qw(time);
use VVTest;
use VVSim;

plan tests => 17;

my $slow = $ENV{VV_TEST_SLOWDOWN} || 1;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');

my ($code, $b) = unbind('0000:04:00.0');
ok t_cmp([$code, $b->{message}], [500, 'device 0000:04:00.0 not bound to vfio-pci'],
         'a device never bound');

($code) = bind('0000:09:00.0');
ok t_cmp($code, 200, 'an NVMe bound');
sim('hold 16');
sim('log clear');
my $t0 = time;
($code, $b) = unbind('0000:09:00.0');
my $took = time - $t0;
ok t_cmp($code, 500, 'unbind while a hypervisor holds its group: refused');
ok t_cmp($b->{message}, qr/^device 0000:09:00\.0 is in use: its IOMMU group 16 is open/,
         'saying the group is in use');
# What proves it did not wait on the kernel: no write was made.  The time
# is a second witness, scaled for slow builds (ASan: VV_TEST_SLOWDOWN).
ok t_cmp(sim_log(), '', 'no sysfs write was tried');
ok t_cmp($took < 1.5 * $slow ? 1 : 0, 1, sprintf('at once (%.2f s), not after a timeout', $took));
ok t_cmp(driver_of('0000:09:00.0'), 'vfio-pci', 'the device is left on vfio-pci');
ok t_cmp(record_of('0000:09:00.0')->{phase}, 'bound', 'its record untouched');
sim('release 16');
($code) = unbind('0000:09:00.0');
ok t_cmp([$code, driver_of('0000:09:00.0')], [200, 'nvme'], 'released, it unbinds');

# A release whose kernel writes stall longer than VolantVfioOpTimeout.
($code) = bind('0000:04:00.0');
sim('fault 0000:04:00.0 delay 5000');
$t0 = time;
($code, $b) = unbind('0000:04:00.0');
$took = time - $t0;
ok t_cmp($code, 504, 'a kernel write that does not return: 504');
ok t_cmp($took < 8 * $slow ? 1 : 0, 1, sprintf('within the bound (%.1f s for a 2 s limit per write)', $took));
ok t_cmp($b->{message}, qr/did not finish within 2 s/, 'the message says so');
my $rec = record_of('0000:04:00.0');
ok t_cmp([$rec && $rec->{phase}, $rec && $rec->{original_driver}], ['stuck', 'igb'],
         'the record is kept, marked stuck, naming the original driver');
sim('clear 0000:04:00.0');
ok t_cmp(wait_for(sub { !grep { $_->{waiting} } @{sim_state()->{writers}} }, 10) ? 1 : 0, 1,
         'the blocked write finishes');
($code, $b) = unbind('0000:04:00.0');
ok t_cmp($code, 200, 'a later unbind completes the release');
ok t_cmp(driver_of('0000:04:00.0'), 'igb', 'igb is back');
ok t_cmp([records()], [], 'and the record is gone');
