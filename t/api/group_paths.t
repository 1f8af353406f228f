# POST /devices/group-paths: /dev/vfio/N under VolantVfioDevRoot for devices
# on vfio-pci, and a 409 for the rest.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use VVTest;

plan tests => 10;

sub paths { return post_json(api('/devices/group-paths'),
                             { pci_addresses => [@_] }) }

my $dev = dev_root();
my ($code, $b) = paths('0000:05:00.0');
ok t_cmp($code, 200, 'a device on vfio-pci');
ok t_cmp($b->{group_paths}, ["$dev/vfio/6"], 'its group node under the dev root');
ok t_cmp(-e "$dev/vfio/6" ? 1 : 0, 1, 'which exists');
ok t_cmp($b->{devices}[0]{address}, '0000:05:00.0', 'per-device detail');
ok t_cmp($b->{devices}[0]{sysfs_path}, sysfs_root() . '/bus/pci/devices/0000:05:00.0',
         'with the sysfs path a hypervisor takes');
ok t_cmp($b->{devices}[0]{cdev_path}, undef, 'no cdev on this host');

($code, $b) = paths('0000:05:00.0', '0000:05:00.0');
ok t_cmp($b->{group_paths}, ["$dev/vfio/6"], 'distinct paths');

($code, $b) = paths('0000:01:00.0');
ok t_cmp([$code, $b->{error}], [409, 'device 0000:01:00.0 is not bound to '
         . 'vfio-pci (current driver: nvidia)'], 'a device on a host driver');
($code, $b) = paths('0000:03:00.0');
ok t_cmp($b->{error}, 'device 0000:03:00.0 is not bound to vfio-pci '
         . '(current driver: none)', 'a driverless device');
($code, $b) = paths('0000:09:00.0');
ok t_cmp($code, 404, 'an absent device');
