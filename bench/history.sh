#!/usr/bin/env bash
# Times `sluice history` opening one application of TASKS map tasks (and a
# tenth as many reduce tasks) from its event log: the first answer for the
# application's stages and a page of its largest stage's tasks, and the
# server's peak RSS. Usage: TASKS=100000 bench/history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-100000}
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$out"' EXIT
go build -o "$out/sluice" ./cmd/sluice
go run ./bench/genlog --dir "$out/logs" --tasks "$TASKS"
du -sh "$out/logs/app-bench" | sed 's/^/log size: /'
ls "$out/logs/app-bench"
port=$((20000 + RANDOM % 20000))
"$out/sluice" history --dir "$out/logs" --listen 127.0.0.1:$port 2>"$out/history.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/api/v1/applications" >/dev/null; do sleep 0.05; done
grep VmRSS /proc/$pid/status | sed 's/^/before opening: /'
start=$(date +%s.%N)
curl -sf "http://127.0.0.1:$port/api/v1/applications/app-bench/stages" >/dev/null
curl -sf "http://127.0.0.1:$port/api/v1/applications/app-bench/stages/1/0/taskList?length=100&sortBy=-durationMs" >/dev/null
curl -sf "http://127.0.0.1:$port/api/v1/applications/app-bench/stages/1/0/taskSummary" >/dev/null
end=$(date +%s.%N)
echo "open + stages + task page + summary: $(echo "$end - $start" | bc) s"
grep -E 'VmHWM|VmRSS' /proc/$pid/status
