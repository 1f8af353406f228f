# netns-mirror builds, in a network namespace of the test's own, the
# interfaces the simulator's sysfs shows: rtnetlink (what the module reads)
# and sysfs then agree on names, ifindexes, MACs, MTUs, up/down, masters
# and uppers, and the namespace carries the topology's addresses and routes
# (any table). Links of a kind this kernel lacks are left out, and said so;
# "netns": false ones on purpose. It refuses to run outside such a
# namespace.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

BEGIN {
    # The whole test runs in a namespace in-netns makes: never the host's.
    my $here = readlink('/proc/self/ns/net') // '';
    if (($ENV{VV_NETNS} // '') ne $here) {
        exec("$FindBin::Bin/../../build/sysfs-sim/in-netns", $^X, $0, @ARGV)
            or die "in-netns: $!";
    }
}

use SimTest;
use File::Basename qw(basename);
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use Test::More;

my $MIRROR = "$TOP/build/sysfs-sim/netns-mirror";

sub mirror {
    my ($file) = @_;
    my $out = `'$MIRROR' '$file' 2>&1`;
    return ($? >> 8, $out);
}

sub ip_json {
    my $out = `ip -j @_`;
    die "ip -j @_ failed\n" if $?;
    return decode_json($out || '[]');
}

sub hints {
    my ($topo) = @_;
    open my $fh, '<', topo($topo) or die $!;
    my $t = decode_json(do { local $/; <$fh> });
    my %h;
    for my $list ((map { $_->{net} || [] } @{$t->{devices}}), $t->{virtual_net} || []) {
        for my $i (@$list) {
            $h{$i->{name}} = $i;
            $h{$_->{name}} = $_ for @{$i->{uppers} || []};
        }
    }
    return \%h;
}

sub check_topology {
    my ($name) = @_;
    sim_start($name);
    my ($rc, $out) = mirror(topo($name));
    is($rc, 0, "$name: mirrored") or diag $out;
    my %links = map { $_->{ifname} => $_ } @{ip_json('-d', 'link', 'show')};
    my %hint = %{hints($name)};
    my %addrs = map { $_->{ifname} => $_->{addr_info} } @{ip_json('addr', 'show')};
    my @routes = (@{ip_json('-4', 'route', 'show', 'table', 'all')},
                  @{ip_json('-6', 'route', 'show', 'table', 'all')});

    opendir my $dh, "$M/sys/class/net" or die $!;
    my @names = sort grep { !/^\./ && $_ ne 'lo' } readdir $dh;
    is_deeply([sort keys %hint], \@names, "$name: sysfs lists every hinted interface");
    for my $if (@names) {
        my $h = $hint{$if};
        my $l = $links{$if};
        if (!($h->{netns} // 1)) {
            ok(!$l, "$if: \"netns\": false, not in the namespace");
            next;
        }
        if (!$l) {
            like($out, qr/\Q$if\E: left out: (this kernel has no \w+ links|Open vSwitch)|\Q$if\E: left out: its lower/,
                 "$if: missing only where the kernel cannot make it, and said so");
            next;
        }
        my $sys = "sys/class/net/$if";
        if ($out =~ /\Q$if\E: ifindex \d+ is taken/) {
            pass("$if: ifindex taken by a link the kernel would not delete (said so)");
        } else {
            is($l->{ifindex}, 0 + rd("$sys/ifindex"), "$if: ifindex");
        }
        is("$l->{address}\n", rd("$sys/address"), "$if: MAC");
        is("$l->{mtu}\n", rd("$sys/mtu"), "$if: MTU");
        is((grep { $_ eq 'UP' } @{$l->{flags}}) ? 1 : 0, hex(rd("$sys/flags") =~ s/\s+$//r) & 1, "$if: up or down");
        my $master = rl("$sys/master");
        if ($master && $links{basename($master)}) {
            is($l->{master}, basename($master), "$if: master");
        } elsif (!$master) {
            ok(!$l->{master}, "$if: no master");
        }
        my @uppers = sort map { s/^upper_//r } grep { /^upper_/ }
            map { basename($_) } glob("$M/$sys/upper_*");
        @uppers = grep { !$master || $_ ne basename($master) } @uppers;
        my @nl_uppers = sort map { $_->{ifname} } grep { ($_->{link} // '') eq $if } values %links;
        is_deeply(\@nl_uppers, [grep { $links{$_} } @uppers], "$if: uppers");
        my @want = sort map { (split ' ')[0] } @{$h->{addresses} || []};
        my @have = sort map { "$_->{local}/$_->{prefixlen}" }
            grep { $_->{family} eq 'inet' || ($_->{scope} // '') ne 'link' || grep { m{^fe80} } @want }
            @{$addrs{$if} || []};
        is_deeply(\@have, \@want, "$if: addresses");
        for my $a (grep { / noprefixroute$/ } @{$h->{addresses} || []}) {
            my ($ip) = split m{/}, $a;
            my ($ai) = grep { $_->{local} eq $ip } @{$addrs{$if} || []};
            ok($ai && $ai->{noprefixroute}, "$if: $a");
        }
        for my $r ($h->{up} ? @{$h->{routes} || []} : ()) {
            my ($dst, $via, $table) = $r =~ m{^(\S+)(?: via (\S+))?(?: table (\d+))?$};
            $dst = 'default' if $dst =~ m{^(0\.0\.0\.0|::)/0$};
            my @hit = grep {
                $_->{dev} eq $if && $_->{dst} eq ($dst =~ m{/(32|128)$} ? $dst =~ s{/\d+$}{}r : $dst)
                && ($_->{gateway} // '') eq ($via // '') && ($_->{table} // 'main') eq ($table // 'main')
            } @routes;
            ok(scalar @hit, "$if: route $r");
        }
        ok(!(grep { $_->{dev} eq $if && ($_->{table} // 'main') ne 'local'
                    && $_->{dst} !~ /^(fe80::|ff00::)/ } @routes), "$if: down, no routes")
            unless $h->{up};
    }
}

check_topology($_) for qw(mixed-host inuse-host nic-host gpu-host);

subtest 'the next topology replaces the last' => sub {
    sim_start('inuse-host');
    is((mirror(topo('inuse-host')))[0], 0);
    ok(ip_json('link', 'show', 'dev', 'vmbr0'), 'vmbr0 is there');
    my ($rc, $out) = mirror(topo('mixed-host'));
    is($rc, 0);
    # fallback tunnels (tunl0, sit0, ...) some kernels put in every namespace stay
    my %kept = map { $_ => 1 } $out =~ /(\S+) cannot be deleted/g;
    my @names = sort grep { !$kept{$_} } map { $_->{ifname} } @{ip_json('link', 'show')};
    is_deeply(\@names, [sort qw(lo eno1 eno2 enp11s0f0 enp11s2 enp11s2f1 ens5)],
        'only mixed-host\'s interfaces and lo');
};

subtest 'refusals' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $out = `env -u VV_NETNS '$MIRROR' '@{[topo('mixed-host')]}' 2>&1`;
    is($? >> 8, 2, 'without VV_NETNS: exit 2');
    like($out, qr/not in a namespace made by in-netns/);
    $out = `env VV_NETNS='net:[1]' '$MIRROR' '@{[topo('mixed-host')]}' 2>&1`;
    is($? >> 8, 2, 'VV_NETNS naming another namespace: exit 2');
    like($out, qr/is not this namespace/);
    open my $fh, '>', "$dir/bad.json" or die $!;
    print $fh encode_json({name => 'x', devices => [], virtual_net => [{name => 'br0', kind => 'brdge'}]});
    close $fh;
    $out = `'$MIRROR' '$dir/bad.json' 2>&1`;
    is($? >> 8, 2, 'a topology the simulator rejects: exit 2');
    like($out, qr/topology rejected: .*bad "kind"/);
    ok(ip_json('link', 'show', 'dev', 'eno1'), 'and nothing was touched');
};

done_testing();
