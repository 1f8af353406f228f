package VVTestApache;
# Shared by build/install/install.t and build/deb/deb.t.
#
# A private run of Debian's stock apache2 with the system's own
# configuration, on 127.0.0.1:<free port> only, leaving the system's
# apache2 alone.  /etc/apache2 is copied into a temporary directory and the
# copy changed in four places:
#   * every symlink in mods-enabled/, conf-enabled/ is made absolute, so the
#     copy loads exactly the files the system has enabled: the *installed*
#     /etc/apache2/mods-available/volant_vfio.{load,conf} among them;
#   * ports.conf says only `Listen 127.0.0.1:PORT` (no Listen 80/443);
#   * sites-enabled/ holds one throwaway site on that address;
#   * envvars, copied, sends APACHE_RUN_DIR, APACHE_PID_FILE,
#     APACHE_LOCK_DIR and APACHE_LOG_DIR into the temporary directory (the
#     module's helper socket goes to the run dir, as DefaultRuntimeDir says).
# httpd runs in the foreground, in its own process group, started as root
# with workers as www-data, as the distribution runs it; apache2ctl is used
# only for -t (its start/stop may hand over to systemctl and the system's
# service).  Nothing is written under /etc.
#
# Also: tree snapshots for before/after comparisons, a free port, HTTP.

use strict;
use warnings;
use Cwd qw(abs_path);
use Digest::SHA;
use File::Basename qw(dirname);
use File::Find ();
use File::Path qw(remove_tree);
use File::Temp ();
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();

our $HTTPD = '/usr/sbin/apache2';

# A port nothing listens on now (bound with port 0, then released).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# path => "type mode uid:gid content-hash-or-link-target", for every entry
# under $root (directory mtimes and sizes left out: a2enmod touches them).
sub tree_state {
    my ($root) = @_;
    my %state;
    return \%state unless -e $root;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $p = $File::Find::name;
        my @st = lstat $p or return;
        my $mode = sprintf '%04o', $st[2] & 07777;
        my $desc;
        if (-l _) {
            $desc = "link -> " . readlink($p);
        } elsif (-d _) {
            $desc = "dir $mode $st[4]:$st[5]";
        } elsif (-f _) {
            my $sha = Digest::SHA->new(256);
            $sha->addfile($p);
            $desc = "file $mode $st[4]:$st[5] " . $sha->hexdigest;
        } else {
            $desc = "other $mode $st[4]:$st[5]";
        }
        $state{$p} = $desc;
    } }, $root);
    return \%state;
}

# The differences between two tree_state()s, as lines; empty when equal.
sub tree_diff {
    my ($before, $after) = @_;
    my @d;
    for my $p (sort keys %{{ %$before, %$after }}) {
        my ($b, $a) = ($before->{$p}, $after->{$p});
        if (!defined $a) { push @d, "gone:    $p ($b)" }
        elsif (!defined $b) { push @d, "new:     $p ($a)" }
        elsif ($a ne $b) { push @d, "changed: $p ($b => $a)" }
    }
    return @d;
}

# Empty directories under $root that are not in the snapshot $before:
# removed (deepest first) and returned.  a2enmod/a2dismod create their
# marker directories under /var/lib/apache2 and never remove them.
sub remove_new_empty_dirs {
    my ($root, $before) = @_;
    my @new = grep { !exists $before->{$_} && -d $_ && !-l $_ }
              keys %{ tree_state($root) };
    my @removed;
    for my $d (sort { length $b <=> length $a } @new) {
        push @removed, $d if rmdir $d;
    }
    return @removed;
}

