"""A folder of images, or of CSV series, one sub-folder per class -> a Problem.

    photos/cat/001.jpg, photos/cat/002.png, photos/dog/x.jpg, ...  ->  classes ("cat", "dog")
    moves/walk/001.csv, moves/run/002.csv, ...                     ->  sequences, one per file

    reviews/pos/001.txt, reviews/neg/002.txt, ...                   ->  texts, one per file

A folder whose class folders hold .txt files and no images nor .csv files is a folder of texts
(`text_folder_problem`, below); one whose class folders hold .csv files and no images is a
folder of series (see
`series_folder_problem` and `sequence_problem` below, which tables read as sequences share);
any other is a folder of images. Class names are the sub-folder names, sorted; files in deeper
folders belong to the class folder above them; hidden files (.DS_Store, ._x.jpg) are ignored.

Images: every image is resized (Pillow, bilinear with antialiasing) to one size and converted to
one colour mode: the most common size and grey when every image is grey, unless `image_size` or
`color` say otherwise. Files that are not readable images (text, truncated, corrupt) are listed with
their paths and skipped, or refused with `strict`.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np

from deepstart.errors import DataError, DeepstartError
from deepstart.problems import Dataset, Problem, Reference
from deepstart.problems.splits import few_test_rows_notes, split_indices

TEST_SIZE = 0.2
SPLIT_SEED = 0
COLORS = ("grey", "rgb")
# Pillow modes that hold one grey channel ("1": bilevel, "I;16": 16-bit, "F": float)
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
# The zoo's small ConvNet: global pooling makes it fit any image size (8x8 digits to 64x64 photos).
RECIPE = {"model": "convnet", "epochs": 15, "batch_size": 64, "lr": 1e-3}
MAX_LISTED = 5  # skipped files named in a one-line error; the report lists them all


def image_folder_problem(path: str | Path, *, image_size: int | tuple[int, int] | None = None,
                         color: str | None = None, strict: bool = False,
                         name: str | None = None) -> Problem:
    """A Problem for a folder with one sub-folder of images per class. `image_size` is a side
    (square images) or (height, width); `color` is "grey" or "rgb"."""
    from PIL import Image

    folder = Path(path)
    if color is not None and color not in COLORS:
        raise DeepstartError(f"unknown colour '{color}'; use one of: {', '.join(COLORS)}.")
    size = _size(image_size)
    class_dirs = _class_dirs(folder, "the images", "cat/, dog/")
    files, labels, skipped = [], [], []
    for label, d in enumerate(class_dirs):
        for f in _files(d):
            files.append(f)
            labels.append(label)
    skipped += [(p, "not in a class folder") for p in sorted(folder.iterdir())
                if p.is_file() and not p.name.startswith(".")]

    # First pass: headers only (size, mode), cheap, to choose the common size and colour.
    headers = {}
    for f in files:
        try:
            with Image.open(f) as im:
                headers[f] = (im.size, im.mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            skipped.append((f, _why(e)))
    if not headers:
        raise DataError(f"{folder} holds no readable images in its {len(class_dirs)} class folders; "
                        "put PNG, JPEG, GIF, BMP or TIFF files in one sub-folder per class.")
    if size is None:
        (w, h), _ = Counter(s for s, _ in headers.values()).most_common(1)[0]
        size, size_from = (h, w), "the most common size"
    else:
        size_from = "given"
    if color is None:
        grey = all(mode in GREY_MODES for _, mode in headers.values())
        color, color_from = ("grey" if grey else "rgb"), ("every image is grey" if grey else
                                                          "some images are in colour")
    else:
        color_from = "given"

    # Second pass: decode, convert, resize. Decoding is where a truncated file shows itself.
    pixels, kept = [], []
    for f, label in zip(files, labels):
        if f not in headers:
            continue
        try:
            pixels.append(_load(f, size, color))
            kept.append(label)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            skipped.append((f, _why(e)))
    skipped.sort()
    if strict and skipped:
        listed = "; ".join(f"{p} ({why})" for p, why in skipped[:MAX_LISTED])
        more = f" and {len(skipped) - MAX_LISTED} more" if len(skipped) > MAX_LISTED else ""
        raise DataError(f"{len(skipped)} file(s) in {folder} are not readable images: {listed}{more}; "
                        "fix or remove them, or drop --strict to skip them.")
    y = np.asarray(kept, dtype=np.int64)
    counts = np.bincount(y, minlength=len(class_dirs))
    empty = [d.name for d, c in zip(class_dirs, counts) if c == 0]
    if empty:
        raise DataError(f"class folder(s) {', '.join(empty)} in {folder} hold no readable images; "
                        "add images to them or remove them.")
    x = np.stack(pixels)
    n_test = max(len(class_dirs), int(np.ceil(len(y) * TEST_SIZE)))
    if n_test >= len(y):
        raise DataError(f"{folder} has {len(y)} readable images for {len(class_dirs)} classes; give "
                        "at least a few images per class to train and test on.")
    train, test = split_indices(y, n_test, SPLIT_SEED, stratify=True)
    dataset = Dataset(x[train], y[train], x[test], y[test], pixel_max=255.0)
    notes = _odd_images(folder, headers, size, color, size_from == "given", color_from == "given")
    notes += few_test_rows_notes(len(test), True, "images")

    class_names = tuple(d.name for d in class_dirs)
    channels = 1 if color == "grey" else 3
    schema = {"image": {
        "classes": list(class_names), "height": size[0], "width": size[1], "color": color,
        "channels": channels, "size_from": size_from, "color_from": color_from,
        "resize": "Pillow bilinear (antialiased)", "pixel_max": 255,
        "images": int(len(y)), "per_class": counts.tolist(),
        "skipped": [{"path": str(p), "why": why} for p, why in skipped],
    }, "data_notes": notes}
    name = name or folder.resolve().name
    majority = np.bincount(y[train]).argmax()
    return Problem(
        name=name, title=f"images in {folder}", task="binary" if len(class_names) == 2 else "multiclass",
        kind="image", metric="accuracy",
        split=f"stratified {1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%} train/test (seed {SPLIT_SEED}); "
              f"{len(train)} + {len(test)} images",
        origin=f"the folder {folder}",
        size=f"{len(y)} images {size[0]}x{size[1]} {color}, {len(class_names)} classes",
        load_raw=lambda **_: dataset, class_names=class_names,
        references=(Reference(float(np.mean(y[test] == majority)), "majority class for every image",
                              f"baseline, computed on the same {len(test)} test images"),),
        recipe=dict(RECIPE), path=str(folder), schema=schema)


def _odd_images(folder: Path, headers: dict, size: tuple[int, int], color: str, size_given: bool,
                color_given: bool) -> list[str]:
    """The few images that decided or bent the whole set: colour ones that made every image RGB,
    and ones of another size that were resized, named (MAX_LISTED of them) so they can be found."""
    def named(files: list[Path], detail=lambda f: "") -> str:
        shown = ", ".join(f"{f.relative_to(folder)}{detail(f)}" for f in files[:MAX_LISTED])
        return shown + (f" and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else "")

    notes, n = [], len(headers)
    colour = [f for f, (_, mode) in headers.items() if mode not in GREY_MODES]
    if not color_given and color == "rgb" and len(colour) < n / 2:
        mode = named(colour, lambda f: f" {headers[f][1]}")
        are = "is" if len(colour) == 1 else "are"
        notes.append(f"{len(colour)} of the {n} images in {folder} {are} in a colour mode ({mode}), "
                     "so every image is read as RGB; pass --color grey to read them all as grey, or "
                     "remove those files.")
    odd = [f for f, ((w, h), _) in headers.items() if (h, w) != size]
    if not size_given and odd:
        are = "is" if len(odd) == 1 else "are"
        notes.append(f"{len(odd)} of the {n} images in {folder} {are} not {size[0]}x{size[1]} (the most "
                     f"common size): {named(odd, lambda f: ' ' + 'x'.join(map(str, headers[f][0][::-1])))}"
                     f"; each was resized to it (--image-size chooses the size).")
    return notes


def _load(path: Path, size: tuple[int, int], color: str) -> np.ndarray:
    """(channels, height, width) uint8."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return image_array(im, size, color)


