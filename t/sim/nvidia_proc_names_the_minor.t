# proc/driver/nvidia/gpus/ADDR/information, in the layout nvidia's
# nv_procfs_read_gpu_info() prints, lives while the GPU is on its topology
# driver; its "Device Minor:" line leads to dev/nvidiaN and so to the
# processes holding it (proc/PID/fd). proc/driver/nvidia/version stays as
# long as the host has an nvidia hint (the module stays loaded).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use Test::More;

my ($GPU0, $GPU1) = ('0000:01:00.0', '0000:02:00.0');
my $GPUS = 'proc/driver/nvidia/gpus';

# The minor as the module reads it: the line starts with "Device Minor:",
# the number follows after whitespace (sscanf "Device Minor: %d").
sub minor_of {
    my ($info) = @_;
    return $info =~ /^Device Minor:\s+(\d+)$/m ? $1 : undef;
}

# pids with an fd on /dev/nvidiaN, as the module scans proc/PID/fd.
sub holders_of {
    my ($minor) = @_;
    my @pids;
    for my $fd (glob "$M/proc/[0-9]*/fd/*") {
        my $l = readlink $fd // next;
        push @pids, $fd =~ m{/proc/(\d+)/fd/} if $l eq "/dev/nvidia$minor";
    }
    return @pids;
}

sim_start('mixed-host');

subtest 'the information file, line by line' => sub {
    my $info = rd("$GPUS/$GPU1/information");
    ok(defined $info, "$GPUS/$GPU1/information reads") or return;
    my @l = split /\n/, $info, -1;
    is(scalar @l, 11, 'ten lines and a final newline');
    is($l[0], "Model: \t\t NVIDIA GeForce RTX 2070 SUPER", 'Model (10de:1e84)');
    is($l[1], "IRQ:   \t\t 0", 'IRQ, as sysfs irq says');
    is(rd(dev_path($GPU1) . '/irq'), "0\n", 'sysfs irq');
    like($l[2], qr/^GPU UUID: \t GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'GPU UUID');
    is($l[3], "Video BIOS: \t ??.??.??.??.??", 'Video BIOS');
    is($l[4], "Bus Type: \t PCIe", 'Bus Type');
    is($l[5], "DMA Size: \t 47 bits", 'DMA Size');
    is($l[6], "DMA Mask: \t 0x7fffffffffff", 'DMA Mask');
    is($l[7], "Bus Location: \t $GPU1", 'Bus Location');
    is($l[8], "Device Minor: \t 1", 'Device Minor');
    is($l[9], "GPU Excluded:\t No", 'GPU Excluded');
    is($l[10], '', 'ends with a newline');
    is((stat "$M/$GPUS/$GPU1/information")[2] & 07777, 0444, 'mode 0444');
    is((stat _)[7], 0, 'size 0, as proc files report');
    like(rd("$GPUS/$GPU0/information"), qr/^Model: \t\t NVIDIA GeForce RTX 3090$/m, 'Model (10de:2204)');
    is(minor_of(rd("$GPUS/$GPU0/information")), 0, 'the other GPU has minor 0');
};

subtest 'the UUID is stable and differs per GPU' => sub {
    my ($u1) = rd("$GPUS/$GPU1/information") =~ /^GPU UUID: \t (\S+)$/m;
    my ($u0) = rd("$GPUS/$GPU0/information") =~ /^GPU UUID: \t (\S+)$/m;
    isnt($u0, $u1, 'two GPUs, two UUIDs');
    my $again = rd("$GPUS/$GPU1/information");
    like($again, qr/^GPU UUID: \t \Q$u1\E$/m, 'same on a second read');
};

subtest 'version, and only GPUs under gpus/' => sub {
    like(rd('proc/driver/nvidia/version'), qr/^NVRM version: NVIDIA UNIX .*Kernel Module  \d+\.\d+\.\d+ /,
        'version: the NVRM line');
    opendir my $dh, "$M/$GPUS" or die $!;
    is_deeply([sort grep { !/^\./ } readdir $dh], [$GPU0, $GPU1], 'one directory per GPU with a hint');
};

