#!/usr/bin/env python3
"""Quality cost of `precision: bf16`: compares two capfilt outputs of the same job (fp32 and bf16).

Usage: tools/compare_precision.py OUT_FP32 OUT_BF16

Reads every shard-*.sqlite of each output (Python's standard library only) and prints:
- keep/drop agreement of the filter over the pairs both runs have (same file, time, origin, text);
- max and mean |difference| of the ITM probability, ITC and CLIP scores over those pairs;
- synthetic captions: how many of fp32's captions bf16 wrote identically, and the agreement of
  their tokens (words) position by position, captions paired in the order each frame got them.
"""
import glob
import os
import sqlite3
import sys


def rows(out, sql):
    result = []
    for path in sorted(glob.glob(os.path.join(out, "shard-*.sqlite"))):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        result.extend(db.execute(sql).fetchall())
        db.close()
    return result


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a_out, b_out = sys.argv[1], sys.argv[2]
    pair_sql = "SELECT uri, t, origin, text, itm, itc, clip, kept FROM capfilt_result"
    a = {(r[0], r[1], r[2], r[3]): r[4:] for r in rows(a_out, pair_sql)}
    b = {(r[0], r[1], r[2], r[3]): r[4:] for r in rows(b_out, pair_sql)}
    common = sorted(set(a) & set(b), key=repr)
    if not common:
        sys.exit("no pairs in common")
    agree = sum(1 for k in common if bool(a[k][3]) == bool(b[k][3]))
    kept_a = sum(1 for k in common if a[k][3])
    print(f"pairs: fp32 {len(a)}, bf16 {len(b)}, in common {len(common)}")
    print(f"filter keep/drop agreement: {agree} of {len(common)} ({100.0 * agree / len(common):.2f} %); fp32 kept {kept_a}")
    for i, name in enumerate(["itm", "itc", "clip"]):
        diffs = [abs(a[k][i] - b[k][i]) for k in common if a[k][i] is not None and b[k][i] is not None]
        if diffs:
            print(f"{name:4} |fp32 - bf16|: max {max(diffs):.2e}, mean {sum(diffs) / len(diffs):.2e} over {len(diffs)} pairs")

    cap_sql = """SELECT s.uri, m.t_start, x.text FROM texts x JOIN media m ON m.id = x.media_id JOIN sources s ON s.id = x.source_id
                 WHERE x.origin = 'synthetic' ORDER BY s.uri, m.t_start, x.id"""
    def by_frame(out):
        frames = {}
        for uri, t, text in rows(out, cap_sql):
            frames.setdefault((uri, t), []).append(text)
        return frames
    fa, fb = by_frame(a_out), by_frame(b_out)
    total = same = 0
    positions = matching = 0
    for key, caps in fa.items():
        other = fb.get(key, [])
        total += len(caps)
        same += sum(1 for c in caps if c in other)
        for x, y in zip(caps, other):
            wx, wy = x.split(), y.split()
            positions += max(len(wx), len(wy))
            matching += sum(1 for p, q in zip(wx, wy) if p == q)
    if total:
        print(f"synthetic captions: {same} of {total} identical ({100.0 * same / total:.1f} %); "
              f"words agreeing position by position {matching} of {positions} ({100.0 * matching / max(positions, 1):.1f} %)")


if __name__ == "__main__":
    main()
