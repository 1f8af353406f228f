# httpd workers run as nobody: with allow_other and default_permissions they
# can read attributes and follow links, but every write is EACCES, like
# root-only sysfs files; config space shows them 64 bytes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SimTest;
use Fcntl qw(O_WRONLY O_RDONLY);
use POSIX ();
use Test::More;

sim_start('mixed-host');
my $GPU = '0000:01:00.0';
my $nobody = getpwnam('nobody') // 65534;

# Runs CHECK as nobody in a child; returns its lines of "name result".
sub as_nobody {
    my ($check) = @_;
    pipe(my $r, my $wr) or die $!;
    my $pid = fork // die $!;
    if (!$pid) {
        close $r;
        POSIX::setgid(65534);
        POSIX::setuid($nobody) or POSIX::_exit(9);
        print $wr map { "$_->[0]\t$_->[1]\n" } $check->();
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my %res = map { chomp; split /\t/, $_, 2 } <$r>;
    waitpid $pid, 0;
    return \%res;
}

sub try_write {
    my ($path) = @_;
    sysopen(my $fh, "$M/$path", O_WRONLY) or return errname();
    return defined syswrite($fh, $GPU) ? 'ok' : errname();
}

my $res = as_nobody(sub {
    my $d = "$M/" . dev_path($GPU);
    return (
        ['uid', $>],
        ['vendor', rd(dev_path($GPU) . '/vendor') // errname()],
        ['driver', readlink("$d/driver") // errname()],
        ['override', rd(dev_path($GPU) . '/driver_override') // errname()],
        ['config', length(rd(dev_path($GPU) . '/config') // '')],
        ['state', defined rd('sim/state') ? 'ok' : errname()],
        ['w_override', try_write(dev_path($GPU) . '/driver_override')],
        ['w_bind', try_write('sys/bus/pci/drivers/vfio-pci/bind')],
        ['w_unbind', try_write(dev_path($GPU) . '/driver/unbind')],
        ['w_probe', try_write('sys/bus/pci/drivers_probe')],
        ['w_control', try_write('sim/control')],
        ['proc_fd', opendir(my $dh, "$M/proc/4242/fd") ? 'ok' : errname()],
        ['proc_maps', defined rd('proc/4242/maps') ? 'ok' : errname()],
        ['proc_comm', (rd('proc/4242/comm') // errname()) =~ s/\n$//r],
        ['nv_info', (rd("proc/driver/nvidia/gpus/$GPU/information") // '') =~ /^Device Minor: \t (\d+)$/m ? $1 : errname()],
        ['if_dir', -d "$M/sys/class/net/ens5/" ? 'ok' : errname()],
        ['vfio_open', open(my $v, '+<', "$M/dev/vfio/10") ? 'ok' : errname()],
    );
});
is($res->{uid}, $nobody, 'the child runs as nobody');
is($res->{vendor}, '0x10de', 'reads an attribute');
is($res->{driver}, '../../../../bus/pci/drivers/nvidia', 'reads a link');
is($res->{override}, '(null)', 'reads driver_override');
is($res->{config}, 64, 'config space: the first 64 bytes');
is($res->{state}, 'ok', 'reads sim/state');
is($res->{"w_$_"}, 'EACCES', "write to $_: EACCES") for qw(override bind unbind probe control);
is($res->{proc_fd}, 'EACCES', 'proc/PID/fd is not for others');
is($res->{proc_maps}, 'EACCES', 'nor proc/PID/maps');
is($res->{proc_comm}, 'nvidia-persiste', 'proc/PID/comm is');
is($res->{vfio_open}, 'EACCES', 'dev/vfio/N is root-only');
is($res->{nv_info}, 0, "reads nvidia's information file: the GPU's minor");
is($res->{if_dir}, 'ok', 'follows class/net/IF below a virtio device');
is(rd('sim/log'), '', 'no write reached the simulator');

done_testing();
