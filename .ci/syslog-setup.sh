#!/usr/bin/env bash
# Installs the external tools used by crates/syslog and crates/gelf integration tests:
# util-linux `logger` (usually present), rsyslog (omfwd to a test listener) and rsyslog-gnutls
# (omfwd over TLS), and curl for the loki_push_api tests.
set -euo pipefail
need=()
command -v logger >/dev/null 2>&1 || need+=(bsdutils)
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
command -v curl >/dev/null 2>&1 || need+=(curl)
# TLS forwarding (omfwd StreamDriver="gtls") in tests/integration/syslog.rs.
ls /usr/lib/*/rsyslog/lmnsd_gtls.so /usr/lib/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need+=(rsyslog-gnutls)
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# rsyslog's package may start a system daemon; the tests run their own instance.
if command -v systemctl >/dev/null 2>&1; then systemctl stop rsyslog >/dev/null 2>&1 || true; fi
echo "syslog-setup: logger=$(command -v logger) rsyslogd=$(command -v rsyslogd)"
