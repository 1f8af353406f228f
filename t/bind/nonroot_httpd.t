# httpd started by an ordinary user: the helper runs as that user, says so
# in the error log and in GET /host, and bind and unbind fail with a clear
# permission error, leaving the device as it was and no record behind.
# A second httpd, started here as nobody, shares the suite's simulator.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok skip);
use Apache::TestUtil qw(t_cmp);
use File::Copy ();
use File::Temp ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep);
use VVTest;
use VVSim;

plan tests => 19;

my $dev = '0000:04:00.0';    # igb, allowed below
my $held = '0000:05:00.0';   # on vfio-pci from the start, no record
my $nobody = getpwnam('nobody');
my $nogroup = getgrnam('nogroup');
my $mods = '/usr/lib/apache2/modules';

my $work = File::Temp::tempdir('/tmp/vv-nonroot-XXXXXX', CLEANUP => 1);

# The second httpd (and its helper) must not outlive this script, whatever
# dies on the way.  Only this process cleans up, not the child between fork
# and exec.  waitpid says whether the child is still ours and running (0),
# so a pid already reaped (and perhaps reused) is never signalled.  END
# blocks run last-defined first: this one before File::Temp removes $work.
my $parent = $$;
my ($pid, $helper);
sub ours_alive {    # a process of the second httpd: its command line names our conf
    my ($p) = @_;
    open my $fh, '<', "/proc/$p/cmdline" or return 0;
    my $cmd = do { local $/; <$fh> } // '';
    return index($cmd, "$work/httpd.conf") >= 0;
}
END {
    local $?;    # waitpid sets it: keep the script's exit status
    if ($$ == $parent) {
        if ($pid && waitpid($pid, POSIX::WNOHANG()) == 0) {
            kill 'TERM', $pid;
            unless (wait_for(sub { waitpid($pid, POSIX::WNOHANG()) != 0 }, 15)) {
                kill 'KILL', $pid;
                waitpid($pid, 0);
            }
        }
        kill 'KILL', $helper if $helper && ours_alive($helper);
    }
}

mkdir "$work/$_" for qw(logs state htdocs);
# The module as nobody can read it, wherever this tree was cloned.
File::Copy::copy($ENV{VV_TEST_MODULE}, "$work/mod_volant_vfio.so")
    or die "copy module: $!";
chmod 0755, $work, "$work/mod_volant_vfio.so";
chown $nobody, $nogroup, $work, map { "$work/$_" } qw(logs state htdocs);

my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1')
    ->sockport;
my $mnt = mount();
open my $conf, '>', "$work/httpd.conf" or die $!;
print $conf <<"CONF";
ServerRoot "$work"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$work/httpd.pid"
DefaultRuntimeDir "$work"
DocumentRoot "$work/htdocs"
ErrorLog "$work/logs/error_log"
LogLevel warn volant_vfio:info
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule volant_vfio_module "$work/mod_volant_vfio.so"
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
VolantVfioSysfsRoot "$mnt/sys"
VolantVfioDevRoot "$mnt/dev"
VolantVfioProcRoot "$mnt/proc"
VolantVfioStateDir "$work/state"
VolantVfioHelperSocket "$work/helper.sock"
VolantVfioAllow 8086:1533 8086:10fb
<Location "/api/v1/vfio">
    SetHandler volant-vfio
    Require ip 127.0.0.1
</Location>
<Location "/healthz">
    SetHandler volant-vfio
    Require ip 127.0.0.1
</Location>
CONF
close $conf;
chmod 0644, "$work/httpd.conf";

sim_load('mixed-host');

# Under make test-asan the suite's httpd is a wrapper preloading the
# sanitizers' runtime, with paths in this tree that nobody may not reach: a
# copy of it here, reporting into this directory.
my $httpd = $ENV{VV_TEST_HTTPD} || '/usr/sbin/apache2';
my $asan = $httpd ne '/usr/sbin/apache2';
if ($asan) {
    my $w = do { local (@ARGV, $/) = ($httpd); <> };
    my ($supp) = $w =~ /suppressions=([^:\s]+)/;
    File::Copy::copy($supp, "$work/lsan.supp") if $supp;
    mkdir "$work/asan";
    chmod 01777, "$work/asan";
    $w =~ s{log_path=[^:\s]*/(asan|ubsan)}{log_path=$work/asan/$1}g;
    $w =~ s{suppressions=[^:\s]+}{suppressions=$work/lsan.supp};
    open my $fh, '>', "$work/httpd-wrapper" or die $!;
    print $fh $w;
    close $fh;
    chmod 0755, "$work/httpd-wrapper";
    chmod 0644, "$work/lsan.supp";
    $httpd = "$work/httpd-wrapper";
}
$pid = fork // die "fork: $!";
if (!$pid) {
    POSIX::setgid($nogroup);
    $) = "$nogroup $nogroup";
    POSIX::setuid($nobody);
    open STDOUT, '>', '/dev/null';
    open STDERR, '>>', "$work/logs/stderr";
    exec($httpd, '-D', 'FOREGROUND', '-f', "$work/httpd.conf")
        or POSIX::_exit(127);
}

