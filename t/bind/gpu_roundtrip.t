# The seed example: bind a GPU (with its audio function, its IOMMU group),
# see vfio-pci in info and a group node a hypervisor can open, unbind, and
# find the original drivers back.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 22;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my @gpu = ('0000:01:00.0', '0000:01:00.1');

my ($code, $b) = bind(@gpu);
ok t_cmp($code, 200, 'bind answers 200');
ok t_cmp($b->{success}, JSON::PP::true, 'success');
ok t_cmp($b->{message}, 'Devices successfully bound to vfio-pci driver',
         "Volant's message");
ok t_cmp($b->{bound_devices}, \@gpu, 'both functions bound');
ok t_cmp([map { [$_->{address}, $_->{previous_driver}, $_->{driver}, $_->{outcome}] }
          @{$b->{devices}}],
         [['0000:01:00.0', 'nvidia', 'vfio-pci', 'bound'],
          ['0000:01:00.1', 'snd_hda_intel', 'vfio-pci', 'bound']],
         'what happened to each');
ok t_cmp($b->{devices}[0]{group_path}, mount() . '/dev/vfio/2', 'its group node');

ok t_cmp([map { driver_of($_) } @gpu], ['vfio-pci', 'vfio-pci'],
         'the kernel says vfio-pci');
ok t_cmp(override_of('0000:01:00.0'), 'vfio-pci', 'the override stays while assigned');
my (undef, $i) = info('0000:01:00.0');
ok t_cmp($i->{driver}, 'vfio-pci', 'info agrees');
ok t_cmp(group_node(2), 1, '/dev/vfio/2 exists');
my (undef, $paths) = post_json(api('/devices/group-paths'), { pci_addresses => \@gpu });
ok t_cmp($paths->{group_paths}, [mount() . '/dev/vfio/2'], 'group-paths hands it out');

my $rec = record_of('0000:01:00.0');
ok t_cmp([@{$rec}{qw(original_driver original_driver_override phase vendor device)}],
         ['nvidia', undef, 'bound', '10de', '2204'], 'a durable record of what it had');
ok t_cmp($rec->{remote}, '127.0.0.1', 'and who asked');

($code, $b) = unbind(@gpu);
ok t_cmp($code, 200, 'unbind answers 200');
ok t_cmp($b->{message}, 'Devices successfully unbound from vfio-pci driver',
         "Volant's message");
ok t_cmp($b->{unbound_devices}, \@gpu, 'both released');
ok t_cmp([map { $_->{outcome} } @{$b->{devices}}], ['restored', 'restored'],
         'both restored from their records');
ok t_cmp([map { driver_of($_) } @gpu], ['nvidia', 'snd_hda_intel'],
         'the original drivers are back');
ok t_cmp([map { override_of($_) } @gpu], ['(null)', '(null)'], 'overrides cleared');
ok t_cmp([records()], [], 'no record left');
ok t_cmp(group_node(2), 0, '/dev/vfio/2 is gone with the last member');

my $log = do { local (@ARGV, $/) = 't/logs/error_log'; <> };
ok t_cmp($log, qr/VFIO10610: bind from 127\.0\.0\.1: 0000:01:00\.0 nvidia -> vfio-pci \(bound\), 0000:01:00\.1 snd_hda_intel -> vfio-pci \(bound\): ok/,
         'the audit line says who moved what');
