# GET /api/v1/vfio/metrics: Prometheus's own promtool accepts every scrape,
# and the values move as binds, refusals, failures and unbinds happen on a
# live simulator host: counters by outcome, the duration histogram, devices
# held, records by phase, one info series per device with its driver.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 36;

chomp(my $promtool = `build/promtool`);
die "build/promtool failed\n" if $? || !-x $promtool;

# One scrape: {series => value}, the text, and promtool's verdict.
sub scrape {
    my $res = Apache::TestRequest::GET(api('/metrics'));
    VVSchema::check($res, undef);
    my $text = $res->content;
    my %v = map { /^(.+) (\S+)$/ ? ($1 => $2) : () } grep { !/^#/ } split /\n/, $text;
    open my $pt, '|-', "'$promtool' check metrics >t/tmp/promtool.out 2>&1"
        or die "promtool: $!";
    print $pt $text;
    close $pt;
    my $verdict = $? == 0 ? 'ok'
        : do { local (@ARGV, $/) = 't/tmp/promtool.out'; <> };
    return { code => $res->code, type => scalar $res->header('Content-Type'),
             cache => scalar $res->header('Cache-Control'), v => \%v,
             text => $text, promtool => $verdict };
}

sub op { qq{volant_vfio_operations_total{operation="$_[0]",outcome="$_[1]"}} }
sub hist { 'volant_vfio_operation_duration_seconds_' . $_[1] . qq{{operation="$_[0]"}} }
sub bucket { qq{volant_vfio_operation_duration_seconds_bucket{operation="$_[0]",le="$_[1]"}} }
sub phase { qq{volant_vfio_records{phase="$_[0]"}} }
sub info_of {
    my ($s, $addr) = @_;
    my @k = grep { /^volant_vfio_device_info\{address="\Q$addr\E"/ } keys %{ $s->{v} };
    return @k == 1 ? $k[0] : "(" . scalar(@k) . " series for $addr)";
}
sub moved { my ($a, $b, $k) = @_; return ($b->{v}{$k} // 'absent') - ($a->{v}{$k} // 0) }

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
mkdir 't/tmp';
my $s0 = scrape();
ok t_cmp($s0->{code}, 200, 'GET /metrics answers 200');
ok t_cmp($s0->{type}, 'text/plain; version=0.0.4; charset=utf-8',
         'in the text exposition format');
ok t_cmp($s0->{cache}, 'no-store', 'never from a cache');
ok t_cmp($s0->{promtool}, 'ok', 'promtool check metrics accepts it');
ok t_cmp($s0->{v}{volant_vfio_helper_up}, 1, 'the helper is up');
ok t_cmp(abs($s0->{v}{volant_vfio_helper_start_time_seconds} - time) < 3600, 1,
         'its start time is a time of today');
ok t_cmp($s0->{v}{volant_vfio_devices_held}, 0, 'nothing held');

my $sysfs_devices = () = glob(sysfs_root() . '/bus/pci/devices/*');
ok t_cmp(scalar(grep { /^volant_vfio_device_info\{/ } keys %{ $s0->{v} }), $sysfs_devices,
         'one info series per PCI device');
ok t_cmp(info_of($s0, '0000:01:00.0'),
         'volant_vfio_device_info{address="0000:01:00.0",vendor="10de",device="2204",'
         . 'subsystem_vendor="1458",subsystem_device="403b",class="0300",driver="nvidia",'
         . 'iommu_group="2",numa_node="0",is_bridge="false",vendor_name="NVIDIA Corporation",'
         . 'device_name="GA102 [GeForce RTX 3090]"}',
         'the GPU: IDs, driver, group and pci.ids names as labels');

# A bind, a refusal, a kernel failure.
my ($code) = bind('0000:04:00.0');
ok t_cmp($code, 200, 'bind of an igb NIC');
my $s1 = scrape();
($code) = bind('0000:00:01.0');
ok t_cmp($code, 403, 'a bridge: refused');
sim('fault 0000:09:00.0 bind errno EIO');
($code) = bind('0000:09:00.0');
ok t_cmp($code, 500, 'the kernel fails a bind');
sim('clear all');
my $s2 = scrape();
ok t_cmp($s2->{promtool}, 'ok', 'promtool accepts the scrape after them');

ok t_cmp(moved($s0, $s1, op('bind', 'success')), 1, 'bind success +1');
ok t_cmp(moved($s1, $s2, op('bind', 'refused')), 1, 'bind refused +1');
ok t_cmp(moved($s1, $s2, op('bind', 'failed')), 1, 'bind failed +1');
ok t_cmp(moved($s0, $s2, op('unbind', 'success')), 0, 'no unbind yet');
ok t_cmp(moved($s0, $s1, hist('bind', 'count')), 1, 'the histogram counts the bind');
ok t_cmp(moved($s1, $s2, hist('bind', 'count')), 1,
         'and the failed one (it reached the kernel), not the refusal');
ok t_cmp(moved($s0, $s1, bucket('bind', '+Inf')), 1, 'its +Inf bucket too');
ok t_cmp(moved($s0, $s1, hist('bind', 'sum')) > 0, 1, 'and its time');
ok t_cmp($s1->{v}{volant_vfio_devices_held}, 1, 'one device held');
ok t_cmp($s1->{v}{phase('bound')}, 1, 'one record in phase bound');
ok t_cmp(info_of($s1, '0000:04:00.0') =~ /driver="vfio-pci"/ ? 1 : 0, 1,
         'its info series says vfio-pci');

# A slow bind lands in a higher bucket.
sim('fault 0000:09:00.0 delay 300');
($code) = bind('0000:09:00.0');
ok t_cmp($code, 200, 'a slow bind (300 ms per write)');
sim('clear all');
my $s3 = scrape();
ok t_cmp(moved($s2, $s3, bucket('bind', '0.25')), 0, 'not within 0.25 s');
ok t_cmp(moved($s2, $s3, bucket('bind', '+Inf')), 1, 'counted above');
ok t_cmp($s3->{v}{volant_vfio_devices_held}, 2, 'two devices held');

# Unbind both: the gauges fall, the unbind counter rises.
($code) = unbind('0000:04:00.0', '0000:09:00.0');
ok t_cmp($code, 200, 'unbind both');
my $s4 = scrape();
ok t_cmp(moved($s3, $s4, op('unbind', 'success')), 1, 'unbind success +1');
ok t_cmp(moved($s3, $s4, hist('unbind', 'count')), 1, 'unbind histogram +1');
ok t_cmp([$s4->{v}{volant_vfio_devices_held}, $s4->{v}{phase('bound')}], [0, 0],
         'nothing held, no record');
ok t_cmp(info_of($s4, '0000:04:00.0') =~ /driver="igb"/ ? 1 : 0, 1,
         'the NIC is on igb again in its info series');
ok t_cmp($s4->{v}{volant_vfio_last_error_time_seconds} > 0, 1,
         'the last error has a time');

# A record left in a phase other than bound shows up by phase.
sim_load('mixed-host');
my $rec = '{"address":"0000:04:00.0","vendor":"8086","device":"1533","original_driver":"igb",'
        . '"phase":"stuck","remote":"127.0.0.1","time_usec":1,"pid":1}';
open my $fh, '>', "$ENV{VV_TEST_STATE}/devices/0000:04:00.0.json" or die $!;
print $fh $rec;
close $fh;
my $s5 = scrape();
ok t_cmp($s5->{v}{phase('stuck')}, 1, 'a stuck record is counted in its phase');
unlink "$ENV{VV_TEST_STATE}/devices/0000:04:00.0.json";

Apache::TestRequest::module('vv_key');
ok t_cmp(Apache::TestRequest::GET(api('/metrics'))->code, 401,
         'the API key guards /metrics like every endpoint');
