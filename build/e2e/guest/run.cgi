#!/bin/sh
# Control channel of the e2e VM (busybox httpd CGI, runs as root): the POST
# body is a shell script; the reply carries its exit code and stdout, then
# stderr. Reachable only through QEMU's loopback host forward.
#   X-Exit-Code: N        the script's exit status
#   X-Stdout-Length: N    the body is N bytes of stdout followed by stderr
export PATH=/e2e/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /
t=/run/e2e/cgi.$$
head -c "${CONTENT_LENGTH:-0}" > "$t.cmd"
sh "$t.cmd" > "$t.out" 2> "$t.err" < /dev/null
rc=$?
printf 'Content-Type: application/octet-stream\r\nX-Exit-Code: %s\r\nX-Stdout-Length: %s\r\n\r\n' \
    "$rc" "$(stat -c %s "$t.out")"
cat "$t.out" "$t.err"
rm -f "$t.cmd" "$t.out" "$t.err"
