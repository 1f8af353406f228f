# The Volant reference's three workflows on a real kernel, run with curl
# from the lines of t/lib/reference-workflows.txt: the server's address,
# the GPU's address and its vendor pattern are replaced by the VM's
# two-function slot (virtio-net at 05.0 and 05.1, one IOMMU group), served
# by a virtual host configured with one line (VolantVfioAllow 1af4:1000)
# and the default group policy.  Binding 05.0 alone takes 05.1 along;
# unbinding 05.0 alone gives both back to virtio-pci.
use strict;
use warnings;
use Test::More;
use lib 't/e2e/lib', 't/lib';
use VVE2E qw(api devices guest_ok driver_of group_of boot_state_drift
    restore_boot_state require_module);
use VVWorkflows qw(workflows run_step);

require_module();
plan skip_all => 'VV_E2E_REF_BASE not set (run through build/e2e/run)'
    unless $ENV{VV_E2E_REF_BASE};

my $devs = devices();
my ($gpu, $fn1) = map { $devs->{$_}{address} } qw(VNET0 VNET1);
my ($vendor) = $devs->{VNET0}{id} =~ /^(\w{4}):/;
my $group = group_of($gpu);
my @flows = workflows([['http://localhost:8080', $ENV{VV_E2E_REF_BASE}],
                       ['0000:01:00.0', $gpu], ['10de:*', "$vendor:*"]]);
is(scalar(map { @{ $_->{steps} } } @flows), 6, 'six curl commands in three workflows');
is(driver_of($_), 'virtio-pci', "$_ starts on virtio-pci") for $gpu, $fn1;

# 1. Discover and validate.
my ($info, $groups, $validate) = map { run_step($_) } @{ $flows[0]{steps} };
is($info->{status}, 200, 'info: 200') or diag $info->{body};
is($info->{json}{driver}, 'virtio-pci', 'info: the driver the kernel shows');
is($info->{json}{iommu_group}, $group, 'info: its IOMMU group');
is($groups->{status}, 200, 'iommu-groups: 200') or diag $groups->{body};
is_deeply($groups->{json}[0]{devices}, [sort $gpu, $fn1],
    'iommu-groups: both functions share the group');
is($validate->{status}, 200, 'validate: 200');
ok($validate->{json}{valid}, 'validate: valid') or diag $validate->{body};

# 2. Bind by one address, then info.
my ($bind, $verify) = map { run_step($_) } @{ $flows[1]{steps} };
is($bind->{status}, 200, 'bind: 200') or diag $bind->{body};
ok($bind->{json}{success}, 'bind: success');
is_deeply($bind->{json}{bound_devices}, [$gpu, $fn1],
    'bind: the companion function went along');
is(driver_of($_), 'vfio-pci', "the kernel shows $_ on vfio-pci") for $gpu, $fn1;
ok(guest_ok("test -c /dev/vfio/$group && echo yes || echo no") =~ /yes/,
    "/dev/vfio/$group exists");
my ($key, $want) = ($flows[1]{steps}[1]{expect} // '') =~ /^"(\w+)": "([^"]*)"$/;
is($key, 'driver', "the reference's expectation names the driver");
is($verify->{json}{$key}, $want, "info shows $flows[1]{steps}[1]{expect}");

# 3. Unbind by the same address.
my ($unbind) = map { run_step($_) } @{ $flows[2]{steps} };
is($unbind->{status}, 200, 'unbind: 200') or diag $unbind->{body};
ok($unbind->{json}{success}, 'unbind: success');
is_deeply($unbind->{json}{unbound_devices}, [$gpu, $fn1], 'unbind: both released');
is(driver_of($_), 'virtio-pci', "$_ is back on virtio-pci") for $gpu, $fn1;
is(guest_ok("cat /sys/bus/pci/devices/$_/driver_override"), "(null)\n",
    "the override of $_ is cleared") for $gpu, $fn1;
ok(guest_ok("test -e /dev/vfio/$group && echo yes || echo no") =~ /no/,
    "/dev/vfio/$group is gone");

my @drift = boot_state_drift();
ok(!@drift, 'the VM is back in its boot state') or diag join "\n", @drift;
restore_boot_state() if @drift;
done_testing();
