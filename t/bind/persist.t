# Bindings that survive a reboot (bind's "persist": true), on the
# simulator, where loading the topology again is a reboot: every driver
# binds afresh, every driver_override is gone, the records stay.
#  - A host driver that took the card at boot (built in): httpd's start-up
#    re-binds it through an ordinary bind; one the host uses stays
#    "unclaimed" with the guard's reason.
#  - A host driver not loaded yet when udev sees the card: the package's
#    claim program (what the udev rule runs) gives it vfio-pci.
#  - Another card at the address (subsystem or device IDs differ): nothing
#    is written to it; the record is marked hardware-changed and shown in
#    /records, /usage, /host and /metrics; bind refuses it; unbind forgets
#    it without touching the card.
#  - Bindings that do not persist leave no stale state after a reboot, as
#    before.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use File::Temp ();
use JSON::PP ();
use VVTest;
use VVSim;

plan tests => 66;

my $dev = '0000:04:00.0';    # igb, link down, alone in group 8
my $other = '0000:09:00.0';  # an NVMe drive nobody uses: bound without persist
my $state = $ENV{VV_TEST_STATE};
my $top = Apache::Test::vars('top_dir');
my $claim = "$top/mod_volant_vfio/tools/volant-vfio-claim";
my $json = JSON::PP->new->utf8->canonical;
my $tmp = File::Temp::tempdir('/tmp/vv-persist-XXXXXX', CLEANUP => 1);
chmod 0755, $tmp;

Apache::TestRequest::module('vv_bind');

sub bind_persist { post_json(api('/devices/bind'), { pci_addresses => [@_], persist => JSON::PP::true }) }
sub phase { my $r = record_of($_[0]); return $r ? $r->{phase} : 'none' }

# A variant of mixed-host: $edit changes the decoded topology.
sub variant {
    my ($name, $edit) = @_;
    my $t = $json->decode(do { local (@ARGV, $/) = ("$top/t/topologies/mixed-host.json"); <> });
    $edit->($t);
    my $file = "$tmp/$name.json";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $json->encode($t);
    close $fh;
    return $file;
}
sub device_in { my ($t, $a) = @_; (grep { $_->{address} eq $a } @{ $t->{devices} })[0] }

# A reboot: the host comes up again from a topology, the records stay.
sub reboot {
    my ($file) = @_;
    sim('release all');
    sim("load $file");
    netns_mirror($file);
    sim('log clear');
}

# What the udev rule runs on the device's add event.
sub run_claim {
    my ($addr, @opts) = @_;
    my $out = `'$claim' --state-dir '$state' --sysfs '@{[mount()]}/sys' @opts $addr 2>&1`;
    return ($? >> 8, $out);
}

