# GET /api/v1/vfio/records: the devices the module moved, read by the root
# helper from its private state directory: what each had, its phase, the
# device a companion came with, who asked; empty again once released.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 9;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind_companions');
my ($code, $list) = get_json(api('/records'));
ok t_cmp([$code, $list], [200, []], 'nothing moved: an empty list');

($code) = bind('0000:01:00.0');
ok t_cmp($code, 200, 'the GPU bound, its audio function along');
($code, $list) = get_json(api('/records'));
ok t_cmp($code, 200, 'GET /records answers 200');
ok t_cmp([map { [@{$_}{qw(address original_driver phase vendor device)}] } @$list],
         [['0000:01:00.0', 'nvidia', 'bound', '10de', '2204'],
          ['0000:01:00.1', 'snd_hda_intel', 'bound', '10de', '1aef']],
         'both, with the drivers they had, sorted by address');
ok t_cmp([map { $_->{companion_of} } @$list], [undef, '0000:01:00.0'],
         'the audio function came with the GPU');
ok t_cmp($list->[0]{remote}, '127.0.0.1', 'and who asked');
ok t_cmp($list, [map { record_of($_->{address}) } @$list],
         'exactly what the record files say');

unbind('0000:01:00.0');
($code, $list) = get_json(api('/records'));
ok t_cmp([$code, $list], [200, []], 'released: empty again');

Apache::TestRequest::module('vv_key');
($code) = get_json(api('/records'));
ok t_cmp($code, 401, 'behind the API key like every endpoint');
