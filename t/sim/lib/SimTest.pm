# Helpers for the simulator's own tests: each test mounts its own sysfs-sim
# on a fresh temp dir and always unmounts it (END block, also after a die or
# the watchdog), and talks to it with plain open/write/readlink like the
# module does.
package SimTest;
use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use Errno ();
use Fcntl qw(O_RDONLY O_WRONLY O_RDWR);
use File::Basename qw(basename dirname);
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(sim_start sim_stop sim_mounted alive w rd rl ctl last_error sim_state
    wait_until bg_write bg_result driver_of dev_path topo errname $M $TOP $SIM);

our $TOP = abs_path(dirname(__FILE__) . '/../../..');
our $SIM = "$TOP/build/sysfs-sim/sysfs-sim";
our $M;             # mount root of the current simulator
my @running;
my @children;

# A stuck test must not hang the suite: fail it, the END block cleans up.
$SIG{ALRM} = sub { die "watchdog: test took too long\n" };
alarm 180;

sub topo {
    my ($name) = @_;
    return $name if $name =~ m{/};
    return "$TOP/t/topologies/$name" . ($name =~ /\.json$/ ? '' : '.json');
}

sub sim_mounted {
    my ($mnt) = @_;
    open my $fh, '<', '/proc/mounts' or die "/proc/mounts: $!";
    while (<$fh>) {
        my (undef, $point) = split;
        return 1 if $point eq $mnt;
    }
    return 0;
}

# Mounts TOPOLOGY with --daemon (returns once the mount answers).
sub sim_start {
    my ($topology, @extra) = @_;
    my $dir = tempdir('sysfs-sim-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;   # httpd workers (nobody) must reach the mount
    my $mnt = "$dir/mnt";
    mkdir $mnt or die "mkdir $mnt: $!";
    my $rc = system($SIM, '--topology', topo($topology), @extra, '--daemon',
        '--pidfile', "$dir/pid", $mnt);
    die "sysfs-sim --daemon exited with $rc\n" if $rc;
    open my $fh, '<', "$dir/pid" or die "no pidfile: $!";
    chomp(my $pid = <$fh>);
    my $sim = {mnt => $mnt, pid => $pid, dir => $dir};
    push @running, $sim;
    $M = $mnt;
    return $sim;
}

# Running, and not a zombie waiting for init to reap it (the daemon is
# init's child once --daemon returns).
sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';
    return $stat !~ /^\d+ \(.*\) Z /;
}

# SIGTERM, then wait (with a deadline) for the process and the mount to go.
sub sim_stop {
    my ($sim) = @_;
    return 1 if $sim->{stopped}++;
    kill 'TERM', $sim->{pid};
    my $deadline = time + 10;
    sleep 0.02 while (alive($sim->{pid}) || sim_mounted($sim->{mnt})) && time < $deadline;
    my $clean = !alive($sim->{pid}) && !sim_mounted($sim->{mnt});
    system('umount', '-l', $sim->{mnt}) if sim_mounted($sim->{mnt});
    return $clean;
}

END {
    my $status = $?;
    sim_stop($_) for @running;
    waitpid($_, WNOHANG) for @children;
    $? = $status;
}

sub errname {
    my $n = $! + 0;
    local $! = $n;
    for my $name (qw(ENOENT ENODEV EINVAL EBUSY EEXIST EACCES EPERM EINTR EIO ERANGE
        EAGAIN ENOTCONN EISDIR ENOTDIR ENOMEM), sort keys %!) {
        return $name if $!{$name};
    }
    return "E$n";
}

# One open (no O_CREAT, no O_TRUNC) and one write, like the module's helper.
# Returns "ok", the write's errno name, or "open:ERRNO".
sub w {
    my ($path, $data) = @_;
    sysopen(my $fh, "$M/$path", O_WRONLY) or return 'open:' . errname();
    my $n = syswrite($fh, $data);
    my $r = defined $n ? 'ok' : errname();
    close $fh;
    return $r;
}

# Whole content, or undef with $! set.
sub rd {
    my ($path) = @_;
    sysopen(my $fh, "$M/$path", O_RDONLY) or return undef;
    my ($buf, $all) = ('', '');
    while (1) {
        my $n = sysread($fh, $buf, 65536);
        return undef unless defined $n;
        last if $n == 0;
        $all .= $buf;
    }
    return $all;
}

sub rl { return readlink("$M/$_[0]") }

sub ctl { return w('sim/control', $_[0]) }

sub last_error {
    my $e = rd('sim/last_error') // '';
    chomp $e;
    return $e;
}

sub sim_state { return decode_json(rd('sim/state')) }

sub dev_path { return "sys/bus/pci/devices/$_[0]" }

sub driver_of {
    my $l = rl(dev_path($_[0]) . '/driver');
    return defined $l ? basename($l) : '';
}

# Polls COND every 20 ms until true or TIMEOUT seconds pass.
sub wait_until {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        return 1 if $cond->();
        return 0 if time > $deadline;
        sleep 0.02;
    }
}

# A write in a child process (it may block); bg_result collects its result.
sub bg_write {
    my ($path, $data) = @_;
    pipe(my $r, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        alarm 0;
        my $res = w($path, $data);
        syswrite($wr, "$res\n");
        POSIX::_exit(0);
    }
    close $wr;
    push @children, $pid;
    return {pid => $pid, fh => $r};
}

# The child's result, or undef if it has not finished within TIMEOUT.
sub bg_result {
    my ($bg, $timeout) = @_;
    return $bg->{result} if defined $bg->{result};
    my $rin = '';
    vec($rin, fileno($bg->{fh}), 1) = 1;
    return undef unless select(my $rout = $rin, undef, undef, $timeout // 5);
    my $line = readline($bg->{fh}) // "EOF\n";
    chomp $line;
    waitpid($bg->{pid}, 0);
    return $bg->{result} = $line;
}

1;
