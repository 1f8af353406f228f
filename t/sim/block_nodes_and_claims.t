# Disks and partitions have /dev nodes and uevent files naming them; an open
# of a claimed disk's node answers EBUSY as an exclusive open would (FUSE
# never sees O_EXCL): mounted, swap, held, or claimed with nothing else to
# show, a partition's claim making its whole disk busy. proc/swaps lists
# swap in the kernel's format, a btrfs mount shows an anonymous device
# number, a process holding a disk open has an fd link to its node.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Fcntl qw(O_RDONLY O_EXCL O_NONBLOCK);
use File::Temp qw(tempdir);
use Test::More;

sim_start('inuse-host');

sub open_node {
    my ($name) = @_;
    sysopen(my $fh, "$M/dev/$name", O_RDONLY | O_EXCL | O_NONBLOCK) or return errname();
    close $fh;
    return 'ok';
}

subtest 'nodes and uevent' => sub {
    ok(-f "$M/dev/nvme5n1" && -f "$M/dev/nvme5n1p1", 'regular files, like the other nodes');
    is((stat "$M/dev/nvme5n1")[2] & 07777, 0660);
    is(rd('sys/class/block/nvme5n1/uevent'),
       "MAJOR=259\nMINOR=5\nDEVNAME=nvme5n1\nDEVTYPE=disk\nDISKSEQ=6\n", 'a disk');
    is(rd('sys/class/block/nvme5n1p1/uevent'),
       "MAJOR=259\nMINOR=6\nDEVNAME=nvme5n1p1\nDEVTYPE=partition\nPARTN=1\n", 'a partition');
    is(rd('sys/class/block/nvme5n1p1/dev'), "259:6\n");
};

subtest 'an exclusive open' => sub {
    is(open_node('nvme5n1'), 'ok', 'a free disk opens');
    is(open_node('nvme5n1p1'), 'ok', 'and its partition');
    is(open_node('nvme0n1'), 'EBUSY', 'mounted (btrfs)');
    is(open_node('nvme1n1'), 'EBUSY', 'swap');
    is(open_node('nvme2n1'), 'EBUSY', 'held by dm-1');
    is(open_node('nvme3n1'), 'ok', 'a process holding it open claims nothing');
    is(open_node('nvme4n1'), 'EBUSY', '"claimed": true');
    is(open_node('nvme6n1p1'), 'EBUSY', 'a swap partition');
    is(open_node('nvme6n1'), 'EBUSY', 'makes its whole disk busy');
    my $plain = sysopen(my $fh, "$M/dev/nvme0n1", O_RDONLY) ? 'ok' : errname();
    is($plain, 'EBUSY', 'any open: FUSE cannot tell an exclusive one');
};

subtest 'a partition of a partly claimed disk' => sub {
    my $sim = sim_start('mixed-host');
    is(open_node('nvme0n1'), 'EBUSY', 'the disk: its partitions are mounted');
    is(open_node('nvme0n1p1'), 'EBUSY', 'a mounted partition');
    is(open_node('nvme1n1'), 'ok', 'the free disk');
    is(open_node('nvme2n1'), 'EBUSY', 'the LVM disk');
    sim_stop($sim);
};

sim_start('inuse-host');

subtest 'proc/swaps' => sub {
    my @l = split /\n/, rd('proc/swaps');
    is($l[0], "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority", 'the header');
    is($l[1], '/dev/nvme1n1' . (' ' x 28) . "partition\t8388604\t\t0\t\t-2",
       'the path padded to 40 columns, KiB without the header page, priority -2');
    is($l[2], '/dev/nvme6n1p1' . (' ' x 26) . "partition\t4194300\t\t0\t\t-3", 'then -3');
    is(scalar @l, 3, 'nothing else');
};

subtest 'btrfs in mountinfo' => sub {
    my ($line) = grep { m{ /srv } } split /\n/, rd('proc/self/mountinfo');
    like($line, qr{^\d+ \d+ 0:\d+ / /srv rw,relatime shared:\d+ - btrfs /dev/nvme0n1 rw,.*subvol=/$},
         'an anonymous 0:NN, the source names the disk');
    unlike(rd('proc/self/mountinfo'), qr/ 259:0 /, 'never the disk\'s own number');
    like(rd('proc/self/mounts'), qr{^/dev/nvme0n1 /srv btrfs rw,relatime 0 0$}m);
};

subtest 'a process holding a disk' => sub {
    is(rl('proc/5151/fd/300'), '/dev/nvme3n1', 'proc/PID/fd/K -> /dev/NAME');
    is(rd('proc/5151/comm'), "qemu-system-x86\n");
    like(rd('proc/5151/maps'), qr{ /usr/bin/qemu-system-x86\n}, 'and maps, as any process');
};

subtest 'nodes, swap and holders follow the driver' => sub {
    is(w(dev_path('0000:00:14.0') . '/driver/unbind', '0000:00:14.0'), 'ok');
    ok(!-e "$M/dev/nvme3n1", 'the node goes');
    ok(!-e "$M/proc/5151", 'the process with it');
    is(w(dev_path('0000:00:12.0') . '/driver/unbind', '0000:00:12.0'), 'ok');
    unlike(rd('proc/swaps'), qr/nvme1n1/, 'no swap on a disk that is gone');
    is(w('sys/bus/pci/drivers_probe', '0000:00:14.0'), 'ok');
    is(rl('proc/5151/fd/300'), '/dev/nvme3n1', 'back with the driver');
    ok(-f "$M/dev/nvme3n1");
};

subtest '--static' => sub {
    my $tree = tempdir(CLEANUP => 1) . '/tree';
    is(system($SIM, '--static', $tree, '--topology', topo('inuse-host')), 0);
    ok(-f "$tree/dev/nvme0n1", 'nodes are plain files');
    like(do { local (@ARGV, $/) = ("$tree/proc/swaps"); <> }, qr{^/dev/nvme1n1 }m, 'proc/swaps');
    is(readlink("$tree/proc/5151/fd/300"), '/dev/nvme3n1');
};

done_testing();
