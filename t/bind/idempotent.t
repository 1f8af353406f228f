# Binding what is bound, unbinding what is not ours, and unbinding twice:
# devices already on vfio-pci count as bound and are never recorded as
# ours; a device with no record is released to the kernel's own choice.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 14;

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');

my ($code, $b) = bind('0000:04:00.0');
ok t_cmp([$code, driver_of('0000:04:00.0')], [200, 'vfio-pci'], 'first bind');
my $first = record_of('0000:04:00.0');
($code, $b) = bind('0000:04:00.0');
ok t_cmp($code, 200, 'binding again succeeds');
ok t_cmp($b->{devices}[0]{outcome}, 'already_bound', 'as already bound');
ok t_cmp(record_of('0000:04:00.0')->{original_driver}, 'igb',
         'the record still names the original driver');
ok t_cmp(record_of('0000:04:00.0')->{time_usec}, $first->{time_usec},
         'and was not rewritten');

($code, $b) = bind('0000:05:00.0');
ok t_cmp([$code, $b->{devices}[0]{outcome}], [200, 'already_bound'],
         'a device on vfio-pci before us counts as bound');
ok t_cmp(record_of('0000:05:00.0'), undef, 'and is not recorded as ours');

($code, $b) = unbind('0000:04:00.0');
ok t_cmp([$code, driver_of('0000:04:00.0')], [200, 'igb'], 'unbind restores');
($code, $b) = unbind('0000:04:00.0');
ok t_cmp($code, 500, 'unbinding again is refused');
ok t_cmp($b->{message}, 'device 0000:04:00.0 not bound to vfio-pci', "Volant's message");
ok t_cmp($b->{success}, JSON::PP::false, 'in the failure shape');

($code, $b) = unbind('0000:05:00.0');
ok t_cmp($code, 200, 'a device with no record is released');
ok t_cmp($b->{devices}[0]{outcome}, 'unbound', 'reported as unbound, not restored');
ok t_cmp(driver_of('0000:05:00.0'), 'ixgbe',
         'the override cleared, the kernel probed its default driver');
