# mod_status shows what the helper did: its pid and uptime, binds, unbinds,
# refusals and failures, the devices held and the last error, in HTML and
# in the ?auto form.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use VVTest;
use VVSim;

plan tests => 8;

sub auto {
    my $res = Apache::TestRequest::GET('/server-status?auto');
    return { map { /^(VolantVfio\w+): (.*)$/ ? ($1 => $2) : () } split /\n/, $res->content };
}

sim_load('mixed-host');
Apache::TestRequest::module('vv_bind');
my $before = auto();
ok t_cmp([$before->{VolantVfioHelper}, $before->{VolantVfioHelperPid}],
         ['up', helper_pid()], 'the helper is up, with its pid');

bind('0000:04:00.0');
bind('0000:00:01.0');                       # a bridge: refused
sim('fault 0000:09:00.0 bind errno EIO');
bind('0000:09:00.0');                       # the kernel fails it
my $held = auto();
unbind('0000:04:00.0');
my $after = auto();

ok t_cmp($held->{VolantVfioBinds} - $before->{VolantVfioBinds}, 1, 'one bind counted');
ok t_cmp($held->{VolantVfioDevicesHeld}, 1, 'one device held while it is bound');
ok t_cmp($held->{VolantVfioRefusals} - $before->{VolantVfioRefusals}, 1, 'one refusal');
ok t_cmp($held->{VolantVfioFailures} - $before->{VolantVfioFailures}, 1, 'one failure');
ok t_cmp($held->{VolantVfioLastError}, qr/^bind: device 0000:09:00\.0: binding to vfio-pci failed/,
         'the last error');
ok t_cmp([$after->{VolantVfioUnbinds} - $before->{VolantVfioUnbinds},
          $after->{VolantVfioDevicesHeld}], [1, 0], 'the unbind counted, nothing held');
my $html = Apache::TestRequest::GET('/server-status')->content;
ok t_cmp($html, qr{<h2>Volant VFIO</h2>.*Devices held on vfio-pci}s, 'the HTML section');
sim('clear all');
