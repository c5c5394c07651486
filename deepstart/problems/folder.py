"""A folder of images, one sub-folder per class -> a Problem of kind "image".

    photos/cat/001.jpg, photos/cat/002.png, photos/dog/x.jpg, ...  ->  classes ("cat", "dog")

Class names are the sub-folder names, sorted; images in deeper folders belong to the class folder
above them. Every image is resized (Pillow, bilinear with antialiasing) to one size and converted to
one colour mode: the most common size and grey when every image is grey, unless `image_size` or
`color` say otherwise. Files that are not readable images (text, truncated, corrupt) are listed with
their paths and skipped, or refused with `strict`. Hidden files (.DS_Store, ._x.jpg) are ignored.
"""

from __future__ import annotations

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
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{folder} has {len(class_dirs)} class folder(s); put the images in one "
                        "sub-folder per class (e.g. cat/, dog/), at least two classes.")

    files, labels, skipped = [], [], []
    for label, d in enumerate(class_dirs):
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in f.relative_to(d).parts):
                continue
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
