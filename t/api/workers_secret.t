# The workers prove themselves to the root helper with a secret kept in
# their memory only.  Other processes of the workers' uid (CGI programs,
# a php-fpm pool) must not be able to read it: in httpd's default
# configuration the workers are not dumpable, so such a process cannot open
# their memory.  CoreDumpDirectory makes them dumpable; where Yama does not
# stop a process from reading a sibling's memory, the module warns at
# start-up and at configtest, naming the setting.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use POSIX ();
use VVTest;
use VVSim qw(httpd_pid descendants);
use VVHttpd;

plan tests => 5;

my $nobody = getpwnam('nobody');

# The workers of the httpd whose parent is pid: its children of uid nobody.
sub workers {
    my ($parent) = @_;
    return grep { ((stat "/proc/$_")[4] // -1) == $nobody
                  && (`cat /proc/$_/stat 2>/dev/null` =~ /^\d+ \(.*\) \S+ (\d+)/)[0] == $parent }
           descendants($parent);
}

# Whether a process of the workers' uid can open pid's memory.
sub readable_by_nobody {
    my ($pid) = @_;
    my $child = fork // die "fork: $!";
    if (!$child) {
        POSIX::setgid(getgrnam('nogroup') // 65534);
        POSIX::setuid($nobody);
        POSIX::_exit(open(my $fh, '<', "/proc/$pid/mem") ? 0 : 1);
    }
    waitpid($child, 0);
    return $? == 0 ? 1 : 0;
}

my $scope = 0;
if (open my $fh, '<', '/proc/sys/kernel/yama/ptrace_scope') {
    $scope = (<$fh> // 0) + 0;
}

my ($worker) = workers(httpd_pid());
ok t_cmp(defined $worker ? 1 : 0, 1, 'a worker of the test server, as nobody');
ok t_cmp(readable_by_nobody($worker), 0,
         'the default configuration: another process of the workers\' uid cannot '
         . 'read a worker\'s memory');

my $dumps = File::Temp::tempdir('/tmp/vv-cores-XXXXXX', CLEANUP => 1);
my $h = VVHttpd::start(sysfs => $ENV{VV_TEST_SYSFS}, dev => $ENV{VV_TEST_DEV},
                       proc => $ENV{VV_TEST_PROC},
                       conf => "CoreDumpDirectory $dumps");
my $warning = qr/VFIO20024: CoreDumpDirectory makes httpd's workers dumpable/;
my $log = VVHttpd::wait_log($h, qr/VFIO20007/);
ok t_cmp($log =~ $warning ? 1 : 0, $scope < 1 ? 1 : 0,
         "CoreDumpDirectory with kernel.yama.ptrace_scope $scope: "
         . ($scope < 1 ? 'the module warns at start-up' : 'no warning'));
my ($dumpable) = workers($h->{pid});
ok t_cmp(defined $dumpable ? readable_by_nobody($dumpable) : -1, $scope < 1 ? 1 : 0,
         'what the warning says: such a worker\'s memory is '
         . ($scope < 1 ? 'readable' : 'not readable') . ' by its uid');
my $out = `$ENV{VV_TEST_HTTPD} -t -f $h->{work}/httpd.conf 2>&1`;
ok t_cmp($out =~ $warning ? 1 : 0, $scope < 1 ? 1 : 0, 'configtest says the same');
