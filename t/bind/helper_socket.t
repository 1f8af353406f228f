# The privileged boundary: the helper runs as root while workers are nobody;
# its socket is 0600 and owned by the workers' user, across graceful and
# hard restarts; a peer of another uid is refused even if the mode were
# wrong; forged requests are refused without a sysfs write.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use IO::Socket::UNIX ();
use JSON::PP ();
use POSIX ();
use Socket qw(SOCK_STREAM);
use Time::HiRes ();
use VVTest;
use VVSim;

plan tests => 23;

my $slowdown = $ENV{VV_TEST_SLOWDOWN} || 1;

sub parent_of {
    open my $fh, '<', "/proc/$_[0]/stat" or return 0;
    return (<$fh> // '') =~ /^\d+ \(.*\) \S+ (\d+)/ ? $1 : 0;
}

my $path = $ENV{VV_TEST_SOCKET};
my $nobody = getpwnam('nobody');

sub sock_owner_mode {
    my @st = stat($path) or return ('absent', '');
    return ($st[4], sprintf('%04o', $st[2] & 07777));
}

sub frame { my $j = JSON::PP->new->canonical->encode($_[0]);
            return 'VVH1' . pack('N', length $j) . $j }

# Sends raw bytes to the helper as uid; returns the reply frame's JSON or ''.
sub ask_as {
    my ($uid, $bytes) = @_;
    my $bg = in_background(sub {
        POSIX::setgid(65534) if $uid;
        POSIX::setuid($uid) if $uid;
        my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
            or return "connect: $!";
        print $s $bytes;
        shutdown($s, 1);
        local $/;
        my $reply = <$s> // '';
        return length $reply > 8 ? substr($reply, 8) : '';
    });
    return (finish($bg))[0];
}

sim_load('mixed-host');
ok t_cmp([sock_owner_mode()], [$nobody, '0600'], 'socket 0600, owned by the workers\' user');
my $pid = helper_pid();
my $euid = (stat("/proc/$pid"))[4];
ok t_cmp($euid, 0, 'the helper runs as root');
my @workers = grep { $_ != $pid && parent_of($_) == httpd_pid() }
    descendants(httpd_pid());
ok t_cmp([grep { (stat("/proc/$_"))[4] != $nobody } @workers], [],
         'every worker runs as nobody');

# The workers' uid is shared on Debian (www-data: php-fpm pools, CGI
# programs): it is not the whole credential.  Without the secret the
# workers inherit in memory, even a status query is refused (kind 16, a
# 403), and logged.
my $status = eval { JSON::PP::decode_json(ask_as($nobody, frame({ op => 'status' }))) } // {};
ok t_cmp([$status->{kind}, $status->{body}{error}],
         [16, 'refused: not an httpd worker of this server'],
         'the workers\' uid alone may not ask');

# Defence in depth: with the mode loosened, another uid is still refused.
chmod 0666, $path;
my $reply = ask_as(1, frame({ op => 'status' })) // '';
chmod 0600, $path;
ok t_cmp($reply, '', 'uid 1 gets no answer');
my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> };
ok t_cmp($log, qr/VFIO20004: helper: refused a connection from uid 1 /, 'and is logged');

# Forged requests straight to the socket, as the workers' user.
sim('log clear');
my @forged = (
    [frame({ op => 'bind', addresses => ['0000:00:14.2'], server => 0 }), 'a device outside any allowlist'],
    [frame({ op => 'bind', addresses => ['0000:04:00.0/../../..'], server => 0 }), 'a traversal'],
    [frame({ op => 'bind', addresses => ['0000:04:00.0'], server => 9999 }), 'a server that does not exist'],
    ['VVH1' . pack('N', 70000) . ('x' x 100), 'an oversized frame'],
    ['garbage garbage', 'garbage'],
    ['VVH1' . pack('N', 50) . '{"op":"bi', 'a truncated frame'],
    [frame({ op => 'bind', addresses => ['0000:04:00.0'], extra => 1 }), 'an unknown field'],
    [frame({ op => 'bind', addresses => [('0000:04:00.0') x 300] }), 'too many addresses'],
    [frame({ op => 'bind', addresses => ['0000:04:00.0'], remote => "x\ny" }),
     'a forged log line in remote'],
);
for my $f (@forged) {
    my $r = ask_as($nobody, $f->[0]);
    my $kind = eval { JSON::PP::decode_json($r)->{kind} } // 'no reply';
    ok t_cmp($kind ne '0' ? 1 : 0, 1, "refused: $f->[1] ($kind)");
}
# A well-formed bind with a made-up secret, naming a virtual host of its
# choice: refused before any policy is looked up, and logged with its pid.
my $forged = eval { JSON::PP::decode_json(ask_as($nobody, frame({ op => 'bind',
    addresses => ['0000:04:00.0'], server => 0, vhost => 12345,
    secret => '0' x 64 }))) } // {};
$log = do { local (@ARGV, $/) = 't/logs/error_log'; <> };
ok t_cmp([$forged->{kind}, scalar($log =~ /VFIO20021: helper: refused a request without the workers' secret from uid $nobody pid \d+/)],
         [16, 1], 'a wrong secret: refused, and logged with the peer\'s uid and pid');
# A frame that stalls: the helper gives up on it (after 5 s) and writes
# nothing.
my $slow = in_background(sub {
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) or return 'connect';
    my $f = frame({ op => 'bind', addresses => ['0000:04:00.0'], server => 0 });
    print $s substr($f, 0, 12);
    $s->flush;
    my $t0 = Time::HiRes::time();
    local $/;
    my $reply = <$s> // '';
    my $kind = eval { JSON::PP::decode_json(substr($reply, 8))->{kind} } // 'none';
    return (Time::HiRes::time() - $t0, $kind);
});
my ($waited, $kind) = finish($slow);
ok t_cmp([$waited > 4 && $waited < 9 * $slowdown ? 1 : 0, $kind ne '0' ? 1 : 0], [1, 1],
         sprintf('a stalled frame is refused after %.1f s', $waited));
my $writes = do { local (@ARGV, $/) = (mount() . '/sim/log'); <> } // '';
ok t_cmp($writes, '', 'not one sysfs write');

# A helper that cannot be reached: 503 JSON after the workers' short retry.
Apache::TestRequest::module('vv_bind');
unlink $path;
my $t0 = Time::HiRes::time();
my ($code, $b) = bind('0000:04:00.0');
my $took = Time::HiRes::time() - $t0;
ok t_cmp([$code, $b->{success}, $b->{message}],
         [503, JSON::PP::false, qr/^privileged helper unavailable/],
         'no helper socket: 503 in the failure shape');
ok t_cmp($took > 3 && $took < 10 * $slowdown ? 1 : 0, 1,
         sprintf('after retrying briefly (%.1f s)', $took));
ok t_cmp(driver_of('0000:04:00.0'), 'igb', 'nothing moved');

# Restarts replace the helper and keep the socket's mode and owner.
for my $sig (qw(USR1 HUP)) {
    my $before = helper_pid() // 0; # 0 at first: its socket was unlinked
    kill $sig, httpd_pid();
    my $after = wait_for(sub { my $p = eval { helper_pid() }; $p && $p != $before ? $p : 0 }, 20);
    ok t_cmp([$after ? 1 : 0, sock_owner_mode()], [1, $nobody, '0600'],
             "after a $sig restart: a new helper, the same socket mode and owner");
}
