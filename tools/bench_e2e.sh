#!/usr/bin/env bash
# `make bench`, end to end (issue #14): the whole CapFilt job — decode, 3 nucleus captions of 20 tokens
# per frame, BLIP ITM + ITC on every pair, CLIP on every pair, written to SQLite — by `capfilt run` and
# by tools/e2e_reference.py (ffmpeg CLI + transformers as documented), same corpus, same full-size
# random checkpoints (BLIP-base caption and ITM, CLIP ViT-B/32), same frames, same tokens, same machine.
#   1. checkpoints, once: tools/fullsize_blip.py / tools/fullsize_clip.py --skip-compare
#   2. corpus, once: `capfilt synth` (4 videos of 8 s, 640x480, 25 fps -> 16 frames at every 2 s) and a
#      manifest giving each video 4 web texts (its own alt-text and the other three videos' ones, the
#      kind of noise a scraped page gives): 16 frames x (4 web + 3 synthetic) = 112 pairs
#   3. the pipeline YAML (WORK/capfilt.yaml; --bf16 also writes WORK/capfilt-bf16.yaml with `precision: bf16` on the
#      model stages, runs it after fp32 in every round and compares the two outputs, tools/compare_precision.py)
#   4. REPEATS rounds, each the Python reference then `capfilt run` into a fresh output folder, under
#      /usr/bin/time -f "%e %M" (wall seconds, peak RSS in KiB)
#   5. medians of wall time, capfilt's speed-up, peak RSS of both, capfilt's per-stage seconds (the
#      run ledger's stats) and the Python script's own split; WORK/bench-e2e.json holds every figure
# Usage: tools/bench_e2e.sh [path/to/capfilt] [--repeats N] [--bf16] [--work DIR] [--blip DIR] [--clip DIR]
#            [--threads N] [--capfilt-env NAME=VALUE]... [-- extra `capfilt run` flags]
# e.g.   tools/bench_e2e.sh .build/release/capfilt --repeats 1 --capfilt-env OPENBLAS_CORETYPE=Haswell
# Paths are relative to the repository root. Exit status 1 when the two sides did not do the same work.
set -euo pipefail
cd "$(dirname "$0")/.."

CAPFILT="" REPEATS=3 BF16=0 WORK=out/bench-e2e BLIP=out/blip-base CLIP=out/clip-b32 THREADS=2
CAPFILT_ENV=() RUN_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) REPEATS=$2; shift 2 ;;
    --bf16) BF16=1; shift ;;
    --work) WORK=$2; shift 2 ;;
    --blip) BLIP=$2; shift 2 ;;
    --clip) CLIP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --capfilt-env) CAPFILT_ENV+=("$2"); shift 2 ;;
    --) shift; RUN_FLAGS=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_e2e.sh: unknown option $1" >&2; exit 64 ;;
    *) CAPFILT=$1; shift ;;
  esac
done
if [ -z "$CAPFILT" ]; then
  swift build -c release --product capfilt >/dev/null
  CAPFILT="$(swift build -c release --show-bin-path)/capfilt"
fi
CAPFILT=$(realpath "$CAPFILT")
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench_e2e.sh: $TIME missing (Debian package 'time'; make bench-deps installs it)" >&2; exit 69; }
[ -x tools/.venv/bin/python ] || tools/setup_venv.sh
PY=tools/.venv/bin/python
mkdir -p "$WORK"
WORK=$(realpath "$WORK")

# 1. checkpoints
[ -f "$BLIP/caption/model.safetensors" ] && [ -f "$BLIP/itm/model.safetensors" ] || $PY tools/fullsize_blip.py --out "$BLIP" --skip-compare
[ -f "$CLIP/model.safetensors" ] || $PY tools/fullsize_clip.py --out "$CLIP" --skip-compare
BLIP=$(realpath "$BLIP"); CLIP=$(realpath "$CLIP")