my $http = HTTP::Tiny->new(timeout => 30);
my $base = "http://127.0.0.1:$port/api/v1/vfio";
my $json = JSON::PP->new->utf8;
sub call {
    my ($method, $path, $body) = @_;
    my $res = $http->request($method, "$base$path", $body ? {
        headers => { 'Content-Type' => 'application/json' },
        content => $json->encode($body) } : {});
    my $data = eval { $json->decode($res->{content}) } // {};
    return ($res->{status}, $data);
}

my ($st, $host) = (0, {});
wait_for(sub { ($st, $host) = call('GET', '/host');
               $st == 200 && $host->{helper}{running} }, 20);
ok t_cmp($st, 200, 'httpd started as nobody serves the API');
ok t_cmp($host->{helper}{running} ? 1 : 0, 1, 'its helper is running');
$helper = $host->{helper}{pid} // 0;
ok t_cmp($helper && (stat "/proc/$helper")[4], $nobody,
         'the helper runs as nobody, the user that started httpd');
ok t_cmp(scalar(grep { /privileged helper runs as uid $nobody, not root: bind and unbind will fail with permission denied; start httpd as root/ }
                @{ $host->{problems} // [] }), 1,
         'GET /host names the problem and its fix');
my $log = do { local (@ARGV, $/) = ("$work/logs/error_log"); <> } // '';
ok t_cmp($log, qr/VFIO20013: helper runs as uid $nobody, not root/,
         'the error log warns at start-up, with its tag');

# A helper that answers but cannot write is not healthy.
my $hz = $http->get("http://127.0.0.1:$port/healthz");
ok t_cmp([$hz->{status}, eval { $json->decode($hz->{content}) } // {}],
         [503, { status => 'unavailable', error => 'the privileged helper '
                 . 'does not run as root: bind and unbind would fail; start '
                 . 'httpd as root' }],
         'GET /healthz: 503, naming the fix');

# GET /usage cannot see other users' processes either: it says so.
my ($gst, $usage) = call('GET', '/usage');
my ($mine) = grep { $_->{address} eq $dev } @{ $usage->{devices} // [] };
ok t_cmp([$gst, $mine && $mine->{held_by}, $mine && $mine->{reason}],
         [200, 'unknown', qr/^cannot read .*: Permission denied \(the privileged helper runs as uid $nobody; start httpd as root\)/],
         'GET /usage: unknown, not nobody, with the reason and the fix');

sim('log clear');
my ($bst, $bind) = call('POST', '/devices/bind', { pci_addresses => [$dev] });
ok t_cmp($bst, 500, 'bind: 500 (the kernel refuses the helper)');
# The in-use guard is the first to meet the missing privilege: it cannot
# read other users' processes, and refuses rather than guess.
ok t_cmp($bind->{error} // '',
         qr/^cannot tell whether device $dev is in use: cannot read .*: Permission denied \(the privileged helper runs as uid $nobody; start httpd as root\)/,
         'bind: the error says permission denied, the uid and the fix');
ok t_cmp(driver_of($dev), 'igb', 'the device keeps its driver');
ok t_cmp(override_of($dev), '(null)', 'no driver_override left behind');
my @left = glob("$work/state/devices/*.json");
ok t_cmp(scalar(@left), 0, 'no record left for a device never moved');
my $writes = do { local (@ARGV, $/) = ("$mnt/sim/log"); <> } // '';
ok t_cmp($writes, '', 'not one sysfs write reached the kernel');

my ($ust, $unbind) = call('POST', '/devices/unbind',
                          { pci_addresses => [$held] });
ok t_cmp($ust, 500, 'unbind: 500 as well');
ok t_cmp($unbind->{error} // '',
         qr/^device $held: clearing driver_override: permission denied .*start httpd as root/,
         'unbind: the same clear error');
ok t_cmp(driver_of($held), 'vfio-pci', 'and that device stays on vfio-pci');

kill 'TERM', $pid;
my $gone = wait_for(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 15);
ok t_cmp($gone ? 1 : 0, 1, 'httpd stops on SIGTERM');
ok t_cmp(wait_for(sub { !kill(0, $helper) }, 10) ? 1 : 0, 1,
         'and its helper goes with it');
my $reports = join '', map { do { local (@ARGV, $/) = ($_); <> } // '' }
    glob("$work/asan/*");
skip($asan ? '' : 'not the sanitizer build', $reports, '');
