# The records decide which device the root helper writes and what it gets
# back, so their directory must be the helper's alone: with a
# VolantVfioStateDir another user can write, the helper refuses to start and
# says how to fix it; GET /host shows it down, bind answers 503, and
# GET /metrics says so to Prometheus (volant_vfio_helper_up 0).
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use VVTest;
use VVHttpd;

plan tests => 7;

my $state = File::Temp::tempdir('/tmp/vv-state-XXXXXX', CLEANUP => 1);
chmod 0777, $state;
my $root = Apache::Test::vars('top_dir') . '/t/tmp';
my $h = VVHttpd::start(sysfs => $ENV{VV_TEST_SYSFS}, dev => $ENV{VV_TEST_DEV},
                       proc => $ENV{VV_TEST_PROC}, state => $state,
                       conf => 'VolantVfioAllow 8086:1533');
my $refusal = qr/VFIO20015: helper: refusing to start: \Q$state\E is owned by uid 0 with mode 0777; .*chmod go-w \Q$state\E/;
my $log = VVHttpd::wait_log($h, $refusal);
ok t_cmp($log, $refusal, 'the error log says why and how to fix it');
my $http = HTTP::Tiny->new(timeout => 10);
my $res = $http->get("$h->{base}/api/v1/vfio/host");
my $host = eval { JSON::PP->new->decode($res->{content}) } // {};
ok t_cmp($host->{helper}{running} ? 1 : 0, 0, 'the helper is not running');
$res = $http->post("$h->{base}/api/v1/vfio/devices/bind",
                   { headers => { 'Content-Type' => 'application/json' },
                     content => '{"pci_addresses":["0000:03:00.0"]}' });
ok t_cmp($res->{status}, 503, 'bind: 503, the helper is unavailable');
ok t_cmp((stat $state)[2] & 07777, 0777, 'and the directory was left as it was');

$res = $http->get("$h->{base}/api/v1/vfio/metrics");
ok t_cmp($res->{status}, 200, 'GET /metrics still answers');
ok t_cmp($res->{content} =~ /^volant_vfio_helper_up 0$/m ? 1 : 0, 1,
         'with volant_vfio_helper_up 0');
chomp(my $promtool = `build/promtool`);
open my $pt, '|-', "'$promtool' check metrics >/dev/null 2>&1" or die "promtool: $!";
print $pt $res->{content};
close $pt;
ok t_cmp($?, 0, 'and promtool accepts that scrape too');
