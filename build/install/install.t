#!/usr/bin/perl
# make install / make uninstall, on this machine's Debian apache2:
# staged with DESTDIR; installed for real (twice: idempotent); a2enmod;
# apache2ctl configtest on the system's configuration; the API served by
# the stock apache2 from a private copy of /etc/apache2 on 127.0.0.1:<free
# port> (VVTestApache.pm says how); a2dismod; uninstall; and nothing left
# behind: /etc/apache2 and /var/lib/apache2 as they were, no module file.
# The system's apache2 service is never started, stopped or reloaded.
# Cleans up on failure and on SIGINT/SIGTERM too.
use strict;
use warnings;
use Cwd qw(abs_path);
use FindBin;
use lib $FindBin::Bin;
use File::Temp ();
use JSON::PP ();
use Test::More;
use VVTestApache;

my $top = abs_path("$FindBin::Bin/../..");
my $built = "$top/mod_volant_vfio/.libs/mod_volant_vfio.so";
my $install = "$top/build/install/install";
my $uninstall = "$top/build/install/uninstall";
chomp(my $moddir = `apxs -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules');
chomp(my $confdir = `apxs -q SYSCONFDIR 2>/dev/null` || '/etc/apache2');
my $so = "$moddir/mod_volant_vfio.so";
my $avail = "$confdir/mods-available";
my $enabled = "$confdir/mods-enabled";
my $statedir = '/var/lib/apache2';
my $syspid = '/var/run/apache2/apache2.pid';
my @ours = ($so, map({ "$avail/volant_vfio.$_" } qw(load conf conf.dist)),
            map({ "$enabled/volant_vfio.$_" } qw(load conf)));

plan skip_all => 'installs into the system: run as root' if $> != 0;
BAIL_OUT("$built is not built: run make module") unless -f $built;
if (my @there = grep { -e $_ || -l $_ } @ours) {
    BAIL_OUT("mod_volant_vfio is already installed here (@there): "
             . "not testing over it");
}

my ($apache, $stage, $touched);
my $etc_before = VVTestApache::tree_state($confdir);
my $var_before = VVTestApache::tree_state($statedir);
my $syspid_before = -e $syspid ? VVTestApache::_slurp($syspid) : undef;

sub cleanup {
    $apache->cleanup if $apache;
    undef $apache;
    if ($touched && grep { -e $_ || -l $_ } @ours) {
        diag('cleaning up after a failure: a2dismod, uninstall');
        system("a2dismod -q -f volant_vfio >/dev/null 2>&1");
        system("$uninstall >/dev/null 2>&1");
    }
    if ($touched) {
        system("a2dismod -q -f -p volant_vfio >/dev/null 2>&1");
        VVTestApache::remove_new_empty_dirs($statedir, $var_before);
    }
    $touched = 0;
}
END { my $rc = $?; cleanup(); $? = $rc; }
$SIG{$_} = sub { diag("caught SIG$_[0]"); exit 1 } for qw(INT TERM HUP);

sub run {
    my ($cmd, %env) = @_;
    local @ENV{keys %env} = values %env;
    my ($rc, $out) = VVTestApache::run_capture('/bin/sh', '-c', $cmd);
    return ($rc, $out);
}

sub file_mode { sprintf '%04o', (stat $_[0])[2] & 07777 }
sub slurp { VVTestApache::_slurp($_[0]) }

# --- staged: DESTDIR -------------------------------------------------------
$stage = File::Temp::tempdir('/tmp/vv-stage-XXXXXX', CLEANUP => 1);
my ($rc, $out) = run($install, DESTDIR => $stage);
is($rc, 0, 'install with DESTDIR') or diag($out);
my @staged = ("$stage$so", "$stage$avail/volant_vfio.load",
              "$stage$avail/volant_vfio.conf");
ok(-f $_ && file_mode($_) eq '0644', "staged $_ (0644)") for @staged;
ok(!-e "$stage$enabled", 'staging enables nothing');
($rc, $out) = run($uninstall, DESTDIR => $stage);
is($rc, 0, 'uninstall with DESTDIR') or diag($out);
opendir(my $dh, $stage);
is_deeply([grep { !/^\.\.?$/ } readdir $dh], [],
          'the staged tree is empty again');
is_deeply([VVTestApache::tree_diff($etc_before,
           VVTestApache::tree_state($confdir))], [],
          "staging did not touch $confdir");

# --- installed -------------------------------------------------------------
$touched = 1;
($rc, $out) = run($install);
is($rc, 0, 'install') or diag($out);
ok(-f $so && file_mode($so) eq '0644', "$so installed, mode 0644");
is(slurp($so), slurp($built), "$so is the module built in this tree");
is(slurp("$avail/volant_vfio.conf"), slurp("$top/conf/volant_vfio.conf"),
   "$avail/volant_vfio.conf is conf/volant_vfio.conf");
like(slurp("$avail/volant_vfio.load"),
     qr{^# Depends: authz_core authz_host\nLoadModule volant_vfio_module \Q$so\E\n\z},
     "$avail/volant_vfio.load loads $so, with its Depends line");
my $installed = VVTestApache::tree_state($avail);
($rc, $out) = run($install);
is($rc, 0, 'install again (idempotent)') or diag($out);
is_deeply([VVTestApache::tree_diff($installed,
           VVTestApache::tree_state($avail))], [],
          'the second install changed nothing');
ok(!-e "$enabled/volant_vfio.load", 'install enables nothing by itself');

($rc, $out) = run('a2enmod volant_vfio');
is($rc, 0, 'a2enmod volant_vfio') or diag($out);
ok(-l "$enabled/volant_vfio.load" && -l "$enabled/volant_vfio.conf",
   'volant_vfio.load and .conf are enabled');
($rc, $out) = run('apache2ctl configtest');
ok($rc == 0 && $out =~ /Syntax OK/,
   "apache2ctl configtest on $confdir passes") or diag($out);

# --- the stock apache2, privately, with the installed module ---------------
# Records go to the private directory: the module makes VolantVfioStateDir
# (/var/lib/volant-vfio) on first start, and this test leaves nothing.
$apache = VVTestApache->new(
    extra_conf => "VolantVfioStateDir \@TMP\@/state\n");
my ($ok, $msg) = $apache->configtest;
ok($ok, "apache2ctl -t on the private copy of $confdir") or diag($msg);
($ok, $msg) = $apache->start;
ok($ok, 'apache2 -DFOREGROUND on 127.0.0.1:' . $apache->port) or diag($msg);
SKIP: {
    skip 'httpd did not start', 9 unless $ok;
    my ($st, $ct, $body, $json) = $apache->request(GET => '/api/v1/vfio/host');
    is($st, 200, 'GET /api/v1/vfio/host: 200') or diag($body);
    ok($ct =~ m{^application/json} && ref $json eq 'HASH'
       && exists $json->{iommu_enabled}, '... a JSON host report')
        or diag("$ct $body");
    ok($json && $json->{helper} && $json->{helper}{running},
       '... the privileged helper runs') or diag($body);
    my $dev = VVTestApache::first_pci_device();
    SKIP: {
        skip 'this machine has no PCI devices', 2 unless $dev;
        ($st, $ct, $body, $json) = $apache->request(
            POST => '/api/v1/vfio/devices/info', { pci_address => $dev });
        is($st, 200, "POST /api/v1/vfio/devices/info $dev: 200")
            or diag($body);
        ok($ct =~ m{^application/json} && ref $json eq 'HASH'
           && ($json->{address} // '') eq lc $dev, "... JSON about $dev")
            or diag("$ct $body");
    }
    ($st, $ct, $body, $json) = $apache->request(GET => '/openapi');
    is($st, 200, 'GET /openapi: 200');
    ok($ct =~ m{^application/json} && ref $json eq 'HASH'
       && ($json->{openapi} // '') =~ /^3\./, '... an OpenAPI 3 document');
    my $file = eval {
        JSON::PP->new->decode(slurp("$top/mod_volant_vfio/openapi.json"))
    };
    my $canon = JSON::PP->new->canonical;
    ok($json && $file && $canon->encode($json) eq $canon->encode($file),
       '... the one in mod_volant_vfio/openapi.json');
    # The served document through the OpenAPI validator, when its npm
    # packages are installed (make test-openapi runs `npm ci` first).
    SKIP: {
        skip 'build/openapi/node_modules missing (make test-openapi)', 1
            unless -d "$top/build/openapi/node_modules/\@apidevtools/swagger-parser"
                   && -x '/usr/bin/node';
        my ($vrc, $vout) = run("$top/build/openapi/validate "
                               . $apache->base . '/openapi');
        ok($vrc == 0 && $vout =~ /^OK /m,
           'build/openapi/validate accepts the served /openapi') or diag($vout);
    }
}
my @killed = $apache->stop;
is_deeply(\@killed, [], 'apache2 stopped, with its workers and the helper');
is_deeply([$apache->processes], [], 'no process of the private run is left');
$apache->cleanup;
undef $apache;

# --- disabled and uninstalled: nothing left --------------------------------
($rc, $out) = run('a2dismod volant_vfio');
is($rc, 0, 'a2dismod volant_vfio') or diag($out);
($rc, $out) = run($uninstall);
is($rc, 0, 'uninstall') or diag($out);
is_deeply([grep { -e $_ || -l $_ } @ours], [],
          'no module file, nothing in mods-available or mods-enabled');
is(scalar(grep { m{/volant_vfio$} } keys %{VVTestApache::tree_state($statedir)}),
   0, "no a2enmod marker for volant_vfio in $statedir");
$touched = 0;
my @rm = VVTestApache::remove_new_empty_dirs($statedir, $var_before);
note("removed the empty marker directories a2enmod/a2dismod made: @rm") if @rm;
is_deeply([VVTestApache::tree_diff($etc_before,
           VVTestApache::tree_state($confdir))], [],
          "$confdir is as it was (checksums of every file and link)");
is_deeply([VVTestApache::tree_diff($var_before,
           VVTestApache::tree_state($statedir))], [],
          "$statedir is as it was");
is(-e $syspid ? slurp($syspid) : undef, $syspid_before,
   "the system's apache2 was neither started nor stopped ($syspid)");

done_testing();
