#!/bin/sh
# The LB container's entrypoint (filmopoisk.shs.openresty): nginx in the foreground, and a graceful stop that drains
# kept-alive clients first. On SIGQUIT or SIGTERM (docker stop; the compose service's stop_signal is SIGQUIT): the flag
# file makes nginx answer every request with "Connection: close" (filmopoisk.drain) for DRAIN_SECONDS, so clients
# reconnect after a complete response, then nginx stops gracefully (SIGQUIT: requests in flight finish).
set -u
flag=/run/filmopoisk-drain
rm -f "$flag"
/usr/local/openresty/bin/openresty -g 'daemon off;' &
pid=$!
stopping=0
# shellcheck disable=SC2317  # run by the trap below
drain() {
    [ "$stopping" = 1 ] && return
    stopping=1
    touch "$flag"
    sleep "${DRAIN_SECONDS:-0}"
    kill -QUIT "$pid" 2>/dev/null
}
trap drain QUIT TERM INT
# wait returns early when a trapped signal arrives; wait again for nginx itself.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    status=$?
done
rm -f "$flag"
exit "${status:-0}"