# 2. corpus: no hostile files, no audio or subtitles read (the reference reads neither)
CORPUS=$WORK/corpus
if [ ! -f "$CORPUS/web.jsonl" ]; then
  rm -rf "$CORPUS"
  "$CAPFILT" synth "$CORPUS" --videos 4 --images 0 --seconds 8 --size 640x480 --seed 14 --no-hostile >/dev/null
  $PY - "$CORPUS" <<'EOF'
import json, sys
corpus = sys.argv[1]
rows = [json.loads(l) for l in open(f"{corpus}/alt.jsonl") if l.strip()]
with open(f"{corpus}/web.jsonl", "w") as f:
    for r in rows:  # its own alt-text first, then the other videos' ones
        for k, o in enumerate([r] + [o for o in rows if o is not r]):
            f.write(json.dumps({"path": r["path"], "text": o["text"], "id": f"{r['id']}-{k}"}) + "\n")
EOF
fi

# 3. the pipeline: pipelines/capfilt.yaml's stages at the reference's settings
YAML=$WORK/capfilt.yaml
# With --bf16 a twin pipeline ($WORK/capfilt-bf16.yaml, output capfilt-out-bf16) adds `precision: bf16`
# to the model stages; each round then runs capfilt in both precisions.
write_yaml() {  # write_yaml FILE OUTPUT_DIR PRECISION_LINE
PRECISION=$3
cat >"$1" <<EOF
# Written by tools/bench_e2e.sh: the end-to-end comparison's job (settings as tools/e2e_reference.py).
version: 1
name: bench-e2e
inputs:
  - folder: $CORPUS/videos
  - manifest: $CORPUS/web.jsonl
output:
  dir: $2
workers: 1
stages:
  - stage: decode
    sample: every 2s
    resize: {shortest: 384, crop: none}
    image_format: jpeg
    quality: 92
    audio: false
    subtitles: false
  - stage: caption
    model: $BLIP/caption
    strategy: nucleus
    top_p: 0.9
    top_k: 50
    num_captions: 3
    min_new_tokens: 20
    max_new_tokens: 20
    seed: 0$PRECISION
  - stage: filter
    model: $BLIP/itm
    threshold: 0.5
    origins: [web, subtitle, synthetic]
    itc: true$PRECISION
  - stage: score
    model: $CLIP
    metric: clip$PRECISION
EOF
"$CAPFILT" validate "$1" >/dev/null
}
write_yaml "$YAML" "$WORK/capfilt-out" ""
[ "$BF16" = 1 ] && write_yaml "$WORK/capfilt-bf16.yaml" "$WORK/capfilt-out-bf16" $'\n    precision: bf16'

