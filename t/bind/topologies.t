# The happy path on every shipped topology: each device bind may take goes
# to vfio-pci with its group and comes back to its own driver.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

my %cases = (
    'gpu-host'   => [['0000:02:00.0']],
    'nic-host'   => [['0000:02:00.0'], ['0000:04:00.0'], ['0000:05:02.0'],
                     ['0000:05:02.1']],
    'mixed-host' => [['0000:01:00.0', '0000:01:00.1'], ['0000:04:00.0'],
                     ['0000:09:00.0'], ['0000:0b:02.0', '0000:0b:02.1']],
);
my $n = 0;
$n += @{$cases{$_}} for keys %cases;
plan tests => 3 * $n;

Apache::TestRequest::module('vv_bind_companions');
for my $topo (sort keys %cases) {
    sim_load($topo);
    for my $req (@{$cases{$topo}}) {
        my (undef, $g) = post_json(api('/devices/iommu-groups'), { pci_addresses => $req });
        my @members = map { @{$_->{members}} } @$g;
        my %before = map { $_->{address} => $_->{driver} } @members;
        my @endpoints = map { $_->{address} } grep { !$_->{is_bridge} } @members;
        my ($code, $b) = bind(@$req);
        ok t_cmp([$code, [map { driver_of($_) } @endpoints]],
                 [200, [('vfio-pci') x @endpoints]], "$topo: bind @$req");
        ($code) = unbind(@$req);
        ok t_cmp([$code, [map { driver_of($_) } @endpoints]],
                 [200, [map { $before{$_} } @endpoints]], "$topo: unbind @$req restores");
        ok t_cmp([records()], [], "$topo: @$req leaves no record");
    }
}
