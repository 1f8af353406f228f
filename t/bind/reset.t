# POST /devices/reset between VMs, and the health check after every reset
# and every release: a device that comes back broken (config space reading
# all ones, as GPUs that lost their reset do) is quarantined and kept from
# the next bind until a reset that passes the check, or an operator,
# clears it.  The simulator models the kernel's reset file (write-only,
# "1", ENOTTY with no method left) and a device that stops answering.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 34;

my $dev = '0000:04:00.0';    # igb, alone in its group, flr and bus reset
my $other = '0000:09:00.0';  # an NVMe drive nobody uses

sub reset_ { return post_json(api('/devices/reset'), { pci_addresses => [@_] }) }
sub resets { my ($d) = grep { $_->{address} eq $_[0] } @{ sim_state()->{devices} }; $d->{resets} }
sub phase  { my $r = record_of($_[0]); return $r ? $r->{phase} : 'none' }

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_companions');
my $state = $ENV{VV_TEST_STATE};

# Not held by the module: nothing is written.
my ($code, $body) = reset_($dev);
ok t_cmp([$code, $body->{error}],
         [409, "device $dev is not held by this module on vfio-pci (driver: igb): reset resets "
               . "devices it bound, between VMs"], 'a device on its host driver: 409');
ok t_cmp(resets($dev), 0, 'and it was not reset');

($code) = bind($dev);
ok t_cmp($code, 200, 'bound');
($code, $body) = reset_($dev);
ok t_cmp($code, 200, 'reset answers 200');
ok t_cmp([@$body{qw(success message)}, $body->{reset_devices}],
         [1, 'Devices successfully reset', [$dev]], 'in the shape of bind and unbind');
ok t_cmp($body->{devices}[0]{outcome}, 'reset', 'outcome reset');
ok t_cmp(resets($dev), 1, 'the kernel\'s reset file was written once');
ok t_cmp([driver_of($dev), phase($dev)], ['vfio-pci', 'bound'], 'still on vfio-pci, bound');

# A VM holding the group: refused at once, as unbind is.
my $group = readlink(mount() . "/sys/bus/pci/devices/$dev/iommu_group") =~ s{.*/}{}r;
sim("hold $group");
($code, $body) = reset_($dev);
ok t_cmp($code, 500, 'while a VM holds the group: 500');
ok t_cmp($body->{error} // '', qr/^device \Q$dev\E is in use: its IOMMU group \d+ is open/,
         'saying the group is in use');
ok t_cmp(resets($dev), 1, 'and no reset was written');
sim("release $group");

# No reset method left (reset_method emptied): 409 before any write.
open my $fh, '>', mount() . "/sys/bus/pci/devices/$dev/reset_method" or die $!;
syswrite $fh, "\n";
close $fh;
($code, $body) = reset_($dev);
ok t_cmp([$code, $body->{error}],
         [409, "device $dev has no reset method (its reset_method is empty): it cannot be reset "
               . "between VMs"], 'no reset method: 409');
open $fh, '>', mount() . "/sys/bus/pci/devices/$dev/reset_method" or die $!;
syswrite $fh, "default\n";
close $fh;

# The device comes back from its reset not answering: quarantined.
sim("fault $dev reset allones");
($code, $body) = reset_($dev);
ok t_cmp($code, 500, 'a reset after which the device reads all ones: 500');
ok t_cmp($body->{error},
         "device $dev failed its health check after the reset: its config space reads all ones "
         . "(the device no longer answers); it is quarantined: a reset that passes the health "
         . "check clears it (POST /api/v1/vfio/devices/reset, while it is on vfio-pci); otherwise, "
         . "once it answers again (a host reboot), remove $state/devices/$dev.json",
         'naming why and how to clear it');
ok t_cmp($body->{devices}[0]{outcome}, 'quarantined', 'outcome quarantined');
ok t_cmp([phase($dev), record_of($dev)->{reason}],
         ['quarantined', 'its config space reads all ones (the device no longer answers)'],
         'the record: phase quarantined, with the reason');
ok t_cmp(Apache::TestRequest::GET(api('/metrics'))->content,
         qr/^volant_vfio_records\{phase="quarantined"\} 1$/m, '/metrics counts it');

my $u = Apache::TestRequest::GET(api('/usage'))->content;
ok t_cmp($u, qr/"address":\s*"\Q$dev\E"[^}]*"quarantined":\s*"its config space reads all ones/,
         'GET /usage says it is quarantined, and why');

# A bind of it is refused, whatever asks.
($code, $body) = bind($dev);
ok t_cmp($code, 409, 'a bind of a quarantined device: 409');
ok t_cmp($body->{error} // '', qr/^device \Q$dev\E is quarantined: its config space reads all ones/,
         'naming the reason');

# A reset that still fails keeps it; one that passes clears it.
($code) = reset_($dev);
ok t_cmp([$code, phase($dev)], [500, 'quarantined'], 'reset while it still reads all ones: kept');
sim("clear $dev");
($code, $body) = reset_($dev);
ok t_cmp($code, 200, 'the device answers again: reset answers 200');
ok t_cmp([phase($dev), record_of($dev)->{reason}], ['bound', undef],
         'out of quarantine: bound, no reason');

# A release that brings it back broken: on its host driver, quarantined.
sim("fault $dev allones");
($code, $body) = unbind($dev);
ok t_cmp($code, 500, 'a release after which the device reads all ones: 500');
ok t_cmp($body->{error} // '', qr/^device \Q$dev\E was released to igb but failed its health check: its config space reads all ones/,
         'saying so');
ok t_cmp([driver_of($dev), phase($dev)], ['igb', 'quarantined'],
         'back on igb, its record kept, quarantined');
($code) = bind($dev);
ok t_cmp($code, 409, 'and no VM gets it');
($code, $body) = unbind($dev);
ok t_cmp([$code, $body->{error}, phase($dev)], [500, "device $dev not bound to vfio-pci", 'quarantined'],
         'an unbind of it, on its host driver: "not bound", the quarantine kept');
sim("clear $dev");
($code) = bind($dev);
ok t_cmp($code, 409, 'answering again does not clear it by itself');
unlink "$state/devices/$dev.json" or die "unlink: $!";
($code) = bind($dev);
ok t_cmp($code, 200, 'the operator removes the record: bind answers 200');
($code) = unbind($dev);
ok t_cmp([$code, driver_of($dev), phase($dev)], [200, 'igb', 'none'], 'a healthy release: record dropped');

# A healthy release is not reset, and keeps no record.
($code) = bind($other);
ok t_cmp($code, 200, 'the NVMe drive bound');
($code) = unbind($other);
ok t_cmp([$code, phase($other)], [200, 'none'], 'released, healthy');
ok t_cmp(resets($other), 0, 'a release does not reset');
