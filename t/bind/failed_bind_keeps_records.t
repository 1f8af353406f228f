# A failed bind never deletes another device's record: a group member whose
# release failed earlier (record "restore-failed", naming the driver it had)
# and that a later bind did not get to (not attempted) keeps that record, so
# its original driver is not forgotten.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 8;

my ($gpu, $audio) = ('0000:01:00.0', '0000:01:00.1');
sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_companions');

my ($code) = bind($gpu);
ok t_cmp($code, 200, 'the GPU binds, its audio function along');
# The audio function's driver refuses to come back.
sim("fault $audio probe errno EIO");
sim("fault $audio bind errno EIO");
($code) = unbind($gpu);
my $rec = record_of($audio);
ok t_cmp([$rec && $rec->{phase}, $rec && $rec->{original_driver},
          driver_of($audio)], ['restore-failed', 'snd_hda_intel', ''],
         'its release failed: driverless, the record keeps the original driver');

# A bind of both that fails on the GPU, first in line: the audio function
# is never attempted.
sim("fault $gpu override errno EIO");
my $b;
($code, $b) = bind($gpu, $audio);
ok t_cmp($code, 500, 'a bind that fails on the GPU');
my %out = map { $_->{address} => $_->{outcome} } @{ $b->{devices} // [] };
ok t_cmp($out{$audio}, 'not_attempted', 'the audio function was not attempted');
ok t_cmp(driver_of($gpu), 'nvidia', 'the GPU is back on nvidia');
$rec = record_of($audio);
ok t_cmp([$rec && $rec->{phase}, $rec && $rec->{original_driver}],
         ['restore-failed', 'snd_hda_intel'],
         'the audio function keeps its record as it was');

# Once its driver works again, releasing it brings it home.
sim('clear all');
($code) = unbind($audio);
ok t_cmp([$code, driver_of($audio)], [200, 'snd_hda_intel'],
         'an unbind finishes its release, to the driver the record kept');
ok t_cmp([records()], [], 'and no record is left');
