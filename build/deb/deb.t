#!/usr/bin/perl
# make deb, and the package on this machine: built (twice: the same bytes),
# its control data checked, lintian run (every finding overridden with a
# reason or explained in build/deb/README.md, no errors), installed with
# apt-get (postinst enables the module; the system's apache2 is not
# started: policy-rc.d), served by the stock apache2 from a private copy of
# /etc/apache2 on 127.0.0.1:<free port> (VVTestApache.pm), removed (dpkg -r:
# conffiles and records stay), purged (dpkg -P: nothing left, /etc/apache2
# and /var/lib/apache2 as they were).  Cleans up on failure and on signals.
#
# /var/lib/volant-vfio is the package's (purge deletes it).  If it already
# exists with no device record in it, it is saved first and put back after;
# with records in it the test refuses to run.
use strict;
use warnings;
use Cwd qw(abs_path);
use Digest::SHA;
use FindBin;
use lib "$FindBin::Bin/../install";
use File::Temp ();
use Test::More;
use VVTestApache;

my $top = abs_path("$FindBin::Bin/../..");
my $pkg = 'libapache2-mod-volant-vfio';
my $so = '/usr/lib/apache2/modules/mod_volant_vfio.so';
my $confdir = '/etc/apache2';
my $avail = "$confdir/mods-available";
my $enabled = "$confdir/mods-enabled";
my $apache_state = '/var/lib/apache2';
my $records = '/var/lib/volant-vfio';
my $syspid = '/var/run/apache2/apache2.pid';
my $policy = '/usr/sbin/policy-rc.d';
my @conffiles = map { "$avail/volant_vfio.$_" } qw(conf load);
my $claim = '/usr/libexec/volant-vfio/volant-vfio-claim';
my $rule = '/usr/lib/udev/rules.d/60-volant-vfio.rules';
my @ours = ($so, @conffiles, map({ "$enabled/volant_vfio.$_" } qw(load conf)),
            $claim, $rule, '/usr/libexec/volant-vfio');

plan skip_all => 'installs a package: run as root' if $> != 0;

sub run {
    my ($cmd, %env) = @_;
    local @ENV{keys %env} = values %env;
    return VVTestApache::run_capture('/bin/sh', '-c', $cmd);
}
sub slurp { VVTestApache::_slurp($_[0]) }
sub file_mode { sprintf '%04o', (stat $_[0])[2] & 07777 }
sub pkg_status {
    my ($rc, $out) = run("dpkg-query -W -f '\${Status}' $pkg 2>/dev/null");
    return $rc == 0 ? $out : 'unknown';
}
# dpkg with a wait for the lock another package run may hold.
sub dpkg {
    my ($args) = @_;
    my ($rc, $out);
    for (1 .. 60) {
        ($rc, $out) = run("dpkg $args", DEBIAN_FRONTEND => 'noninteractive');
        last unless $rc && $out =~ /lock/i;
        sleep 2;
    }
    return ($rc, $out);
}

BAIL_OUT("$pkg is already on this machine (" . pkg_status() . "): not testing over it")
    if pkg_status() =~ /installed|config-files|half/;
if (my @there = grep { -e $_ || -l $_ } @ours) {
    BAIL_OUT("mod_volant_vfio is installed here (@there; make uninstall?): "
             . "not testing over it");
}
if (my @recs = glob "$records/devices/*.json") {
    BAIL_OUT("$records holds device records (@recs): purging the package "
             . "would delete them; not testing here");
}
my ($prc) = -x $policy ? run("$policy apache2 restart") : (undef);
BAIL_OUT("$policy allows restarting apache2 (exit $prc): the package's "
         . "postinst would restart the system's apache2")
    if defined $prc && $prc != 101;

my $tmp = File::Temp::tempdir('/tmp/vv-deb-test-XXXXXX', CLEANUP => 1);
my ($apache, $touched, $made_policy, $saved_records);
my $etc_before = VVTestApache::tree_state($confdir);
my $var_before = VVTestApache::tree_state($apache_state);
my $syspid_before = -e $syspid ? slurp($syspid) : undef;