def image_array(im, size: tuple[int, int], color: str) -> np.ndarray:
    """A decoded Pillow image as the model's input pixels: (channels, height, width) uint8 in
    `color` ("grey" or "rgb"), resized to `size` (height, width). `deepstart serve` takes uploaded
    images through here too, so a served PNG meets exactly the training preprocessing."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit or float grey: scale its own range to 0..255 rather than clipping at 255
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.astype(np.uint8))
    im = im.convert("L" if color == "grey" else "RGB")
    if im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _class_dirs(folder: Path, what: str, example: str) -> list[Path]:
    """The class folders (not hidden), sorted; fewer than two is a DataError."""
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{folder} has {len(class_dirs)} class folder(s); put {what} in one "
                        f"sub-folder per class (e.g. {example}), at least two classes.")
    return class_dirs


def _files(class_dir: Path) -> list[Path]:
    """A class folder's files at any depth, sorted, without hidden files or folders."""
    return sorted(f for f in class_dir.rglob("*") if f.is_file()
                  and not any(part.startswith(".") for part in f.relative_to(class_dir).parts))


def _size(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise DeepstartError(f"image_size must be a positive side or (height, width); received "
                             f"{image_size!r}.")
    return size


def _why(error: Exception) -> str:
    text = str(error).split(" (")[0] if str(error) else type(error).__name__
    if "cannot identify image file" in text:
        return "not an image"
    if "truncated" in text:
        return "truncated image"
    return text.rstrip(".")


# --- sequences: a folder of CSV series, or a table read as sequences (deepstart.problems.user) ---

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
# An LSTM reads the steps in order and classifies from its last state; 64 units, 30 epochs: test
# accuracy 0.958 on digits read as 8 rows of 8 pixels, 0.953 on JapaneseVowels' 640 files
# (docs/sequences.md, benchmarks/sequences.py; GRU 0.958 / 0.969, transformer 0.967 / 0.969).
SEQUENCE_RECIPE = {"model": "lstm", "hidden_size": 64, "epochs": 30, "batch_size": 32, "lr": 3e-3,
                   "optimizer": "adam"}
# Keras' pad_sequences pads and cuts at the start by default, so the steps a recurrent network
# reads last are the sequence's own; here the pad repeats the first step rather than inserting
# zeros, so it adds no jump to a series whose values are far from 0.
PAD_RULE = "padded at the start by repeating the first step; longer ones keep their last steps"


def is_series_folder(folder: Path) -> bool:
    """Class folders that hold .csv files and no images: one series per file."""
    suffixes = {f.suffix.lower() for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
                for f in _files(d)}
    return ".csv" in suffixes and not suffixes & set(IMAGE_SUFFIXES)


def is_text_folder(folder: Path) -> bool:
    """Class folders that hold .txt files and no images nor CSV series: one text per file."""
    suffixes = {f.suffix.lower() for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
                for f in _files(d)}
    return ".txt" in suffixes and not suffixes & (set(IMAGE_SUFFIXES) | {".csv"})


def text_folder_problem(path: str | Path, *, name: str | None = None,
                        tokenizer: str | None = None) -> Problem:
    """A Problem for a folder with one sub-folder of .txt files per class, one text per file
    (UTF-8, or Windows-1252 when a file is not UTF-8 and decodes as it: a note says which files).
    The texts are a table's one text column `text`, the class its target `label`
    (deepstart.text.text_problem), so rows by name predict as for a table."""
    import pandas as pd

    from deepstart.text import FALLBACK, decode_bytes, text_problem

    folder = Path(path)
    class_dirs = _class_dirs(folder, "the .txt files", "pos/, neg/")
    texts, labels, fallback, other = [], [], [], []
    for d in class_dirs:
        for f in _files(d):
            if f.suffix.lower() != ".txt":
                other.append(f)
                continue
            text, encoding = decode_bytes(f.read_bytes(), str(f))
            fallback += [f] if encoding == FALLBACK else []
            texts.append(text)
            labels.append(d.name)
    from deepstart.problems.tabular import MIN_ROWS

    if len(texts) < MIN_ROWS:
        raise DataError(f"{folder} holds {len(texts)} .txt file(s) in its class folders; deepstart "
                        f"needs at least {MIN_ROWS} texts to train and test.")
    notes = []
    if fallback:
        notes.append(f"{len(fallback)} of the {len(texts)} files are not UTF-8 and were read as "
                     f"Windows-1252 ({FALLBACK}), e.g. {fallback[0].relative_to(folder)}; if their "
                     "accents look wrong, convert them to UTF-8.")
    if other:
        notes.append(f"{len(other)} file(s) in the class folders are not .txt and were left out, "
                     f"e.g. {other[0].relative_to(folder)}.")
    frame = pd.DataFrame({"text": texts, "label": labels})
    name = name or folder.name
    return text_problem(frame, text="text", target="label", name=name,
                        title=f"{name}: {len(texts)} texts in {len(class_dirs)} classes",
                        origin=f"the folder {folder}", path=str(folder), notes=notes,
                        tokenizer=tokenizer)


def fit_lengths(x: np.ndarray, lengths: np.ndarray, length: int) -> np.ndarray:
    """(N, steps, features) sequences whose first `lengths[i]` steps are real -> (N, length,
    features) by PAD_RULE, without a loop over the sequences (serve takes one through here)."""
    src = np.clip(np.asarray(lengths)[:, None] - length + np.arange(length)[None, :], 0, None)
    return x[np.arange(len(x))[:, None], src]


def series_folder_problem(path: str | Path, *, length: int | None = None,
                          name: str | None = None) -> Problem:
    """A Problem for a folder with one sub-folder per class of CSV files, one example per file:
    its rows are the steps and its columns the features of each step (a header row is optional).
    `length` pads or cuts every sequence to that many steps (default: the longest)."""
    folder = Path(path)
    class_dirs = _class_dirs(folder, "the series", "walk/, run/")
    sequences, labels, files = [], [], []
    for label, d in enumerate(class_dirs):
        found = _files(d)
        if not found:
            raise DataError(f"the class folder {d} is empty; put CSV files in it or remove it.")
        for f in found:
            sequences.append(_read_series_file(f))
            labels.append(label)
            files.append(f)
    widths = Counter(values.shape[1] for values, _ in sequences)
    if len(widths) > 1:
        common = widths.most_common(1)[0][0]
        odd = next(f for f, (v, _) in zip(files, sequences) if v.shape[1] != common)
        usual = next(f for f, (v, _) in zip(files, sequences) if v.shape[1] == common)
        n_odd = next(v.shape[1] for v, _ in sequences if v.shape[1] != common)
        raise DataError(f"the files in {folder} have different column counts: {odd} has {n_odd}, "
                        f"{usual} (and most) {common}; every file needs the same columns, one per "
                        "feature of a step.")
    headers = [h for _, h in sequences if h is not None]
    n_features = next(iter(widths))
    feature_names = headers[0] if headers else [f"x{j}" for j in range(n_features)]
    class_names = tuple(d.name for d in class_dirs)
    return sequence_problem(
        [v for v, _ in sequences], np.asarray(labels, dtype=np.int64), class_names, feature_names,
        length=length, name=name or folder.resolve().name, origin=f"the folder {folder}",
        path=str(folder), source={"from": "files", "files": len(files)},
        recipe=dict(SEQUENCE_RECIPE))


def sequence_problem(sequences, y: np.ndarray, class_names: tuple[str, ...], feature_names: list[str],
                     *, length: int | None, name: str, origin: str, path: str, source: dict,
                     recipe: dict, task: str | None = None, target: dict | None = None
                     ) -> Problem:
    """The Problem for `sequences` (a list of (steps, features) arrays, or one (N, steps, features)
    array with NaN after each sequence's end) and their labels (or values, with task "regression"):
    every sequence padded or cut to `length` steps by PAD_RULE, the notes saying how many were."""
    if isinstance(sequences, np.ndarray):
        x_all = sequences
        lengths = np.isfinite(x_all).all(axis=2).sum(axis=1)
    else:
        lengths = np.asarray([len(s) for s in sequences])
        x_all = np.full((len(sequences), lengths.max(), len(feature_names)), np.nan)
        for i, s in enumerate(sequences):
            x_all[i, :len(s)] = s
    longest = int(lengths.max())
    steps = int(length) if length else longest
    x = fit_lengths(x_all, lengths, steps).astype(np.float32)
    padded, cut = int((lengths < steps).sum()), int((lengths > steps).sum())
    task = task or ("binary" if len(class_names) == 2 else "multiclass")
    classify = task != "regression"
    n_classes = len(class_names)
    n_test = max(n_classes, int(np.ceil(len(y) * TEST_SIZE)))
    what = "files" if source["from"] == "files" else "rows"
    if n_test >= len(y):
        raise DataError(f"{path} has {len(y)} sequences for {n_classes} classes; give at least a "
                        "few sequences per class to train and test on.")
    train, test = split_indices(y, n_test, SPLIT_SEED, stratify=classify)
    dataset = Dataset(x[train], y[train], x[test], y[test], feature_names=tuple(feature_names))
    notes = []
    if padded or cut:
        done = [f"{padded} shorter one(s) padded at the start by repeating the first step"] * \
            bool(padded) + [f"{cut} longer one(s) cut to their last {steps} steps"] * bool(cut)
        notes.append(f"the sequences have {int(lengths.min())} to {longest} steps; each was made "
                     f"{steps} steps long ({'given with --length' if length else 'the longest'}): "
                     f"{'; '.join(done)}{'' if length else ' (--length sets the length)'}.")
    notes += few_test_rows_notes(len(test), classify, "sequences")
    counts = np.bincount(y, minlength=n_classes).tolist() if classify else []
    info = source | {
        "steps": steps, "features": len(feature_names), "feature_names": list(feature_names),
        "length_from": "given" if length else "the longest", "shortest": int(lengths.min()),
        "longest": longest, "padded": padded, "cut": cut, "pad": PAD_RULE,
        "scaling": "per feature, over every step of the training sequences",
        "classes": list(class_names), "per_class": counts, "sequences": len(y)}
    schema = {"sequence": info, "data_notes": notes}
    if target is not None:
        schema["target"] = target
    if classify:
        majority = np.bincount(y[train]).argmax()
        references = (Reference(float(np.mean(y[test] == majority)), "majority class for every "
                                "sequence", f"baseline, computed on the same {len(test)} test "
                                "sequences"),)
    else:
        rmse = float(np.sqrt(np.mean((y[test] - y[train].mean()) ** 2)))
        references = (Reference(rmse, "training mean for every sequence", f"baseline, computed "
                                f"on the same {len(test)} test sequences"),)
    return Problem(
        name=name, title=f"sequences in {origin.removeprefix('the ')}", task=task, kind="tabular",
        metric="accuracy" if classify else "rmse",
        split=f"{'stratified ' if classify else ''}{1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%} train/test "
              f"(seed {SPLIT_SEED}); {len(train)} + {len(test)} sequences",
        origin=origin,
        size=f"{len(y)} sequences ({what}) of {steps} steps x {len(feature_names)} feature(s)"
             + (f", {n_classes} classes" if classify else ""),
        load_raw=lambda **_: dataset, class_names=class_names, references=references,
        recipe=recipe, recipes=sequence_recipes(recipe), path=path, schema=schema)


def sequence_recipes(recipe: dict):
    """GRU and transformer settings beside the LSTM default, with what docs/sequences.md measured."""
    from deepstart.problems import Recipe

    base = {k: v for k, v in recipe.items() if k not in ("model", "hidden_size")}
    return (Recipe(dict(base, model="gru", hidden_size=64),
                   claim="a GRU of 64 units with the LSTM's training settings: test accuracy "
                         "0.958 on digits as 8x8 sequences, 0.969 on JapaneseVowels (CPU)"),
            Recipe(dict(base, model="transformer", dim=64, lr=1e-3),
                   claim="an attention encoder over the steps (one token per step), dim 64, "
                         "lr 1e-3: 0.967 on digits as 8x8 sequences, 0.969 on JapaneseVowels (CPU)"))


def _read_series_file(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """One example: (steps, features) float64 and the header's names (None without a header).
    Anything but numbers in rows of equal width is a DataError naming the file."""
    import csv

    import pandas as pd

    data = path.read_bytes()
    if b"\0" in data[:4096]:
        raise DataError(f"{path} is not CSV text (a binary file); each file of a folder of series "
                        "must be a CSV file of numbers, one row per step.")
    text = data.decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path} is empty; each file must hold one row per step (numbers, one "
                        "column per feature), or remove it.")
    try:
        sep = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","  # one column
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), sep=sep, header=None, dtype=str,
                            skipinitialspace=True)
    except pd.errors.ParserError as e:
        detail = str(e).strip().splitlines()[-1].rstrip(".")
        raise DataError(f"{path} is not a well-formed CSV file ({detail}); every row needs as many "
                        "fields as the first.") from None
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    header = None
    if numbers.iloc[0].isna().all():  # a header row: names, not numbers
        header = [str(v).strip() for v in frame.iloc[0]]
        frame, numbers = frame.iloc[1:], numbers.iloc[1:]
    if numbers.empty:
        raise DataError(f"{path} has a header but no rows of numbers; each file must hold one row "
                        "per step, or remove it.")
    values = numbers.to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raw = frame.iloc[i, j]
        what = "is empty" if pd.isna(raw) or not str(raw).strip() else f"holds {str(raw)!r}"
        raise DataError(f"{path} is not a numeric CSV file: row {i + 1 + (header is not None)}, "
                        f"column {j + 1} {what}; every value must be a number (fix or remove the "
                        "file).")
    return values, header
