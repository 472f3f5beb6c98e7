"""Reads a `capfilt export --to webdataset` folder with the `webdataset` package, as a training loader
would: every sample's image decoded by Pillow, its text and its JSON metadata. Prints what it saw and
exits non-zero when a sample is incomplete or disagrees with itself.

    tools/webdataset_read.sh out/wds
"""
import glob
import io
import json
import sys

import webdataset as wds
from PIL import Image


def main(folder: str) -> int:
    tars = sorted(glob.glob(f"{folder}/capfilt-*.tar"))
    if not tars:
        print(f"no capfilt-*.tar in {folder}", file=sys.stderr)
        return 2
    # shardshuffle=False: the files are read in the order capfilt wrote them.
    ds = wds.WebDataset(tars, shardshuffle=False).decode("pil").to_tuple("__key__", "jpg", "txt", "json")
    count, kept, origins, sizes, first = 0, 0, {}, set(), None
    for key, image, text, meta in ds:
        assert isinstance(image, Image.Image), type(image)
        assert meta["key"] == key, (meta["key"], key)
        assert meta["text"] == text, key
        assert (image.width, image.height) == (meta["width"], meta["height"]), key
        count += 1
        kept += bool(meta["kept"])
        origins[meta["origin"]] = origins.get(meta["origin"], 0) + 1
        sizes.add(image.size)
        if first is None:
            first = (key, text, {s["metric"]: round(s["value"], 3) for s in meta["scores"]})
    print(f"webdataset {wds.__version__ if hasattr(wds, '__version__') else ''}: {len(tars)} tar(s), {count} samples, "
          f"{kept} kept, origins {dict(sorted(origins.items()))}, image sizes {sorted(sizes)}")
    print(f"first sample: {first}")
    return 0 if count > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
