package VVE2E;
# Helpers of the real-kernel e2e tests (core Perl only). build/e2e/run sets:
#   VV_E2E_BASE      http://127.0.0.1:PORT  httpd in the VM
#   VV_E2E_CONTROL   http://127.0.0.1:PORT  the VM's control channel
#   VV_E2E_DEVICES   build/e2e/devices.map
#   VV_E2E_DEV_NAME  the address of each device in the map
#   VV_E2E_MODULE    1 when mod_volant_vfio.so was put in the VM
#   VV_E2E_WORK      build/e2e/.work
#   VV_E2E_KERNEL    the kernel series of this run: 6.1 or 6.12
#   VV_E2E_KVER      its release (uname -r in the guest)
#   VV_E2E_FIDELITY_OUT  where fidelity.t keeps the kernel's scenario results
# and, for t/e2e/reboot.t only (build/e2e/run's reboot sequence):
#   VV_E2E_REBOOT_DIR  where reboot_vm asks build/e2e/run for a reboot
#   VV_E2E_BOOT_N      the number of the current boot of the sequence (1...)
#   VV_E2E_BOOT_MAP    its device map's name ("default": devices.map)
use strict;
use warnings;
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(base dev devices api guest guest_ok driver_of group_of
    wait_until require_vm require_module hold_start hold_stop sysfs_info
    pci_ids_name restore_boot_state boot_state_drift reboot_vm);

my $json = JSON::PP->new->canonical->allow_nonref;
my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);

sub base    { $ENV{VV_E2E_BASE} }
sub control { $ENV{VV_E2E_CONTROL} }

# Skip the whole file unless run by build/e2e/run.
sub require_vm {
    return if base() && control();
    require Test::More;
    Test::More::plan(skip_all => 'needs the e2e VM: run build/e2e/run');
}

