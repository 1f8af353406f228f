# The kernel files the module's passthrough-readiness checks read, for
# every value of the topology keys that make them (defaults included), as
# root and as nobody see them, through the mount and in the --static tree:
# firmware/acpi/tables/{DMAR,IVRS} (0400 in a 0755 directory: nobody sees
# the name, only root reads it), class/iommu/NAME with intel-iommu/{cap,ecap}
# or amd-iommu/features, proc/interrupts (IR- chips while interrupt
# remapping is on), proc/cmdline, dev/kvm, vfio_iommu_type1's
# allow_unsafe_interrupts; per device reset_method, the link files, rom,
# sriov_totalvfs/sriov_numvfs. Then what writes do to them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json encode_json);
use POSIX ();
use Test::More;

my $FIX = "$FindBin::Bin/topologies";
my $nobody = getpwnam('nobody') // 65534;
my $work = tempdir(CLEANUP => 1);
chmod 0755, $work;      # nobody must reach the static trees below it

# ---- observing a tree ----------------------------------------------------
sub content {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '!' . errname();
    my ($all, $buf) = ('');
    while (1) {
        my $n = sysread($fh, $buf, 65536);
        return '!' . errname() unless defined $n;
        last unless $n;
        $all .= $buf;
    }
    return $all =~ /[^\t\n\x20-\x7e]/ ? 'hex:' . unpack('H*', $all) : $all;
}

# What the caller sees at BASE/PATH: "absent", "-> TARGET", "dir MODE: NAMES"
# or "MODE: CONTENT" ("!ERRNO" when the read fails).
sub observe {
    my ($base, @paths) = @_;
    my %o;
    for my $p (@paths) {
        my $f = "$base/$p";
        my @st = lstat $f;
        if (!@st) { $o{$p} = 'absent'; next }
        if (-l _) { $o{$p} = '-> ' . readlink $f; next }
        my $mode = sprintf '%04o', $st[2] & 07777;
        if (-d _) {
            opendir(my $dh, $f) or do { $o{$p} = "dir $mode: !" . errname(); next };
            $o{$p} = "dir $mode: " . join(' ', sort grep { !/^\.\.?$/ } readdir $dh);
            next;
        }
        $o{$p} = (-f _ ? '' : 'special ') . "$mode: " . content($f);
    }
    return \%o;
}

