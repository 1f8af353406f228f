# --static writes the initial state as plain files: every entry, link
# target, mode and content matches what root reads through the mount (files
# that cannot be read through FUSE, like write-only control files, are
# written empty). The readiness fixtures of t/sim/topologies add what the
# shipped hosts leave at their defaults (IVRS, AMD units, links, ROMs).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;

my $A = 'sys/bus/pci/devices';
my @readiness = qw(sys/firmware/acpi/tables sys/class/iommu proc/interrupts proc/cmdline);
my %hosts = (
    'mixed-host' => [@readiness, qw(sys/firmware/acpi/tables/DMAR sys/class/iommu/dmar0/intel-iommu/ecap dev/kvm
        sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts sys/class/misc/kvm/dev),
        "$A/0000:01:00.0/reset_method", "$A/0000:0b:00.0/sriov_numvfs"],
    'nic-host' => [@readiness],
    'noiommu-host' => [@readiness, 'sys/firmware/acpi/tables/DMAR'],
    'inuse-host' => [@readiness],
    "$FindBin::Bin/topologies/readiness-intel.json" => [@readiness,
        qw(sys/class/iommu/dmar1/intel-iommu/cap sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts),
        map({ "$A/0000:01:00.0/$_" } qw(rom reset_method current_link_speed current_link_width max_link_speed
            max_link_width)), "$A/0000:03:02.0/current_link_speed", "$A/0000:03:00.0/sriov_totalvfs"],
    "$FindBin::Bin/topologies/readiness-amd.json" => [@readiness,
        qw(sys/firmware/acpi/tables/IVRS sys/class/iommu/ivhd0/amd-iommu/features dev/kvm),
        "$A/0000:01:00.0/reset_method", "$A/0000:02:00.0/max_link_width"],
);

for my $topology (sort keys %hosts) {
    my $file = $topology =~ m{/} ? $topology : "$TOP/t/topologies/$topology.json";
    subtest $topology =~ s{.*/}{}r => sub {
        my $dir = tempdir(CLEANUP => 1) . '/tree';
        is(system($SIM, '--static', $dir, '--topology', $file), 0, '--static exits 0');
        isnt(system("$SIM --static $dir --topology $file 2>/dev/null"), 0,
            'refuses to write over an existing tree');
        sim_start($topology);
        my ($n, @diff) = (0);
        my %seen;
        compare("$M/$_", "$dir/$_", \$n, \@diff, \%seen) for qw(sys dev proc);
        ok(!-e "$dir/sim", 'no sim/ in the static tree');
        cmp_ok($n, '>', $topology =~ m{/} ? 150 : 500, "compared $n entries");
        is_deeply(\@diff, [], 'no differences') or diag join("\n", @diff[0 .. ($#diff > 20 ? 20 : $#diff)]);
        # each named file, where the links lead (compare() does not follow them)
        my @missed = grep { !$seen{abs_path("$M/$_") // "$M/$_"} } @{$hosts{$topology}};
        is_deeply(\@missed, [], 'the readiness files were among them');
    };
}

sub compare {
    my ($f, $s, $n, $diff, $seen) = @_;
    $$n++;
    $seen->{abs_path($f) // $f} = 1 unless -l $f;
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
        compare("$f/$_", "$s/$_", $n, $diff, $seen) for @kids;
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
