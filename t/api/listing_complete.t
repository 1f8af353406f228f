# GET /devices is complete or an error, never a short 200: a second httpd,
# started here under a small RLIMIT_NOFILE (96 descriptors for the whole
# process) with four worker threads, answers four concurrent listings of a
# 1,024-function host.  Each device read releases its descriptors when it
# ends, so each listing is whole; a descriptor the kernel refuses would be a
# 500 naming it.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use HTTP::Tiny ();
use JSON::PP ();
use POSIX ();
use VVTest;
use VVHttpd;

plan tests => 6;

my $top = Apache::Test::vars('top_dir');
my $work = File::Temp::tempdir('/tmp/vv-listing-XXXXXX', CLEANUP => 1);
chmod 0755, $work;

system("$top/build/sysfs-sim/gen-topology --functions 1024 > $work/host.json") == 0
    or die "gen-topology failed";
mkdir "$work/host";
system("$top/build/sysfs-sim/sysfs-sim", '--static', "$work/host",
       '--topology', "$work/host.json") == 0 or die "sysfs-sim --static failed";
opendir my $dh, "$work/host/sys/bus/pci/devices" or die $!;
my $functions = grep { !/^\./ } readdir $dh;

my $h = VVHttpd::start(sysfs => "$work/host/sys", dev => "$work/host/dev",
                       proc => "$work/host/proc", ulimit_n => 96);
my $url = "$h->{base}/api/v1/vfio/devices";
my $up = HTTP::Tiny->new(timeout => 10)->get($url)->{status} == 200;
ok t_cmp($up ? 1 : 0, 1, 'httpd under ulimit -n 96 serves the API');
# Four listings at once, each in its own process.
my @kids;
for my $n (1 .. 4) {
    pipe(my $r, my $w) or die $!;
    my $k = fork // die $!;
    if (!$k) {
        close $r;
        my $res = HTTP::Tiny->new(timeout => 120)->get($url);
        my $list = eval { JSON::PP->new->decode($res->{content}) };
        print $w join("\t", $res->{status},
                      ref $list eq 'ARRAY' ? scalar @$list : -1,
                      ref $list eq 'HASH' ? $list->{error} // '' : '');
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    push @kids, [$k, $r];
}
for my $n (0 .. 3) {
    my ($k, $r) = @{ $kids[$n] };
    my ($status, $count, $error) = split /\t/, (do { local $/; <$r> } // ''), -1;
    waitpid $k, 0;
    ok t_cmp($status == 200 ? $count : "$status $error", $functions,
             "listing " . ($n + 1) . ": every one of the $functions functions");
}
ok t_cmp(scalar(VVHttpd::error_log($h) =~ /Too many open files/), '',
         'no descriptor ever ran out');
