#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/live/soak.sh [SECONDS [TCPTRIAGE [RATE]]]     (as root, on demand; not in CI)
#
# Runs tcptriage -i for SECONDS (default 240) in network namespaces under
# steady connection churn (RATE connections/s, default 100; some refused, a
# few long-lived) and samples its RSS every 10 s. Exit 0 when the JSON
# instance's RSS stayed flat (grew < 1 MiB after the first minute), 1 when
# it grew, 2 when it could not run. See tests/live/soak.py, docs/live.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-240}
bin=${2:-$here/../../build/tcptriage}
rate=${3:-100}
[[ -x $bin ]] || { echo "soak: $bin: not built (ninja -C build)" >&2; exit 2; }
exec /usr/bin/python3 "$here/soak.py" "$secs" "$bin" "$rate"
