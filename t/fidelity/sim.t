# The simulator agrees with the kernel: every t/fidelity scenario, whose
# expectations were measured on the real kernel (t/e2e/fidelity.t checks them
# there on every e2e run), gives the same result step by step on a sysfs-sim
# mount of t/fidelity/e2e-vm.json, the simulator's copy of the e2e VM.
# Each scenario gets a fresh mount. Outputs go to
# build/e2e/.work/fidelity/sim/ for t/fidelity/compare.
use strict;
use warnings;
use Test::More;
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $top = dirname(dirname(dirname(__FILE__)));
$top = '.' if $top eq '';
my $sim = "$top/build/sysfs-sim/sysfs-sim";
my $topology = "$top/t/fidelity/e2e-vm.json";
my $map = "$top/build/e2e/devices.map";
my $work = "$top/build/e2e/.work";

plan skip_all => "the simulator is not built ($sim)" unless -x $sim;
plan skip_all => 'needs /dev/fuse' unless -c '/dev/fuse';
my @scen = sort glob "$top/t/fidelity/*.scen";
plan skip_all => 'no scenarios' unless @scen;

# Build the runner for this host (the VM gets a static copy from build/e2e/run).
make_path("$work/bin", "$work/fidelity/sim");
my $runner = "$work/bin/vv-scenario";
my $src = "$top/t/fidelity/vv-scenario.c";
if (!-x $runner || -M $runner > -M $src) {
    system('gcc', qw(-O2 -std=gnu11 -Wall -Wextra -Werror -o), $runner, $src) == 0
        or BAIL_OUT("cannot build $src");
}

sub mounted { my ($dir) = @_; -e "$dir/sys/bus/pci" }

for my $file (@scen) {
    my $name = basename($file, '.scen');
    subtest $name => sub {
        my $mnt = tempdir("vv-fidelity-XXXXXX", TMPDIR => 1, CLEANUP => 1);
        my $start = system($sim, '--topology', $topology, '--daemon', $mnt);
        is($start, 0, 'the simulator mounts e2e-vm.json') or return;
        my $deadline = time + 5;
        sleep 0.02 until mounted($mnt) || time > $deadline;
        my $out = `'$runner' -T sim -m '$map' '$mnt' '$file' 2>&1`;
        my $rc = $? >> 8;
        system('fusermount3', '-u', $mnt) == 0 or system('umount', '-l', $mnt);
        open my $fh, '>', "$work/fidelity/sim/$name.tap" or die $!;
        print $fh $out;
        close $fh;
        if ($out =~ /^1\.\.0 # SKIP (.*)$/m) {
            plan skip_all => $1;
        }
        unlike($out, qr/^Bail out!/m, 'the scenario ran to its end') or diag $out;
        for (split /\n/, $out) {
            next unless /^(not )?ok \d+ - (.*?) # got (.*)$/;
            ok(!$1, $2) or diag "simulator gave: $3";
        }
        is($rc, 0, 'vv-scenario exits 0');
    };
}

done_testing();
