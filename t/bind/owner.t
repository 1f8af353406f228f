# VolantVfioGroupOwner: after a bind the group's node belongs to the VMM's
# user (and group), so an unprivileged hypervisor can open it; before a
# release it goes back to root:root 0600.  A bind may name another listed
# owner; anything else is a 400 naming the directive, and nothing moves.
# The simulator's /dev/vfio nodes take chown and chmod from root, as
# devtmpfs does, and the kernel enforces their mode on every open
# (default_permissions).
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use Fcntl qw(O_RDWR);
use POSIX ();
use VVTest;
use VVSim;

plan tests => 33;

my $dev = '0000:04:00.0';    # an Intel NIC (igb) alone in its group
my ($nobody, $daemon, $daemon_gid) = ((getpwnam 'nobody')[2], (getpwnam 'daemon')[2],
                                      (getgrnam 'daemon')[2]);

sim_load('mixed-host');
Apache::TestRequest::module('vv_owner');
my $group = readlink(mount() . "/sys/bus/pci/devices/$dev/iommu_group") =~ s{.*/}{}r;
my $node = mount() . "/dev/vfio/$group";

sub node_stat {
    my @st = stat $node or return 'no node';
    return sprintf '%d:%d %04o', $st[4], $st[5], $st[2] & 07777;
}

# Whether uid can open the node read-write, in a child that drops to it:
# "ok" or the errno's text.
sub opens_as {
    my ($uid, $gid) = @_;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $said = eval {
            $) = "$gid $gid";
            POSIX::setgid($gid) or die "setgid: $!\n";
            POSIX::setuid($uid) or die "setuid: $!\n";
            die "still uid $>\n" if $> != $uid;
            my $fd = POSIX::open($node, O_RDWR);
            POSIX::close($fd) if defined $fd;
            defined $fd ? 'ok' : "$!";
        } // "error: $@";
        syswrite $w, $said;
        POSIX::_exit(0);
    }
    close $w;
    my $got = do { local $/; <$r> };
    waitpid $pid, 0;
    return $got;
}

# A bind with no "owner": the first entry, nobody (its group stays root's).
my ($code, $body) = bind($dev);
ok t_cmp($code, 200, 'bind answers 200');
my ($d) = grep { $_->{address} eq $dev } @{ $body->{devices} // [] };
ok t_cmp($d->{owner}, 'nobody:root', 'the reply names the owner of the group node');
ok t_cmp(node_stat(), "$nobody:0 0600", "/dev/vfio/$group is nobody's, mode 0600");
ok t_cmp(opens_as($nobody, 65534), 'ok', 'a VMM running as nobody can open it');
ok t_cmp(opens_as($daemon, $daemon_gid), 'Permission denied', 'another user cannot');
ok t_cmp(record_of($dev)->{owner}, 'nobody', 'the record names the owner');
($code, $body) = post_json(api('/devices/group-paths'), { pci_addresses => [$dev] });
ok t_cmp($body->{devices}[0]{owner}, 'nobody:root', 'group-paths says who owns the node');
($code, $body) = get_json(api('/records'));
my ($rec) = grep { $_->{address} eq $dev } @{ ref $body eq 'ARRAY' ? $body : [] };
ok t_cmp($rec && $rec->{owner}, 'nobody', 'GET /records shows it');

# Unbind gives the node back before the release: a release that fails
# (the sim's vfio-pci refuses the unbind) leaves the device on vfio-pci,
# its node root's.
sim("fault $dev unbind errno EIO");
($code) = unbind($dev);
ok t_cmp($code, 500, 'a release that fails answers 500');
ok t_cmp(driver_of($dev), 'vfio-pci', 'the device stays on vfio-pci');
ok t_cmp(node_stat(), '0:0 0600', 'and its node is root:root 0600 again');
ok t_cmp(opens_as($nobody, 65534), 'Permission denied', 'nobody can no longer open it');
sim("clear $dev");
($code) = unbind($dev);
ok t_cmp($code, 200, 'the release, retried, succeeds');
ok t_cmp(group_node($group), 0, 'the group node is gone with its last member');

# Another listed owner, by its user or its entry: user and group, 0660.
($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], owner => 'daemon' });
ok t_cmp($code, 200, 'bind with owner "daemon" answers 200');
ok t_cmp($body->{devices}[0]{owner}, 'daemon:daemon', 'naming daemon:daemon');
ok t_cmp(node_stat(), "$daemon:$daemon_gid 0660", 'the node is daemon:daemon 0660');
ok t_cmp(opens_as($daemon, $daemon_gid), 'ok', 'daemon can open it');
ok t_cmp(record_of($dev)->{owner}, 'daemon:daemon', 'the record names the entry');
($code) = unbind($dev);
ok t_cmp($code, 200, 'unbind answers 200');
($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], owner => 'daemon:daemon' });
ok t_cmp([$code, node_stat()], [200, "$daemon:$daemon_gid 0660"], 'the entry itself names it too');
unbind($dev);

# Anything else: 400 naming the directive, nothing moved.
for my $bad (['root', "owner 'root' is not one of VolantVfioGroupOwner's: nobody, daemon:daemon"],
             ['www-data', "owner 'www-data' is not one of VolantVfioGroupOwner's: nobody, daemon:daemon"]) {
    ($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], owner => $bad->[0] });
    ok t_cmp([$code, $body->{error}], [400, $bad->[1]], "owner '$bad->[0]': 400 naming the directive");
}
($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], owner => 7 });
ok t_cmp($code, 400, 'an owner that is not a string: 400');
ok t_cmp(driver_of($dev), 'igb', 'none of them moved the device');

# A server without the directive leaves the node as the kernel made it,
# and refuses an owner.
Apache::TestRequest::module('vv_bind_companions');
($code, $body) = post_json(api('/devices/bind'), { pci_addresses => [$dev], owner => 'nobody' });
ok t_cmp([$code, $body->{error}],
         [400, "owner 'nobody': this server hands group nodes to nobody (no VolantVfioGroupOwner "
               . "is configured); the nodes stay root:root 0600"],
         'without VolantVfioGroupOwner, an owner is refused');
($code, $body) = bind($dev);
ok t_cmp($code, 200, 'a plain bind answers 200');
ok t_cmp($body->{devices}[0]{owner}, 'root:root', 'the reply says root:root');
ok t_cmp(node_stat(), '0:0 0600', 'the node is as the kernel made it');
ok t_cmp(opens_as($nobody, 65534), 'Permission denied', 'and an unprivileged VMM cannot open it');
# Ownership someone else gave the node (libvirt, an operator) survives a
# bind here: without the directive the module changes no node.
chown $daemon, $daemon_gid, $node or die "chown: $!";
($code) = bind($dev);
ok t_cmp([$code, node_stat()], [200, "$daemon:$daemon_gid 0600"],
         'a bind of the bound device leaves an owner set by someone else');
($code) = unbind($dev);
ok t_cmp($code, 200, 'unbind answers 200');
ok t_cmp(driver_of($dev), 'igb', 'the device is back on igb');
