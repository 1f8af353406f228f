# Every message the module logs carries a stable tag (VFIOnnnnn), each tag
# is used once, and no logging call can print the API key.
use strict;
use warnings;
use Test::More;

my @files = (glob('mod_volant_vfio/*.c'), glob('mod_volant_vfio/core/*.c'));
my (%seen, @untagged, @dups);
for my $f (@files) {
    my $src = do { local (@ARGV, $/) = $f; <> };
    # Each call up to its closing ");" (calls span lines).
    while ($src =~ /\b(ap_log_r?error|ap_log_perror|vv_log)\s*\((.*?)\);/gs) {
        my ($fn, $args) = ($1, $2);
        next if $fn eq 'vv_log' && $args =~ /^\s*int level/;        # its definition
        next if $args =~ /^\s*APLOG_MARK, level, 0, baton, "%s", msg\s*$/s; # the core's relay
        my @tags = $args =~ /VV_TAG\((\d+)\)/g;
        push @untagged, "$f: $fn(" . substr($args =~ s/\s+/ /gr, 0, 60) . ')' unless @tags;
        for my $t (@tags) { push @dups, "$t in $f and $seen{$t}" if $seen{$t}; $seen{$t} = $f }
        like($args, qr/^(?!.*\bkey_hash\b)(?!.*presented)/s, "$f: $fn does not log a key")
            if $args =~ /key/i;
    }
}
ok(scalar(keys %seen) > 30, scalar(keys %seen) . ' tagged messages');
is_deeply(\@untagged, [], 'every logging call has a tag');
is_deeply(\@dups, [], 'no tag is used twice');
ok(!grep({ !/^\d{5}$/ } keys %seen), 'tags have five digits');
done_testing();
