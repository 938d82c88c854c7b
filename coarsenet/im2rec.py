"""`python -m coarsenet im2rec PREFIX ROOT`: MXNet's tools/im2rec.py with its options.

--list writes PREFIX.lst (or PREFIX_train/_val/_test.lst when --train-ratio/--test-ratio split)
listing ROOT's images as "index<TAB>label<TAB>relative path" (with --recursive the label is the
sorted sub-folder index). Without --list every PREFIX*.lst becomes a .rec + .idx pair; images
are re-encoded (optionally centre-cropped and resized so the shorter side is --resize) on
--num-thread threads, or packed as they are with --pass-through.
"""
from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import recordio
from .base import CoarsenetError
from .image import _decode_array, _encode_array, _resize_np


def add_parser(sub) -> None:
    p = sub.add_parser("im2rec", help="make an image list or RecordIO file (MXNet's im2rec)")
    p.add_argument("prefix", help="prefix of the .lst and .rec files")
    p.add_argument("root", help="folder holding the images")
    p.add_argument("--list", action="store_true", help="make the image list instead of .rec")
    p.add_argument("--exts", nargs="+", default=[".jpeg", ".jpg", ".png"])
    p.add_argument("--chunks", type=int, default=1)
    p.add_argument("--train-ratio", type=float, default=1.0)
    p.add_argument("--test-ratio", type=float, default=0.0)
    p.add_argument("--recursive", action="store_true", help="label = sub-folder index")
    p.add_argument("--no-shuffle", dest="shuffle", action="store_false")
    p.add_argument("--pass-through", action="store_true", help="pack images unchanged")
    p.add_argument("--resize", type=int, default=0, help="shorter side in pixels (0: keep)")
    p.add_argument("--center-crop", action="store_true")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality or PNG level 0-9")
    p.add_argument("--num-thread", type=int, default=1)
    p.add_argument("--color", type=int, default=1, choices=[-1, 0, 1])
    p.add_argument("--encoding", default=".jpg", choices=[".jpg", ".png"])
    p.add_argument("--pack-label", action="store_true", help="pack every label column")
    p.add_argument("--no-progress", action="store_true")


def _list_images(root, recursive, exts):
    exts = {e.lower() for e in exts}
    if recursive:
        cats = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        for label, cat in enumerate(cats):
            for dirpath, dirs, files in os.walk(os.path.join(root, cat), followlinks=True):
                dirs.sort()
                for f in sorted(files):
                    if os.path.splitext(f)[1].lower() in exts:
                        yield os.path.relpath(os.path.join(dirpath, f), root), label
    else:
        for f in sorted(os.listdir(root)):
            if os.path.splitext(f)[1].lower() in exts and os.path.isfile(os.path.join(root, f)):
                yield f, 0


def make_list(args) -> list[str]:
    if not os.path.isdir(args.root):
        raise CoarsenetError(f"im2rec: {args.root} is not a directory")
    items = [(i, path, label) for i, (path, label) in
             enumerate(_list_images(args.root, args.recursive, args.exts))]
    if not items:
        raise CoarsenetError(f"im2rec: no images with extensions {args.exts} in {args.root}")
    if args.shuffle:
        random.seed(100)  # MXNet's im2rec seeds its shuffle with 100
        random.shuffle(items)
    written = []
    chunk = (len(items) + args.chunks - 1) // args.chunks
    for c in range(args.chunks):
        part = items[c * chunk:(c + 1) * chunk]
        tag = f"_{c}" if args.chunks > 1 else ""
        n_test = int(len(part) * args.test_ratio)
        n_train = int(len(part) * args.train_ratio)
        splits = [("", part)] if args.train_ratio == 1.0 else [
            ("_test", part[:n_test]), ("_train", part[n_test:n_test + n_train]),
            ("_val", part[n_test + n_train:])]
        for suffix, rows in splits:
            if not rows and suffix != "_train":
                continue
            name = f"{args.prefix}{tag}{suffix}.lst"
            with open(name, "w") as f:
                f.writelines(f"{i}\t{float(label)}\t{path}\n" for i, path, label in rows)
            written.append(name)
    return written


def _encode(args, idx, labels, path):
    full = os.path.join(args.root, path)
    label = labels if args.pack_label or len(labels) > 1 else labels[0]
    header = recordio.IRHeader(0, label, idx, 0)
    with open(full, "rb") as f:
        raw = f.read()
    if args.pass_through:
        return recordio.pack(header, raw)
    img = _decode_array(raw, flag=0 if args.color == 0 else 1, what=f"im2rec {full}")
    if args.center_crop:
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if args.resize:
        h, w = img.shape[:2]
        nw, nh = (args.resize, args.resize * h // w) if h > w else (args.resize * w // h,
                                                                   args.resize)
        img = _resize_np(img, nw, nh, 1)
    return recordio.pack(header, _encode_array(np.ascontiguousarray(img), args.quality,
                                               args.encoding, from_bgr=False))


def make_rec(args, lst: str) -> str:
    base = os.path.splitext(lst)[0]
    rows = list(recordio.read_lst(lst, "im2rec"))
    w = recordio.MXIndexedRecordIO(base + ".idx", base + ".rec", "w")
    from tqdm import tqdm
    with ThreadPoolExecutor(max(1, args.num_thread)) as pool, tqdm(
            total=len(rows), desc=os.path.basename(base + ".rec"), unit="img",
            disable=args.no_progress) as bar:
        for (idx, _, _), rec in zip(rows, pool.map(lambda r: _encode(args, *r), rows)):
            w.write_idx(idx, rec)
            bar.update(1)
    w.close()
    return base + ".rec"


def run(args) -> None:
    if args.list:
        for name in make_list(args):
            print(f"wrote {name}")
        return
    folder = os.path.dirname(os.path.abspath(args.prefix))
    stem = os.path.basename(args.prefix)
    if args.prefix.endswith(".lst"):
        lsts = [args.prefix]
    else:
        lsts = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                      if f.startswith(stem) and f.endswith(".lst"))
    if not lsts:
        raise CoarsenetError(f"im2rec: no {args.prefix}*.lst file; make one with --list first")
    for lst in lsts:
        print(f"wrote {make_rec(args, lst)}")

