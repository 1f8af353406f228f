# The Volant reference's three workflows, run as written (curl, the lines of
# t/lib/reference-workflows.txt with only http://localhost:8080 replaced)
# against a GPU server (mixed-host: the console on the BMC's VGA, the
# GPU at 0000:01:00.0 sharing its IOMMU group with its audio function), on
# a virtual host configured with one line: VolantVfioAllow 10de:*.  The default group policy (companions) is what makes the second
# workflow work: the audio function goes along and comes back with the GPU.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;
use VVWorkflows qw(workflows run_step);

plan tests => 38;

my @gpu = ('0000:01:00.0', '0000:01:00.1');
sim_load('mixed-host');
Apache::TestRequest::module('vv_reference');
my $base = 'http://' . Apache::TestRequest::hostport();
my @flows = workflows([['http://localhost:8080', $base]]);

ok t_cmp([map { $_->{title} } @flows],
         ['1. Discover and Validate GPU', '2. Bind GPU for Passthrough',
          '3. Clean Up After Use'], 'the three workflows of the reference');
ok t_cmp([map { scalar @{ $_->{steps} } } @flows], [3, 2, 1],
         'with their six curl commands');

# 1. Discover and validate.
my ($info, $groups, $validate) = map { run_step($_) } @{ $flows[0]{steps} };
ok t_cmp([$info->{status}, $info->{json}{address}, $info->{json}{driver}],
         [200, '0000:01:00.0', 'nvidia'], 'info: the GPU on its host driver');
ok t_cmp([$info->{json}{vendor}, $info->{json}{device}, $info->{json}{iommu_group}],
         ['10de', '2204', '2'], 'info: its IDs and group');
