#!/usr/bin/env bash
# Start a real multi-node Ray cluster on this machine (each node its own `ray start`, temp dir, ports,
# all with hft's network-safe Ray environment, token authentication on). Ctrl-C stops exactly these nodes.
# hft commands find the token themselves; for other Ray clients it prints the token file's path.
#   cluster/local-cluster.sh [NODES] [CPUS_PER_NODE]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
exec "$py" -m hft.localcluster --nodes "${1:-2}" --cpus-per-node "${2:-1}"
