# Recovery never takes a device from a VM: a record an interrupted bind
# left (phase binding) whose group a hypervisor holds open is kept, and the
# device stays on vfio-pci, when the helper starts; once the VM lets go,
# the next start rolls the bind back.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use JSON::PP ();
use VVTest;
use VVSim;

plan tests => 7;

my $dev = '0000:04:00.0';    # igb, alone in group 8
my $file = "$ENV{VV_TEST_STATE}/devices/$dev.json";
my $json = JSON::PP->new->canonical;
Apache::TestRequest::module('vv_bind');

sub phase { my $r = record_of($dev); return $r ? $r->{phase} : 'none' }

sim_load('mixed-host');
my ($code) = bind($dev);
ok t_cmp([$code, driver_of($dev)], [200, 'vfio-pci'], 'bound');
# What a helper killed in the middle of the bind leaves: the record still
# "binding" (the move done, the phase not yet written).
open my $fh, '<', $file or die "$file: $!";
my $r = $json->decode(do { local $/; <$fh> });
close $fh;
$r->{phase} = 'binding';
open $fh, '>', $file or die $!;
print $fh $json->encode($r);
close $fh;
sim('hold 8 5151 qemu-system-x86');
sim('log clear');

my $old = helper_pid() // 0;
kill 'USR1', httpd_pid();
my $new = wait_for(sub { my $p = eval { helper_pid() }; $p && $p != $old ? $p : 0 },
                   20 * ($ENV{VV_TEST_SLOWDOWN} || 1));
ok t_cmp($new ? 1 : 0, 1, 'a new helper started (recovery ran)');
# Recovery runs under the host-wide lock: once a bind of another device got
# through it, recovery is done.
($code) = bind('0000:09:00.0');
unbind('0000:09:00.0');
ok t_cmp([driver_of($dev), phase()], ['vfio-pci', 'binding'],
         'held by a VM: the device stays on vfio-pci, the record is kept');
ok t_cmp(scalar(grep { m{/drivers/vfio-pci/unbind\t\Q$dev\E} } split /\n/, sim_log()), 0,
         'no unbind of it was even tried');

sim('release 8');
$old = $new;
kill 'USR1', httpd_pid();
$new = wait_for(sub { my $p = eval { helper_pid() }; $p && $p != $old ? $p : 0 },
                20 * ($ENV{VV_TEST_SLOWDOWN} || 1));
($code) = bind('0000:09:00.0');
unbind('0000:09:00.0');
ok t_cmp($new ? 1 : 0, 1, 'the VM gone, the helper restarted');
ok t_cmp(driver_of($dev), 'igb', 'recovery rolled the interrupted bind back');
ok t_cmp(record_of($dev), undef, 'and dropped the record');