sub cleanup {
    $apache->cleanup if $apache;
    undef $apache;
    if ($touched) {
        if (pkg_status() ne 'unknown' && pkg_status() !~ /not-installed/) {
            diag("cleaning up after a failure: dpkg -P $pkg");
            dpkg("-P $pkg >/dev/null 2>&1");
        }
        VVTestApache::remove_new_empty_dirs($apache_state, $var_before);
        $touched = 0;
    }
    if ($saved_records && !-e $records) {
        system('tar', '-C', '/var/lib', '-xpf', $saved_records) == 0
            or diag("could not restore $records from $saved_records");
    }
    undef $saved_records;
    if ($made_policy) {
        unlink $policy;
        undef $made_policy;
    }
}
END { my $rc = $?; cleanup(); $? = $rc; }
$SIG{$_} = sub { diag("caught SIG$_[0]"); exit 1 } for qw(INT TERM HUP);

if (-e $records) {
    $saved_records = "$tmp/volant-vfio.tar";
    system('tar', '-C', '/var/lib', '-cpf', $saved_records, 'volant-vfio') == 0
        or BAIL_OUT("cannot save $records");
    note("$records exists (no records in it): saved, put back at the end");
}
if (!defined $prc) {
    # No policy-rc.d: one for the duration, so invoke-rc.d leaves the
    # system's apache2 alone.
    open(my $fh, '>', $policy) or BAIL_OUT("$policy: $!");
    print $fh "#!/bin/sh\n# build/deb/deb.t: removed when it ends\nexit 101\n";
    close $fh;
    chmod 0755, $policy;
    $made_policy = 1;
}

