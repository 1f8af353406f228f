# GET /api/v1/vfio/usage: before any bind, who holds each device a bind
# could take.  The host (in the words a refused bind uses), a VM (the
# process holding the group's /dev/vfio node), or nobody; for the devices
# the virtual host's allowlist admits and those the module moved, no other.
# It changes nothing and waits for no lock: asked while a bind is stuck in
# a kernel write, it answers at once, and it never opens a group node.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);
use VVTest;
use VVSim;

plan tests => 21;

sub usage {
    my ($code, $body) = get_json(api('/usage'));
    my %by = map { $_->{address} => $_ } @{ ($body // {})->{devices} // [] };
    return ($code, \%by, $body);
}

sub held { my ($u, $addr) = @_; return [@{ $u->{$addr} // {} }{qw(held_by reason)}] }

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_companions');
sim('log clear');
my ($code, $u, $body) = usage();
ok t_cmp($code, 200, 'GET /usage answers 200');

# Every endpoint the allowlist admits, each with what a bind would meet.
my %want = (
    '0000:00:07.0' => ['host', 'network interface ens5 is up and carries 192.168.50.2/24'],
    '0000:01:00.0' => ['nobody', undef],
    '0000:01:00.1' => ['nobody', undef],
    '0000:02:00.0' => ['host', '/dev/nvidia1 is open by pid 4242 (nvidia-persiste)'],
    '0000:02:00.1' => ['nobody', undef],
    '0000:02:00.2' => ['nobody', undef],
    '0000:02:00.3' => ['nobody', undef],
    '0000:03:00.0' => ['host', 'network interface eno1 is up and carries 10.0.0.5/24'],
    '0000:04:00.0' => ['nobody', undef],
    '0000:07:00.0' => ['host', 'it is the boot VGA device (the host console runs on it)'],
    '0000:08:00.0' => ['host', 'block device nvme0n1p1 is mounted on /boot/efi'],
    '0000:09:00.0' => ['nobody', undef],
    '0000:0a:00.0' => ['host', 'block device nvme2n1 is held by dm-0 (LVM, md or device-mapper)'],
    '0000:0b:00.0' => ['host', 'it is an SR-IOV physical function with 2 virtual functions, '
                       . 'which unbinding its driver would destroy'],
    '0000:0b:02.0' => ['nobody', undef],
    '0000:0b:02.1' => ['nobody', undef],
);
ok t_cmp([map { $_->{address} } @{ $body->{devices} }], [sort keys %want],
         'the allowlisted endpoints, sorted; no bridge, nothing outside VolantVfioAllow '
         . '(05:00.0 on vfio-pci, 8086:10fb, is not listed)');
ok t_cmp({map { $_ => held($u, $_) } keys %$u}, \%want,
         'each held by the host with the reason a bind would give, or by nobody');
ok t_cmp([@{ $u->{'0000:02:00.0'} }{qw(driver iommu_group)}], ['nvidia', '4'],
         'with its driver and IOMMU group');
ok t_cmp(sim_log(), '', 'asking wrote nothing to sysfs');

# A VM: the GPU and its audio function on vfio-pci, a hypervisor holding
# their group.
($code) = bind('0000:01:00.0');
ok t_cmp($code, 200, 'the GPU bound, its audio function along');
($code, $u) = usage();
ok t_cmp([held($u, '0000:01:00.0'), held($u, '0000:01:00.1')],
         [['nobody', undef], ['nobody', undef]], 'on vfio-pci, no VM yet: nobody');
sim('hold 2 4343 qemu-system-x86');
($code, $u) = usage();
my $vm = ['vm', 'its IOMMU group 2 (/dev/vfio/2) is open by pid 4343 (qemu-system-x86)'];
ok t_cmp([held($u, '0000:01:00.0'), held($u, '0000:01:00.1')], [$vm, $vm],
         'a hypervisor holds group 2: both held by the VM, naming the process');
ok t_cmp(held($u, '0000:02:00.0')->[0], 'host', 'the other GPU still the host\'s');
my ($c2, $b2) = unbind('0000:01:00.0');
ok t_cmp([$c2, $b2->{message}], [500, qr/in use: its IOMMU group 2 is open by pid 4343/],
         'and the unbind it predicts is refused');
sim('release 2');
($code, $u) = usage();
ok t_cmp(held($u, '0000:01:00.0'), ['nobody', undef], 'the VM gone: nobody again');

# The allowlist of the asking virtual host decides what is listed; a
# device the module moved is listed whatever it says.
Apache::TestRequest::module('vv_reference');
($code, $u) = usage();
ok t_cmp([sort keys %$u], [qw(0000:01:00.0 0000:01:00.1 0000:02:00.0 0000:02:00.1
                              0000:02:00.2 0000:02:00.3)],
         'vv_reference (10de:* only): NVIDIA\'s functions only');
# An allowlist that admits a bridge's IDs (vv_usage: 1a03:*, the ASPEED
# bridge 06:00.0 and its VGA 07:00.0) still lists endpoints only: a bind
# never takes a bridge.
Apache::TestRequest::module('vv_usage');
($code, $u) = usage();
ok t_cmp([grep { /^0000:0[67]:/ } sort keys %$u], ['0000:07:00.0'],
         'vv_usage (1a03:*): the ASPEED VGA listed, not the bridge above it');
Apache::TestRequest::module('vv_bind_companions');
($code) = bind('0000:04:00.0');
Apache::TestRequest::module('vv_reference');
($code, $u) = usage();
ok t_cmp($u->{'0000:04:00.0'} && $u->{'0000:04:00.0'}{driver}, 'vfio-pci',
         'a NIC the module moved appears there too: unbind may give it back');
Apache::TestRequest::module('vv_big_body');
($code, $u) = usage();
ok t_cmp([$code, sort keys %$u], [200, qw(0000:01:00.0 0000:01:00.1 0000:04:00.0)],
         'a virtual host with no allowlist: what the module moved (the GPU and its '
         . 'audio function still held, the NIC), nothing else');
Apache::TestRequest::module('vv_bind_companions');
unbind('0000:04:00.0', '0000:01:00.0');

# No lock: asked while a bind waits on a kernel write that does not return
# (the bind holds the lock until its 2 s bound ends it in 504).
sim('fault 0000:09:00.0 delay 8000');
my $bg = in_background(sub { (bind('0000:09:00.0'))[0] });
wait_for(sub { grep { $_->{waiting} } @{ sim_state()->{writers} } }, 10);
my $t0 = time;
($code, $u) = usage();
my $took = time - $t0;
my $bind_running = waitpid($bg->{pid}, WNOHANG) == 0;
ok t_cmp($code, 200, 'asked while a bind is stuck in the kernel: 200');
ok t_cmp($bind_running ? 1 : 0, 1,
         sprintf('answered (in %.2f s) while that bind still ran: no lock waited for', $took));
my ($bound) = finish($bg);
ok t_cmp($bound, 504, 'the stuck bind ends in 504 as always');
sim('clear 0000:09:00.0');
wait_for(sub { !grep { $_->{waiting} } @{ sim_state()->{writers} } }, 10);
($code) = unbind('0000:09:00.0');
ok t_cmp([$code, driver_of('0000:09:00.0'), records()], [200, 'nvme'],
         'released afterwards: nvme again, no record left');

# The same access control as the rest of the API.
Apache::TestRequest::module('vv_key');
($code) = get_json(api('/usage'));
ok t_cmp($code, 401, 'without the key where one is required: 401');
Apache::TestRequest::module('vv_bind_companions');
my $res = Apache::TestRequest::POST(api('/usage'), content => '{}',
                                    'Content-Type' => 'application/json');
ok t_cmp([$res->code, $res->header('Allow')], [405, 'GET, HEAD, OPTIONS'],
         'POST: 405 naming GET');
