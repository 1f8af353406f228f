# unbind obeys VolantVfioAllow: a device on vfio-pci that the module did not
# move (vfio-pci.ids at boot, driverctl, an operator) is released to a host
# driver only when the allowlist admits it; otherwise 403 naming the
# directive, and not one sysfs write.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 7;

# 0000:05:00.0 (8086:10fb) is on vfio-pci at boot, with no record of ours.
my $dev = '0000:05:00.0';
sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_narrow');    # allows 10de:1e84 only
my ($code, $b) = unbind($dev);
ok t_cmp($code, 403, 'outside the allowlist: refused');
ok t_cmp($b->{message}, "device $dev (8086:10fb) was not bound by this module and "
         . 'is not in the allowlist (VolantVfioAllow): unbind refused',
         'naming the device, its IDs and the directive');
ok t_cmp(driver_of($dev), 'vfio-pci', 'the device stays on vfio-pci');
my $log = do { local (@ARGV, $/) = (mount() . '/sim/log'); <> } // '';
ok t_cmp($log, '', 'not one sysfs write');

Apache::TestRequest::module('vv_bind');           # allows 8086:10fb
($code) = unbind($dev);
ok t_cmp($code, 200, 'in the allowlist: released');
ok t_cmp(driver_of($dev) ne 'vfio-pci' ? 1 : 0, 1, 'to a host driver');
ok t_cmp([records()], [], 'no record involved');