# 4. the rounds
ENV_CMD=(env); [ ${#CAPFILT_ENV[@]} -gt 0 ] && ENV_CMD+=("${CAPFILT_ENV[@]}")
FRAMES=$(( 4 * 4 ))
RESULTS=$WORK/rounds.jsonl
: >"$RESULTS"
echo "== end to end: ${FRAMES} frames, 3 nucleus captions x 20 tokens, ITM+ITC and CLIP on every pair; $THREADS threads each"
echo "   capfilt: $CAPFILT ${CAPFILT_ENV[*]:-} ${RUN_FLAGS[*]:-}$([ "$BF16" = 1 ] && echo ' (precision: bf16)')"
echo "   host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$REPEATS"); do
  rm -f "$WORK/python.sqlite" "$WORK/time-capfilt-bf16.txt"
  $TIME -f "%e %M" -o "$WORK/time-python.txt" $PY tools/e2e_reference.py --corpus "$CORPUS" --blip "$BLIP" --clip "$CLIP" \
    --out "$WORK/python.sqlite" --threads "$THREADS" --expect-frames "$FRAMES" >"$WORK/python.log" 2>&1 \
    || { cat "$WORK/python.log" >&2; exit 1; }
  rm -rf "$WORK/capfilt-out"
  status=0
  $TIME -f "%e %M" -o "$WORK/time-capfilt.txt" "${ENV_CMD[@]}" "$CAPFILT" run "$YAML" --quiet ${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"} \
    >"$WORK/capfilt.log" 2>&1 || status=$?
  [ "$status" = 0 ] || { cat "$WORK/capfilt.log" >&2; echo "bench_e2e.sh: capfilt run exited $status" >&2; exit 1; }
  if [ "$BF16" = 1 ]; then
    rm -rf "$WORK/capfilt-out-bf16"
    $TIME -f "%e %M" -o "$WORK/time-capfilt-bf16.txt" "${ENV_CMD[@]}" "$CAPFILT" run "$WORK/capfilt-bf16.yaml" --quiet \
      ${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"} >"$WORK/capfilt-bf16.log" 2>&1 \
      || { cat "$WORK/capfilt-bf16.log" >&2; echo "bench_e2e.sh: capfilt run (bf16) failed" >&2; exit 1; }
  fi
  SHARD=$WORK/capfilt-out/shard-00000.sqlite
  $PY - "$WORK" "$SHARD" "$r" "$RESULTS" <<'EOF'
import json, sqlite3, sys
work, shard, r, results = sys.argv[1:]
py = next(json.loads(l[len("E2E_RESULT "):]) for l in open(f"{work}/python.log") if l.startswith("E2E_RESULT "))
py_wall, py_kib = open(f"{work}/time-python.txt").read().split()[-2:]
cf_wall, cf_kib = open(f"{work}/time-capfilt.txt").read().split()[-2:]
db = sqlite3.connect(shard)
stats = json.loads(db.execute("SELECT stats FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0])
q = lambda sql: db.execute(sql).fetchone()[0]
cf = {"wall_s": float(cf_wall), "peak_rss_kib": int(cf_kib), "run_wall_s": stats["wall_seconds"],
      "frames": q("SELECT COUNT(*) FROM media WHERE kind = 'frame'"),
      "pairs": q("SELECT COUNT(*) FROM scores WHERE metric = 'clip'"),
      "itm": q("SELECT COUNT(*) FROM scores WHERE metric = 'itm'"), "itc": q("SELECT COUNT(*) FROM scores WHERE metric = 'itc'"),
      "captions": q("SELECT COUNT(*) FROM texts WHERE origin = 'synthetic'"),
      "stages_s": {k: v.get("seconds", 0) for k, v in stats["stages"].items()}}
py.update(wall_s=float(py_wall), peak_rss_kib=int(py_kib), script_wall_s=py["wall_s"])
row = {"round": int(r), "python": py, "capfilt": cf}
try:
    bf_wall, bf_kib = open(f"{work}/time-capfilt-bf16.txt").read().split()[-2:]
    bdb = sqlite3.connect(f"{work}/capfilt-out-bf16/shard-00000.sqlite")
    bstats = json.loads(bdb.execute("SELECT stats FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0])
    row["capfilt_bf16"] = {"wall_s": float(bf_wall), "peak_rss_kib": int(bf_kib),
                           "stages_s": {k: v.get("seconds", 0) for k, v in bstats["stages"].items()}}
except FileNotFoundError:
    pass
with open(results, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"   round {r}: python {py['wall_s']:.1f} s {py['peak_rss_kib'] / 1024:.0f} MiB, "
      f"capfilt {cf['wall_s']:.1f} s {cf['peak_rss_kib'] / 1024:.0f} MiB ({py['wall_s'] / cf['wall_s']:.2f}x); "
      + (f"bf16 {row['capfilt_bf16']['wall_s']:.1f} s {row['capfilt_bf16']['peak_rss_kib'] / 1024:.0f} MiB "
         f"({py['wall_s'] / row['capfilt_bf16']['wall_s']:.2f}x); " if "capfilt_bf16" in row else "")
      + f"load {open('/proc/loadavg').read().split()[0]}", flush=True)
EOF
done

# 5. medians
$PY - "$RESULTS" "$WORK/bench-e2e.json" "$BF16" <<'EOF'
import json, statistics, sys
rounds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda side, key: statistics.median(r[side][key] for r in rounds)
py, cf = rounds[-1]["python"], rounds[-1]["capfilt"]
same = py["frames"] == cf["frames"] and py["pairs"] == cf["pairs"] == cf["itm"] == cf["itc"]
out = {"rounds": len(rounds), "bf16": sys.argv[3] == "1",
       "python_wall_s": med("python", "wall_s"), "capfilt_wall_s": med("capfilt", "wall_s"),
       "python_peak_rss_mib": med("python", "peak_rss_kib") / 1024, "capfilt_peak_rss_mib": med("capfilt", "peak_rss_kib") / 1024,
       "frames": cf["frames"], "pairs": cf["pairs"], "python_frames": py["frames"], "python_pairs": py["pairs"],
       "capfilt_stages_s": {k: statistics.median(r["capfilt"]["stages_s"].get(k, 0) for r in rounds)
                            for k in sorted(cf["stages_s"], key=lambda k: (["decode", "caption", "filter", "score"] + [k]).index(k))},
       "python_stages_s": {k: statistics.median(r["python"]["stages_s"].get(k, 0) for r in rounds) for k in py["stages_s"]},
       "python_load_s": med("python", "load_s"), "same_work": same}
out["speedup"] = out["python_wall_s"] / out["capfilt_wall_s"]
json.dump({**out, "per_round": rounds}, open(sys.argv[2], "w"), indent=1)
print(f"== end to end, median of {len(rounds)} (wall time and peak RSS from /usr/bin/time, whole process: start, model loading, writing)")
print(f"   frames {cf['frames']} (python {py['frames']}), pairs {cf['pairs']} (python {py['pairs']}), "
      f"captions {cf['captions']}, python new tokens {py['new_tokens']}")
print(f"   python reference (ffmpeg CLI + transformers) {out['python_wall_s']:8.1f} s   peak RSS {out['python_peak_rss_mib']:7.0f} MiB")
print(f"   capfilt run                                  {out['capfilt_wall_s']:8.1f} s   peak RSS {out['capfilt_peak_rss_mib']:7.0f} MiB")
print(f"   capfilt vs python: {out['speedup']:.2f}x faster, peak RSS {out['capfilt_peak_rss_mib'] / out['python_peak_rss_mib']:.2f}x (target >= 6x, RSS below PyTorch's)")
print("   capfilt stages (ledger): " + ", ".join(f"{k} {v:.2f} s" for k, v in out["capfilt_stages_s"].items()))
print("   python stages (script):  " + ", ".join(f"{k} {v:.2f} s" for k, v in out["python_stages_s"].items())
      + f", models loaded in {out['python_load_s']:.2f} s")
if all("capfilt_bf16" in r for r in rounds):
    bw = statistics.median(r["capfilt_bf16"]["wall_s"] for r in rounds)
    brss = statistics.median(r["capfilt_bf16"]["peak_rss_kib"] for r in rounds) / 1024
    bst = {k: statistics.median(r["capfilt_bf16"]["stages_s"].get(k, 0) for r in rounds) for k in out["capfilt_stages_s"]}
    out.update(capfilt_bf16_wall_s=bw, capfilt_bf16_peak_rss_mib=brss, capfilt_bf16_stages_s=bst, speedup_bf16=out["python_wall_s"] / bw)
    json.dump({**out, "per_round": rounds}, open(sys.argv[2], "w"), indent=1)
    print(f"   capfilt run, precision: bf16                 {bw:8.1f} s   peak RSS {brss:7.0f} MiB")
    print(f"   bf16 vs python: {out['speedup_bf16']:.2f}x faster; bf16 vs fp32 capfilt: {out['capfilt_wall_s'] / bw:.2f}x")
    print("   capfilt bf16 stages (ledger): " + ", ".join(f"{k} {v:.2f} s" for k, v in bst.items()))
if not same:
    print("   WARNING: the two sides did not do the same work (frames or pairs differ)")
    sys.exit(1)
EOF
if [ "$BF16" = 1 ]; then
  echo "== quality of precision: bf16 against fp32 on this job (tools/compare_precision.py, last round)"
  python3 tools/compare_precision.py "$WORK/capfilt-out" "$WORK/capfilt-out-bf16" | sed 's/^/   /'
fi
