# Every directive is checked when the configuration is read: a typo fails
# `apache2 -t` (configtest) with a message naming it, never a request.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $so = $ENV{VV_TEST_MODULE};
my $mods = '/usr/lib/apache2/modules';
open my $kf, '>', "$dir/loose.key" or die;
print $kf "a-key-that-others-can-read\n";
close $kf;
chmod 0644, "$dir/loose.key";

my @cases = (
    ['VolantVfioAllow 10de:* nvidia',
     qr/VolantVfioAllow: invalid allowlist pattern: nvidia \(expected vvvv:dddd or vvvv:\*\)/],
    ['VolantVfioAllow 10de:22', qr/invalid allowlist pattern: 10de:22/],
    ['VolantVfioGroupPolicy loose', qr/VolantVfioGroupPolicy must be strict or companions, not loose/],
    ['VolantVfioSysfsRoot /nonexistent', qr/VolantVfioSysfsRoot: \/nonexistent is not an existing directory/],
    ['VolantVfioDevRoot relative/dir', qr/VolantVfioDevRoot: relative\/dir is not an existing directory/],
    ['VolantVfioPciIds /nonexistent/pci.ids', qr/VolantVfioPciIds: \/nonexistent\/pci\.ids is not an existing file/],
    ['VolantVfioPciIds /usr/share', qr/VolantVfioPciIds: \/usr\/share is not an existing file/],
    ["<VirtualHost *:80>\nVolantVfioSysfsRoot /sys\n</VirtualHost>",
     qr/VolantVfioSysfsRoot cannot occur within <VirtualHost> section/],
    ['VolantVfioStateDir var/lib', qr/VolantVfioStateDir: var\/lib is not an absolute path/],
    ['VolantVfioOpTimeout 0', qr/VolantVfioOpTimeout must be a number from 1 to 3600, not 0/],
    ['VolantVfioOpTimeout ten', qr/VolantVfioOpTimeout must be a number/],
    ['VolantVfioMaxBodySize 99999999999', qr/VolantVfioMaxBodySize must be a number from 16 to 1073741824/],
    ['VolantVfioDriver ../../x', qr/VolantVfioDriver: invalid driver name \.\.\/\.\.\/x/],
    ['VolantVfioApiKey ${VV_NO_SUCH_VARIABLE}',
     qr/VolantVfioApiKey: \$\{VV_NO_SUCH_VARIABLE\} is not defined/],
    ['VolantVfioApiKey "two words"', qr/VolantVfioApiKey: the key may only contain printable characters without spaces/],
    ["VolantVfioApiKeyFile $dir/loose.key", qr/must be a regular file readable by its owner only/],
    ["VolantVfioApiKeyFile $dir/missing.key", qr/VolantVfioApiKeyFile: cannot open/],
    ['VolantVfioHelperSocket /' . ('x' x 120), qr/VolantVfioHelperSocket: .* is longer than a Unix socket path may be/],
    ['VolantVfioCorsOrigin *', qr/VolantVfioCorsOrigin: \* is not an origin \(expected scheme:\/\/host\[:port\]/],
    ['VolantVfioCorsOrigin https://console.example/app', qr/VolantVfioCorsOrigin: https:\/\/console\.example\/app is not an origin/],
    ['VolantVfioGroupOwner nobody no-such-vmm-user',
     qr/VolantVfioGroupOwner: no such user 'no-such-vmm-user' \(the VMM's user must exist when httpd starts\)/],
    ['VolantVfioGroupOwner nobody:no-such-vmm-group', qr/VolantVfioGroupOwner: no such group 'no-such-vmm-group'/],
    ['VolantVfioGroupOwner root', qr/VolantVfioGroupOwner: 'root' is root, who owns the nodes anyway/],
    ['VolantVfioGroupOwner nobody:', qr/VolantVfioGroupOwner: 'nobody:' is not USER or USER:GROUP/],
);
plan tests => 2 * @cases + 1;

sub configtest {
    my ($body) = @_;
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh <<CONF;
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule volant_vfio_module $so
$body
CONF
    close $fh;
    my $out = `$ENV{VV_TEST_HTTPD} -t -f $dir/httpd.conf 2>&1`;
    return ($? >> 8, $out);
}

for my $c (@cases) {
    my ($rc, $out) = configtest($c->[0]);
    my $name = (split /\n/, $c->[0])[0] =~ s/\Q$dir\E/DIR/r;
    ok t_cmp($rc, 1, "configtest fails: $name");
    ok t_cmp($out, $c->[1], "and says why: $name");
}
my ($rc, $out) = configtest("VolantVfioAllow 10de:* 1002:73BF\nVolantVfioGroupPolicy companions\n"
                            . "VolantVfioApiKey a-long-enough-key-0123456789");
ok t_cmp([$rc, $out], [0, qr/Syntax OK/], 'a correct configuration passes');