# A graceful restart: the new generation's helper settles the records and
# re-binds persistent bindings in the background.  $until is the state
# that start-up must reach (each is one only the new helper can produce);
# without it, the records must stop changing.
my $slowdown = $ENV{VV_TEST_SLOWDOWN} || 1;
sub restart_httpd {
    my ($until) = @_;
    my $old = helper_pid() // 0;
    kill 'USR1', httpd_pid();
    my $new = wait_for(sub { my $p = eval { helper_pid() }; $p && $p != $old ? $p : 0 }, 20 * $slowdown);
    return $new && wait_for($until, 20 * $slowdown) if $until;
    my $last = '';
    wait_for(sub {
        my $now = join ',', map { "$_=" . phase($_) } records();
        my $same = $now eq $last && $now !~ /binding|unbinding/;
        $last = $now;
        select(undef, undef, undef, 0.3);
        $same;
    }, 20 * $slowdown);
    return $new;
}
sub rebound { driver_of($dev) eq 'vfio-pci' && phase($dev) eq 'bound' }
sub refused_at_start { phase($dev) eq 'unclaimed' && ((record_of($dev) // {})->{reason} // '') =~ /^re-binding it at start-up failed/ }

my $mixed = "$top/t/topologies/mixed-host.json";
sim_load('mixed-host');

# --- the request ----------------------------------------------------------
my ($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], persist => 'yes' });
ok t_cmp([$code, $body->{error}], [400, 'field persist must be true or false'],
         'persist must be a boolean: 400');
ok t_cmp(driver_of($dev), 'igb', 'and nothing moved');

($code, $body) = bind_persist($dev);
ok t_cmp($code, 200, 'bind with persist: 200');
my ($out) = grep { $_->{address} eq $dev } @{ $body->{devices} // [] };
ok t_cmp([$out->{outcome}, $out->{persist}], ['bound', JSON::PP::true], 'the reply says it persists');
my $rec = record_of($dev);
ok t_cmp([@$rec{qw(phase persist vendor device subsystem_vendor subsystem_device)}],
         ['bound', JSON::PP::true, '8086', '1533', '15d9', '1533'],
         'the record persists the address with all four IDs');
($code, $body) = bind($other);
ok t_cmp([$code, $body->{devices}[0]{persist}], [200, JSON::PP::false],
         'a bind without persist: persist false');
ok t_cmp(record_of($other)->{persist}, JSON::PP::false, 'and its record says so');
my (undef, $records) = get_json(api('/records'));
ok t_cmp([map { "$_->{address} " . ($_->{persist} ? 'persist' : '-') } @$records],
         ["$dev persist", "$other -"], 'GET /records shows which persist');

# --- reboot 1: the host driver is built in, it takes both at boot -----------
reboot($mixed);
ok t_cmp([driver_of($dev), driver_of($other)], ['igb', 'nvme'], 'after the reboot both are on their host drivers');
my ($rc, $said) = run_claim($dev);
ok t_cmp([$rc, $said], [0, qr/\Q$dev\E: held by igb already .*httpd re-binds it when it starts/],
         'the claim program leaves a card a host driver holds to httpd');
ok t_cmp(sim_log(), '', 'and writes nothing');
($rc, $said) = run_claim($other);
ok t_cmp([$rc, $said], [0, qr/not a persistent binding/], 'a binding that does not persist: left alone');
restart_httpd(\&rebound);
ok t_cmp(driver_of($dev), 'vfio-pci', 'httpd re-bound the persistent one at start-up');
ok t_cmp([@{ record_of($dev) // {} }{qw(phase persist original_driver)}],
         ['bound', JSON::PP::true, 'igb'], 'its record: bound, persistent, igb as the driver to give back');
ok t_cmp(driver_of($other), 'nvme', 'the other stays on its host driver');
ok t_cmp(record_of($other), undef, 'and no record claims it (stale state dropped)');
my $error_log = do { local (@ARGV, $/) = (Apache::Test::vars('t_logs') . '/error_log'); <> };
ok t_cmp($error_log, qr/VFIO10629: persistent binding of \Q$dev\E: unclaimed: on igb, not vfio-pci/,
         'the start-up logged the card it found on igb');
ok t_cmp($error_log, qr/VFIO10610: bind from recovery: \Q$dev\E igb -> vfio-pci \(bound\): ok/,
         'and the re-bind, in the audit log');
($code, $body) = unbind($other);
ok t_cmp([$code, $body->{error}], [500, "device $other not bound to vfio-pci"],
         'unbind of the stale one: not bound to vfio-pci');
my (undef, undef, $res) = get_json(api('/metrics'));
ok t_cmp($res->content, qr/^volant_vfio_devices_held 1$/m, '/metrics counts only the persistent one');

# --- reboot 2: the host driver is a module udev loads after the rule ran ------
my $late = variant('late-igb', sub {
    my ($t) = @_;
    $t->{drivers} = [grep { $_->{name} ne 'igb' } @{ $t->{drivers} }];
    for my $a ('0000:03:00.0', $dev) {
        my $d = device_in($t, $a);
        $d->{driver} = undef;
        delete $d->{net};
    }
});
reboot($late);
ok t_cmp([driver_of($dev), override_of($dev)], ['', '(null)'], 'at the add event: no driver, no override');
($rc, $said) = run_claim($dev);
ok t_cmp([$rc, $said], [0, qr/\Q$dev\E: claimed for vfio-pci/], 'the claim program claims it');
ok t_cmp(driver_of($dev), 'vfio-pci', 'it is on vfio-pci');
ok t_cmp(sim_log(), qr{\A\S*/driver_override\tvfio-pci\tok\n\S*drivers_probe\t\Q$dev\E\tok\n\z},
         'by its driver_override and a probe, nothing else');
ok t_cmp(driver_of('0000:03:00.0'), '', 'a device without a record: untouched');
restart_httpd(sub { phase($dev) eq 'bound' });
ok t_cmp([driver_of($dev), phase($dev)], ['vfio-pci', 'bound'], 'httpd finds it bound and keeps its record');

# --- reboot 3: the card in the slot changed ------------------------------------
for my $case (['device', sub { $_[0]->{device} = '1539'; $_[0]->{driver} = undef; delete $_[0]->{net} },
               '8086:1539 15d9:1533'],
              ['subsystem', sub { $_[0]->{subsystem_device} = '0001' }, '8086:1533 15d9:0001']) {
    my ($what, $edit, $now) = @$case;
    my $file = variant("changed-$what", sub { $edit->(device_in($_[0], $dev)) });
    # The card it was made for, in its slot: bound at start-up (from the
    # first case on, the original card is back after a change).
    reboot($mixed);
    restart_httpd(\&rebound);
    ok t_cmp([driver_of($dev), phase($dev)], ['vfio-pci', 'bound'],
             "$what: with the card it was made for, the binding is in force");
    reboot($file);
    my $before = driver_of($dev);
    ($rc, $said) = run_claim($dev);
    ok t_cmp([$rc, $said], [0, qr/\Q$dev\E: NOT claimed: its persistent binding was made for 8086:1533 15d9:1533, the card there is \Q$now\E/],
             "$what changed: the claim program refuses, naming both");
    ok t_cmp([sim_log(), driver_of($dev), override_of($dev)], ['', $before, '(null)'],
             "$what changed: nothing written to the card");
    restart_httpd(sub { phase($dev) eq 'hardware-changed' });
    $rec = record_of($dev);
    ok t_cmp([$rec->{phase}, $rec->{found}, driver_of($dev)], ['hardware-changed', $now, $before],
             "$what changed: the record is kept, marked, with the IDs found; the card left alone");
}
ok t_cmp($rec->{reason}, qr/persistent binding was made for 8086:1533 15d9:1533, but the card at this address is now 8086:1533 15d9:0001 .*unbind of \Q$dev\E forgets it/,
         'the reason names old and new IDs and how to clear it');
(undef, $records) = get_json(api('/records'));
ok t_cmp((grep { $_->{address} eq $dev } @$records)[0]{phase}, 'hardware-changed', 'GET /records shows it');
my (undef, $host) = get_json(api('/host'));
ok t_cmp(scalar(grep { /^persistent binding of \Q$dev\E not in force \(hardware-changed\): .*15d9:0001/ } @{ $host->{warnings} }), 1,
         'GET /host warns, naming the IDs');
my (undef, $usage) = get_as('vv_usage', api('/usage'));
my ($u) = grep { $_->{address} eq $dev } @{ $usage->{devices} // [] };
ok t_cmp($u && $u->{hardware_changed}, qr/15d9:0001/, 'GET /usage shows it');
(undef, undef, $res) = get_json(api('/metrics'));
ok t_cmp($res->content, qr/^volant_vfio_records\{phase="hardware-changed"\} 1$/m, '/metrics counts it by phase');
ok t_cmp($res->content, qr/^volant_vfio_devices_held 0$/m, 'and not as held');
sim('log clear');
($code, $body) = bind($dev);
ok t_cmp([$code, $body->{error}], [409, qr/^device \Q$dev\E: its persistent binding was made for/],
         'bind of the new card: 409 with the reason');
($code, $body) = unbind($dev);
ok t_cmp([$code, $body->{devices}[0]{outcome}], [200, 'forgotten'], 'unbind forgets it');
ok t_cmp([record_of($dev), sim_log()], [undef, ''], 'the record is gone, nothing was written');

# --- reboot 4: the original card is back; unbind; reboot -------------------
reboot($mixed);
sim('log clear');
($code) = bind_persist($dev);
ok t_cmp($code, 200, 'bound again with persist');
# A card a persistent binding holds is given back by unbind, and forgotten.
($code, $body) = unbind($dev);
ok t_cmp([$code, $body->{devices}[0]{outcome}, driver_of($dev)], [200, 'restored', 'igb'], 'unbind restores it');
ok t_cmp(record_of($dev), undef, 'and forgets it');
reboot($mixed);
($rc, $said) = run_claim($dev);
ok t_cmp($said, qr/no record/, 'after the reboot the claim program has nothing to do');
restart_httpd();
ok t_cmp([driver_of($dev), scalar(my @left = records())], ['igb', 0], 'the card is on igb, no record');

# --- reboot 5: the host uses the card at boot: unclaimed, with the reason ------
($code) = bind_persist($dev);
ok t_cmp($code, 200, 'bound with persist');
my $used = variant('in-use', sub {
    my $d = device_in($_[0], $dev);
    $d->{net} = [{ name => 'eno2', up => JSON::PP::true, mac => 'ac:1f:6b:01:02:04',
                   addresses => ['10.9.0.5/24'], routes => ['10.9.0.0/24'] }];
});
reboot($used);
restart_httpd(\&refused_at_start);
$rec = record_of($dev);
ok t_cmp([driver_of($dev), $rec->{phase}], ['igb', 'unclaimed'], 'a card the host uses is not taken: unclaimed');
ok t_cmp($rec->{reason}, qr/^re-binding it at start-up failed: .*eno2/, 'with the guard\'s reason');
(undef, $host) = get_json(api('/host'));
ok t_cmp(scalar(grep { /^persistent binding of \Q$dev\E not in force \(unclaimed\): re-binding it at start-up failed/ } @{ $host->{warnings} }), 1,
         'GET /host warns');
(undef, undef, $res) = get_json(api('/metrics'));
ok t_cmp($res->content, qr/^volant_vfio_records\{phase="unclaimed"\} 1$/m, '/metrics counts it as unclaimed');
# Once the host lets go, the next start takes it.
reboot($mixed);
restart_httpd(\&rebound);
ok t_cmp([driver_of($dev), phase($dev)], ['vfio-pci', 'bound'], 'the next start re-binds it');
# An unclaimed one is forgotten by unbind, and an override the claim left
# is given back.
reboot($used);
restart_httpd(\&refused_at_start);
ok t_cmp(phase($dev), 'unclaimed', 'unclaimed again');
($code, $body) = unbind($dev);
ok t_cmp([$code, $body->{devices}[0]{outcome}, record_of($dev), driver_of($dev)],
         [200, 'forgotten', undef, 'igb'], 'unbind forgets an unclaimed binding, the card stays');
# Unclaimed, then another card in the slot before any start-up looked
# (unbind settles no record it names): forgetting writes nothing to that
# card, not even the record's original override.
reboot($mixed);
($code) = bind_persist($dev);
reboot($used);
restart_httpd(\&refused_at_start);
reboot(variant('changed-subsystem-2', sub { device_in($_[0], $dev)->{subsystem_device} = '0001' }));
open my $ov, '>', VVSim::dev_path($dev) . '/driver_override' or die "driver_override: $!";
syswrite($ov, "vfio-pci\n");
close $ov;
sim('log clear');
($code, $body) = unbind($dev);
ok t_cmp([$code, $body->{devices}[0]{outcome}, record_of($dev), override_of($dev), sim_log()],
         [200, 'forgotten', undef, 'vfio-pci', ''],
         'a changed card behind an unclaimed binding: forgotten, nothing written to it');

# --- the claim program refuses records others could have written -------------
reboot($mixed);
($code) = bind_persist($dev);
ok t_cmp($code, 200, 'bound with persist');
chmod 0770, "$state/devices";
($rc, $said) = run_claim($dev);
chmod 0700, "$state/devices";
ok t_cmp([$rc, $said], [1, qr{/devices is owned by uid 0 with mode 0770; it must belong to the privileged helper}],
         'a group-writable records directory: refused, exit 1');
ok t_cmp((run_claim('0000:zz:00.0'))[0], 1, 'a malformed address: exit 1');
($code) = unbind($dev);
ok t_cmp([$code, driver_of($dev)], [200, 'igb'], 'released at the end');

# --- the group node is the binding's owner's again after a reboot ------------
# (the kernel makes it root's; the VMM's user must be able to open it)
Apache::TestRequest::module('vv_owner');
my ($daemon_uid, $daemon_gid) = (getpwnam('daemon'))[2, 3];
sub node_of { my @st = stat(mount() . "/dev/vfio/8"); @st ? sprintf('%d:%d %04o', $st[4], $st[5], $st[2] & 07777) : 'none' }
reboot($mixed);
($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], persist => JSON::PP::true, owner => 'daemon' });
ok t_cmp([$code, node_of()], [200, "$daemon_uid:$daemon_gid 0660"], 'bound with persist for daemon:daemon');
reboot($late);
run_claim($dev);
ok t_cmp([driver_of($dev), node_of()], ['vfio-pci', '0:0 0600'], 'claimed at boot: the new node is root\'s');
restart_httpd();
ok t_cmp(wait_for(sub { node_of() eq "$daemon_uid:$daemon_gid 0660" }, 20) ? 1 : 0, 1,
         'after the start-up it is daemon:daemon 0660 again');
# The simulated host of that boot never loads igb: boot the one that does
# (igb takes the card, the start-up re-binds it) before giving it back.
reboot($mixed);
restart_httpd();
ok t_cmp(wait_for(sub { driver_of($dev) eq 'vfio-pci' && node_of() eq "$daemon_uid:$daemon_gid 0660" }, 20) ? 1 : 0, 1,
         'a boot where igb took it: re-bound at start-up, the node daemon\'s');
($code, $body) = unbind($dev);
ok t_cmp([$code, driver_of($dev), node_of(), record_of($dev)], [200, 'igb', 'none', undef],
         'unbind gives it back to igb and forgets it');