# Skip the whole file when the module is not in the VM (not built yet).
sub require_module {
    require_vm();
    return if ($ENV{VV_E2E_MODULE} // '') eq '1';
    require Test::More;
    Test::More::BAIL_OUT('mod_volant_vfio.so was not built, the VM runs '
        . 'httpd without it: run make e2e, which builds it');
}

# Device map: name => {address, id, boot_driver}.
sub devices {
    my $file = $ENV{VV_E2E_DEVICES} or die "VV_E2E_DEVICES not set\n";
    open my $fh, '<', $file or die "$file: $!\n";
    my %d;
    while (<$fh>) {
        next if /^#/ || !/\S/;
        my ($name, $addr, $id, $drv) = split;
        $d{$name} = { name => $name, address => $addr, id => $id,
                      boot_driver => ($drv eq '-' ? '' : $drv) };
    }
    return \%d;
}

sub dev {
    my ($name) = @_;
    return $ENV{"VV_E2E_DEV_$name"} // devices()->{$name}{address}
        // die "no device $name in the map\n";
}

# api(METHOD, PATH, [BODY], [HEADERS], [TIMEOUT]) ->
#   {status, json, content, headers, seconds}.
# BODY is a Perl structure sent as JSON; a plain string is sent as is.
# Status 599 is HTTP::Tiny's own: no answer within TIMEOUT (default 60 s).
sub api {
    my ($method, $path, $body, $headers, $timeout) = @_;
    my %opt = (headers => { %{ $headers // {} } });
    if (defined $body) {
        $opt{content} = ref $body ? $json->encode($body) : $body;
        $opt{headers}{'Content-Type'} //= 'application/json';
    }
    my $ua = $timeout ? HTTP::Tiny->new(timeout => $timeout, keep_alive => 0) : $http;
    my $t0 = time;
    my $res = $ua->request($method, base() . $path, \%opt);
    my $decoded = eval { $json->decode($res->{content}) };
    return { status => $res->{status}, json => $decoded, seconds => time - $t0,
             content => $res->{content}, headers => $res->{headers} };
}

# guest(SCRIPT) -> (exit code, stdout, stderr): runs SCRIPT with sh, as root,
# in the VM.
sub guest {
    my ($script) = @_;
    my $res = $http->request('POST', control() . '/cgi-bin/run',
        { content => $script, headers => { 'Content-Type' => 'text/plain' } });
    die "control channel: $res->{status} $res->{reason}\n"
        unless $res->{success} && defined $res->{headers}{'x-exit-code'};
    my $n = $res->{headers}{'x-stdout-length'} // 0;
    my $out = substr($res->{content}, 0, $n);
    my $err = substr($res->{content}, $n);
    return ($res->{headers}{'x-exit-code'} + 0, $out, $err);
}

# guest_ok(SCRIPT) -> stdout; dies when SCRIPT fails.
sub guest_ok {
    my ($script) = @_;
    my ($rc, $out, $err) = guest($script);
    die "guest command failed ($rc): $script\n$err" if $rc;
    return $out;
}

# The driver bound to ADDR in the VM's sysfs ('' for none).
sub driver_of {
    my ($addr) = @_;
    my $out = guest_ok("l=\$(readlink /sys/bus/pci/devices/$addr/driver) && basename \"\$l\"; true");
    chomp $out;
    return $out;
}

sub group_of {
    my ($addr) = @_;
    my $out = guest_ok("basename \"\$(readlink /sys/bus/pci/devices/$addr/iommu_group)\"");
    chomp $out;
    return $out;
}

# What the VM's sysfs says about ADDR, in the API's vocabulary: IDs without
# 0x, class as 4 hex digits, driver '' when none.
sub sysfs_info {
    my ($addr) = @_;
    my $d = "/sys/bus/pci/devices/$addr";
    my $out = guest_ok(join '; ',
        (map { "echo $_=\$(cat $d/$_)" } qw(vendor device class subsystem_vendor
            subsystem_device numa_node)),
        "l=\$(readlink $d/driver) && echo driver=\$(basename \$l) || echo driver=",
        "echo iommu_group=\$(basename \$(readlink $d/iommu_group))");
    my %i = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $out;
    $i{$_} =~ s/^0x// for qw(vendor device class subsystem_vendor subsystem_device);
    $i{class} = substr($i{class}, 0, 4);
    return \%i;
}

# Names from the pci.ids file the VM was given (the host's copy): the
# vendor's name, and with DEVICE the device's; undef when not listed.
my %ids;
sub pci_ids_name {
    my ($vendor, $device) = @_;
    unless (%ids) {
        open my $fh, '<', '/usr/share/misc/pci.ids' or die "pci.ids: $!\n";
        my $v;
        while (<$fh>) {
            last if /^C /;                    # class section follows devices
            if (/^([0-9a-f]{4})\s+(.*?)\s*$/) { $v = $1; $ids{$v} = $2 }
            elsif (defined $v && /^\t([0-9a-f]{4})\s+(.*?)\s*$/) { $ids{"$v:$1"} = $2 }
        }
    }
    return defined $device ? $ids{"$vendor:$device"} : $ids{$vendor};
}

# Devices whose driver differs from the one they booted with, as
# "NAME: now X, booted on Y" strings (empty when the VM is as booted).
sub boot_state_drift {
    my $devs = devices();
    my @drift;
    for my $n (sort keys %$devs) {
        my $now = driver_of($devs->{$n}{address});
        push @drift, "$n: now '$now', booted on '$devs->{$n}{boot_driver}'"
            if $now ne $devs->{$n}{boot_driver};
    }
    return @drift;
}

# Put every test device back on its boot driver behind the API's back, so
# that one failed test does not cascade into the next file.
sub restore_boot_state {
    my $devs = devices();
    my @cmd = ('for h in /run/e2e/hold/*.pid; do [ -f "$h" ] && kill $(cat "$h") 2>/dev/null; done; true');
    for my $n (sort keys %$devs) {
        my ($a, $drv) = @{ $devs->{$n} }{qw(address boot_driver)};
        my $d = "/sys/bus/pci/devices/$a";
        push @cmd, "echo > $d/driver_override",
            "cur=\$(basename \$(readlink $d/driver) 2>/dev/null)",
            "[ \"\$cur\" = '$drv' ] || { [ -e $d/driver ] && echo $a > $d/driver/unbind; "
            . ($drv ? "echo $a > /sys/bus/pci/drivers_probe; " : '') . "true; }";
    }
    guest(join "\n", @cmd);
}

# wait_until(SECONDS, CODE): polls CODE every 50 ms until it returns true or
# the deadline passes; returns CODE's last value.
sub wait_until {
    my ($secs, $code) = @_;
    my $deadline = time + $secs;
    while (1) {
        my $v = $code->();
        return $v if $v || time > $deadline;
        sleep 0.05;
    }
}

# Start a process in the VM that holds GROUP open (with "attach": also in a
# VFIO container, as QEMU does). Returns its pid, dies if it did not hold.
sub hold_start {
    my ($name, $group, $attach) = @_;
    my $out = guest_ok("vv-hold start $name $group" . ($attach ? ' attach' : ''));
    chomp $out;
    return $out;
}

sub hold_stop {
    my ($name) = @_;
    return guest("vv-hold stop $name");
}

# reboot_vm([MAP]) -> {boot => N, map => NAME, devices => FILE}: reboots the
# VM of the reboot sequence and returns once the new boot answers; MAP names
# the device map of the new boot (build/e2e/maps/MAP.map over devices.map;
# default "default", devices.map itself). build/e2e/run does the reboot
# (the guest's vv-reboot, then a new QEMU process on the same state disk)
# and hands back the new boot's URLs, which the other helpers then use.
# Dies when the reboot fails.
sub reboot_vm {
    my ($map) = @_;
    $map //= 'default';
    my $dir = $ENV{VV_E2E_REBOOT_DIR} or die "VV_E2E_REBOOT_DIR not set: not in build/e2e/run's reboot sequence\n";
    unlink "$dir/reply";
    open my $fh, '>', "$dir/request.tmp" or die "$dir/request.tmp: $!\n";
    print $fh "map=$map\n";
    close $fh or die "$dir/request.tmp: $!\n";
    rename "$dir/request.tmp", "$dir/request" or die "$dir/request: $!\n";
    my $secs = $ENV{VV_E2E_REBOOT_TIMEOUT} || 300;
    wait_until($secs, sub { -f "$dir/reply" })
        or die "no reboot within ${secs}s (build/e2e/run's reboot sequence did not answer)\n";
    open $fh, '<', "$dir/reply" or die "$dir/reply: $!\n";
    my %r = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } <$fh>;
    close $fh;
    unlink "$dir/reply";
    die "reboot failed: " . ($r{reason} // 'no reason given') . "\n" unless ($r{status} // '') eq 'ok';
    $ENV{VV_E2E_BASE} = $r{base};
    $ENV{VV_E2E_CONTROL} = $r{control};
    $ENV{VV_E2E_REF_BASE} = $r{ref_base};
    $ENV{VV_E2E_BOOT_N} = $r{boot};
    $ENV{VV_E2E_BOOT_MAP} = $r{map};
    return { boot => $r{boot}, map => $r{map}, devices => $r{devices} };
}

# Used by build/e2e/run: wait until both httpd and the control channel
# answer, QEMU is still alive, or the deadline passes.
sub wait_ready {
    my ($secs, $qemu_pid) = @_;
    my $quick = HTTP::Tiny->new(timeout => 2, keep_alive => 0);
    my $ok = wait_until($secs, sub {
        return -1 unless kill 0, $qemu_pid;
        my $r = $quick->get(base() . '/e2e-ready.txt');
        return 0 unless $r->{success};
        my $c = $quick->request('POST', control() . '/cgi-bin/run', { content => 'true' });
        return $c->{success} && defined $c->{headers}{'x-exit-code'} ? 1 : 0;
    });
    return $ok && $ok > 0;
}

# Used by build/e2e/run: copy the VM's logs next to the console log.
sub save_guest_logs {
    my ($dir) = @_;
    $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    for (['guest-httpd-error.log', 'cat /var/log/apache2/error.log'],
         ['guest-httpd-access.log', 'cat /var/log/apache2/access.log'],
         ['guest-dmesg.log', 'dmesg']) {
        my ($file, $cmd) = @$_;
        my (undef, $out) = eval { guest($cmd) };
        last unless defined $out;          # the control channel is gone
        open my $fh, '>', "$dir/$file" or next;
        print $fh $out;
        close $fh;
    }
}

1;