# --- build ------------------------------------------------------------------
my ($rc, $out) = run("$top/build/deb/build");
is($rc, 0, 'build/deb/build') or diag($out);
chomp(my $deb = (split /\n/, $out)[-1] // '');
ok(-f $deb && $deb =~ m{/build/out/deb/\Q$pkg\E_[^/]+\.deb$}, "it wrote $deb")
    or BAIL_OUT('no package to test');
my $sha = Digest::SHA->new(256)->addfile($deb)->hexdigest;
($rc, $out) = run("$top/build/deb/build");
is($rc == 0 && Digest::SHA->new(256)->addfile($deb)->hexdigest, $sha,
   'a second build gives the same bytes');

# --- its control data -------------------------------------------------------
my %field;
($rc, $out) = run("dpkg-deb -f '$deb'");
$field{$1} = $2 while $out =~ /^(\S+): (.*)$/mg;
is($field{Package}, $pkg, "Package: $pkg");
is($field{Section}, 'httpd', 'Section: httpd');
my ($mmn) = slurp('/usr/include/apache2/ap_mmn.h')
    =~ /^#define MODULE_MAGIC_NUMBER_MAJOR (\d+)/m;
my $dep = $field{Depends} // '';
like($dep, qr/(?:^|, )apache2-api-\Q$mmn\E(?:,|$)/,
     "Depends on apache2-api-$mmn (MODULE_MAGIC_NUMBER_MAJOR)");
like($dep, qr/(?:^|, )libcjson1 \(>= [^)]+\)/, 'Depends on libcjson1 (>= ...)');
like($dep, qr/(?:^|, )libpci3 \(>= [^)]+\)/, 'Depends on libpci3 (>= ...)');
like($dep, qr/(?:^|, )libmnl0 \(>= [^)]+\)/, 'Depends on libmnl0 (>= ...): the in-use guard asks rtnetlink');
like($dep, qr/(?:^|, )pci\.ids(?:,|$| \()/, 'Depends on pci.ids');
unlike($dep, qr/(?:^|, )apache2(?:,| |$)/, 'no Depends on apache2 itself');
($rc, $out) = run("dpkg-deb --ctrl-tarfile '$deb' | tar -xOf - ./conffiles");
is_deeply([sort split /\n/, $out], [sort @conffiles], 'conffiles: the two mods-available files');
my $x = "$tmp/x";
run("dpkg-deb -x '$deb' $x");
my ($sr, $sections) = run("readelf -S -W $x$so");
ok($sr == 0 && $sections !~ /\.symtab|\.debug_/, 'the module is stripped');
is(file_mode("$x$so"), '0644', 'the module is mode 0644');
my $doc = "$x/usr/share/doc/$pkg";
ok(-f "$doc/changelog.Debian.gz", 'changelog.Debian.gz');
my $news = `gzip -dc '$doc/NEWS.Debian.gz' 2>/dev/null` // '';
like($news, qr/\A\Q$pkg\E \(1\.1\.0-1\) .*defaults to companions.*VolantVfioGroupPolicy strict/s,
     'NEWS.Debian tells upgraders the group policy changed, and how to keep strict');
like(slurp("$doc/copyright"),
     qr{\AFormat: https://www\.debian\.org/doc/packaging-manuals/copyright-format/1\.0/\n.*^License: Apache-2\.0$}ms,
     'a DEP-5 copyright, Apache-2.0');
is(slurp("$x$avail/volant_vfio.load"), slurp("$top/conf/volant_vfio.load"),
   'volant_vfio.load as in conf/ (with its Depends: line)');

# --- lintian ----------------------------------------------------------------
($rc, $out) = run("$top/build/install-deps deb >/dev/null && cd '$tmp' && "
                  . "lintian -I -E --pedantic --show-overrides --tag-display-limit 0 '$deb' 2>&1");
my @findings = grep { /^[EWIPXO]: / } split /\n/, $out;
my $readme = slurp("$top/build/deb/README.md");
diag("lintian: $_") for @findings;
is(scalar(grep { /^E: / } @findings), 0, 'lintian: no errors');
my @unexplained = grep {
    my ($tag) = /^\w: \S+: (\S+)/;
    !$tag || index($readme, $tag) < 0
} @findings;
is_deeply(\@unexplained, [],
          'lintian: every finding is overridden or explained in build/deb/README.md');

# --- installed --------------------------------------------------------------
$touched = 1;
($rc, $out) = run("apt-get install -y -q --no-install-recommends "
                  . "-o DPkg::Lock::Timeout=120 '$deb' 2>&1",
                  DEBIAN_FRONTEND => 'noninteractive');
is($rc, 0, 'apt-get install ./' . ($deb =~ s{.*/}{}r)) or diag($out);
is(pkg_status(), 'install ok installed', 'dpkg: installed');
ok(-f $so, "$so installed");
ok(-l "$enabled/volant_vfio.load" && -l "$enabled/volant_vfio.conf",
   'postinst enabled the module (apache2_invoke enmod)');
ok(-e "$apache_state/module/enabled_by_maint/volant_vfio",
   '... as the package maintainer (a2query knows)');
my @st = stat $records;
ok(@st && -d _ && ($st[2] & 07777) == 0700 && $st[4] == 0 && $st[5] == 0,
   "$records: root's, mode 0700");
($rc, $out) = run("dpkg -L $pkg");
my %listed = map { $_ => 1 } split /\n/, $out;
ok($listed{$_}, "dpkg -L lists $_")
    for $so, @conffiles, "/usr/share/doc/$pkg/copyright", $claim, $rule;
my @cst = stat $claim;
ok(@cst && ($cst[2] & 07777) == 0755 && $cst[4] == 0, "$claim: root's, 0755");
($rc, $out) = run("'$claim' 2>&1");
ok($rc == 2 && $out =~ /^usage: volant-vfio-claim /, "$claim runs (usage, exit 2)")
    or diag($out);
like(slurp($rule), qr{^ACTION=="add", SUBSYSTEM=="pci", TEST=="/var/lib/volant-vfio/devices/\$kernel\.json", RUN\+="\Q$claim\E \$kernel"$}m,
     "$rule runs it for a PCI device with a record");
($rc, $out) = run('apache2ctl configtest');
ok($rc == 0 && $out =~ /Syntax OK/, 'apache2ctl configtest passes') or diag($out);
is(-e $syspid ? slurp($syspid) : undef, $syspid_before,
   "the system's apache2 was neither started nor restarted");

# The stock apache2 with the system's configuration, privately; the
# module's records go to the package's /var/lib/volant-vfio.
$apache = VVTestApache->new;
my ($ok, $msg) = $apache->configtest;
ok($ok, "apache2ctl -t on a private copy of $confdir") or diag($msg);
($ok, $msg) = $apache->start;
ok($ok, 'apache2 on 127.0.0.1:' . $apache->port) or diag($msg);
SKIP: {
    skip 'httpd did not start', 6 unless $ok;
    my ($s, $ct, $body, $json) = $apache->request(GET => '/api/v1/vfio/host');
    is($s, 200, 'GET /api/v1/vfio/host: 200') or diag($body);
    ok($ct =~ m{^application/json} && $json && $json->{helper}
       && $json->{helper}{running}, '... JSON, the privileged helper up')
        or diag($body);
    my $dev = VVTestApache::first_pci_device();
    SKIP: {
        skip 'no PCI devices here', 2 unless $dev;
        ($s, $ct, $body, $json) = $apache->request(
            POST => '/api/v1/vfio/devices/info', { pci_address => $dev });
        is($s, 200, "POST /api/v1/vfio/devices/info $dev: 200") or diag($body);
        ok($json && ($json->{address} // '') eq lc $dev, "... JSON about $dev");
    }
    ($s, $ct, $body, $json) = $apache->request(GET => '/openapi');
    ok($s == 200 && $json && ($json->{openapi} // '') =~ /^3\./,
       'GET /openapi: 200, an OpenAPI 3 document');
    ok(-d "$records/devices", "the helper keeps its records in $records");
}
is_deeply([$apache->stop], [], 'apache2 stopped, workers and helper with it');
is_deeply([$apache->processes], [], 'no process of the private run is left');
my @errors = grep { /\[[\w:]*(?:emerg|alert|crit|error)\]/ }
             split /\n/, $apache->error_log;
is_deeply(\@errors, [], 'no error in its error log');
$apache->cleanup;
undef $apache;

# --- removed: conffiles and records stay -------------------------------------
($rc, $out) = dpkg("-r $pkg 2>&1");
is($rc, 0, "dpkg -r $pkg") or diag($out);
is(pkg_status(), 'deinstall ok config-files', 'dpkg: config-files');
ok(!-e $so, "$so gone");
ok(!-e "$enabled/volant_vfio.load" && !-e "$enabled/volant_vfio.conf",
   'prerm disabled the module');
ok(-f $_, "$_ kept (a conffile)") for @conffiles;
ok(-d $records, "$records kept");

# --- purged: nothing left ----------------------------------------------------
($rc, $out) = dpkg("-P $pkg 2>&1");
is($rc, 0, "dpkg -P $pkg") or diag($out);
($rc) = run("dpkg -L $pkg >/dev/null 2>&1");
isnt($rc, 0, 'dpkg -L: not installed');
is_deeply([glob "/var/lib/dpkg/info/$pkg.*"], [], "no /var/lib/dpkg/info/$pkg.*");
is_deeply([grep { -e $_ || -l $_ } @ours], [], 'no module file, no mods-available/mods-enabled file');
ok(!-e $records, "$records gone");
is(scalar(grep { m{/volant_vfio$} } keys %{VVTestApache::tree_state($apache_state)}),
   0, "no a2enmod marker for volant_vfio in $apache_state");
$touched = 0;
my @rm = VVTestApache::remove_new_empty_dirs($apache_state, $var_before);
note("removed the empty marker directories a2enmod/a2dismod made: @rm") if @rm;
is_deeply([VVTestApache::tree_diff($etc_before, VVTestApache::tree_state($confdir))],
          [], "$confdir is as it was (checksums of every file and link)");
is_deeply([VVTestApache::tree_diff($var_before, VVTestApache::tree_state($apache_state))],
          [], "$apache_state is as it was");
is(-e $syspid ? slurp($syspid) : undef, $syspid_before,
   "the system's apache2 was never started");

done_testing();