sub run_capture {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub new {
    my ($class, %o) = @_;
    my $self = bless { %o }, $class;
    my $confdir = $o{confdir} // '/etc/apache2';
    my $tmp = File::Temp::tempdir('/tmp/vv-apache-XXXXXX');
    # Workers (www-data) reach the helper's socket in run/.
    chmod 0755, $tmp;
    $self->{tmp} = $tmp;
    $self->{etc} = "$tmp/etc";
    $self->{port} = $o{port} // free_port();
    my $etc = $self->{etc};

    system('cp', '-a', $confdir, $etc) == 0 or die "cp -a $confdir $etc failed";
    for my $sub (qw(mods-enabled conf-enabled sites-enabled)) {
        opendir(my $dh, "$etc/$sub") or next;
        for my $e (grep { !/^\.\.?$/ } readdir $dh) {
            my $l = "$etc/$sub/$e";
            next unless -l $l;
            my $t = readlink $l;
            $t = "$confdir/$sub/$t" unless $t =~ m{^/};
            unlink $l;
            next if $sub eq 'sites-enabled';
            symlink(abs_path($t) // $t, $l) or die "symlink $l: $!";
        }
        closedir $dh;
    }
    # Plain files in sites-enabled (an admin's) go too.
    unlink glob("$etc/sites-enabled/*");
    for my $d (qw(run lock log htdocs)) {
        mkdir "$tmp/$d" or die "mkdir $tmp/$d: $!";
        chmod 0755, "$tmp/$d";
    }
    _write("$tmp/htdocs/index.html", "vv private apache\n");
    $self->_write_listen;
    # extra_conf: global directives; @TMP@ stands for the private directory.
    (my $extra = $o{extra_conf} // '') =~ s/\@TMP\@/$tmp/g;
    _write("$etc/conf-enabled/zz-vv-test.conf",
           "# Generated for a private test run.\nServerName 127.0.0.1\n$extra");
    open(my $ev, '>>', "$etc/envvars") or die "$etc/envvars: $!";
    print $ev <<"ENV";

# Private test run: nothing under /var/run, /var/lock, /var/log.
export APACHE_RUN_DIR=$tmp/run
export APACHE_PID_FILE=$tmp/run/apache2.pid
export APACHE_LOCK_DIR=$tmp/lock
export APACHE_LOG_DIR=$tmp/log
ENV
    close $ev;
    return $self;
}

# ports.conf and the throwaway site, for $self->{port}.
sub _write_listen {
    my ($self) = @_;
    my ($etc, $tmp, $port) = @{$self}{qw(etc tmp port)};
    _write("$etc/ports.conf",
           "# Generated for a private test run: loopback only.\n"
           . "Listen 127.0.0.1:$port\n");
    _write("$etc/sites-enabled/vv-test.conf", <<"SITE");
# Generated for a private test run.
<VirtualHost 127.0.0.1:$port>
    ServerName 127.0.0.1
    DocumentRoot $tmp/htdocs
    <Directory $tmp/htdocs>
        Require local
    </Directory>
    ErrorLog \${APACHE_LOG_DIR}/error.log
    CustomLog \${APACHE_LOG_DIR}/access.log combined
</VirtualHost>
SITE
}

sub _write {
    my ($path, $text) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

sub port { $_[0]{port} }
sub base { "http://127.0.0.1:$_[0]{port}" }
sub dir  { $_[0]{tmp} }

sub error_log {
    my ($self) = @_;
    open(my $fh, '<', "$self->{tmp}/log/error.log") or return '';
    local $/;
    return <$fh>;
}

# apache2ctl -t on the copy; returns (ok, output).
sub configtest {
    my ($self) = @_;
    local $ENV{APACHE_CONFDIR} = $self->{etc};
    my ($rc, $out) = run_capture('/usr/sbin/apache2ctl', '-t');
    return ($rc == 0 && $out =~ /Syntax OK/, $out);
}

# Starts httpd; a port taken between free_port() and httpd's bind is
# replaced by another (three tries).  Returns (ok, why-not).
sub start {
    my ($self) = @_;
    my ($ok, $why);
    for (1 .. 3) {
        ($ok, $why) = $self->_start;
        last if $ok || $why !~ /Address already in use/;
        $self->{port} = free_port();
        $self->_write_listen;
        unlink "$self->{tmp}/log/error.log";
    }
    return ($ok, $why);
}

sub _start {
    my ($self) = @_;
    my ($etc, $tmp) = @{$self}{qw(etc tmp)};
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$tmp/log/stdout.log";
        open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
            '/bin/sh', '-c',
            '. "$1/envvars" && exec "$2" -d "$1" -f "$1/apache2.conf" -DFOREGROUND',
            'sh', $etc, $HTTPD
            or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    # Up when the port answers; gone if httpd exits first.
    for (1 .. 150) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            delete $self->{pid};
            return (0, "httpd exited with status " . ($? >> 8) . "\n"
                       . $self->error_log . _slurp("$tmp/log/stdout.log"));
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port}, Timeout => 1);
        if ($s) {
            close $s;
            return (1, '');
        }
        select undef, undef, undef, 0.1;
    }
    return (0, "httpd did not listen on 127.0.0.1:$self->{port} within 15 s\n"
               . $self->error_log);
}

sub _slurp {
    open(my $fh, '<', $_[0]) or return '';
    local $/;
    return <$fh>;
}

# Processes of this run: whatever has the private config directory on its
# command line (httpd's parent, its workers, the module's helper: all are
# forks of `apache2 -d DIR`).
sub processes {
    my ($self) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        my ($p) = $dir =~ m{(\d+)$};
        next if $p == $$;
        my $cmd = _slurp("$dir/cmdline");
        push @pids, $p if index($cmd, $self->{etc}) >= 0;
    }
    return @pids;
}

# Stops httpd (SIGTERM to the parent, as `apache2 -k stop` does), waits for
# it and every process of the run; SIGKILL for whatever is left after 20 s.
# Returns the pids that had to be killed.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid};
    if ($pid) {
        kill 'TERM', $pid;
        for (1 .. 150) {
            last if waitpid($pid, POSIX::WNOHANG()) == $pid;
            select undef, undef, undef, 0.1;
        }
    }
    my @left;
    for (1 .. 50) {
        @left = $self->processes or last;
        select undef, undef, undef, 0.1;
    }
    if (@left) {
        kill 'KILL', @left;
        waitpid($pid, 0) if $pid;
        select undef, undef, undef, 0.2;
    }
    return @left;
}

sub cleanup {
    my ($self) = @_;
    $self->stop if $self->{pid} || $self->processes;
    remove_tree($self->{tmp}) if $self->{tmp} && -d $self->{tmp};
    delete $self->{tmp};
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->cleanup if $self->{tmp};
}

# One request: (status, content-type, body, decoded JSON or undef).
sub request {
    my ($self, $method, $path, $json) = @_;
    my $http = HTTP::Tiny->new(timeout => 20);
    my %opt;
    if (defined $json) {
        $opt{headers} = { 'Content-Type' => 'application/json' };
        $opt{content} = JSON::PP->new->canonical->encode($json);
    }
    my $r = $http->request($method, $self->base . $path, \%opt);
    my $data = eval { JSON::PP->new->decode($r->{content}) };
    return ($r->{status}, $r->{headers}{'content-type'} // '', $r->{content},
            $data);
}

# The first PCI function of this host, or undef.
sub first_pci_device {
    opendir(my $dh, '/sys/bus/pci/devices') or return undef;
    my ($first) = sort grep { !/^\./ } readdir $dh;
    return $first;
}

1;