subtest 'from the minor to the process holding the GPU' => sub {
    my $minor = minor_of(rd("$GPUS/$GPU1/information"));
    is($minor, 1, 'minor 1');
    ok(-e "$M/dev/nvidia$minor", "dev/nvidia$minor");
    is_deeply([holders_of($minor)], [4242], 'held by pid 4242');
    is(rd('proc/4242/comm'), "nvidia-persiste\n");
    is_deeply([holders_of(minor_of(rd("$GPUS/$GPU0/information")))], [], 'the other GPU: nobody');
};

subtest 'it follows the driver' => sub {
    is(w(dev_path($GPU1) . '/driver/unbind', $GPU1), 'ok', 'unbind nvidia');
    ok(!-e "$M/$GPUS/$GPU1", 'gpus/ADDR gone');
    ok(-e "$M/$GPUS/$GPU0/information", 'the other GPU stays');
    ok(-e "$M/proc/driver/nvidia/version", 'version stays: the module is loaded');
    is(w('sys/bus/pci/drivers_probe', $GPU1), 'ok');
    is(driver_of($GPU1), 'nvidia', 'back on nvidia');
    is(minor_of(rd("$GPUS/$GPU1/information") // ''), 1, 'back, same minor');

    is(w(dev_path($GPU0) . '/driver_override', 'vfio-pci'), 'ok');
    is(w(dev_path($GPU0) . '/driver/unbind', $GPU0), 'ok');
    is(w('sys/bus/pci/drivers/vfio-pci/bind', $GPU0), 'ok', 'on vfio-pci');
    ok(!-e "$M/$GPUS/$GPU0", 'not on its topology driver: no information');
    is(ctl("unplug $GPU1"), 'ok');
    ok(!-e "$M/$GPUS/$GPU1", 'unplugged: gone');
    ok(-d "$M/$GPUS", 'gpus/ stays, empty');
};

subtest 'async bind: it appears with the driver link' => sub {
    is(ctl('load ' . topo('gpu-host')), 'ok');
    is(ctl("fault $GPU0 async 400"), 'ok');
    is(w(dev_path($GPU0) . '/driver/unbind', $GPU0), 'ok');
    is(w('sys/bus/pci/drivers/nvidia/bind', $GPU0), 'ok');
    ok(!-e "$M/$GPUS/$GPU0", 'not yet');
    ok(wait_until(sub { -e "$M/$GPUS/$GPU0/information" }), 'then there');
};

subtest 'a host without nvidia hints has no proc/driver/nvidia' => sub {
    is(ctl('load ' . topo('nic-host')), 'ok');
    ok(!-e "$M/proc/driver", 'no proc/driver');
};

subtest 'model from the topology, and the fallback name' => sub {
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '<', topo('gpu-host') or die $!;
    my $t = decode_json(do { local $/; <$fh> });
    my ($g0) = grep { $_->{address} eq $GPU0 } @{$t->{devices}};
    my ($g1) = grep { $_->{address} eq $GPU1 } @{$t->{devices}};
    $g0->{nvidia}{model} = 'NVIDIA A40';
    $g1->{device} = '2b85';
    open my $out, '>', "$dir/gpu.json" or die $!;
    print $out encode_json($t);
    close $out;
    is(ctl("load $dir/gpu.json"), 'ok');
    like(rd("$GPUS/$GPU0/information"), qr/^Model: \t\t NVIDIA A40$/m, 'the topology names it');
    like(rd("$GPUS/$GPU1/information"), qr/^Model: \t\t NVIDIA Graphics Device$/m,
        'an id the table lacks: the driver\'s generic name');

    my $tree = "$dir/tree";
    is(system($SIM, '--static', $tree, '--topology', "$dir/gpu.json"), 0, '--static');
    for my $gpu ($GPU0, $GPU1) {
        open my $sf, '<', "$tree/$GPUS/$gpu/information" or die "$gpu: $!";
        is(do { local $/; <$sf> }, rd("$GPUS/$gpu/information"), "--static: same $gpu information");
    }
    open my $vf, '<', "$tree/proc/driver/nvidia/version" or die $!;
    is(do { local $/; <$vf> }, rd('proc/driver/nvidia/version'), '--static: same version');
};

done_testing();
