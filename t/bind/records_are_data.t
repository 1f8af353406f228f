# Records are data, not instructions: a record whose driver names are not
# driver names (a path) is damaged and refused with nothing written; a
# record written for other hardware than the device now at its address is
# kept, logged and not acted on; the records' directory must be the
# helper's alone.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use JSON::PP ();
use VVTest;
use VVSim;

plan tests => 13;

my $dev = '0000:04:00.0';    # igb, allowed
my $file = "$ENV{VV_TEST_STATE}/devices/$dev.json";
my $json = JSON::PP->new->canonical;
sub edit {
    my ($change) = @_;
    open my $fh, '<', $file or die "$file: $!";
    my $r = $json->decode(do { local $/; <$fh> });
    close $fh;
    $change->($r);
    open $fh, '>', $file or die $!;
    print $fh $json->encode($r);
    close $fh;
}

Apache::TestRequest::module('vv_bind');
for my $case (['original_driver', '../../../../devices/pci0000:00'],
              ['original_driver_override', 'igb/../../x'],
              ['original_driver', '..']) {
    my ($field, $value) = @$case;
    sim_load('mixed-host');
    bind($dev);
    edit(sub { $_[0]{$field} = $value });
    sim('log clear');
    my ($code, $b) = unbind($dev);
    ok t_cmp([$code, $b->{message}], [500, qr/record .*\Q$dev\E\.json is damaged/],
             "$field \"$value\": the record is damaged");
    ok t_cmp([driver_of($dev), sim_log()], ['vfio-pci', ''],
             'the device stays on vfio-pci, nothing written');
}

# Another card in the slot since the record was written.
sim_load('mixed-host');
bind($dev);
edit(sub { @{ $_[0] }{qw(vendor device original_driver)} = ('10de', '2204', 'nvidia') });
my $log_at = -s 't/logs/error_log';
my ($code, $b) = unbind($dev);
ok t_cmp($code, 200, 'a record for other hardware: the device is released as one without a record');
ok t_cmp(driver_of($dev), 'igb', 'to the driver the kernel picks, not the record\'s nvidia');
ok t_cmp(-e $file ? 1 : 0, 1, 'the record is kept');
my $log = do { open my $l, '<', 't/logs/error_log'; seek $l, $log_at, 0; local $/; <$l> };
ok t_cmp($log, qr/VFIO10626: record of \Q$dev\E kept and not acted on: it was written for 10de:2204 15d9:1533, the device there is 8086:1533 15d9:1533/,
         'and the error log says why');
($code, $b) = bind($dev);
ok t_cmp([$code, $b->{message}], [409, qr/has a record written for another device \(10de:2204\)/],
         'a bind of it is refused while that record is there');
unlink $file;

# The records' directory must be the helper's alone.
chmod 0777, "$ENV{VV_TEST_STATE}/devices";
($code, $b) = bind($dev);
ok t_cmp([$code, $b->{message}], [500, qr{devices is owned by uid 0 with mode 0777; .*chmod go-w}],
         'a records directory others can write: refused, saying how to fix it');
chmod 0700, "$ENV{VV_TEST_STATE}/devices";
($code) = bind($dev);
ok t_cmp($code, 200, 'fixed, bind works again');
unbind($dev);
