# The in-use guard through the whole stack, against what an unprivileged
# local user can do to make it costly: a process (uid nobody, in a PID
# namespace of the test's own whose procfs the helper reads, so that it
# scans exactly these processes) holds a node of the GPU through 8,000
# descriptors.  GET /usage and a bind, both answered by the root helper,
# must name it once, quickly, and the helper's child that answered must
# stay small (its peak memory is in VFIO20014).  A guard that grew a copy
# of the holder list per descriptor took seconds and gigabytes here.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use Time::HiRes qw(time sleep);
use VVHttpd;

plan tests => 8;

my $top = Apache::Test::vars('top_dir');
my $slow = $ENV{VV_TEST_SLOWDOWN} // 1;
my $dir = File::Temp::tempdir('/tmp/vv-hostile-XXXXXX', CLEANUP => 1);
chmod 0755, $dir;
system("$top/build/sysfs-sim/sysfs-sim", '--static', "$dir/host",
       '--topology', "$top/t/topologies/hostile-host.json") == 0 or die "static tree";
# renderD128 gets /dev/full's number: a node any user may open.
my ($render) = glob("$dir/host/sys/devices/*/0000:01:00.0/drm/renderD128");
open my $fh, '>', "$render/dev" or die "$render/dev: $!";
print $fh "1:7\n";
close $fh;
system('gcc', '-std=gnu11', '-O2', '-o', "$dir/vv-use",
       "$top/build/e2e/guest/vv-use.c", '-lpthread') == 0 or die "vv-use";

# A PID namespace whose procfs is mounted where the helper reads it.
mkdir "$dir/proc";
my $keeper = fork // die "fork: $!";
if (!$keeper) {
    exec 'unshare', '--pid', '--fork', '--kill-child', 'sh', '-c',
         "mount -t proc proc '$dir/proc' && exec sleep 600";
}
my $ns_init;
for (1 .. 200) {
    ($ns_init) = grep { -r "/proc/$_/ns/pid" } map { /^(\d+)$/ ? $1 : () }
                 split /\s+/, `pgrep -P $keeper 2>/dev/null`;
    last if $ns_init && -e "$dir/proc/1/stat";
    sleep 0.05;
}
END {
    kill 'KILL', $keeper if $keeper;
    waitpid($keeper, 0) if $keeper;
    system('umount', '-l', "$dir/proc") if $dir;
}

# The hostile process: in that namespace, as nobody.
my $out = `nsenter --target $ns_init --pid -- setpriv --reuid=nobody --regid=nogroup --clear-groups '$dir/vv-use' dup /dev/full 8000 2>&1`;
my ($pid) = $out =~ /^pid=(\d+)$/m;
ok t_cmp(defined $pid ? 1 : 0, 1, "a process of nobody's holds /dev/full 8,000 times (pid " . ($pid // "none") . ")");

my $h = VVHttpd::start(sysfs => "$dir/host/sys", dev => "$dir/host/dev",
                       proc => "$dir/proc",
                       conf => "VolantVfioAllow 10de:*\nLogLevel warn volant_vfio:debug");
VVHttpd::wait_log($h, qr/VFIO20007/);
my $http = HTTP::Tiny->new(timeout => 60);
my $json = JSON::PP->new;
my $reason = "/dev/dri/renderD128 is open by pid $pid (vv-use)";

my $t0 = time;
my $res = $http->get("$h->{base}/api/v1/vfio/usage");
my $took = time - $t0;
my $usage = eval { $json->decode($res->{content}) } // {};
my ($gpu) = grep { $_->{address} eq '0000:01:00.0' } @{ $usage->{devices} // [] };
ok t_cmp([$res->{status}, $gpu->{held_by}, $gpu->{reason}], [200, 'host', $reason],
         'GET /usage names the holder once');
ok t_cmp($took < 1 * $slow ? 1 : 0, 1, sprintf('within 1 s (%.2f s)', $took));

$t0 = time;
$res = $http->post("$h->{base}/api/v1/vfio/devices/bind",
                   { headers => { 'Content-Type' => 'application/json' },
                     content => '{"pci_addresses":["0000:01:00.0"]}' });
$took = time - $t0;
my $bind = eval { $json->decode($res->{content}) } // {};
ok t_cmp([$res->{status}, $bind->{message}],
         [500, "device 0000:01:00.0 is in use by host: $reason"], 'a bind is refused, naming it once');
ok t_cmp($took < 1 * $slow ? 1 : 0, 1, sprintf('within 1 s (%.2f s)', $took));
ok t_cmp(length($bind->{message} // '') < 4096 ? 1 : 0, 1, 'the reason stays short');

# Both answers came from children of the helper: each logged its peak.
my @kib;
VVHttpd::wait_log($h, qr/(?:VFIO20014.*\n.*){2}/);
@kib = VVHttpd::error_log($h) =~ /VFIO20014: helper: child \d+ ended \(status \d+\), peak memory (\d+) KiB/g;
ok t_cmp(scalar(@kib) >= 2 ? 1 : 0, 1, 'the helper logged its children\'s peak memory');
my ($peak) = sort { $b <=> $a } @kib;
ok t_cmp(($peak // 1e9) < 64 * 1024 ? 1 : 0, 1,
         sprintf('each under 64 MB (the largest %.1f MB)', ($peak // 0) / 1024));
