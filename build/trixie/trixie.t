#!/usr/bin/perl
# Debian 13 (trixie): the package and the build, in a trixie root on this
# machine.  build/trixie/README.md says more.
#
#  1. A minbase trixie root from deb.debian.org (mmdebstrap), cached as a
#     tarball in build/trixie/.work/cache/ and rebuilt when it is older than
#     VV_TRIXIE_MAX_AGE days (default 7) or broken; each run unpacks a fresh
#     copy.  apt's lists and downloaded packages are cached beside it.
#  2. In it (build/trixie/in-root: chroot in a private mount namespace, the
#     host's /proc and /sys read-only, a policy-rc.d so that nothing
#     starts by itself): apt-get install apache2, then apt-get install
#     ./libapache2-mod-volant-vfio_*.deb as `make deb` builds it (its
#     Depends from trixie), apache2ctl configtest, apache2ctl start on
#     127.0.0.1:<free port> only, the API asked from here (the network is
#     shared) and checked against this machine's uname and /sys, apache2ctl
#     stop.
#  3. apt-get install the build dependencies, the working tree copied in
#     (git ls-files -co: uncommitted edits too), make module with trixie's
#     gcc 14 (-Wall -Wextra -Werror), and the module loaded by trixie's
#     apache2.
# Nothing on this machine changes but build/trixie/.work and, when missing,
# build/out/deb: no mount outlives its command, /etc/apache2,
# /var/lib/apache2 and /etc/apt are checked unchanged.  Cleans up on
# failure and on signals.  Logs: build/trixie/.work/logs/.
use strict;
use warnings;
use Cwd qw(abs_path);
use Fcntl qw(O_RDONLY LOCK_SH LOCK_NB);
use File::Path qw(remove_tree make_path);
use File::Temp ();
use FindBin;
use HTTP::Tiny;
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use lib "$FindBin::Bin/../install";
use VVTestApache;

my $T0 = time;
my $top = abs_path("$FindBin::Bin/../..");
my $here = "$top/build/trixie";
my $inroot = "$here/in-root";
my $work = "$here/.work";
my $cache = "$work/cache";
my $logs = "$work/logs";
my $base = "$cache/trixie-minbase.tar";
my $aptcache = "$cache/apt";
my $pkg = 'libapache2-mod-volant-vfio';
my $so = "$top/mod_volant_vfio/.libs/mod_volant_vfio.so";
my $max_age = $ENV{VV_TRIXIE_MAX_AGE} // 7;
my $mirror = 'http://deb.debian.org/debian';
my $security = 'http://deb.debian.org/debian-security';
# The root's sources: trixie as a Debian 13 machine has it.
my @sources = ("deb $mirror trixie main", "deb $mirror trixie-updates main",
               "deb $security trixie-security main");
my @mmdebstrap = ('mmdebstrap', '--mode=root', '--variant=minbase', '--format=tar',
                  '--aptopt=Acquire::Languages "none"', 'trixie');
my @build_deps = qw(apache2-dev libcjson-dev libpci-dev libmnl-dev pci.ids
                    pkg-config gcc make perl);

plan skip_all => 'builds a Debian root: run as root' if $> != 0;
for my $tool (qw(mmdebstrap unshare chroot tar git)) {
    BAIL_OUT("$tool not found (build/install-deps trixie)")
        unless grep { -x "$_/$tool" } split /:/, "$ENV{PATH}:/usr/sbin:/sbin";
}

sub step { diag(sprintf 'trixie [%5.1fs] %s', time - $T0, $_[0]) }
sub slurp { VVTestApache::_slurp($_[0]) }
sub spew {
    my ($path, $text, $mode) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
    chmod $mode, $path if defined $mode;
}

# run_logged(NAME, SECONDS, CMD...): runs CMD in a process group of its
# own, output to $logs/NAME.log (a file, not a pipe: a daemon it starts
# may keep its descriptors), killed after SECONDS.  Returns (exit status,
# output).
my $running;    # the process group of the command running now
sub run_logged {
    my ($name, $secs, @cmd) = @_;
    my $log = "$logs/$name.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        exec 'timeout', '-k', '10', $secs, @cmd or POSIX::_exit(127);
    }
    $running = $pid;
    waitpid $pid, 0;
    my $rc = $? >> 8;
    undef $running;
    return ($rc, slurp($log));
}
sub in_root {
    my ($name, $secs, @cmd) = @_;
    return run_logged($name, $secs, $inroot, '-c', $aptcache, our $root, @cmd);
}
sub tail_of { my @l = split /\n/, $_[0]; join "\n", @l > 25 ? @l[-25 .. -1] : @l }

