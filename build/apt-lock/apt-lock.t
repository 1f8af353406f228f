#!/usr/bin/perl
# build/install-deps and a held apt/dpkg lock.  On a freshly booted machine
# apt-daily and unattended-upgrades hold apt's and dpkg's locks for
# minutes; install-deps must wait for them (bounded), not fail.
#
# Another process holds real fcntl locks on the lock files for a few
# seconds while install-deps has to install a package (VV_INSTALL_DEPS_EXTRA,
# Debian's tiny `hello`, removed afterwards): it must say which lock it
# waits for and whose, wait, then install.  Three cases: apt-get update's
# lists lock, dpkg's frontend and database locks (what a dpkg run holds),
# and apt's archives lock (the lists and archives locks are the two that
# apt-get's own -o DPkg::Lock::Timeout does not wait for on Debian 12's apt
# 2.6).  Then a lock held longer than
# VV_APT_LOCK_WAIT: install-deps gives up with a clear message.
#
# VV_INSTALL_DEPS_SCRIPT=PATH runs another install-deps (to show that the
# test fails on one that does not wait).  Run as root.
use strict;
use warnings;
use Cwd qw(abs_path);
use Fcntl qw(O_RDWR O_CREAT F_SETLK F_WRLCK SEEK_SET);
use FindBin;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $top = abs_path("$FindBin::Bin/../..");
my $script = $ENV{VV_INSTALL_DEPS_SCRIPT} // "$top/build/install-deps";
my $pkg = 'hello';
my $hold = 4;    # seconds a holder keeps its locks
my %lock = (
    frontend => '/var/lib/dpkg/lock-frontend',
    dpkg     => '/var/lib/dpkg/lock',
    lists    => '/var/lib/apt/lists/lock',
    archives => '/var/cache/apt/archives/lock',
);

plan skip_all => 'installs a package: run as root' if $> != 0;

sub run {
    my (%env) = @_;
    local @ENV{keys %env} = values %env;
    my $t0 = time;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec $script or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out, time - $t0);
}
sub installed {
    my $s = `dpkg-query -W -f '\${Status}' $pkg 2>/dev/null`;
    return $s =~ /ok installed/;
}
# dpkg -P, waiting for a lock another run may hold.
sub purge {
    for (1 .. 60) {
        my $out = `dpkg -P $pkg 2>&1`;
        return 1 if $? == 0;
        return 0 unless $out =~ /lock/i;
        sleep 2;
    }
    return 0;
}

