# All or nothing: when the second device of a request fails, whatever the
# fault, the first goes back to its original driver and no record is left.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use Time::HiRes qw(time);
use VVTest;
use VVSim;

my @faults = (
    ['bind errno EINVAL', 500, 'the target driver refuses it'],
    ['bind errno EIO', 500, 'the target driver fails'],
    ['unbind errno EBUSY', 500, 'its host driver refuses to let go'],
    ['override errno EINVAL', 500, 'driver_override is refused'],
    ['unbind hang', 504, 'its host driver hangs on unbind'],
    ['unplug-after-writes 1', undef, 'it is hot-unplugged mid-sequence'],
);
plan tests => 7 * @faults + (@faults - 1) + 2 + 3 + 3 + 1;

Apache::TestRequest::module('vv_bind');
my ($first, $second) = ('0000:04:00.0', '0000:09:00.0');

for my $f (@faults) {
    my ($fault, $status, $what) = @$f;
    sim_load('mixed-host');
    sim("fault $second $fault");
    my $t0 = time;
    my ($code, $b) = bind($first, $second);
    my $took = time - $t0;
    if (defined $status) {
        ok t_cmp($code, $status, "$what: status");
    }
    else {
        ok t_cmp($code, qr/^5\d\d$/, "$what: a 5xx status");
    }
    ok t_cmp($b->{success}, JSON::PP::false, "$what: failure reported");
    ok t_cmp($took < 12 ? 1 : 0, 1, "$what: answered in bounded time (${\ sprintf '%.1f', $took} s)");
    ok t_cmp(driver_of($first), 'igb', "$what: the first device is back on igb");
    ok t_cmp(override_of($first), '(null)', "$what: its override cleared");
    ok t_cmp($b->{devices}[0]{outcome}, 'rolled_back', "$what: reported rolled back");
    my @left = grep { $_ ne $second } records();
    ok t_cmp(\@left, [], "$what: no record of the rolled-back device");
    if ($fault ne 'unbind hang') {
        # The failed device is back on nvme without a record, or (when the
        # fault also refuses its way back) keeps a record that says nvme.
        my $rec = record_of($second);
        my $back = driver_of($second) eq 'nvme';
        ok t_cmp($back ? !$rec : ($rec && $rec->{original_driver} eq 'nvme'),
                 1, "$what: the failed device is back on nvme or recorded"
                    . ($back ? ' (back)' : ' (recorded)'));
    }
    sim('release all');
    if ($fault eq 'unbind hang') {
        my $rec = record_of($second);
        ok t_cmp([$rec && $rec->{original_driver}, $rec && $rec->{phase}],
                 ['nvme', 'stuck'],
                 "$what: the stuck device keeps a record of its driver, "
                 . "marked stuck, not undone while its write is pending");
        wait_for(sub { !grep { $_->{waiting} } @{sim_state()->{writers}} }, 10);
        my ($c2) = unbind($second);
        ok t_cmp([$c2, driver_of($second)], [200, 'nvme'],
                 "$what: once the hang ends, unbind restores it from the record");
    }
}

# A fault that only slows things down is no failure.
sim_load('mixed-host');
sim("fault $second delay 300");
sim("fault $second async 200");
my ($code, $b) = bind($first, $second);
ok t_cmp($code, 200, 'a slow device and a late driver link still bind');
ok t_cmp([driver_of($first), driver_of($second)], ['vfio-pci', 'vfio-pci'],
         'both on vfio-pci');
($code) = unbind($first, $second);
ok t_cmp([driver_of($first), driver_of($second)], ['igb', 'nvme'],
         'and both come back');

# A release that failed leaves the device driverless with a record of its
# original driver; binding it again must keep that driver, not record ""
# (what it has now), so the next unbind still brings nvme back.
sim_load('mixed-host');
($code) = bind($second);
sim("fault $second bind errno EINVAL");
($code) = unbind($second);
my $rec = record_of($second);
ok t_cmp([$code, driver_of($second), $rec && $rec->{original_driver}],
         [500, '', 'nvme'], 'a failed release: driverless, recorded as nvme');
sim("clear $second");
($code) = bind($second);
$rec = record_of($second);
ok t_cmp([$code, $rec && $rec->{original_driver}], [200, 'nvme'],
         'bound again: the record still names nvme');
($code) = unbind($second);
ok t_cmp([$code, driver_of($second), scalar(my @left = records())], [200, 'nvme', 0],
         'and unbind restores nvme, leaving no record');

# A damaged record of some other device is logged, and blocks nothing.
sim_load('mixed-host');
my $junk = "$ENV{VV_TEST_STATE}/devices/0000:0b:00.0.json";
open my $fh, '>', $junk or die "$junk: $!";
print $fh "{not json";
close $fh;
($code) = bind($first);
my ($ucode) = unbind($first);
ok t_cmp([$code, $ucode, driver_of($first)], [200, 200, 'igb'],
         'a damaged record elsewhere: bind and unbind still work');
unlink $junk;
