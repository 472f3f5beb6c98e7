"""Loads a `capfilt export --to jsonl` folder with Hugging Face `datasets` as an image folder, offline,
and checks every row against its image:

    tools/imagefolder_read.sh out/hf
"""
import sys

from datasets import load_dataset


def main(folder: str) -> int:
    ds = load_dataset("imagefolder", data_dir=folder, split="train")
    for row in ds:
        assert row["image"].size == (row["width"], row["height"]), row["key"]
        assert row["text"], row["key"]
    print(f"{ds.num_rows} rows; columns {sorted(ds.column_names)}")
    first = ds[0]
    print(f"first: {first['key']} {first['image'].size} {first['origin']} {first['text']!r} itm={first['itm']}")
    return 0 if ds.num_rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
