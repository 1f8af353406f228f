# The passthrough console (issue 16) in a real browser: headless Chromium
# driven by Selenium (t/console/drive.py) opens the page of an httpd of its
# own on the live simulator host (mixed-host), types the API key, finds
# every IOMMU group and device with its driver, binds the GPU (its audio
# function goes along) and releases it, meets a refusal and a wrong key in
# the API's own words, and shows a hostile pci.ids name as text.  drive.py
# pauses after each action; this side checks the simulator itself (the
# driver links, the records, the sysfs writes) before it goes on.  The
# page's headers and its source are checked here too.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok need);
use Apache::TestUtil qw(t_cmp);
use File::Path qw(make_path);
use HTTP::Tiny ();
use IPC::Open2 qw(open2);
use JSON::PP ();
use VVTest;
use VVSim;
use VVHttpd;

my $top = Apache::Test::vars('top_dir');
my $python = '/usr/bin/python3';   # Debian's, where python3-selenium is
my $chromium = '/usr/bin/chromium';
my $chromedriver = '/usr/bin/chromedriver';
my $key = 'console-key-0123456789abcdef';
my $ids = "$top/t/console/pci.ids";
my $topology = "$top/t/topologies/mixed-host.json";
my $shots = "$top/build/out/console";
my ($GPU, $AUDIO, $NIC) = ('0000:01:00.0', '0000:01:00.1', '0000:03:00.0');
my $CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        . "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
my $HOSTILE = q{GA102 <img src=x onerror="document.title='pwned'"><script>window.pwned=1</script> [GeForce RTX 3090]};

# What drive.py observes, in the order it reports them.
my @drive_checks = qw(page_loads asks_for_key console_clean_at_load key_accepted
    console_clean_after_key readiness_shown groups_complete drivers_right
    ungrouped_listed bridges_and_allowlist_marked viability_shown usage_shown legend_shown
    hostile_name_is_text filters_work group_check bind_answer_shown bound_shown
    records_shown console_clean_after_bind vm_shown vm_release_refused released_shown records_empty_after_release group_buttons console_clean_after_release
    refusal_shown console_after_refusal wrong_key_shown console_after_wrong_key
    key_restored narrow_fits nothing_injected);
my @screens = qw(key-prompt overview filter-nvidia bound held-by-vm refused wrong-key narrow);

plan tests => 23 + 12 + @drive_checks + 5, need {
    "chromium is not installed (apt-get install chromium; make test-console installs it)"
        => -x $chromium,
    "chromedriver is not installed (apt-get install chromium-driver)" => -x $chromedriver,
    "python3-selenium is not installed (apt-get install python3-selenium)"
        => sub { -x $python && system($python, '-c', 'import selenium') == 0 },
};

