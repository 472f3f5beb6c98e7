#!/usr/bin/env bash
# The nightly refresh, measured: a 200-input corpus (40 videos, 160 stills, one web text each), a fresh
# run, then a "nightly delta" — 1% new files, 1% replaced in place by other bytes, 1% deleted, 10 manifest
# rows edited — the incremental run over it, and a fresh run over the final corpus to compare with.
# Prints each run's wall time and ledger, and whether the incremental output equals the fresh one.
#   tools/nightly_delta.sh [.build/release/capfilt]
set -euo pipefail
BIN=$(realpath "${1:-.build/release/capfilt}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/capfilt-nightly.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
"$BIN" synth pool --videos 40 --images 166 --seconds 4 --seed 4242 --no-hostile >/dev/null
mkdir -p corpus/videos corpus/images
cp pool/videos/* corpus/videos/
ls pool/images | head -160 | while read -r f; do cp "pool/images/$f" corpus/images/; done
spare=($(ls pool/images | tail -6))
grep -v -F -e "${spare[0]}" -e "${spare[1]}" -e "${spare[2]}" -e "${spare[3]}" -e "${spare[4]}" -e "${spare[5]}" pool/alt.jsonl > corpus/alt.jsonl

pipeline() {  # $1 = output folder
  cat > "$1.yaml" <<YAML
name: nightly
inputs:
  - folder: corpus
  - manifest: corpus/alt.jsonl
output:
  dir: $1
workers: 1
stages:
  - stage: decode
    sample: every 2s
    resize: none
    audio: {segment: span}
  - stage: caption
    model: $ROOT/models/demo-blip-caption
    strategy: nucleus
    num_captions: 3
    max_new_tokens: 20
  - stage: filter
    model: $ROOT/models/demo-blip-itm
    itc: true
  - stage: score
    model: $ROOT/models/demo-clip
YAML
  echo "$1.yaml"
}

ledger() {  # $1 = output folder, $2 = label
  sqlite3 "$1/shard-00000.sqlite" "SELECT stats FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1" | python3 -c "
import json, sys
s = json.load(sys.stdin)
keys = ['inputs_seen', 'hashed', 'new', 'changed', 'reused', 'skipped', 'renamed', 'restored', 'retired', 'processed', 'failed', 'frames', 'texts_kept', 'texts_dropped']
print('$2: wall %.2f s; ' % s['wall_seconds'] + ', '.join('%s %s' % (k, s.get(k)) for k in keys))
for name, c in s['stages'].items():
    print('    %-8s in %-4d seconds %.2f' % (name, c.get('in', 0), c.get('seconds', 0)))
"
}

"$BIN" run "$(pipeline inc)" --quiet || [ $? -eq 1 ]
ledger inc "fresh run, 200 inputs"

# The delta: 2 new, 2 replaced in place, 2 deleted, 10 manifest rows edited.
cp "pool/images/${spare[0]}" "pool/images/${spare[1]}" corpus/images/
cp "pool/images/${spare[2]}" "corpus/images/$(ls corpus/images | sed -n 10p)"
cp "pool/images/${spare[3]}" "corpus/videos/$(ls corpus/videos | sed -n 5p)"
rm "corpus/images/$(ls corpus/images | sed -n 20p)" "corpus/videos/$(ls corpus/videos | sed -n 7p)"
python3 - <<'PY'
import json
rows = [json.loads(l) for l in open('corpus/alt.jsonl')]
for i in range(0, 100, 10): rows[i]['text'] = rows[i]['text'] + ' at night'
open('corpus/alt.jsonl', 'w').write(''.join(json.dumps(r) + '\n' for r in rows))
PY

"$BIN" run "$(pipeline inc)" --quiet || [ $? -eq 1 ]
ledger inc "incremental run after the delta"
"$BIN" run "$(pipeline fresh)" --quiet || [ $? -eq 1 ]
ledger fresh "fresh run over the final corpus"

q="SELECT replace(uri, '$W/', ''), frame_idx, origin, text, kept, printf('%!.17g %!.17g %!.17g', itm, itc, clip) FROM capfilt_result ORDER BY 1, 2, 3, 4, 5, 6"
if [ "$(sqlite3 inc/shard-00000.sqlite "$q")" = "$(sqlite3 fresh/shard-00000.sqlite "$q")" ]; then
  echo "capfilt_result: incremental = fresh ($(sqlite3 fresh/shard-00000.sqlite "SELECT COUNT(*) FROM capfilt_result") pairs, bit-equal scores)"
else
  echo "capfilt_result: incremental differs from fresh"; exit 1
fi