ok t_cmp($groups->{status}, 200, 'iommu-groups answers 200');
ok t_cmp([map { [$_->{id}, $_->{devices}] } @{ $groups->{json} // [] }],
         [['2', \@gpu]], 'iommu-groups: the GPU shares group 2 with its audio function');
ok t_cmp([$validate->{status}, $validate->{json}{valid}],
         [200, JSON::PP::true], 'validate: valid') or print "# $validate->{body}\n";
ok t_cmp($validate->{json}{message},
         'All devices are valid and available for passthrough', "validate: Volant's message");
ok t_cmp([map { driver_of($_) } @gpu], ['nvidia', 'snd_hda_intel'], 'nothing moved');

# 2. Bind the GPU by its own address; check with info.
my ($bind, $verify) = map { run_step($_) } @{ $flows[1]{steps} };
ok t_cmp($bind->{status}, 200, 'bind: 200') or print "# $bind->{body}\n";
ok t_cmp($bind->{json}{success}, JSON::PP::true, 'bind: success');
ok t_cmp($bind->{json}{message}, 'Devices successfully bound to vfio-pci driver',
         "bind: Volant's message");
ok t_cmp($bind->{json}{bound_devices}, \@gpu,
         'bind: bound_devices lists the GPU and the companion that went along');
ok t_cmp([map { [$_->{address}, $_->{previous_driver}, $_->{driver}] }
          @{ $bind->{json}{devices} // [] }],
         [['0000:01:00.0', 'nvidia', 'vfio-pci'],
          ['0000:01:00.1', 'snd_hda_intel', 'vfio-pci']], 'bind: what each had and has');
ok t_cmp([map { driver_of($_) } @gpu], ['vfio-pci', 'vfio-pci'],
         'the kernel (the simulator) has both on vfio-pci');
ok t_cmp(group_node(2), 1, '/dev/vfio/2 exists: the group is viable');
ok t_cmp($flows[1]{steps}[1]{expect}, '"driver": "vfio-pci"',
         "the reference's expectation is read from its comment");
my ($key, $want) = $flows[1]{steps}[1]{expect} =~ /^"(\w+)": "([^"]*)"$/;
ok t_cmp([$verify->{status}, $verify->{json}{$key}], [200, $want],
         'info shows what the reference says it should: ' . $flows[1]{steps}[1]{expect});
ok t_cmp(record_of('0000:01:00.1')->{companion_of}, '0000:01:00.0',
         'the audio function is recorded as the GPU\'s companion');

# 3. Unbind the GPU alone: both functions go back.
my ($unbind) = map { run_step($_) } @{ $flows[2]{steps} };
ok t_cmp($unbind->{status}, 200, 'unbind: 200') or print "# $unbind->{body}\n";
ok t_cmp($unbind->{json}{success}, JSON::PP::true, 'unbind: success');
ok t_cmp($unbind->{json}{message}, 'Devices successfully unbound from vfio-pci driver',
         "unbind: Volant's message");
ok t_cmp($unbind->{json}{unbound_devices}, \@gpu,
         'unbind: the companion is released with the GPU');
ok t_cmp([map { driver_of($_) } @gpu], ['nvidia', 'snd_hda_intel'],
         'both functions are back on their original drivers');
ok t_cmp([map { override_of($_) } @gpu], ['(null)', '(null)'], 'overrides cleared');
ok t_cmp([records()], [], 'no record left');
ok t_cmp(group_node(2), 0, '/dev/vfio/2 is gone');

# On a desktop whose only console runs on that GPU (gpu-host), the second
# workflow stops where the reference's troubleshooting says it does.
sim_load('gpu-host');
my ($refused) = map { run_step($_) } $flows[1]{steps}[0];
ok t_cmp($refused->{status}, 500, 'the boot GPU: bind refused (500, in use)');
ok t_cmp($refused->{json}{message}, qr/^device 0000:01:00\.0 is in use by host: it is the boot VGA device/,
         "in the reference's words, with the reason");
ok t_cmp([map { driver_of($_) } @gpu], ['nvidia', 'snd_hda_intel'], 'nothing moved');

# The same bind on a host where a member is outside the allowlist: refused
# before any write, naming the member and the directive.
sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_narrow');
my ($code, $b) = bind('0000:02:00.0');
ok t_cmp($code, 403, 'a companion outside the allowlist: 403');
ok t_cmp($b->{message}, qr/^device 0000:02:00\.1 \(10de:10f8\) shares IOMMU group 4 with 0000:02:00\.0 but is not in allowlist \(VolantVfioAllow\)$/,
         'the message names the member and the directive');
ok t_cmp([map { driver_of($_) } qw(0000:02:00.0 0000:02:00.1 0000:02:00.2 0000:02:00.3)],
         ['nvidia', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'], 'nothing moved');

# A companion the client did not name goes through the in-use guard too:
# a process mapping the audio function's BAR refuses the whole bind.
{
    my $top = Apache::Test::vars('top_dir');
    my $t = JSON::PP->new->decode(do { local (@ARGV, $/) = "$top/t/topologies/mixed-host.json"; <> });
    $_->{address} eq '0000:01:00.1' and $_->{mapped_by} = { pid => 4321, comm => 'audio-tool', resource => 'resource0' }
        for @{ $t->{devices} };
    my $file = "$top/t/tmp/companion-in-use.json";
    open my $fh, '>', $file or die "$file: $!";
    print $fh JSON::PP->new->encode($t);
    close $fh;
    sim('release all');
    sim("load $file");
    netns_mirror($file);
    unlink glob("$ENV{VV_TEST_STATE}/devices/*.json");
    sim('log clear');
}
Apache::TestRequest::module('vv_reference');
my ($busy) = map { run_step($_) } $flows[1]{steps}[0];
ok t_cmp($busy->{status}, 500, 'a companion in use by the host: the bind is refused (500)');
ok t_cmp($busy->{json}{message}, qr/^device 0000:01:00\.1 is in use by host: .*mapped by pid 4321 \(audio-tool\)/,
         'naming the companion and its user');
ok t_cmp([map { driver_of($_) } @gpu, sim_log()], ['nvidia', 'snd_hda_intel', ''],
         'nothing moved, not one sysfs write');
sim_load('mixed-host');

# And strict, for operators who want every member named.
Apache::TestRequest::module('vv_bind');
($code, $b) = bind('0000:01:00.0');
ok t_cmp([$code, $b->{message}], [403, qr/0000:01:00\.1 \(snd_hda_intel\)/],
         'VolantVfioGroupPolicy strict still refuses half a group');
ok t_cmp([map { driver_of($_) } @gpu], ['nvidia', 'snd_hda_intel'], 'and moves nothing');
