# --static writes the initial state as plain files: every entry, link
# target, mode and content matches what root reads through the mount (files
# that cannot be read through FUSE, like write-only control files, are
# written empty).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use Test::More;

for my $topology (qw(mixed-host nic-host noiommu-host inuse-host)) {
    subtest $topology => sub {
        my $dir = tempdir(CLEANUP => 1) . '/tree';
        is(system($SIM, '--static', $dir, '--topology', "$TOP/t/topologies/$topology.json"), 0,
            '--static exits 0');
        isnt(system("$SIM --static $dir --topology $TOP/t/topologies/$topology.json 2>/dev/null"), 0,
            'refuses to write over an existing tree');
        sim_start($topology);
        my ($n, @diff) = (0);
        compare("$M/$_", "$dir/$_", \$n, \@diff) for qw(sys dev proc);
        ok(!-e "$dir/sim", 'no sim/ in the static tree');
        cmp_ok($n, '>', 500, "compared $n entries");
        is_deeply(\@diff, [], 'no differences') or diag join("\n", @diff[0 .. ($#diff > 20 ? 20 : $#diff)]);
    };
}

sub compare {
    my ($f, $s, $n, $diff) = @_;
    $$n++;
    my @lf = lstat $f;
    my @ls = lstat $s;
    return push @$diff, "missing in static: $s" unless @ls;
    if (-l $f) {
        my ($a, $b) = (readlink $f, readlink $s);
        push @$diff, "link $s: $b ne $a" unless -l $s && $a eq $b;
        return;
    }
    push @$diff, sprintf('mode %s: %o ne %o', $s, $ls[2], $lf[2]) unless $ls[2] == $lf[2];
    if (-d $f) {
        opendir my $dh, $f or return push @$diff, "opendir $f: $!";
        my @kids = sort grep { !/^\.\.?$/ } readdir $dh;
        opendir my $sh, $s or return push @$diff, "opendir $s: $!";
        my @skids = sort grep { !/^\.\.?$/ } readdir $sh;
        push @$diff, "entries of $s differ" unless "@kids" eq "@skids";
        compare("$f/$_", "$s/$_", $n, $diff) for @kids;
        return;
    }
    my $fc = slurp($f);
    my $sc = slurp($s);
    push @$diff, "content of $s differs" unless ($fc // '') eq $sc;
}

sub slurp {
    open my $fh, '<:raw', $_[0] or return undef;
    local $/;
    my $c = <$fh>;
    return defined $c ? $c : undef;
}

done_testing();