# hold_locks(SECONDS, FILE...): a child process takes a POSIX write lock
# (fcntl F_SETLK, as apt and dpkg do) on each FILE, keeps them SECONDS,
# exits.  Returns its pid once it holds them; dies if another process
# already holds one.
my %holders;
sub hold_locks {
    my ($secs, @files) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # The parent's handlers and END block are not the holder's.
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        close $r;
        my @fh;
        for my $f (@files) {
            sysopen(my $fh, $f, O_RDWR | O_CREAT, 0640) or do {
                print $w "open $f: $!\n";
                POSIX::_exit(1);
            };
            # struct flock on LP64 Linux: short l_type, short l_whence,
            # off_t l_start, off_t l_len, pid_t l_pid.
            my $fl = pack('ssx4qqix4', F_WRLCK, SEEK_SET, 0, 0, 0);
            fcntl($fh, F_SETLK, $fl) or do {
                print $w "lock $f: $!\n";
                POSIX::_exit(1);
            };
            push @fh, $fh;
        }
        print $w "ok\n";
        close $w;
        sleep $secs;
        POSIX::_exit(0);
    }
    close $w;
    my $said = <$r> // "no answer\n";
    close $r;
    chomp $said;
    if ($said ne 'ok') {
        waitpid $pid, 0;
        die "cannot hold @files: $said (another apt or dpkg run?)\n";
    }
    $holders{$pid} = 1;
    return $pid;
}
sub reap {
    my ($pid, $kill) = @_;
    kill 'TERM', $pid if $kill;
    waitpid $pid, 0;
    delete $holders{$pid};
}
# The pids /proc/locks shows holding a lock on FILE.
sub lock_pids {
    my ($file) = @_;
    my @st = stat $file or return ();
    my $id = sprintf '%02x:%02x:%d', POSIX::floor($st[0] / 256) % 4096,
        $st[0] % 256, $st[1];
    open(my $fh, '<', '/proc/locks') or return ();
    my @pids;
    while (<$fh>) {
        my @f = split;
        splice @f, 1, 1 if ($f[1] // '') eq '->';
        push @pids, $f[4] if ($f[5] // '') eq $id;
    }
    return @pids;
}

plan skip_all => "$pkg is installed here: this test installs and removes it"
    if installed();
my $touched;
END {
    my $rc = $?;
    reap($_, 1) for keys %holders;
    if ($touched && installed()) {
        diag("removing $pkg");
        purge() or diag("could not remove $pkg: dpkg -P $pkg");
    }
    $? = $rc;
}
$SIG{$_} = sub { diag("caught SIG$_[0]"); exit 1 } for qw(INT TERM HUP);

# --- waits, then installs -----------------------------------------------------
# The archives lock is held longer: past the apt-get update before the
# install, which a holder that came and went during it would not test.
for my $case (
    [ "apt-get update's lists lock", [qw(lists)], $hold ],
    [ "dpkg's frontend and database locks", [qw(frontend dpkg)], $hold ],
    [ "apt's archives lock", [qw(archives)], 2 * $hold ],
) {
    my ($what, $keys, $hold) = @$case;
    my @files = @lock{@$keys};
    my $holder = hold_locks($hold, @files);
    my $t_locked = time;
    ok(scalar(grep { $_ == $holder } lock_pids($files[0])),
       "$what: held by process $holder (/proc/locks shows it)");
    $touched = 1;
    my ($rc, $out, $secs) = run(VV_INSTALL_DEPS_EXTRA => $pkg,
                                VV_APT_LOCK_WAIT => 120);
    reap($holder);
    is($rc, 0, "$what: install-deps succeeded") or diag($out);
    my @waits = $out =~ /^(install-deps: waiting .*)$/mg;
    note($_) for @waits;
    is(scalar(@waits), 1, "$what: one line saying what it waits for") or diag($out);
    like($waits[0] // '', qr/^install-deps: waiting up to \d+s for \Q$files[0]\E, held by process $holder \(perl\)$/,
         "$what: it names $files[0] and process $holder");
    ok(installed(), "$what: then installed $pkg");
    # dpkg wrote the package's file list after the holder let go.
    my $unpacked = (Time::HiRes::stat("/var/lib/dpkg/info/$pkg.list"))[9];
    ok(defined $unpacked && $unpacked - $t_locked >= $hold - 0.2,
       defined $unpacked
           ? sprintf("$what: dpkg unpacked it %.1fs after the lock was taken (held %ds)",
                     $unpacked - $t_locked, $hold)
           : "$what: dpkg unpacked it after the lock was let go");
    ok(purge(), "$pkg removed again");
}

# --- a bounded wait -------------------------------------------------------------
{
    my $holder = hold_locks(60, $lock{frontend});
    my ($rc, $out, $secs) = run(VV_INSTALL_DEPS_EXTRA => $pkg,
                                VV_APT_LOCK_WAIT => 3);
    reap($holder, 1);
    isnt($rc, 0, 'a lock held longer than VV_APT_LOCK_WAIT=3: install-deps fails');
    cmp_ok($secs, '<', 20, sprintf('... after %.1fs, not the holder\'s 60', $secs));
    # (whole seconds: the deadline may come up to 1s early)
    cmp_ok($secs, '>=', 1.9, '... having waited');
    like($out, qr/^install-deps: gave up after 3s waiting for \Q$lock{frontend}\E, held by process $holder \(perl\)/m,
         '... saying which lock, whose, and after how long') or diag($out);
    ok(!installed(), "... and $pkg is not installed");
}

my ($rc, $out) = run(VV_INSTALL_DEPS_EXTRA => $pkg, VV_APT_LOCK_WAIT => 'soon');
ok($rc != 0 && $out =~ /VV_APT_LOCK_WAIT=soon is not a number of seconds/,
   'VV_APT_LOCK_WAIT=soon is refused') or diag($out);

done_testing();