# The processes whose root directory is DIR (stat through /proc/PID/root).
sub procs_in {
    my ($dir) = @_;
    my @want = (stat $dir)[0, 1] or return ();
    my @pids;
    for my $p (glob '/proc/[0-9]*') {
        my @st = stat "$p/root" or next;
        push @pids, $p =~ m{(\d+)$} if $st[0] == $want[0] && $st[1] == $want[1];
    }
    return grep { $_ != $$ } @pids;
}
# Ends every process in DIR: TERM, then KILL after 10 s.  Returns the
# pids that had to be killed.
sub kill_in {
    my ($dir) = @_;
    my @left = procs_in($dir) or return ();
    kill 'TERM', @left;
    for (1 .. 100) {
        last unless procs_in($dir);
        sleep 0.1;
    }
    if (my @k = procs_in($dir)) {
        kill 'KILL', @k;
        sleep 0.5;
    }
    return @left;
}
# Mount points of this (the host's) mount namespace at or under DIR.
sub mounts_under {
    my ($dir) = @_;
    open(my $fh, '<', '/proc/self/mountinfo') or return ('(cannot read mountinfo)');
    my @m;
    while (<$fh>) {
        my $mp = (split)[4];
        $mp =~ s/\\([0-7]{3})/chr oct $1/ge;
        push @m, $mp if $mp eq $dir || index($mp, "$dir/") == 0;
    }
    return @m;
}
# A run's directory goes only once nothing runs in its root and nothing is
# mounted under it here (rm -rf would follow a mount).
sub remove_run {
    my ($dir) = @_;
    kill_in("$dir/root") if -d "$dir/root";
    if (my @m = mounts_under($dir)) {
        diag("not removing $dir: mounted under it: @m");
        return 0;
    }
    remove_tree($dir, { safe => 0 });
    return !-e $dir;
}

# Snapshots of the host's apache2 and apt configuration.  deb.t and
# install.t change /etc/apache2 under an exclusive flock on it (and put it
# back): a shared lock for the snapshot waits for them.
my @watched = ('/etc/apache2', '/var/lib/apache2', '/etc/apt');
sub host_state {
    my $lock;
    if (sysopen($lock, '/etc/apache2', O_RDONLY)) {
        for (1 .. 900) {
            last if flock($lock, LOCK_SH | LOCK_NB);
            sleep 1;
        }
    }
    my %s = map { $_ => VVTestApache::tree_state($_) } @watched;
    close $lock if $lock;
    return \%s;
}

# --- this run ------------------------------------------------------------------
make_path($cache, $aptcache, $logs);
# Runs killed with SIGKILL leave their directory: the lock build/trixie/test
# holds says none is still going.
remove_run($_) for glob "$work/run.*";
unlink glob "$logs/*.log";
my $run = File::Temp::tempdir("$work/run.XXXXXX");
our $root = "$run/root";
my $host_before = host_state();

sub teardown {
    if ($running) {
        kill 'TERM', -$running;
        waitpid $running, 0;
        undef $running;
    }
    if ($run && -d $run) {
        remove_run($run) or diag("left $run behind");
    }
    undef $run;
}
END { my $rc = $?; teardown(); $? = $rc; }
$SIG{$_} = sub { diag("caught SIG$_[0]"); exit 1 } for qw(INT TERM HUP);

