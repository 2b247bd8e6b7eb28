#!/bin/sh
# Container health check for the hookbridge image.
#
#   hookbridge-healthcheck [PATH]     PATH defaults to /healthz
#
# One image runs three programs, each serving health on its own listen
# setting, so the port is taken from whichever program is PID 1 instead of
# being fixed in the Dockerfile. A "port" or "address:port" setting both
# work; an address of 0.0.0.0 or empty means this container.
set -eu

path="${1:-/healthz}"

case "$(tr '\0' ' ' </proc/1/cmdline)" in
  *hookbridge-enricher*) listen="${HOOKBRIDGE_METRICS_LISTEN:-9100}" ;;
  *hookbridge-test-api*) listen="${HOOKBRIDGE_TEST_API_LISTEN:-8090}" ;;
  *) listen="${HOOKBRIDGE_LISTEN:-8080}" ;;
esac

port="${listen##*:}"
exec curl --fail --silent --show-error --output /dev/null --max-time 3 \
  "http://127.0.0.1:${port}${path}"