my $json = JSON::PP->new->utf8->canonical;
my $topo = do { local (@ARGV, $/) = ($topology); $json->decode(<>) };
my %want_driver = map { $_->{address} => $_->{driver} // '' } @{ $topo->{devices} };

sim_load('mixed-host');

# An httpd of its own: the fixture pci.ids (VolantVfioPciIds is global), the
# key on the API's location (so /openapi, which VVHttpd::start polls,
# answers without one).  The Require line here replaces VVHttpd's
# "Require ip 127.0.0.1" for the location (AuthMerging Off): the key alone
# decides, checked below.
my $h = VVHttpd::start(sysfs => $ENV{VV_TEST_SYSFS}, dev => $ENV{VV_TEST_DEV},
                       proc => $ENV{VV_TEST_PROC}, conf => <<"CONF");
VolantVfioPciIds "$ids"
VolantVfioAllow 10de:*
<Location "/api/v1/vfio">
    VolantVfioApiKey $key
    Require volant-vfio-api-key
</Location>
<Location "/vfio-console">
    SetHandler volant-vfio-console
</Location>
CONF
my $state_dir = "$h->{work}/state/devices";
sub held { return sort map { s{.*/}{}r =~ s/\.json$//r } glob("$state_dir/*.json") }

# ---- the page's headers and source (23) ---------------------------------

my $http = HTTP::Tiny->new(timeout => 10, max_redirect => 0);
my $page = $http->get("$h->{base}/vfio-console/");
ok t_cmp($page->{status}, 200, 'GET /vfio-console/: the page, without a key');
ok t_cmp($page->{headers}{'content-type'}, 'text/html; charset=utf-8', 'as HTML');
ok t_cmp($page->{headers}{'content-security-policy'}, $CSP,
         'Content-Security-Policy: nothing but its own script, style and API');
ok t_cmp($page->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options: DENY');
ok t_cmp($page->{headers}{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options: nosniff');
ok t_cmp($page->{headers}{'referrer-policy'}, 'no-referrer', 'Referrer-Policy: no-referrer');

my $redir = $http->get("$h->{base}/vfio-console");
ok t_cmp($redir->{status}, 301, '/vfio-console redirects');
ok t_cmp($redir->{headers}{location}, "$h->{base}/vfio-console/", 'to the page with its slash');
ok t_cmp($redir->{headers}{'content-security-policy'}, $CSP, 'the redirect carries the CSP too');

my %asset = ('console.js' => 'text/javascript; charset=utf-8',
             'console.css' => 'text/css; charset=utf-8',
             'favicon.svg' => 'image/svg+xml');
my %src;
for my $name (sort keys %asset) {
    my $r = $http->get("$h->{base}/vfio-console/$name");
    ok t_cmp("$r->{status} " . ($r->{headers}{'content-type'} // ''), "200 $asset{$name}",
             "$name served with its type");
    $src{$name} = $r->{content};
}
my $html = $page->{content};
ok t_cmp([$html =~ /<link rel="stylesheet" href="console\.css">/ ? 1 : 0,
          $html =~ /<script src="console\.js" defer><\/script>/ ? 1 : 0],
         [1, 1], 'the page names its style sheet and script relatively');
ok t_cmp([scalar(() = $html =~ /<script\b(?![^>]*\bsrc=)/gi),
          scalar(() = $html =~ /<style\b|\bstyle=|\son[a-z]+=/gi)],
         [0, 0], 'no inline script, style or event handler in the page');
ok t_cmp([$src{'console.js'} =~ /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\s*\(|new Function|setAttribute\(\s*["']style)/g],
         [], 'the script never parses strings as HTML or code');
ok t_cmp($src{'console.js'} =~ /X-API-Key/ && $src{'console.js'} =~ /sessionStorage/ ? 1 : 0, 1,
         'the script sends the key in X-API-Key and keeps it in sessionStorage');

# The API behind it: the key is what decides.
my $api = "$h->{base}/api/v1/vfio";
my $r = $http->get("$api/host");
ok t_cmp([$r->{status}, $r->{content}], [401, '{"error":"invalid api key"}'],
         'GET /host without the key: 401, from loopback too (the key replaced Require ip)');
$r = $http->get("$api/host", { headers => { 'X-API-Key' => 'wrong-key-0000000000000000' } });
ok t_cmp($r->{status}, 401, 'with a wrong key: 401');
$r = $http->get("$api/host", { headers => { 'X-API-Key' => $key } });
my $host = eval { $json->decode($r->{content}) } // {};
ok t_cmp([$r->{status}, $host->{allowlist}, $host->{helper}{running} ? 1 : 0],
         [200, ['10de:*'], 1], 'with the key: 200, the allowlist, the helper running');
ok t_cmp($r->{headers}{'cache-control'}, 'no-store', 'API answers are never cached');
$r = $http->get("$api/devices", { headers => { 'X-API-Key' => $key } });
my $devices = eval { $json->decode($r->{content}) } // [];
my ($gpu) = grep { $_->{address} eq $GPU } @$devices;
ok t_cmp($gpu && $gpu->{device_name}, $HOSTILE,
         'VolantVfioPciIds: names come from the fixture, hostile one included');
$r = $http->post("$api/devices/bind", { headers => { 'X-API-Key' => $key,
    'Content-Type' => 'application/json', Origin => 'http://evil.example' },
    content => qq({"pci_addresses":["$GPU"]}) });
ok t_cmp([$r->{status}, driver_of($GPU)], [403, 'nvidia'],
         'a cross-origin bind with the key is refused: only the page of this server may drive it');
ok t_cmp([held()], [], 'and nothing was recorded');

# ---- drive.py, pausing after each action (11 + one per check) --------------

make_path($shots);
unlink glob("$shots/*.png"), "$shots/drive.json";
my ($out, $in);
my $pid = open2($out, $in, $python, "$top/t/console/drive.py", '--url', "$h->{base}/vfio-console/",
                '--key', $key, '--shots', $shots, '--topology', $topology, '--pause',
                '--chromium', $chromium, '--chromedriver', $chromedriver);
my (%seen, @taken, $aborted, $done);
my %at = (
    bound => sub {
        ok t_cmp([driver_of($GPU), driver_of($AUDIO)], ['vfio-pci', 'vfio-pci'],
                 'after the page bound the GPU: the simulator has both functions on vfio-pci');
        ok t_cmp([held()], [$GPU, $AUDIO], 'each with its record (the audio as companion)');
        ok t_cmp(group_node(2), 1, '/dev/vfio/2 exists');
        sim('hold 2 4343 qemu-system-x86');   # a VM starts with the group
    },
    'vm-held' => sub {
        ok t_cmp([driver_of($GPU), driver_of($AUDIO), held()],
                 ['vfio-pci', 'vfio-pci', $GPU, $AUDIO],
                 'the refused release left both on vfio-pci with their records');
        sim('release 2');                      # the VM stops
    },
    released => sub {
        ok t_cmp([driver_of($GPU), driver_of($AUDIO)], ['nvidia', 'snd_hda_intel'],
                 'after the page released it: nvidia and snd_hda_intel again');
        ok t_cmp([held()], [], 'no record left');
        ok t_cmp(group_node(2), 0, '/dev/vfio/2 is gone');
    },
    'group-round-trip' => sub {
        ok t_cmp([driver_of($GPU), driver_of($AUDIO), held()], ['nvidia', 'snd_hda_intel'],
                 'after Bind group and Release group: back on their drivers, no record');
        sim('log clear');
    },
    refused => sub {
        ok t_cmp(driver_of($NIC), 'igb', 'after the refused bind: the NIC is on igb');
        ok t_cmp(sim_log(), '', 'and nothing was written to sysfs');
    },
);
my @pauses;
{
    local $SIG{ALRM} = sub { kill 'TERM', $pid; die "drive.py did not finish within 300 s\n" };
    alarm 300;
    while (my $line = <$out>) {
        my $rec = eval { $json->decode($line) };
        if (!$rec) {
            print STDERR "# drive.py: $line";
            next;
        }
        if (defined $rec->{check}) {
            $seen{$rec->{check}} = $rec;
        } elsif (defined $rec->{pause}) {
            push @pauses, $rec->{pause};
            ($at{$rec->{pause}} // sub { die "unknown pause $rec->{pause}\n" })->();
            local $SIG{PIPE} = 'IGNORE';
            print $in "go\n";
            $in->flush;
        } elsif (defined $rec->{screenshot}) {
            push @taken, $rec->{screenshot};
        } elsif (defined $rec->{aborted}) {
            $aborted = $rec->{aborted};
        } elsif (defined $rec->{done}) {
            $done = $rec->{done};
        }
    }
    alarm 0;
}
close $in;
waitpid($pid, 0);
my $status = $? >> 8;
print STDERR "# drive.py broke off:\n", map { "#   $_\n" } split /\n/, $aborted if $aborted;

ok t_cmp(\@pauses, ['bound', 'vm-held', 'released', 'group-round-trip', 'refused'],
         'drive.py paused after each action');
ok t_cmp([$status, $done ? 1 : 0], [0, 1], 'drive.py ran to the end');
for my $name (@drive_checks) {
    my $c = $seen{$name};
    print STDERR "# $name: $c->{detail}\n" if $c && !$c->{ok};
    ok t_cmp($c ? ($c->{ok} ? 'ok' : 'not ok') : 'missing', 'ok', "page: $name");
}

# ---- afterwards (5) ---------------------------------------------------------

my @names = map { s{.*/\d\d-}{}r =~ s/\.png$//r } @taken;
ok t_cmp(\@names, \@screens, "screenshots in $shots");
sub png_of {
    my ($file) = @_;
    open(my $fh, '<:raw', $file) or return 0;
    my $magic = '';
    read($fh, $magic, 8);
    return $magic eq "\x89PNG\r\n\x1a\n" && -s $file > 5000;
}
my @png = grep { png_of($_) } @taken;
ok t_cmp(scalar(@png), scalar(@screens), 'each a PNG with something in it');
my %now = map { $_ => driver_of($_) } keys %want_driver;
ok t_cmp(\%now, \%want_driver, 'every device of the host ends on the driver it started with');
ok t_cmp([held()], [], 'no record left');
ok t_cmp([VVHttpd::error_log($h) =~ /^.*(?:AH00052|exit signal|VFIO2001[0-2]:).*$/mg], [],
         'no child or helper crashed (error log)');
