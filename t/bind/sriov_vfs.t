# A PF's VFs live only while its driver is bound: unbinding the PF's host
# driver (a bind of the PF) destroys them.  Refused for any number of live
# VFs, one included (only the two-VF case was tried before); a PF whose VFs
# are gone may be bound.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 8;

my $pf = '0000:0b:00.0';    # i40e, two VFs (0b:02.0, 0b:02.1) at start
Apache::TestRequest::module('vv_bind');

sub numvfs {
    my ($n) = @_;
    open my $fh, '>', VVSim::dev_path($pf) . '/sriov_numvfs' or die "sriov_numvfs: $!";
    syswrite($fh, "$n\n") or die "write $n to sriov_numvfs: $!";
    close $fh;
}

sim_load('mixed-host');
numvfs(0);
numvfs(1);
ok t_cmp(-e VVSim::dev_path('0000:0b:02.0') && !-e VVSim::dev_path('0000:0b:02.1') ? 1 : 0, 1,
         'the PF has exactly one VF now');
sim('log clear');
my ($code, $body) = bind($pf);
ok t_cmp([$code, $body->{error}],
         [500, "device $pf is in use by host: it is an SR-IOV physical function with 1 "
               . 'virtual function, which unbinding its driver would destroy'],
         'a PF with one live VF: refused, naming it');
ok t_cmp([driver_of($pf), sim_log()], ['i40e', ''], 'the PF stays on i40e, nothing written');
ok t_cmp(driver_of('0000:0b:02.0'), 'iavf', 'its VF lives on');

# Without VFs nothing is destroyed: the PF may go.
numvfs(0);
($code, $body) = bind($pf);
ok t_cmp($code, 200, 'a PF without VFs: bound');
ok t_cmp(driver_of($pf), 'vfio-pci', 'on vfio-pci');
($code) = unbind($pf);
ok t_cmp($code, 200, 'and released');
ok t_cmp(driver_of($pf), 'i40e', 'back on i40e');