# The same, as nobody (in a child).
sub observe_as_nobody {
    my (@args) = @_;
    pipe(my $r, my $wr) or die $!;
    my $pid = fork // die $!;
    if (!$pid) {
        close $r;
        POSIX::setgid(65534);
        POSIX::setuid($nobody) or POSIX::_exit(9);
        print $wr encode_json(observe(@args));
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my $json = do { local $/; <$r> };
    waitpid $pid, 0;
    return decode_json($json || '{}');
}

# A topology file: a fixture, a shipped one, or one written from a hash.
sub topology {
    my ($name, $t) = @_;
    return $name =~ m{/} ? $name : -e "$FIX/$name.json" ? "$FIX/$name.json" : topo($name)
        unless $t;
    my $file = "$work/$name.json";
    open my $fh, '>', $file or die $!;
    print $fh encode_json($t);
    close $fh;
    return $file;
}

sub load_json {
    open my $fh, '<', topology($_[0]) or die $!;
    return decode_json(do { local $/; <$fh> });
}

# Checks EXPECT (path => root's view, or [root's, nobody's]; a string or a
# regex) as root and as nobody, through the mount and in the static tree.
# A file mode 0400 or 0600 is root's alone: nobody sees its mode, and EACCES.
# $fuse_only{path} overrides root's view through the mount (rom: EINVAL).
sub check_host {
    my ($file, $expect, %fuse_only) = @_;
    my @paths = sort keys %$expect;
    my $static = "$work/static-" . (split m{/}, $file)[-1];
    is(system($SIM, '--static', $static, '--topology', $file), 0, '--static');
    my $sim = sim_start($file);
    for my $view (['mount', $M], ['static', $static]) {
        my ($label, $base) = @$view;
        my %seen = (root => observe($base, @paths), nobody => observe_as_nobody($base, @paths));
        for my $p (@paths) {
            my ($root, $other) = ref $expect->{$p} eq 'ARRAY' ? @{$expect->{$p}} : ($expect->{$p});
            $root = $fuse_only{$p} if $label eq 'mount' && exists $fuse_only{$p};
            if (!defined $other) {
                $other = $root;
                $other = "$1: !EACCES" if !ref $root && $root =~ /^(0[46]00):/;
            }
            for my $who (qw(root nobody)) {
                my $want = $who eq 'root' ? $root : $other;
                my $got = $seen{$who}{$p};
                my $name = "$label, $who: $p";
                ref $want ? like($got, $want, $name) : is($got, $want, $name);
            }
        }
    }
    return $sim;
}

my $CMD = 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-sim root=UUID=3f1e0c2a-5b7d-4c9e-8f21-0a6b1c2d3e4f ro quiet';
# root reads a table, starting with its signature; nobody sees its mode only
my $DMAR = [qr/^0400: hex:444d4152/, '0400: !EACCES'];
my $IVRS = [qr/^0400: hex:49565253/, '0400: !EACCES'];
my $TABLE = [qr/^0400: hex:/, '0400: !EACCES'];
my $IR = qr/\A0444: {13}CPU0 {7}CPU1 {7}\n   0: +\d+ +\d+  IR-IO-APIC    2-edge      timer\n(?:.*\n)*  \d\d: +\d+ +\d+  IR-PCI-MSI 512000-edge      nvme0q0\n/;
my $NO_IR = qr/\A0444: {13}CPU0 {7}CPU1 {7}\n   0: +\d+ +\d+   IO-APIC    2-edge      timer\n(?:.*\n)*  \d\d: +\d+ +\d+   PCI-MSI 512000-edge      nvme0q0\n/;
my $A = 'sys/bus/pci/devices';

subtest 'defaults on an Intel host (mixed-host)' => sub {
    my $GPU = "$A/0000:01:00.0";
    check_host(topology('mixed-host'), {
        'sys/firmware/acpi/tables' => 'dir 0755: APIC DMAR DSDT FACP',
        'sys/firmware/acpi/tables/DMAR' => $DMAR,
        'sys/firmware/acpi/tables/IVRS' => 'absent',
        'sys/class/iommu' => 'dir 0755: dmar0',
        'sys/class/iommu/dmar0' => '-> ../../devices/virtual/iommu/dmar0',
        'sys/class/iommu/dmar0/intel-iommu/cap' => "0444: d2008c40660462\n",
        'sys/class/iommu/dmar0/intel-iommu/ecap' => "0444: f050da\n",
        'sys/class/iommu/dmar0/amd-iommu' => 'absent',
        'proc/interrupts' => qr/(?=$IR)(?=(?:.*\n)*  24: +0 +0  DMAR-MSI    0-edge      dmar0\n)/,
        'proc/cmdline' => "0444: $CMD intel_iommu=on iommu=pt\n",
        'dev/kvm' => '0666: ',
        'sys/class/misc/kvm' => '-> ../../devices/virtual/misc/kvm',
        'sys/class/misc/kvm/dev' => "0444: 10:232\n",
        'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' => "0444: N\n",
        "$GPU/reset_method" => "0644: flr bus\n",
        "$A/0000:00:01.0/reset_method" => 'absent',          # a bridge
        "$GPU/current_link_speed" => 'absent',               # no link: conventional PCI
        "$GPU/max_link_width" => 'absent',
        "$GPU/rom" => 'absent',
        "$A/0000:0b:00.0/sriov_totalvfs" => "0444: 32\n",
        "$A/0000:0b:00.0/sriov_numvfs" => "0644: 2\n",
        "$A/0000:0b:02.0/reset_method" => "0644: flr bus\n",  # a VF is an endpoint
    });
};

subtest 'IOMMU off, the firmware has DMAR (noiommu-host)' => sub {
    check_host(topology('noiommu-host'), {
        'sys/firmware/acpi/tables/DMAR' => $DMAR,
        'sys/class/iommu' => 'dir 0755: ',
        'sys/devices/virtual/iommu' => 'absent',
        'proc/interrupts' => $NO_IR,
        'proc/cmdline' => "0444: $CMD\n",
        'dev/kvm' => '0666: ',
        'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' => "0444: N\n",
    });
    unlike(rd('proc/interrupts'), qr/IR-|DMAR-MSI/, 'no remapping chips, no DMAR fault interrupt');
};

subtest 'vfio-pci not loaded: no vfio_iommu_type1 (novfio-host)' => sub {
    check_host(topology('novfio-host'), {
        'sys/module' => 'dir 0755: ',
        'sys/module/vfio_iommu_type1' => 'absent',
        'sys/class/iommu/dmar0/intel-iommu/ecap' => "0444: f050da\n",
    });
};

subtest 'an Intel host with every key set (readiness-intel)' => sub {
    my $t = topology('readiness-intel');
    check_host($t, {
        'sys/firmware/acpi/tables' => 'dir 0755: APIC DMAR DSDT FACP',
        'sys/firmware/acpi/tables/DMAR' => $DMAR,
        'sys/class/iommu' => 'dir 0755: dmar0 dmar1',
        'sys/class/iommu/dmar1' => '-> ../../devices/virtual/iommu/dmar1',
        'sys/class/iommu/dmar1/intel-iommu/cap' => "0444: d2078c106f0466\n",
        'sys/class/iommu/dmar1/intel-iommu/ecap' => "0444: f020d2\n",
        'sys/devices/virtual/iommu/dmar1/subsystem' => '-> ../../../../class/iommu',
        'proc/interrupts' => qr/$NO_IR/,
        'proc/cmdline' => "0444: " . load_json($t)->{cmdline} . "\n",
        'dev/kvm' => 'absent',
        'sys/class/misc/kvm' => 'absent',
        'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' => "0444: Y\n",
        "$A/0000:00:00.0/reset_method" => 'absent',                  # null
        "$A/0000:00:01.0/reset_method" => 'absent',                  # a bridge's default
        "$A/0000:00:01.1/reset_method" => "0644: pm bus\n",          # a bridge with a list
        "$A/0000:01:00.0/reset_method" => "0644: bus\n",
        "$A/0000:01:00.1/reset_method" => "0644: flr bus\n",         # default
        "$A/0000:02:00.0/reset_method" => 'absent',
        "$A/0000:03:00.0/reset_method" => "0644: flr af_flr pm bus\n",
        "$A/0000:03:02.0/reset_method" => "0644: flr\n",
        "$A/0000:00:01.0/current_link_speed" => "0444: 8.0 GT/s PCIe\n",
        "$A/0000:01:00.0/current_link_speed" => "0444: 2.5 GT/s PCIe\n",
        "$A/0000:01:00.0/current_link_width" => "0444: 8\n",
        "$A/0000:01:00.0/max_link_speed" => "0444: 16.0 GT/s PCIe\n",
        "$A/0000:01:00.0/max_link_width" => "0444: 16\n",
        "$A/0000:01:00.1/current_link_speed" => 'absent',
        "$A/0000:01:00.1/max_link_speed" => 'absent',
        "$A/0000:02:00.0/current_link_width" => "0444: 16\n",
        "$A/0000:03:02.0/current_link_speed" => "0444: Unknown\n",
        "$A/0000:03:02.0/current_link_width" => "0444: 0\n",
        "$A/0000:03:02.0/max_link_speed" => "0444: Unknown\n",
        "$A/0000:03:02.0/max_link_width" => "0444: 0\n",
        "$A/0000:01:00.0/rom" => '0600: ',
        "$A/0000:02:00.0/rom" => '0600: ',
        "$A/0000:01:00.1/rom" => 'absent',
        "$A/0000:03:00.0/sriov_totalvfs" => "0444: 8\n",
        "$A/0000:03:00.0/sriov_numvfs" => "0644: 2\n",
        "$A/0000:03:02.0/sriov_numvfs" => 'absent',
    }, "$A/0000:01:00.0/rom" => '0600: !EINVAL', "$A/0000:02:00.0/rom" => '0600: !EINVAL');
    unlike(rd('proc/interrupts'), qr/IR-/, 'remapping off: no IR- chip at all');
    like(rd('proc/interrupts'), qr/^  24: +0 +0  DMAR-MSI    0-edge      dmar0\n  25: +0 +0  DMAR-MSI    1-edge      dmar1\n/m,
        'each unit the kernel enabled has its fault interrupt');
};

subtest 'an AMD host with the defaults (readiness-amd)' => sub {
    check_host(topology('readiness-amd'), {
        'sys/firmware/acpi/tables' => 'dir 0755: APIC DSDT FACP IVRS',
        'sys/firmware/acpi/tables/IVRS' => $IVRS,
        'sys/firmware/acpi/tables/DMAR' => 'absent',
        'sys/class/iommu' => 'dir 0755: ivhd0',
        'sys/class/iommu/ivhd0' => '-> ../../devices/virtual/iommu/ivhd0',
        'sys/class/iommu/ivhd0/amd-iommu/features' => "0444: 25bf732fa2295afe\n",
        'sys/class/iommu/ivhd0/intel-iommu' => 'absent',
        'proc/interrupts' => $IR,
        'proc/cmdline' => "0444: $CMD amd_iommu=on iommu=pt\n",
        'dev/kvm' => '0666: ',
        'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' => "0444: N\n",
        "$A/0000:01:00.0/reset_method" => "0644: device_specific acpi flr af_flr pm bus cxl_bus\n",
        "$A/0000:02:00.0/reset_method" => "0644: flr bus\n",
        "$A/0000:00:01.1/reset_method" => 'absent',
        "$A/0000:01:00.0/current_link_width" => "0444: 4\n",
        "$A/0000:02:00.0/current_link_speed" => "0444: 2.5 GT/s PCIe\n",
        "$A/0000:02:00.0/max_link_width" => "0444: 1\n",
    });
    unlike(rd('proc/interrupts'), qr/DMAR-MSI/, 'no DMAR unit, no DMAR fault interrupt');
};

subtest 'AMD units listed, remapping on explicitly, the kernel release in the command line' => sub {
    my $t = load_json('readiness-amd');
    $t->{kernel} = '6.12.9-amd64';
    $t->{interrupt_remapping} = JSON::PP::true;
    $t->{iommu_units} = [{name => 'ivhd0', features => '58f77ef22294a5a'},
                         {name => 'ivhd1', features => '0'}];
    check_host(topology('amd-units', $t), {
        'sys/class/iommu' => 'dir 0755: ivhd0 ivhd1',
        'sys/class/iommu/ivhd0/amd-iommu/features' => "0444: 58f77ef22294a5a\n",
        'sys/class/iommu/ivhd1/amd-iommu/features' => "0444: 0\n",
        'proc/interrupts' => $IR,
        'proc/cmdline' => "0444: BOOT_IMAGE=/boot/vmlinuz-6.12.9-amd64 root=UUID=3f1e0c2a-5b7d-4c9e-8f21-0a6b1c2d3e4f ro quiet amd_iommu=on iommu=pt\n",
    });
};

subtest 'AMD firmware with the IOMMU off' => sub {
    my $t = {name => 'amd-off', iommu => JSON::PP::false, firmware_iommu => 'IVRS',
             devices => [{address => '0000:00:00.0', vendor => '1022', device => '1480', class => '060000'}]};
    check_host(topology('amd-off', $t), {
        'sys/firmware/acpi/tables/IVRS' => $IVRS,
        'sys/class/iommu' => 'dir 0755: ',
        'proc/interrupts' => $NO_IR,
        'proc/cmdline' => "0444: $CMD\n",
        "$A/0000:00:00.0/reset_method" => "0644: flr bus\n",
    });
};

subtest 'no firmware table at all' => sub {
    my $t = load_json('noiommu-host');
    $t->{firmware_iommu} = undef;
    check_host(topology('nofw', $t), {
        'sys/firmware/acpi/tables' => 'dir 0755: APIC DSDT FACP',
        'sys/firmware/acpi/tables/APIC' => $TABLE,
        'sys/firmware/acpi/tables/DMAR' => 'absent',
        'sys/firmware/acpi/tables/IVRS' => 'absent',
        'sys/class/iommu' => 'dir 0755: ',
        'proc/interrupts' => $NO_IR,
    });
};

subtest 'Intel remapping with DMA remapping off; no unit registered; explicit defaults' => sub {
    my $t = load_json('noiommu-host');
    $t->{interrupt_remapping} = JSON::PP::true;
    $t->{cmdline} = 'root=/dev/sda1 ro intel_iommu=off';
    $t->{kvm} = JSON::PP::true;
    $t->{vfio_unsafe_interrupts} = JSON::PP::false;
    check_host(topology('ir-only', $t), {
        'sys/class/iommu' => 'dir 0755: ',
        'proc/interrupts' => $IR,
        'proc/cmdline' => "0444: root=/dev/sda1 ro intel_iommu=off\n",
        'dev/kvm' => '0666: ',
        'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' => "0444: N\n",
    });
    unlike(rd('proc/interrupts'), qr/DMAR-MSI/, 'no unit enabled: no DMAR fault interrupt');

    my $u = load_json('gpu-host');
    $u->{iommu_units} = [];
    $u->{cmdline} = '';
    check_host(topology('nounits', $u), {
        'sys/class/iommu' => 'dir 0755: ',
        'sys/firmware/acpi/tables/DMAR' => $DMAR,
        'proc/interrupts' => $IR,
        'proc/cmdline' => "0444: \n",
    });
};

subtest 'writes' => sub {
    sim_start(topology('readiness-intel'));
    my $PF = "$A/0000:03:00.0";
    is(w('sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts', "N\n"), 'open:EACCES',
       'allow_unsafe_interrupts is read-only, even for root');
    is(w('sys/class/iommu/dmar0/intel-iommu/ecap', "0\n"), 'open:EACCES', 'ecap too');
    is(w('proc/cmdline', "x\n"), 'open:EACCES', 'and proc/cmdline');
    is(w('sys/firmware/acpi/tables/DMAR', 'x'), 'open:EACCES', 'an ACPI table cannot be written');

    is(w("$PF/reset_method", "bus flr\n"), 'ok', 'reset_method: reorder');
    is(rd("$PF/reset_method"), "bus flr\n");
    is(w("$PF/reset_method", 'flr  pm'), 'ok', 'empty words are skipped');
    is(rd("$PF/reset_method"), "flr pm\n");
    is(w("$PF/reset_method", "flr acpi\n"), 'EINVAL', 'a method the device lacks: EINVAL');
    is(w("$PF/reset_method", 'reboot'), 'EINVAL', 'an unknown method: EINVAL');
    is(rd("$PF/reset_method"), "flr pm\n", 'unchanged after a refusal');
    is(w("$PF/reset_method", "\n"), 'ok', 'empty: every method disabled');
    is(rd("$PF/reset_method"), '', 'the file stays, empty');
    is(w("$PF/reset_method", "default\n"), 'ok', 'default');
    is(rd("$PF/reset_method"), "flr af_flr pm bus\n", "the device's own, in the kernel's order");
    like(rd('sim/log'), qr{^/sys/devices/pci0000:00/0000:00:02\.0/0000:03:00\.0/reset_method\tflr acpi\\n\tEINVAL$}m,
         'reset_method writes are logged');

    my $VF = "$A/0000:03:02.0";
    is(w("$VF/reset_method", ''), 'ok');
    is(w("$PF/sriov_numvfs", '0'), 'ok', 'VFs off');
    ok(!-e "$M/$VF", 'the VF is gone');
    is(rd("$PF/sriov_numvfs"), "0\n", 'sriov_numvfs 0');
    is(rd("$PF/sriov_totalvfs"), "8\n", 'sriov_totalvfs unchanged');
    is(w("$PF/sriov_numvfs", '2'), 'ok', 'VFs on again');
    is(rd("$VF/reset_method"), "flr\n", 'a new VF has its reset methods back');

    my $GPU = "$A/0000:01:00.0";
    is(rd("$GPU/rom"), undef, 'rom: a read before enabling fails');
    is(errname(), 'EINVAL', '... with EINVAL');
    is(w("$GPU/rom", "1\n"), 'ok', 'enable it');
    is(rd("$GPU/rom"), '', 'then reads (no image is modelled)');
    is(w("$GPU/rom", "0\n"), 'ok', 'disable it');
    is(rd("$GPU/rom"), undef, 'disabled again');

    my $res = observe_as_nobody($M, "$PF/reset_method");
    is($res->{"$PF/reset_method"}, "0644: flr af_flr pm bus\n", 'nobody reads reset_method');
    pipe(my $r, my $wr) or die $!;
    my $pid = fork // die $!;
    if (!$pid) {
        close $r;
        POSIX::setgid(65534);
        POSIX::setuid($nobody) or POSIX::_exit(9);
        print $wr join("\n", w("$PF/reset_method", "bus\n"), w("$GPU/rom", "1\n"),
                       w("$PF/sriov_numvfs", '0')), "\n";
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my @r = map { chomp; $_ } <$r>;
    waitpid $pid, 0;
    is_deeply(\@r, ['open:EACCES', 'open:EACCES', 'open:EACCES'],
              'nobody cannot write reset_method, rom or sriov_numvfs');

    is(w("$A/0000:00:01.1/reset_method", 'bus'), 'ok', "a bridge's list can be cut too");
    is(rd("$A/0000:00:01.1/reset_method"), "bus\n");
    is(w("$GPU/reset_method", ''), 'ok');
    is(w("$GPU/rom", '1'), 'ok');
    is(ctl('unplug 0000:01:00.0'), 'ok', 'hot-unplug the GPU');
    is(w('sys/bus/pci/rescan', '1'), 'ok', 'rescan');
    is(rd("$GPU/reset_method"), "bus\n", 'a rescanned device has its methods');
    is(rd("$GPU/rom"), undef, 'and its rom disabled');
    is(ctl('load ' . topology('readiness-amd')), 'ok', 'load another host');
    is(rd('proc/cmdline'), "$CMD amd_iommu=on iommu=pt\n", 'its command line');
    is(rl('sys/class/iommu/ivhd0'), '../../devices/virtual/iommu/ivhd0', 'its unit');
    ok(!-e "$M/sys/class/iommu/dmar0", 'not the old one');
};

done_testing();
