#!/usr/bin/env bash
# Page timings of `capfilt serve` on a generated dataset:
#   tools/serve_timings.sh CAPFILT OUT [WAIT_S]   (OUT made by: CAPFILT synth-shards OUT --sources 137000)
# WAIT_S: seconds to wait after start, so the histograms the server computes at start are ready.
# Starts the server on 127.0.0.1 (a free port), asks each page 5 times with curl and prints the first
# (cold) and the median of the other four, in milliseconds. Only loopback is ever contacted.
set -euo pipefail
bin=$1 out=$2
log=$(mktemp)
"$bin" serve "$out" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "serving" "$log" && break; sleep 0.1; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$log")
sleep "${3:-0}"
shards=$(ls "$out"/shard-*.sqlite | wc -l)
last=$((shards - 1))
# A cursor deep into the last shard: the page after it is as far as paging gets.
tid=$(sqlite3 -readonly "$out/shard-$(printf %05d $last).sqlite" "SELECT text_id || '.' || media_id FROM text_media ORDER BY text_id DESC LIMIT 1 OFFSET 5000")
sid=$(sqlite3 -readonly "$out/shard-00000.sqlite" "SELECT id FROM sources WHERE status = 'ok' ORDER BY id LIMIT 1 OFFSET 5000")
pairs=0
for f in "$out"/shard-*.sqlite; do pairs=$((pairs + $(sqlite3 -readonly "$f" "SELECT COUNT(*) FROM text_media"))); done
echo "dataset: $out, $shards shard(s), $pairs candidate pairs, $(du -sh "$out" | cut -f1)"
printf "%-52s %9s %9s %9s\n" page "cold ms" "median ms" "bytes"
for page in "/" "/?after=$last.$tid" "/?kept=0&origin=web" "/?itm_min=0.9&clip_min=0.35" "/?itm_min=0.995&itm_max=0.996" \
            "/?q=bicycle" "/?q=bicycle+snow&kept=1&itm_min=0.8" "/?q=nosuchword" "/source/0/$sid" "/media/0/100" \
            "/histograms" "/runs" "/errors" "/errors?page=20"; do
  times=()
  for i in 1 2 3 4 5; do
    times+=("$(curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}' "$base$page")")
  done
  code=$(echo "${times[0]}" | cut -d' ' -f3)
  [ "$code" = 200 ] || { echo "$page: HTTP $code" >&2; exit 1; }
  cold=$(echo "${times[0]}" | awk '{printf "%.1f", $1 * 1000}')
  med=$(printf "%s\n" "${times[@]:1}" | awk '{print $1 * 1000}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (a[2] + a[3]) / 2}')
  printf "%-52s %9s %9s %9s\n" "$page" "$cold" "$med" "$(echo "${times[0]}" | cut -d' ' -f2)"
done
