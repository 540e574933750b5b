#!/usr/bin/env bash
# Submit an hft command to a running Ray cluster as a Ray job, with this project as the working dir.
#   cluster/submit.sh ingest XAUUSD --start 2024-01-01 --end 2024-12-31 --store "$HFT_STORE"
#   cluster/submit.sh sweep sweeps/xau_tpe.yaml --store "$HFT_STORE"
# RAY_ADDRESS is the cluster's dashboard, e.g. http://127.0.0.1:8265 through `ray dashboard ray-cluster.yaml`.
# HFT_PYTHON is the Python that has hft installed on the cluster's nodes (default: `python` on their PATH,
# which ray-cluster.yaml's setup_commands point at ~/hft-venv).
# The cluster's dashboard asks for its token (RAY_AUTH_MODE=token): RAY_AUTH_TOKEN_PATH names the token
# file (for ray-cluster.yaml: ~/.config/hft/ray-cluster-token); unset, it is the local Ray's own token
# (hft.rayenv.auth_token_path(), the one cluster/local-cluster.sh uses). The token is never printed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
: "${RAY_ADDRESS:=http://127.0.0.1:8265}"
ray_bin=${RAY_BIN:-$here/.venv/bin/ray}
py=${PYTHON:-$here/.venv/bin/python}
export RAY_AUTH_MODE=token
if [ -z "${RAY_AUTH_TOKEN_PATH:-}" ] && [ -z "${RAY_AUTH_TOKEN:-}" ]; then
  RAY_AUTH_TOKEN_PATH=$(cd "$here" && "$py" -c 'from hft.rayenv import auth_token_path; print(auth_token_path())')
  export RAY_AUTH_TOKEN_PATH
fi
# The nodes already have hft installed (ray-cluster.yaml setup_commands); the job gets the spec files
# and configs from this folder, and the store and credentials from the nodes' environment.
exec "$ray_bin" job submit --address "$RAY_ADDRESS" \
  --runtime-env-json "{\"working_dir\": \"$here\", \"excludes\": [\".venv\", \"data\", \"demo-feed\", \"tests\", \".git\", \".*_cache\", \".hypothesis\"], \"env_vars\": {\"RAY_USAGE_STATS_ENABLED\": \"0\"}}" \
  -- "${HFT_PYTHON:-python}" -m hft.cli "$@" --address auto
