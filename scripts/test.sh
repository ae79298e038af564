#!/usr/bin/env bash
# The README's second command: install what the tests need, then run the whole suite.
# Real peers, not mocks: Prometheus/promtool, Alertmanager, net-snmp, VictoriaMetrics,
# InfluxDB 1.x, OpenSSH and Chromium (the wall page's browser tests) come from Debian; snmpsim and the Python deps from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(prometheus prometheus-alertmanager snmp snmpd victoria-metrics influxdb openssh-server iproute2
      nftables fping
      systemd chromium chromium-driver)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== installing netmon with its test extras"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
python3 -m ruff check .

echo "== mypy"
python3 -m mypy

echo "== pytest"
# three workers on two cores: the suite mostly waits on real servers (alert timings, polls);
# each shared stack's tests and each module stay on one worker (tests/conftest.py); `-n 0`
# runs it in one process; the 15 slowest tests are listed at the end, to keep the suite fast
exec python3 -m pytest -n 3 --dist loadgroup --durations=15 "$@"
