# One mutation at a time, host-wide: a second request for a device another
# request is moving gets a clean 409 at once; a request for other devices
# waits its turn; no device ends half moved.  The first bind is held in
# the kernel (its host driver's unbind hangs until the test releases it),
# so the other requests land while it runs however slow the machine is:
# no timing window.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 9;

sim_load('mixed-host');
# VolantVfioOpTimeout 30 there: the held write is released long before.
Apache::TestRequest::module('vv_usage');
my ($slow, $other) = ('0000:09:00.0', '0000:04:00.0');
sim("fault $slow unbind hang");

my $a = in_background(sub { (bind($slow))[0] });
ok t_cmp(wait_for(sub { sim_log() =~ m{/drivers/nvme/unbind\t\Q$slow\E(?:\\n)?\tpending} }, 10) ? 1 : 0, 1,
         'the first bind is under way, held in the host driver\'s unbind');
my $c = in_background(sub { (bind($other))[0] });
my ($code, $b) = bind($slow);
ok t_cmp($code, 409, 'a second bind of the same device: 409 at once');
ok t_cmp($b->{message}, "device $slow is being bound or unbound by another "
         . 'request; retry when it ends', 'saying why');
# The refused request must not have removed the running one's note of the
# devices it holds: a third still gets the same answer.
($code) = unbind($slow);
ok t_cmp($code, 409, 'a third request for it: 409 too');
sim("release $slow");
ok t_cmp((finish($a))[0], 200, 'the first bind wins');
ok t_cmp((finish($c))[0], 200, 'a bind of another device waited its turn');
ok t_cmp([driver_of($slow), driver_of($other)], ['vfio-pci', 'vfio-pci'],
         'both devices on vfio-pci');
ok t_cmp([records()], [$other, $slow], 'each recorded once');
sim("clear $slow");
($code) = unbind($slow, $other);
ok t_cmp([$code, driver_of($slow), driver_of($other)], [200, 'nvme', 'igb'],
         'and released');
