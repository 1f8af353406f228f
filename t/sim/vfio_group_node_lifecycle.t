# dev/vfio/N appears with the first member of group N on vfio-pci and goes
# with the last; it opens exclusively; vfio-dev/vfioX numbers are global
# counters allocated at bind; with "cdev": true each vfio-pci device also
# gets dev/vfio/devices/vfioX.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use Test::More;

my ($GPU, $AUDIO) = ('0000:01:00.0', '0000:01:00.1');
my $VFIO = 'sys/bus/pci/drivers/vfio-pci';

sub to_vfio {
    my ($a) = @_;
    w(dev_path($a) . '/driver_override', 'vfio-pci');
    w(dev_path($a) . '/driver/unbind', $a) if driver_of($a);
    return w("$VFIO/bind", $a);
}

sub vfio_dev {
    my ($a) = @_;
    my @d = map { s{.*/}{}r } glob("$M/" . dev_path($a) . '/vfio-dev/vfio*');
    return $d[0] // '';
}

subtest 'first member creates dev/vfio/N, last removes it' => sub {
    sim_start('gpu-host');
    ok(-e "$M/dev/vfio/vfio", 'the container node exists');
    ok(!-e "$M/dev/vfio/2", 'no group node before any bind');
    is(to_vfio($GPU), 'ok');
    ok(-e "$M/dev/vfio/2", 'appears with the first member');
    is((stat "$M/dev/vfio/2")[2] & 07777, 0600, 'root-only, like the kernel node');
    is(to_vfio($AUDIO), 'ok');
    isnt(vfio_dev($GPU), vfio_dev($AUDIO), 'each device has its own vfio-dev/vfioX');
    like(vfio_dev($AUDIO), qr/^vfio\d+$/, 'named vfioX');
    ok(!-e "$M/" . dev_path('0000:00:01.0') . '/vfio-dev', 'no vfio-dev on a pcieport bridge');
    is(w("$VFIO/unbind", $GPU), 'ok');
    is(vfio_dev($GPU), '', 'vfio-dev goes with the unbind');
    ok(-e "$M/dev/vfio/2", 'stays while a member is on vfio-pci');
    is(w("$VFIO/unbind", $AUDIO), 'ok');
    ok(!-e "$M/dev/vfio/2", 'gone with the last member');
    is(to_vfio($GPU), 'ok');
    like(vfio_dev($GPU), qr/^vfio[2-9]$/, 'a rebind allocates a new number');
};

subtest 'dev/vfio/N opens exclusively; missing nodes are ENOENT' => sub {
    ok(open(my $a, '+<', "$M/dev/vfio/2"), 'first open');
    ok(!open(my $b, '+<', "$M/dev/vfio/2"), 'second open');
    is(errname(), 'EBUSY', 'EBUSY');
    close $a;
    ok(open($b, '+<', "$M/dev/vfio/2"), 'free again after close');
    close $b;
    ok(!open(my $c, '+<', "$M/dev/vfio/4"), 'group 4 has nobody on vfio-pci');
    is(errname(), 'ENOENT', 'ENOENT');
    ok(open(my $d, '+<', "$M/dev/vfio/vfio") && open(my $e, '+<', "$M/dev/vfio/vfio"),
        'the container node opens many times');
};

subtest 'cdev: dev/vfio/devices/vfioX follows vfio-dev' => sub {
    my $dir = tempdir(CLEANUP => 1);
    open my $in, '<', "$TOP/t/topologies/gpu-host.json" or die $!;
    my $t = decode_json(do { local $/; <$in> });
    $t->{cdev} = JSON::PP::true;
    open my $out, '>', "$dir/cdev.json" or die $!;
    print $out encode_json($t);
    close $out;
    sim_start("$dir/cdev.json");
    ok(-d "$M/dev/vfio/devices", 'dev/vfio/devices exists');
    is(to_vfio($GPU), 'ok');
    my $x = vfio_dev($GPU);
    ok(-e "$M/dev/vfio/devices/$x", "dev/vfio/devices/$x appears");
    is(w("$VFIO/unbind", $GPU), 'ok');
    ok(!-e "$M/dev/vfio/devices/$x", 'and goes');
};

subtest 'no vfio-pci: no driver directory, no dev/vfio' => sub {
    sim_start('novfio-host');
    ok(!-e "$M/$VFIO", 'no drivers/vfio-pci');
    ok(!-e "$M/dev/vfio", 'no dev/vfio');
    is(w(dev_path($GPU) . '/driver_override', 'vfio-pci'), 'ok', 'an override can still name it');
    is(w(dev_path($GPU) . '/driver/unbind', $GPU), 'ok');
    is(w('sys/bus/pci/drivers_probe', $GPU), 'ok', 'drivers_probe binds nothing');
    is(driver_of($GPU), '');
};

done_testing();
