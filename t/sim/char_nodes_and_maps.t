# Character devices a host driver makes for its device, as the kernel shows
# them: DRM card and render nodes (drm/cardN, dev 226:N, DEVNAME=dri/cardN),
# a framebuffer (graphics/fbN) with the console on it (vtconsole), uio
# nodes, NVMe controller and generic nodes; class links and /dev nodes;
# processes holding them (proc/PID/fd) or mapping a BAR (proc/PID/maps,
# the kernel's format, the sysfs path of the resource file).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;

sim_start('inuse-host');
my $GPU = dev_path('0000:00:18.0');

subtest 'DRM' => sub {
    is(rl('sys/class/drm/renderD128'), '../../devices/pci0000:00/0000:00:18.0/drm/renderD128');
    is(rd("$GPU/drm/card1/dev"), "226:1\n");
    is(rd("$GPU/drm/renderD128/dev"), "226:128\n");
    is(rd("$GPU/drm/renderD128/uevent"),
       "MAJOR=226\nMINOR=128\nDEVNAME=dri/renderD128\nDEVTYPE=drm_minor\n");
    is(abs_path("$M/$GPU/drm/card1/device"), abs_path("$M/$GPU"), 'device: back to the function');
    ok(-f "$M/dev/dri/card1" && -f "$M/dev/dri/renderD128", 'dev/dri nodes');
    is((stat "$M/dev/dri/renderD128")[2] & 07777, 0666, 'render nodes are for everyone');
    is(rl('proc/77/fd/301'), '/dev/dri/renderD128', 'held by Xorg');
    is(rd('proc/77/comm'), "Xorg\n");
};

subtest 'framebuffer console' => sub {
    my $FB = dev_path('0000:00:1a.0');
    is(rl('sys/class/graphics/fb0'), '../../devices/pci0000:00/0000:00:1a.0/graphics/fb0');
    is(rd("$FB/graphics/fb0/dev"), "29:0\n");
    is(rd("$FB/graphics/fb0/uevent"), "MAJOR=29\nMINOR=0\nDEVNAME=fb0\n");
    ok(-f "$M/dev/fb0", 'dev/fb0');
    is(rl('sys/class/vtconsole/vtcon1'), '../../devices/virtual/vtconsole/vtcon1');
    is(rd('sys/class/vtconsole/vtcon1/name'), "(M) frame buffer device\n");
    is(rd('sys/class/vtconsole/vtcon1/bind'), "1\n", 'fbcon has the consoles');
    is(rd('sys/class/vtconsole/vtcon0/name'), "(S) dummy device\n");
    is(rd('sys/class/vtconsole/vtcon0/bind'), "0\n");
    is(w('sys/class/vtconsole/vtcon1/bind', "0\n"), 'ok', 'unbind fbcon');
    is(rd('sys/class/vtconsole/vtcon1/bind'), "0\n");
    is(rd('sys/class/vtconsole/vtcon0/bind'), "1\n", 'the dummy console takes over');
    like(rd('sim/log'), qr{^/sys/devices/virtual/vtconsole/vtcon1/bind\t0\\n\tok$}m,
       'a logged sysfs write (the path as the kernel resolved it)');
    is(w('sys/class/vtconsole/vtcon1/bind', 'x'), 'EINVAL');
    is(w('sys/class/vtconsole/vtcon0/bind', '0'), 'ok', 'give it back from the other side');
    is(rd('sys/class/vtconsole/vtcon1/bind'), "1\n");
    is(w(dev_path('0000:00:1a.0') . '/driver/unbind', '0000:00:1a.0'), 'ok', 'unbind ast');
    is(rd('sys/class/vtconsole/vtcon1/bind'), "0\n", 'no framebuffer, no fbcon');
    ok(!-e "$M/sys/class/graphics/fb0" && !-e "$M/dev/fb0" && !-e "$M/dev/dri/card0", 'fb0 and card0 gone');
    is(w('sys/bus/pci/drivers_probe', '0000:00:1a.0'), 'ok');
    is(rd('sys/class/vtconsole/vtcon1/bind'), "1\n", 'back');
};

subtest 'uio' => sub {
    my $U = dev_path('0000:00:1b.0');
    is(rl('sys/class/uio/uio0'), '../../devices/pci0000:00/0000:00:1b.0/uio/uio0');
    is(rd("$U/uio/uio0/uevent"), "MAJOR=243\nMINOR=0\nDEVNAME=uio0\n");
    is(rd("$U/uio/uio0/name"), "uio_pci_generic\n");
    is(rd("$U/uio/uio0/version"), "0.01.0\n");
    is(rl('proc/88/fd/302'), '/dev/uio0');
};

