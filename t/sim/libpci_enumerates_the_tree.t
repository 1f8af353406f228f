# libpci (the module's device info source) enumerates both the FUSE mount
# and the --static tree without an error or warning, with the right ids,
# classes, NUMA nodes, groups and drivers. Skipped without libpci-dev.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use Test::More;

my $dir = tempdir(CLEANUP => 1);
my $scan = "$dir/libpci-scan";
plan skip_all => 'libpci-dev is not installed (apt-get install libpci-dev)'
    unless system("cc -o '$scan' '$FindBin::Bin/libpci-scan.c' -lpci 2>/dev/null") == 0;

sub scan {
    my ($root) = @_;
    my $out = `'$scan' '$root/sys/bus/pci' 2>&1`;
    is($?, 0, "libpci scans $root without error or warning") or diag $out;
    return {map { my @f = split; ($f[0] => "@f[1..$#f]") } split /\n/, $out};
}

sim_start('mixed-host');
my $fuse = scan($M);
is(scalar keys %$fuse, 34, 'all 34 devices');
is($fuse->{'0000:00:07.0'}, '1af4:1041 0200 -1 26 virtio-pci 00', 'virtio NIC');
is($fuse->{'0000:01:00.0'}, '10de:2204 0300 0 2 nvidia 80', 'GPU: ids, class, node, group, driver, header');
is($fuse->{'0000:00:14.2'}, '8086:a1b1 1180 -1 23 - 00', 'driverless, unknown node');
is($fuse->{'10000:e0:00.0'}, '8086:f1a8 0108 -1 - nvme 00', 'VMD domain, no group');
is($fuse->{'0000:00:1c.5'}, '8086:a195 0604 -1 11 pcieport 81', 'root port, multifunction slot');
is($fuse->{'0000:05:00.0'}, '8086:10fb 0200 0 10 vfio-pci 00', 'on vfio-pci');

w(dev_path('0000:01:00.0') . '/driver/unbind', '0000:01:00.0');
is(scan($M)->{'0000:01:00.0'}, '10de:2204 0300 0 2 - 80', 'sees a driver go');

my $tree = tempdir(CLEANUP => 1) . '/tree';
system($SIM, '--static', $tree, '--topology', "$TOP/t/topologies/mixed-host.json") == 0 or die;
is_deeply(scan($tree), $fuse, 'the static tree gives the same answers');

done_testing();