# --- the package to test -----------------------------------------------------------
my ($deb) = sort { -M $a <=> -M $b } glob "$top/build/out/deb/${pkg}_*.deb";
if (!-f $so) {
    step("no module built: make deb");
    my ($rc, $out) = run_logged('make-deb', 600, 'make', '-C', $top, 'deb');
    diag(tail_of($out)) if $rc;
    ($deb) = sort { -M $a <=> -M $b } glob "$top/build/out/deb/${pkg}_*.deb";
} elsif (!$deb || -M $deb > -M $so) {
    step('building the package: build/deb/build');
    my ($rc, $out) = run_logged('deb-build', 300, "$top/build/deb/build");
    diag(tail_of($out)) if $rc;
    chomp($deb = (split /\n/, $out)[-1] // '');
}
ok($deb && -f $deb, 'the package: ' . ($deb // 'none') =~ s{^\Q$top\E/}{}r)
    or BAIL_OUT('no package to test: make deb');

# --- the trixie root ---------------------------------------------------------------
my $recipe = join("\n", @mmdebstrap, @sources) . "\n";
# Why the cached tarball will not do, or '' when it will.
sub base_stale {
    return 'none cached' unless -f $base && -f "$base.recipe";
    return 'the mmdebstrap command changed' if slurp("$base.recipe") ne $recipe;
    return sprintf('the cached one is %.0f days old', -M $base) if -M $base > $max_age;
    my ($rc) = run_logged('tar-list', 120, 'tar', '-tf', $base, './etc/debian_version');
    return $rc ? 'the cached one is broken' : '';
}
sub make_base {
    my ($why) = @_;
    remove_tree($base, "$base.tmp") if -d $base || -d "$base.tmp";
    unlink $base, "$base.recipe", "$base.tmp";
    step("building a trixie minbase root with mmdebstrap ($why; kept $max_age days)");
    # Its own mount namespace: whatever it mounts into its chroot goes
    # with it, whatever happens to it.
    my ($rc, $out) = run_logged('mmdebstrap', 900, 'unshare', '--mount',
        '--propagation', 'private', '--', @mmdebstrap, "$base.tmp", @sources);
    if ($rc == 0 && -s "$base.tmp") {
        rename "$base.tmp", $base or die "rename $base.tmp: $!";
        spew("$base.recipe", $recipe);
        return 1;
    }
    unlink "$base.tmp";
    diag("mmdebstrap failed (exit $rc):\n" . tail_of($out));
    return 0;
}
sub unpack_root {
    remove_tree($root) if -d $root;
    mkdir $root or die "mkdir $root: $!";
    my ($rc, $out) = run_logged('tar-extract', 300, 'tar', '-C', $root,
                                '--numeric-owner', '-xpf', $base);
    diag($out) if $rc;
    return $rc == 0 && slurp("$root/etc/debian_version") =~ /^13\./;
}
my $fresh = 0;
if (my $why = base_stale()) {
    $fresh = make_base($why);
} else {
    step(sprintf 'reusing the trixie root tarball (%.1f days old)', -M $base);
}
step('unpacking a fresh trixie root');
my $unpacked = -f $base && unpack_root();
if (!$unpacked && !$fresh) {
    $unpacked = make_base('the cached one did not unpack') && unpack_root();
}
ok($unpacked, 'a Debian 13 root: /etc/debian_version ' . (slurp("$root/etc/debian_version") =~ s/\s+$//r))
    or BAIL_OUT("no trixie root (logs in $logs)");

# Nothing started by a package's maintainer scripts (invoke-rc.d asks
# policy-rc.d); dpkg without fsync in a throwaway root.
spew("$root/usr/sbin/policy-rc.d", "#!/bin/sh\n# build/trixie/trixie.t\nexit 101\n", 0755);
spew("$root/etc/apt/apt.conf.d/99vv-trixie-test",
     "// build/trixie/trixie.t: a throwaway root\nDpkg::Options { \"--force-unsafe-io\"; };\n");

# The mount options of /proc and /sys as the root sees them.
my ($rc, $out) = in_root('sys-ro', 30, 'awk',
    '$5 == "/proc" || $5 == "/sys" { print $5, $6 }', '/proc/self/mountinfo');
my %opts = map { split / / } split /\n/, $out;
ok(($opts{'/sys'} // '') =~ /^ro,/ && ($opts{'/proc'} // '') =~ /^ro,/,
   "the host's /sys and /proc are mounted read-only in the root") or diag($out);

# --- apache2 and the package --------------------------------------------------------
step('apt-get update (trixie, trixie-updates, trixie-security)');
($rc, $out) = in_root('apt-update', 300, 'apt-get', 'update');
# The cached lists still do when the mirror cannot be reached.
diag("apt-get update failed (exit $rc), going on with the cached lists:\n" . tail_of($out)) if $rc;

step("apt-get install apache2");
($rc, $out) = in_root('apt-apache2', 600, 'apt-get', 'install', '-y',
                      '--no-install-recommends', 'apache2');
is($rc, 0, 'apt-get install apache2') or diag(tail_of($out));
($rc, $out) = in_root('apache2-version', 30, 'dpkg-query', '-W', '-f', '${Version}', 'apache2-bin');
note("apache2-bin $out");
is_deeply([procs_in($root)], [], 'policy-rc.d: apache2 was not started');

step('apt-get install ./' . ($deb =~ s{.*/}{}r));
(my $debname = $deb) =~ s{.*/}{};
system('cp', $deb, "$root/tmp/$debname") == 0 or die "cp $deb";
($rc, $out) = in_root('apt-deb', 600, 'apt-get', 'install', '-y',
                      '--no-install-recommends', "/tmp/$debname");
is($rc, 0, "apt-get install ./$debname") or diag(tail_of($out));
($rc, $out) = in_root('deb-status', 30, 'dpkg-query', '-W', '-f', '${Status}', $pkg);
is($out, 'install ok installed', "dpkg: $pkg installed");
ok(-l "$root/etc/apache2/mods-enabled/volant_vfio.load"
   && -l "$root/etc/apache2/mods-enabled/volant_vfio.conf",
   'postinst enabled the module');
for my $dep (qw(libcjson1 libpci3 libmnl0 pci.ids)) {
    ($rc, $out) = in_root("policy-$dep", 30, 'apt-cache', 'policy', $dep);
    my ($inst) = $out =~ /^\s*Installed:\s*(\S+)/m;
    my ($cand) = $out =~ /^\s*Candidate:\s*(\S+)/m;
    ok($inst && $inst ne '(none)' && $inst eq ($cand // ''),
       "Depends: $dep " . ($inst // '(none)') . ' from trixie') or diag($out);
}
is_deeply([procs_in($root)], [], "policy-rc.d: the postinst's restart was refused");

step('apache2ctl configtest');
($rc, $out) = in_root('configtest', 60, 'apache2ctl', 'configtest');
ok($rc == 0 && $out =~ /Syntax OK/, 'apache2ctl configtest passes') or diag($out);

# Listen on loopback only, on a port nothing uses now (another if it is
# taken before apache2 binds it).  apache2ctl start would hand over to
# systemctl when /proc/1/exe (the host's init, /proc being the host's) is
# systemd: APACHE_STARTED_BY_SYSTEMD says not to.
my ($port, $started);
for my $try (1 .. 3) {
    $port = VVTestApache::free_port();
    spew("$root/etc/apache2/ports.conf",
         "# build/trixie/trixie.t: loopback only, a private port.\n"
         . "Listen 127.0.0.1:$port\nServerName 127.0.0.1\n");
    step("apache2ctl start on 127.0.0.1:$port");
    ($rc, $out) = in_root('apache2-start', 60, 'env', 'APACHE_STARTED_BY_SYSTEMD=true',
                          'apache2ctl', 'start');
    for (1 .. 150) {
        last if $rc;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Timeout => 1);
        if ($s) { close $s; $started = 1; last }
        last unless procs_in($root);
        sleep 0.1;
    }
    last if $started;
    my $log = slurp("$root/var/log/apache2/error.log") . $out;
    last unless $log =~ /Address already in use/;
    kill_in($root);
    unlink "$root/var/log/apache2/error.log";
}
ok($started, "apache2 answers on 127.0.0.1:$port")
    or diag($out . slurp("$root/var/log/apache2/error.log"));

sub request {
    my ($method, $path, $json) = @_;
    my %opt;
    if ($json) {
        $opt{headers} = { 'Content-Type' => 'application/json' };
        $opt{content} = JSON::PP->new->encode($json);
    }
    my $r = HTTP::Tiny->new(timeout => 20)
        ->request($method, "http://127.0.0.1:$port$path", \%opt);
    my $data = eval { JSON::PP->new->decode($r->{content}) };
    return ($r->{status}, $r->{headers}{'content-type'} // '', $r->{content}, $data);
}
SKIP: {
    skip 'apache2 did not start', 8 unless $started;
    step('asking the API');
    my $kernel = (POSIX::uname())[2];
    my ($s, $ct, $body, $json) = request(GET => '/api/v1/vfio/host');
    is($s, 200, 'GET /api/v1/vfio/host: 200') or diag($body);
    ok($ct =~ m{^application/json} && ref $json eq 'HASH', '... JSON') or diag($body);
    is($json && $json->{kernel}, $kernel, "... kernel $kernel, as uname -r says");

    opendir(my $dh, '/sys/bus/pci/devices');
    my @sys = $dh ? sort grep { !/^\./ } readdir $dh : ();
    ($s, $ct, $body, $json) = request(GET => '/api/v1/vfio/devices');
    is($s, 200, 'GET /api/v1/vfio/devices: 200') or diag($body);
    ok($ct =~ m{^application/json} && ref $json eq 'ARRAY', '... a JSON array') or diag($body);
    is_deeply([sort map { $_->{address} // '' } @{ ref $json eq 'ARRAY' ? $json : [] }],
              \@sys, '... of the ' . @sys . " functions in this machine's /sys/bus/pci/devices");
    SKIP: {
        skip 'no PCI devices on this machine', 2 unless @sys;
        my $dev = $sys[0];
        (my $vendor = slurp("/sys/bus/pci/devices/$dev/vendor")) =~ s/^0x|\s+$//g;
        ($s, $ct, $body, $json) = request(POST => '/api/v1/vfio/devices/info',
                                          { pci_address => $dev });
        is($s, 200, "POST /api/v1/vfio/devices/info $dev: 200") or diag($body);
        ok($json && ($json->{address} // '') eq $dev && ($json->{vendor} // '') eq lc $vendor,
           "... $dev, vendor $vendor as in /sys") or diag($body);
    }
}

step('apache2ctl stop');
($rc, $out) = in_root('apache2-stop', 60, 'env', 'APACHE_STARTED_BY_SYSTEMD=true',
                      'apache2ctl', 'stop');
is($rc, 0, 'apache2ctl stop') or diag($out);
for (1 .. 200) {
    last unless procs_in($root);
    sleep 0.1;
}
is_deeply([kill_in($root)], [], 'apache2 ended, its workers and helper with it (none killed)');
my @errors = grep { /\[[\w:]*(?:emerg|alert|crit|error)\]/ }
             split /\n/, slurp("$root/var/log/apache2/error.log");
is_deeply(\@errors, [], 'no error in its error log');

# --- the module built from source with gcc 14 ------------------------------------------
step('apt-get install the build dependencies');
($rc, $out) = in_root('apt-build-deps', 600, 'apt-get', 'install', '-y',
                      '--no-install-recommends', @build_deps);
is($rc, 0, "apt-get install @build_deps") or diag(tail_of($out));
($rc, $out) = in_root('gcc-version', 30, 'gcc', '-dumpfullversion');
chomp $out;
like($out, qr/^14\./, "gcc $out");

step('copying the working tree in (git ls-files -co --exclude-standard)');
my @files = grep { -f "$top/$_" || -l "$top/$_" } split /\0/,
    `git -C '$top' ls-files -z -co --exclude-standard`;
ok(@files > 10, scalar(@files) . ' files of the working tree (committed or not)');
my $list = "$run/files";
spew($list, join("\0", @files) . "\0");
mkdir "$root/src" or die "mkdir $root/src: $!";
($rc, $out) = run_logged('copy-tree', 120, 'sh', '-c',
    'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -', 'sh', $top, $list, "$root/src");
is($rc, 0, 'copied into the root as /src') or diag($out);

step('make module (trixie gcc, -Wall -Wextra -Werror)');
($rc, $out) = in_root('make-module', 600, 'make', '-C', '/src', 'module');
is($rc, 0, 'make module: built by gcc 14 with no warning');
# gcc's diagnostics (with their source lines and carets), not libtool's
# command lines; the whole output is in the log.
my @diags = grep { /\b(?:warning|error|note):|In function|^\s+\d* \|/ || /^make: \*\*\*/ }
            split /\n/, $out;
diag("gcc 14: $_") for @diags;
diag("make's whole output: $logs/make-module.log") if $rc || @diags;
my $built = "$root/src/mod_volant_vfio/.libs/mod_volant_vfio.so";
SKIP: {
    skip 'the module did not build', 2 unless $rc == 0 && -f $built;
    my (undef, $comment) = VVTestApache::run_capture('readelf', '-p', '.comment', $built);
    like($comment, qr/GCC: \(Debian 14\./, '... the .so says GCC (Debian 14...)');

    spew("$root/tmp/vv-load.conf", <<'CONF');
# build/trixie/trixie.t: the module built here, loaded by trixie's apache2.
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
LoadModule volant_vfio_module /src/mod_volant_vfio/.libs/mod_volant_vfio.so
ServerName 127.0.0.1
Listen 127.0.0.1:1
PidFile /tmp/vv-load.pid
ErrorLog /tmp/vv-load.log
CONF
    ($rc, $out) = in_root('load-built', 60, 'apache2', '-t', '-f', '/tmp/vv-load.conf');
    ok($rc == 0 && $out =~ /Syntax OK/, "trixie's apache2 loads the module built here (apache2 -t)")
        or diag($out);
}

# --- nothing left ----------------------------------------------------------------------
step('cleaning up');
# Packages no longer downloadable leave the cache.
in_root('apt-autoclean', 120, 'apt-get', 'autoclean');
is_deeply([kill_in($root)], [], 'no process left in the root');
is_deeply([mounts_under($run)], [], 'no mount under the run directory here');
ok(remove_run($run), 'the run directory removed');
undef $run;
my $host_after = host_state();
is_deeply([map { VVTestApache::tree_diff($host_before->{$_}, $host_after->{$_}) } @watched],
          [], "this machine's " . join(', ', @watched) . ' are as they were');
step('done');

done_testing();
