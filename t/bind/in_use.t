# The host's own devices are never taken: each in-use reason refuses the
# bind with a message naming it, before a single sysfs write.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

my @cases = (
    ['0000:03:00.0', 'network interface eno1 is up and carries routes',
     'the management NIC'],
    ['0000:00:07.0', 'network interface ens5 is up and carries routes',
     'a virtio NIC, its interface below virtio0/'],
    ['0000:08:00.0', 'block device nvme0n1p1 is mounted on /boot/efi',
     'the NVMe holding the root filesystem'],
    ['0000:0a:00.0', 'block device nvme2n1 is held by dm-0 (LVM, md or device-mapper)',
     'an NVMe under LVM'],
    ['0000:07:00.0', 'it is the boot VGA device (the host console runs on it)',
     'the boot VGA device'],
    ['0000:02:00.0', '/dev/nvidia1 is open by pid 4242 (nvidia-persiste)',
     'a GPU a host process holds open'],
    ['0000:0b:00.0', 'it is an SR-IOV physical function with 2 virtual functions, '
     . 'which unbinding its driver would destroy', 'a PF with live VFs'],
);
plan tests => 4 * @cases + 2;

Apache::TestRequest::module('vv_bind_companions');
for my $c (@cases) {
    my ($addr, $why, $what) = @$c;
    sim_load('mixed-host');
    my $before = driver_of($addr);
    my ($code, $b) = bind($addr);
    ok t_cmp($code, 500, "$what: refused");
    ok t_cmp($b->{message}, "device $addr is in use by host: $why", "$what: the reason");
    ok t_cmp(driver_of($addr), $before, "$what: still on its driver");
    my $log = do { local (@ARGV, $/) = (mount() . '/sim/log'); <> } // '';
    ok t_cmp($log, '', "$what: no sysfs write");
}

# The free twin of each is taken without complaint.
sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my ($code) = bind('0000:04:00.0', '0000:09:00.0');
ok t_cmp($code, 200, 'an idle NIC (interface down) and an unmounted NVMe bind');
($code) = unbind('0000:04:00.0', '0000:09:00.0');
ok t_cmp($code, 200, 'and unbind');
