package VVSchema;
# Checks every response the suite receives against the OpenAPI document the
# module serves (the same file, embedded at build time): the status must be
# one the document lists for that path and method, and a JSON body must
# match its schema.  A mismatch dies, failing the test that got it.
#
# The checker covers the part of OpenAPI 3.0's schema language the document
# uses: $ref, type, nullable, required, properties, items, enum, pattern,
# minimum, minItems.
use strict;
use warnings;

use B ();
use JSON::PP ();

my $doc;

sub doc {
    return $doc //= do {
        my $f = Apache::Test::vars('top_dir') . '/mod_volant_vfio/openapi.json';
        open my $fh, '<', $f or die "$f: $!";
        local $/;
        JSON::PP->new->utf8->decode(<$fh>);
    };
}

sub resolve {
    my ($node) = @_;
    while (ref $node eq 'HASH' && $node->{'$ref'}) {
        my $n = doc();
        $n = $n->{$_} for grep { $_ ne '#' } split m{/}, $node->{'$ref'};
        $node = $n;
    }
    return $node;
}

# A JSON number as JSON::PP decodes it: numeric flags, no string flag.
# (Only reliable on a value not yet used as a string: check right after
# decoding, as json_of does.)
sub is_number {
    my $f = B::svref_2object(\$_[0])->FLAGS;
    return ($f & (B::SVf_IOK() | B::SVf_NOK())) && !($f & B::SVf_POK()) ? 1 : 0;
}

# Returns the first mismatch as "where: what", or undef.
sub mismatch {
    my ($schema, $v, $at) = @_;
    $schema = resolve($schema);
    return if !$schema || !%$schema;
    return if !defined $v && $schema->{nullable};
    my $t = $schema->{type} // '';
    my $is_bool = JSON::PP::is_bool($v);
    if ($t eq 'object') {
        return "$at: not an object" unless ref $v eq 'HASH';
        for my $r (@{$schema->{required} || []}) {
            return "$at: no $r" unless exists $v->{$r};
        }
        for my $k (sort keys %{$schema->{properties} || {}}) {
            next unless exists $v->{$k};
            my $m = mismatch($schema->{properties}{$k}, $v->{$k}, "$at.$k");
            return $m if $m;
        }
    }
    elsif ($t eq 'array') {
        return "$at: not an array" unless ref $v eq 'ARRAY';
        return "$at: fewer than $schema->{minItems} items"
            if defined $schema->{minItems} && @$v < $schema->{minItems};
        for my $i (0 .. $#$v) {
            my $m = mismatch($schema->{items}, $v->[$i], "$at\[$i\]");
            return $m if $m;
        }
    }
    elsif ($t eq 'string') {
        return "$at: not a string" if !defined $v || ref $v || $is_bool
            || is_number($v);
        return "$at: '$v' does not match $schema->{pattern}"
            if $schema->{pattern} && $v !~ /$schema->{pattern}/;
    }
    elsif ($t eq 'boolean') {
        return "$at: not a boolean" unless $is_bool;
    }
    elsif ($t eq 'integer' || $t eq 'number') {
        return "$at: not a number" if !defined $v || ref $v || $is_bool
            || $v !~ /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
        return "$at: not an integer" if $t eq 'integer' && $v != int $v;
        return "$at: below $schema->{minimum}"
            if defined $schema->{minimum} && $v < $schema->{minimum};
    }
    if ($schema->{enum} && !grep { defined $_ && defined $v && !ref $v && $_ eq ($is_bool ? ($v ? 'true' : 'false') : $v)
                                   || ($is_bool && JSON::PP::is_bool($_) && $_ == $v) }
                                 @{$schema->{enum}}) {
        return "$at: " . ($v // 'null') . ' is not one of the enum';
    }
    return;
}

# The document's verdict on one HTTP::Response (with its request).
# Set (local) around requests whose status an operator's own rules decide
# (a Redirect 410): the document describes the module, not them.
our $operator_rules;

sub check {
    my ($res, $body) = @_;
    return if $operator_rules;
    my $req = $res->request or return;
    my $path = $req->uri->path;
    my $op = doc()->{paths}{$path} or return;          # not an API path
    my $method = lc $req->method;
    $op = $op->{$method} or return;                     # 405s: no operation
    my $code = $res->code;
    my $r = resolve($op->{responses}{$code})
        or die "OpenAPI: $method $path answered $code, which the document does not list\n";
    return if $req->method eq 'HEAD' || $code == 304;
    my $type = lc(($res->header('Content-Type') // '') =~ s/;.*//sr);
    die "OpenAPI: $method $path $code: media type '$type' is not the document's\n"
        if $r->{content} && !$r->{content}{$type};
    my $schema = $r->{content}{'application/json'}{schema} or return;
    die "OpenAPI: $method $path $code: the body is not JSON\n" unless defined $body;
    my $m = mismatch($schema, $body, 'body');
    die "OpenAPI: $method $path $code: $m\n" if $m;
}

1;
