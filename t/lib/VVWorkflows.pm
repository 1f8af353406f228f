package VVWorkflows;
# The Volant reference's "Common Workflows" (t/lib/reference-workflows.txt)
# as steps a test runs with the real curl, the command text unchanged but
# for the substitutions a test names (the server's address, in the VM also
# the device).  Core Perl only: the e2e tests use it too.
use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use FindBin ();
use JSON::PP ();

our @EXPORT_OK = qw(workflows run_step);

my $json = JSON::PP->new->utf8->canonical;

sub text_file {
    for my $dir ("$FindBin::Bin/../lib", "$FindBin::Bin/lib", 't/lib') {
        return "$dir/reference-workflows.txt"
            if -f "$dir/reference-workflows.txt";
    }
    die "reference-workflows.txt not found\n";
}

# workflows(SUBST) -> ({title, steps => [{comment, command, expect}]}, ...)
# SUBST: [[FROM, TO], ...], applied to each command as plain text.  A
# "# Should show X" line after a command is that step's expectation.
sub workflows {
    my ($subst) = @_;
    open my $fh, '<', text_file() or die "reference-workflows.txt: $!\n";
    my (@flows, $comment, $cmd);
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^### (.+)/) {
            push @flows, { title => $1, steps => [] };
        }
        elsif (defined $cmd) {
            $cmd .= "\n$line";
            if ($line !~ /\\$/ && _balanced($cmd)) {
                $cmd = _apply($cmd, $subst);
                push @{ $flows[-1]{steps} },
                    { comment => $comment, command => $cmd };
                undef $cmd;
            }
        }
        elsif (@flows && $line =~ /^curl /) {
            $cmd = $line;
            if ($line !~ /\\$/ && _balanced($cmd)) {
                push @{ $flows[-1]{steps} },
                    { comment => $comment, command => _apply($cmd, $subst) };
                undef $cmd;
            }
        }
        elsif ($line =~ /^# Should show (.+)/ && @flows && @{ $flows[-1]{steps} }) {
            $flows[-1]{steps}[-1]{expect} = $1;
        }
        elsif ($line =~ /^# (.+)/) {
            $comment = $1;
        }
    }
    die "reference-workflows.txt: a command is not closed\n" if defined $cmd;
    return @flows;
}

# A command goes on while a single quote is open (the multi-line -d body).
sub _balanced { return ((() = $_[0] =~ /'/g) % 2) == 0 }

sub _apply {
    my ($cmd, $subst) = @_;
    for my $s (@{ $subst // [] }) {
        my ($from, $to) = @$s;
        $cmd =~ s/\Q$from\E/$to/g;
    }
    return $cmd;
}

# run_step(STEP) -> {status, body, json}.  The command runs through sh as a
# user would paste it; curl's own configuration file (CURL_HOME) adds only
# what a test needs to read the answer: no progress meter, the status after
# the body, a bound on the time.
sub run_step {
    my ($step) = @_;
    my $home = File::Temp->newdir;
    open my $rc, '>', "$home/.curlrc" or die "$home/.curlrc: $!\n";
    print $rc qq{silent\nshow-error\nmax-time = 60\nwrite-out = "\\n%{http_code}"\n};
    close $rc;
    local $ENV{CURL_HOME} = "$home";
    local $ENV{HOME} = "$home";
    open my $out, '-|', '/bin/sh', '-c', $step->{command}
        or die "sh: $!\n";
    my $text = do { local $/; <$out> } // '';
    close $out;
    my $rc_sh = $? >> 8;
    my ($body, $status) = $text =~ /\A(.*)\n(\d{3})\z/s ? ($1, $2) : ($text, 0);
    return { status => $status + 0, body => $body, exit => $rc_sh,
             json => scalar eval { $json->decode($body) } };
}

1;
