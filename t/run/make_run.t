#!/usr/bin/perl
# README's first command: `make run` builds, generates its configuration
# from conf/ and serves the API in the foreground against this host's /sys,
# with the MPM BENCHMARKS.md chose.  Read-only here: nothing is bound.
# Run on a free port and in a private directory (RUN_PORT, RUN_DIR), so a
# `make run` of the operator's own is not disturbed.
use strict;
use warnings;
use File::Temp ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $top = POSIX::getcwd();
# 0700, like a checkout in root's home: the workers (nobody) cannot enter
# it, and must still reach the helper.
my $dir = File::Temp::tempdir('/tmp/vv-run-XXXXXX', CLEANUP => 1);
chmod 0700, $dir;
my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1')
    ->sockport;
my $base = "http://127.0.0.1:$port/api/v1/vfio";
my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->utf8;

my $make = fork // die "fork: $!";
if (!$make) {
    POSIX::setsid();
    open STDOUT, '>', "$dir/make.out";
    open STDERR, '>', "$dir/make.err";
    exec('make', '-s', '-C', $top, 'run', "RUN_DIR=$dir/run",
         "RUN_PORT=$port") or POSIX::_exit(127);
}

sub until_true {
    my ($cond, $secs) = @_;
    my $end = time + $secs;
    my $v;
    sleep 0.1 until ($v = $cond->()) || time > $end;
    return $v;
}
sub get_json {
    my $res = $http->request(@_);
    return ($res->{status}, eval { $json->decode($res->{content}) } // {});
}

my ($st, $host);
until_true(sub { ($st, $host) = get_json('GET', "$base/host");
                 $st == 200 && $host->{helper}{running} }, 120);
is($st, 200, "GET /host answers on 127.0.0.1:$port") or do {
    diag(`cat $dir/make.out $dir/make.err`);
    kill 'TERM', -$make;
    done_testing();
    exit 1;
};
ok($host->{helper}{running}, 'the privileged helper is running');
chomp(my $release = `cat /proc/sys/kernel/osrelease`);
is($host->{kernel}, $release, 'it describes this host (kernel release)');
is_deeply($host->{allowlist}, [], 'the shipped configuration allows no device');

my ($first) = sort map { s{.*/}{}r } glob('/sys/bus/pci/devices/*');
SKIP: {
    skip 'this host shows no PCI device', 2 unless $first;
    my ($ist, $info) = get_json('POST', "$base/devices/info", {
        headers => { 'Content-Type' => 'application/json' },
        content => $json->encode({ pci_address => $first }) });
    is($ist, 200, "info on $first");
    chomp(my $vendor = `cat /sys/bus/pci/devices/$first/vendor`);
    is("0x$info->{vendor}", $vendor, 'with the vendor sysfs shows');
}

my $log = do { local (@ARGV, $/) = ("$dir/make.err"); <> } // '';
like($log, qr/\[mpm_worker:notice\].*configured -- resuming normal operations/,
     'served by the worker MPM');
like(`cat $dir/make.out`, qr{serving http://127\.0\.0\.1:$port/api/v1/vfio},
     'make says where it serves');

# Ctrl-C reaches the whole foreground group; httpd stops and make with it.
kill 'INT', -$make;
my $gone = until_true(sub { waitpid($make, POSIX::WNOHANG()) == $make }, 20);
ok($gone, 'Ctrl-C stops make run');
my $helper = $host->{helper}{pid};
ok(until_true(sub { !kill(0, $helper) }, 10), 'and the helper with it');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2),
   'the port is closed');
kill 'KILL', -$make unless $gone;
done_testing();
