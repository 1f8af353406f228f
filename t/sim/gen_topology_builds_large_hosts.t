# gen-topology prints valid topologies of thousands of functions with a
# realistic mix, deterministic for a seed; the simulator mounts them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use Test::More;

my $gen = "$TOP/build/sysfs-sim/gen-topology";
my $dir = tempdir(CLEANUP => 1);

sub generate {
    my ($file, @args) = @_;
    system("'$gen' @args > '$dir/$file'") == 0 or die "gen-topology @args failed";
    open my $fh, '<', "$dir/$file" or die $!;
    return decode_json(do { local $/; <$fh> });
}

my $t = generate('big.json', '--functions', 4096);
is(scalar @{$t->{devices}}, 4096, '4096 functions');
my %drivers;
$drivers{$_->{driver} // 'none'}++ for @{$t->{devices}};
cmp_ok($drivers{$_} // 0, '>', 50, "many on $_") for qw(nvidia snd_hda_intel igb nvme i40e iavf pcieport);
my %domains = map { (split /:/, $_->{address})[0] => 1 } @{$t->{devices}};
cmp_ok(scalar keys %domains, '>=', 5, 'spread over several domains');
is(system("'$SIM' --check '$dir/big.json' >/dev/null"), 0, '--check accepts it');

my $again = generate('again.json', '--functions', 4096);
is_deeply($again, $t, 'same seed, same host');

sim_start("$dir/big.json");
opendir my $dh, "$M/sys/bus/pci/devices" or die $!;
is(scalar(grep { !/^\./ } readdir $dh), 4096, 'all of them are on the mounted bus');
is(driver_of('0000:01:00.0') ne '', 1, 'the first card is bound');
like(rd('proc/net/route'), qr/^eno1\t00000000/m, 'the first NIC carries the default route');

my $flat = generate('flat.json', '--functions', 300, '--groups', 'function');
my %g = map { ($_->{iommu_group} // -1) => 1 } @{$flat->{devices}};
is(scalar keys %g, 300, '--groups function: one group per function');
my $none = generate('none.json', '--functions', 300, '--groups', 'none');
ok(!$none->{iommu} && !grep({ exists $_->{iommu_group} } @{$none->{devices}}), '--groups none: no IOMMU');
is(system("'$SIM' --check '$dir/none.json' >/dev/null"), 0, 'valid too');
isnt(system("'$gen' --functions 10 --groups bogus 2>/dev/null >/dev/null"), 0, 'bad options fail');

done_testing();
