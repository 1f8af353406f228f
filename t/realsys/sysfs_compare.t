# Against this host's real /sys, read-only: the first PCI device, and every
# one after it, described exactly as sysfs says.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok skip);
use Apache::TestUtil qw(t_cmp);
use VVTest;

my @addrs = sort map { s{.*/}{}r } glob('/sys/bus/pci/devices/*');
plan tests => 3 + 10 * @addrs;

sub attr {
    my ($addr, $name) = @_;
    open my $fh, '<', "/sys/bus/pci/devices/$addr/$name" or return undef;
    my $v = <$fh> // '';
    chomp $v;
    return $v;
}
sub hex4 { my $v = shift; return defined $v ? sprintf('%04x', hex $v) : undef }
sub link_base {
    my $t = readlink("/sys/bus/pci/devices/$_[0]/$_[1]");
    return defined $t ? $t =~ s{.*/}{}r : '';
}

ok t_cmp(scalar(@addrs) > 0 ? 1 : 0, 1, 'this host has PCI devices');

for my $addr (@addrs) {
    my ($code, $b) = post_json(api('/devices/info'), { pci_address => $addr });
    ok t_cmp($code, 200, "$addr: described");
    ok t_cmp($b->{address}, $addr, "$addr: address");
    ok t_cmp($b->{vendor}, hex4(attr($addr, 'vendor')), "$addr: vendor");
    ok t_cmp($b->{device}, hex4(attr($addr, 'device')), "$addr: device");
    ok t_cmp($b->{class}, substr(sprintf('%06x', hex attr($addr, 'class')), 0, 4),
             "$addr: class");
    ok t_cmp($b->{driver}, link_base($addr, 'driver'), "$addr: driver");
    ok t_cmp($b->{iommu_group}, link_base($addr, 'iommu_group'), "$addr: group");
    ok t_cmp($b->{numa_node}, attr($addr, 'numa_node') // '-1', "$addr: numa_node");
    ok t_cmp($b->{subsystem_vendor}, hex4(attr($addr, 'subsystem_vendor')),
             "$addr: subsystem vendor");
    ok t_cmp($b->{subsystem_device}, hex4(attr($addr, 'subsystem_device')),
             "$addr: subsystem device");
}

my ($code, $list) = get_json(api('/devices'));
ok t_cmp([map { $_->{address} } @$list], \@addrs,
         'GET /devices lists what /sys/bus/pci/devices has');
my @groups = glob('/sys/kernel/iommu_groups/*');
my (undef, $host) = get_json(api('/host'));
ok t_cmp($host->{iommu_group_count}, scalar @groups, 'the host report counts groups');
