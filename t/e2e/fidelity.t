# The sysfs facts the module and its simulator rely on (KERNEL.md's table)
# hold on the real kernel: every scenario of t/fidelity runs inside the VM
# with vv-scenario against "/", step by step, and leaves the VM as it booted.
# Each run's output is kept in build/e2e/.work/fidelity/kernel/ (6.1; other
# kernels: kernel-SERIES/, build/e2e/run sets VV_E2E_FIDELITY_OUT) so that
# t/fidelity/compare can set it against the simulator's.
use strict;
use warnings;
use Test::More;
use File::Basename qw(basename);
use File::Path qw(make_path);
use lib 't/e2e/lib';
use VVE2E qw(guest boot_state_drift restore_boot_state require_vm);

require_vm();
my @scen = sort glob 't/fidelity/*.scen';
plan skip_all => 'no scenarios in t/fidelity' unless @scen;
my $out_dir = $ENV{VV_E2E_FIDELITY_OUT}
    // ($ENV{VV_E2E_WORK} // 'build/e2e/.work') . '/fidelity/kernel';
make_path($out_dir);

for my $file (@scen) {
    my $name = basename($file, '.scen');
    subtest $name => sub {
        my ($rc, $out, $err) = guest(
            "vv-scenario -T kernel -m /e2e/devices.map / /e2e/fidelity/$name.scen");
        open my $fh, '>', "$out_dir/$name.tap" or die "$out_dir/$name.tap: $!";
        print $fh $out;
        close $fh;
        if ($out =~ /^1\.\.0 # SKIP (.*)$/m) {
            plan skip_all => $1;
        }
        unlike($out, qr/^Bail out!/m, 'the scenario ran to its end') or diag $out, $err;
        for (split /\n/, $out) {
            next unless /^(not )?ok \d+ - (.*?) # got (.*)$/;
            ok(!$1, $2) or diag "kernel gave: $3";
        }
        is($rc, 0, 'vv-scenario exits 0') or diag $err;
        my @drift = boot_state_drift();
        ok(!@drift, 'the VM is back in its boot state') or diag join "\n", @drift;
        restore_boot_state() if @drift;
    };
}

done_testing();