subtest 'a mapped BAR' => sub {
    my @l = split /\n/, rd('proc/99/maps');
    my ($bar) = grep { /resource0$/ } @l;
    like($bar, qr/^[0-9a-f]{12}-[0-9a-f]{12} rw-s 00000000 00:15 \d+ +\/sys\/devices\/pci0000:00\/0000:00:1c\.0\/resource0$/,
         'a shared mapping of the sysfs file');
    is(index($bar, '/sys/'), 73, 'the path at column 73, as show_map_vma() pads it');
    like($l[0], qr{ /usr/bin/spdk_tgt$}, 'the program first');
    like($l[-1], qr/ \[vdso\]$/);
    ok(-e "$M/" . dev_path('0000:00:1c.0') . '/resource0', 'the resource file exists');
    is((stat "$M/" . dev_path('0000:00:1c.0') . '/resource0')[2] & 07777, 0600);
    ok(-d "$M/proc/99/fd", 'the process has fd/ (empty)');
    is(w(dev_path('0000:00:1c.0') . '/driver/unbind', '0000:00:1c.0'), 'ok');
    ok(!-e "$M/proc/99", 'the process goes with the mapping');
    ok(-e "$M/" . dev_path('0000:00:1c.0') . '/resource0', 'resource0 stays with the device');
};

subtest 'NVMe character nodes' => sub {
    my $D = dev_path('0000:00:11.0');
    is(rl('sys/class/nvme/nvme0'), '../../devices/pci0000:00/0000:00:11.0/nvme/nvme0');
    is(rd("$D/nvme/nvme0/dev"), "239:0\n");
    is(rd("$D/nvme/nvme0/uevent"), "MAJOR=239\nMINOR=0\nDEVNAME=nvme0\n");
    is(rl('sys/class/nvme-generic/ng0n1'), '../../devices/pci0000:00/0000:00:11.0/nvme/nvme0/ng0n1');
    is(rd("$D/nvme/nvme0/ng0n1/uevent"), "MAJOR=238\nMINOR=0\nDEVNAME=ng0n1\n");
    ok(-f "$M/dev/nvme0" && -f "$M/dev/ng0n1", 'dev/nvme0, dev/ng0n1');
    is(w("$D/driver/unbind", '0000:00:11.0'), 'ok');
    ok(!-e "$M/dev/nvme0" && !-e "$M/dev/ng0n1" && !-e "$M/sys/class/nvme-generic/ng0n1", 'gone with nvme');
};

subtest 'dev/dri goes with the last DRM node' => sub {
    for my $a (qw(0000:00:18.0 0000:00:19.0 0000:00:1a.0)) {
        is(w(dev_path($a) . '/driver/unbind', $a), 'ok', "unbind $a");
    }
    ok(!-e "$M/dev/dri", 'no dev/dri');
    ok(!-e "$M/proc/77", 'Xorg gone with its node');
    is(w('sys/bus/pci/drivers_probe', '0000:00:18.0'), 'ok');
    ok(-f "$M/dev/dri/renderD128", 'back');
};

subtest 'hosts without a framebuffer' => sub {
    sim_start('mixed-host');
    is(rd('sys/class/vtconsole/vtcon0/bind'), "1\n", 'the dummy console');
    ok(!-e "$M/sys/class/vtconsole/vtcon1", 'no fbcon');
    is(w('sys/class/vtconsole/vtcon0/bind', '0'), 'EINVAL', 'nothing to hand the consoles to');
    is_deeply([glob("$M/sys/class/drm/*")], [], 'class/drm is empty');
};

subtest '--static' => sub {
    my $tree = tempdir(CLEANUP => 1) . '/tree';
    is(system($SIM, '--static', $tree, '--topology', topo('inuse-host')), 0);
    is(readlink("$tree/sys/class/drm/renderD128"), '../../devices/pci0000:00/0000:00:18.0/drm/renderD128');
    ok(-f "$tree/dev/dri/renderD128");
    like(do { local (@ARGV, $/) = ("$tree/proc/99/maps"); <> }, qr{/0000:00:1c\.0/resource0$}m);
    is(do { local (@ARGV, $/) = ("$tree/sys/class/vtconsole/vtcon1/bind"); <> }, "1\n");
};

done_testing();
