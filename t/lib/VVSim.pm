package VVSim;
# The bind suite's view of the simulator it runs against (t/run-apache-test
# with VV_SIM=1 mounts it): control commands, state, and the kernel's
# answers read straight from the mount, as an operator would check them.
use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use Apache::TestRequest ();
use VVTest;

our @EXPORT = qw(sim sim_load sim_state driver_of override_of records
                 record_of wait_for bind unbind info group_node helper_pid
                 mount in_background finish descendants httpd_pid sim_log
                 netns_mirror netns_kind);

my $json = JSON::PP->new->utf8->canonical;

sub mount { return $ENV{VV_TEST_MOUNT} // die "VV_TEST_MOUNT is not set\n" }

# One command to sim/control; dies with the simulator's reason.
sub sim {
    my ($cmd) = @_;
    open my $fh, '>', mount() . '/sim/control' or die "control: $!";
    my $ok = syswrite($fh, $cmd);
    close $fh;
    return 1 if defined $ok;
    my $why = do { local (@ARGV, $/) = (mount() . '/sim/last_error'); <> } // '';
    die "sim '$cmd' failed: $why\n";
}

# A fresh host: the topology, no faults, no records from earlier tests, and
# the helper's network namespace rebuilt to match (rtnetlink, which the
# simulator cannot answer, must tell what its sysfs shows).
sub sim_load {
    my ($name) = @_;
    my $file = Apache::Test::vars('top_dir') . "/t/topologies/$name.json";
    sim('release all');
    sim("load $file");
    netns_mirror($file);
    unlink glob("$ENV{VV_TEST_STATE}/devices/*.json");
    sim('log clear');
}

# The namespace t/run-apache-test made for the whole run (VV_NETNS) gets
# the topology's interfaces; never the host's own.
sub netns_mirror {
    my ($file) = @_;
    die "VV_NETNS is not set: run the bind suite through t/run-apache-test\n"
        unless $ENV{VV_NETNS};
    my $tool = Apache::Test::vars('top_dir') . '/build/sysfs-sim/netns-mirror';
    my $out = `'$tool' '$file' 2>&1`;
    die "netns-mirror $file failed:\n$out" if $?;
    return $out;
}

# The kind of a link in the helper's namespace ('' for a device's own, a
# dummy or ifb stand-in: 'dummy', 'ifb'; 'bridge', 'bond', 'vlan', ...), or
# undef when it is not there (a kind this kernel lacks: netns-mirror left it
# out).
sub netns_kind {
    my ($name) = @_;
    my $out = `ip -j -d link show dev '$name' 2>/dev/null`;
    return undef if $? || !$out;
    my $l = $json->decode($out)->[0] // return undef;
    return $l->{linkinfo}{info_kind} // '';
}

# sim/log: every sysfs write since the last "log clear".
sub sim_log {
    return do { local (@ARGV, $/) = (mount() . '/sim/log'); <> } // '';
}

sub sim_state {
    my $text = do { local (@ARGV, $/) = (mount() . '/sim/state'); <> };
    return $json->decode($text);
}

sub dev_path { return mount() . "/sys/bus/pci/devices/$_[0]" }

sub driver_of {
    my $t = readlink(dev_path($_[0]) . '/driver');
    return defined $t ? $t =~ s{.*/}{}r : '';
}

sub override_of {
    open my $fh, '<', dev_path($_[0]) . '/driver_override' or return undef;
    chomp(my $v = <$fh> // '');
    return $v;
}

sub records {
    return sort map { s{.*/}{}r =~ s/\.json$//r }
        glob("$ENV{VV_TEST_STATE}/devices/*.json");
}

sub record_of {
    my ($addr) = @_;
    open my $fh, '<', "$ENV{VV_TEST_STATE}/devices/$addr.json" or return undef;
    local $/;
    return $json->decode(<$fh>);
}

sub group_node { return -e mount() . "/dev/vfio/$_[0]" ? 1 : 0 }

# Polls cond until it holds or timeout seconds pass; returns its last value.
sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $v;
    until (($v = $cond->()) || time > $deadline) {
        sleep 0.02;
    }
    return $v;
}

sub bind   { return post_json(api('/devices/bind'),   { pci_addresses => [@_] }) }
sub unbind { return post_json(api('/devices/unbind'), { pci_addresses => [@_] }) }
sub info   { return post_json(api('/devices/info'),   { pci_address => $_[0] }) }

# Runs code in a child; finish() returns what it returned (a list of plain
# scalars, joined by tabs through a pipe).
sub in_background {
    my ($code) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my @out = eval { $code->() };
        print $w join("\t", map { $_ // '' } @out);
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    return { pid => $pid, fh => $r };
}

sub finish {
    my ($bg) = @_;
    my $fh = $bg->{fh};
    my $out = do { local $/; <$fh> } // '';
    waitpid($bg->{pid}, 0);
    return split /\t/, $out, -1;
}

# Every process descended from pid, deepest first.
sub descendants {
    my ($pid) = @_;
    my %kids;
    for my $stat (glob('/proc/[0-9]*/stat')) {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($p, $pp) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @{$kids{$pp}}, $p;
    }
    my @out;
    my @todo = ($pid);
    while (@todo) {
        my $p = shift @todo;
        for my $k (@{$kids{$p} || []}) {
            push @out, $k;
            push @todo, $k;
        }
    }
    # In scalar context (!descendants(...)) how many: reverse would join
    # them into one string.
    return wantarray ? reverse @out : scalar @out;
}

sub httpd_pid {
    my $f = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $f or die "$f: $!";
    chomp(my $pid = <$fh>);
    return $pid;
}

sub helper_pid {
    my (undef, $host) = get_json(api('/host'));
    return $host->{helper}{running} ? $host->{helper}{pid} : undef;
}

1;
