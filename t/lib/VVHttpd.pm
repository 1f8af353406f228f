package VVHttpd;
# A second httpd with the module, started by a test with a configuration of
# its own (a state directory, a resource limit, a tree), as root with
# workers as nobody, on a free loopback port.  It is stopped when the test
# ends, whatever dies on the way.
use strict;
use warnings;

use File::Temp ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

my @started;
my $parent = $$;
END {
    local $?;
    return unless $$ == $parent;
    for my $h (@started) {
        my $pid = $h->{pid};
        next unless $pid && waitpid($pid, POSIX::WNOHANG()) == 0;
        kill 'TERM', $pid;
        my $t = time + 15;
        sleep 0.05 while waitpid($pid, POSIX::WNOHANG()) == 0 && time < $t;
        kill 'KILL', $pid if waitpid($pid, POSIX::WNOHANG()) == 0;
    }
}

# start(sysfs => DIR, dev => DIR, proc => DIR, conf => EXTRA, ulimit_n => N,
#       state => DIR, socket => PATH): returns { base => URL, work => DIR, pid => PID }
# once GET /openapi answers (or after 10 s).
sub start {
    my %o = @_;
    my $work = File::Temp::tempdir('/tmp/vv-httpd-XXXXXX', CLEANUP => 1);
    chmod 0755, $work;
    mkdir "$work/$_" for qw(logs htdocs);
    my $state = $o{state} // "$work/state";
    my $socket = $o{socket} // "$work/helper.sock";
    my $mods = '/usr/lib/apache2/modules';
    my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1')->sockport;
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
User nobody
Group nogroup
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule volant_vfio_module "$ENV{VV_TEST_MODULE}"
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
VolantVfioSysfsRoot "$o{sysfs}"
VolantVfioDevRoot "$o{dev}"
VolantVfioProcRoot "$o{proc}"
VolantVfioStateDir "$state"
VolantVfioHelperSocket "$socket"
<Location "/api/v1/vfio">
    SetHandler volant-vfio
    Require ip 127.0.0.1
</Location>
<Location "/openapi">
    SetHandler volant-vfio
</Location>
@{[ $o{conf} // '' ]}
CONF
    close $conf;
    my $httpd = $ENV{VV_TEST_HTTPD} || '/usr/sbin/apache2';
    my $limit = $o{ulimit_n} ? "ulimit -n $o{ulimit_n} && " : '';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        { no warnings 'exec';
          exec 'sh', '-c', $limit . 'exec "$0" -DFOREGROUND -f "$1"',
              $httpd, "$work/httpd.conf"; }
        POSIX::_exit(127);
    }
    my $h = { base => "http://127.0.0.1:$port", work => $work, pid => $pid };
    push @started, $h;
    for (1 .. 200) {
        last if HTTP::Tiny->new(timeout => 2)->get("$h->{base}/openapi")->{status} == 200;
        sleep 0.05;
    }
    return $h;
}

sub error_log {
    my ($h) = @_;
    return do { local (@ARGV, $/) = ("$h->{work}/logs/error_log"); <> } // '';
}

# The error log once it matches re, or as it is after timeout seconds: the
# helper starts (or refuses to) on its own time, after httpd answers.
sub wait_log {
    my ($h, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $log;
    until (($log = error_log($h)) =~ $re || time > $deadline) {
        sleep 0.05;
    }
    return $log;
}

1;
