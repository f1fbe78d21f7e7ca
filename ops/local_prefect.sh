#!/usr/bin/env bash
# Try the operator's path on one machine: a local Prefect server, the process work pool, the
# deployments of prefect.yaml and one worker. Ctrl-C stops the worker and the server.
#   make prefect-local            (or: bash ops/local_prefect.sh [port])
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-4200}"
BIN="$PWD/.venv/bin"
export CALCISVD_REPO="$PWD"
export CALCISVD_HOME="${CALCISVD_HOME:-$PWD}"
export PREFECT_HOME="${PREFECT_HOME:-$CALCISVD_HOME/var/prefect-server}"
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 NIPYPE_NO_ET=1 GX_ANALYTICS_ENABLED=false
mkdir -p "$PREFECT_HOME"
"$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" > "$PREFECT_HOME/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "$PREFECT_API_URL/health" >/dev/null 2>&1 && break
  sleep 1
done
"$BIN/prefect" work-pool create calcisvd-local --type process --overwrite >/dev/null
"$BIN/prefect" --no-prompt deploy --all
echo
echo "Prefect UI: http://127.0.0.1:${PORT}   (API $PREFECT_API_URL)"
echo "run the pipeline now: PREFECT_API_URL=$PREFECT_API_URL $BIN/prefect deployment run calcisvd-pipeline/pipeline"
echo "starting a worker (Ctrl-C to stop the worker and the server)"
"$BIN/prefect" worker start --pool calcisvd-local
