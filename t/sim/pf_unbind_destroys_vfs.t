# Unbinding a PF's driver destroys its VFs: devices, links, group entries
# and hints vanish, sriov_numvfs reads 0. sriov_numvfs writes follow
# sriov_numvfs_store().
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Test::More;

sim_start('mixed-host');
my $PF = '0000:0b:00.0';
my @VF = ('0000:0b:02.0', '0000:0b:02.1');

subtest 'initial SR-IOV state' => sub {
    is(rd(dev_path($PF) . '/sriov_totalvfs'), "32\n");
    is(rd(dev_path($PF) . '/sriov_numvfs'), "2\n");
    is(rl(dev_path($PF) . '/virtfn0'), '../0000:0b:02.0', 'virtfn0');
    is(rl(dev_path($PF) . '/virtfn1'), '../0000:0b:02.1', 'virtfn1');
    is(rl(dev_path($VF[0]) . '/physfn'), '../0000:0b:00.0', 'physfn');
    ok(-e "$M/sys/class/net/enp11s2", 'VF interface');
    is(w(dev_path($PF) . '/sriov_numvfs', '4'), 'EBUSY', 'VFs already enabled');
    is(w(dev_path($PF) . '/sriov_numvfs', '33'), 'ERANGE', 'above sriov_totalvfs');
    is(w(dev_path($PF) . '/sriov_numvfs', 'x'), 'EINVAL');
    is(w(dev_path($PF) . '/sriov_numvfs', "2\n"), 'ok', 'same count: no-op');
};

subtest 'PF unbind destroys the VFs' => sub {
    is(w(dev_path($PF) . '/driver/unbind', $PF), 'ok');
    for my $vf (@VF) {
        ok(!-e "$M/" . dev_path($vf), "$vf gone from bus/pci/devices");
        ok(!-e "$M/sys/devices/pci0000:00/0000:00:1d.3/$vf", 'and from the device tree');
        ok(!-e "$M/sys/bus/pci/drivers/iavf/$vf", 'and from its driver');
    }
    ok(!-e "$M/sys/kernel/iommu_groups/21", 'their groups are gone');
    ok(!-e "$M/sys/class/net/enp11s2", 'their interfaces are gone');
    ok(!-e "$M/" . dev_path($PF) . '/virtfn0', 'no virtfn links');
    is(rd(dev_path($PF) . '/sriov_numvfs'), "0\n");
    is(w('sys/bus/pci/drivers_probe', $VF[0]), 'ENODEV', 'a VF address is unknown now');
    is(w(dev_path($PF) . '/sriov_numvfs', '2'), 'ENOENT', 'no PF driver: cannot enable');
};

subtest 'VFs come back with sriov_numvfs on the rebound PF' => sub {
    is(w('sys/bus/pci/drivers_probe', $PF), 'ok');
    is(driver_of($PF), 'i40e');
    is(w(dev_path($PF) . '/sriov_numvfs', '2'), 'ok');
    is(driver_of($_), 'iavf', "$_ autoprobed to iavf") for @VF;
    ok(-e "$M/sys/kernel/iommu_groups/21/devices/$VF[0]", 'group entry back');
    is(w(dev_path($PF) . '/sriov_numvfs', '0'), 'ok', 'disable');
    ok(!-e "$M/" . dev_path($VF[0]), 'gone again');
    is(w(dev_path($PF) . '/sriov_numvfs', '3'), 'ERANGE',
        'only the VFs the topology lists can be created');
};

subtest 'a VF held on vfio-pci blocks the PF unbind until released' => sub {
    is(w(dev_path($PF) . '/sriov_numvfs', '1'), 'ok');
    w(dev_path($VF[0]) . '/driver_override', 'vfio-pci');
    w(dev_path($VF[0]) . '/driver/unbind', $VF[0]);
    is(w('sys/bus/pci/drivers/vfio-pci/bind', $VF[0]), 'ok');
    is(ctl('hold 21'), 'ok');
    my $bg = bg_write(dev_path($PF) . '/driver/unbind', $PF);
    ok(wait_until(sub { driver_of($PF) eq '' }), 'PF driver link gone');
    is(bg_result($bg, 0.3), undef, 'the PF unbind waits for the VF');
    is(ctl('release 21'), 'ok');
    is(bg_result($bg), 'ok');
    ok(!-e "$M/" . dev_path($VF[0]), 'VF destroyed');
    ok(!-e "$M/dev/vfio/21", 'its group node too');
};

done_testing();
