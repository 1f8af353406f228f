# GET /healthz: what Volant's installation guide polls.  200 {"status":
# "ok"} while the privileged helper answers, 503 with the reason when it
# does not (here: stopped with SIGSTOP, so that it cannot answer), under
# the API's own access control (Require ip, the key).
use strict;
use warnings FATAL => 'all';
use lib 't/lib';

use Apache::Test qw(plan ok);
use Apache::TestRequest ();
use Apache::TestUtil qw(t_cmp);
use Time::HiRes ();
use VVTest;
use VVSim;

plan tests => 17;

my $key = 'test-key-0123456789abcdef';

my ($code, $body, $res) = get_json('/healthz');
ok t_cmp($code, 200, 'answers 200 while the helper answers');
ok t_cmp($body, { status => 'ok' }, 'with {"status": "ok"}');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'as JSON');

$res = Apache::TestRequest::HEAD('/healthz');
ok t_cmp($res->code, 200, 'HEAD too');
($code, $body) = post_json('/healthz', {});
ok t_cmp($code, 405, 'POST is refused');
ok t_cmp($body->{error}, qr/method POST not allowed on \/healthz/, 'naming the path');
($code) = get_json('/healthz/more');
ok t_cmp($code, 404, 'nothing below it');

# Access control: as for /host.
($code, $body) = get_as('vv_ip_denied', '/healthz');
ok t_cmp([$code, $body], [403, { error => 'access denied' }],
         'Require ip denies it as it denies the API');
($code, $body) = get_as('vv_key', '/healthz');
ok t_cmp([$code, $body->{error}], [401, 'invalid api key'],
         'with a key configured, no key is a 401');
($code, $body) = get_as('vv_key', '/healthz', 'X-API-Key' => $key);
ok t_cmp([$code, $body], [200, { status => 'ok' }], 'and the key lets it in');

# A helper that does not answer: 503 with the reason, within seconds.
my $pid = helper_pid();
ok t_cmp(defined $pid ? 1 : 0, 1, 'the helper runs');
kill 'STOP', $pid;
my $t0 = Time::HiRes::time();
($code, $body) = eval { get_json('/healthz') };
my $took = Time::HiRes::time() - $t0;
kill 'CONT', $pid;
ok t_cmp($code, 503, 'a stopped helper: 503');
ok t_cmp($body->{status}, 'unavailable', 'status "unavailable"');
ok t_cmp($body->{error}, qr/^the privileged helper did not answer within 3 s/, 'the reason names the helper');
my $slow = $ENV{VV_TEST_SLOWDOWN} || 1;
ok t_cmp($took < 10 * $slow, 1, sprintf('answered in %.1f s, not after the '
         . 'operation timeout', $took));

# And back.
my $ok = 0;
for (1 .. 50) {
    ($code, $body) = get_json('/healthz');
    last if ($ok = $code == 200);
    Time::HiRes::sleep(0.1);
}
ok t_cmp($ok ? 1 : 0, 1, '200 again once the helper runs');
ok t_cmp($body, { status => 'ok' }, 'with {"status": "ok"}');
