"""Text: a tokenizer fitted on the training texts, texts <-> token ids, and the layout of a text
problem's features.

A text is a fourth kind of data that rides on the table machinery: a table's text column (or the
join of several) becomes ONE column entry of kind "text" in the problem's schema, and its features
are the L token ids of each text, after the F features of the other columns, padded with 0 at the
end and cut at L. The entry carries the Hugging Face `tokenizers` JSON, so a run folder alone
tokenizes new texts exactly as the training texts were; no pickle.

The tokenizer is word-level, as the course explains words before sub-words: NFKC, HTML line
breaks (<br />, common in scraped reviews) as spaces, lower case; split at white space and between
runs of letters/digits and runs of punctuation ("great!!" -> "great", "!!"); every word seen at
least MIN_FREQUENCY times in the training texts, the VOCAB_SIZE most frequent (ties broken
alphabetically, so the same texts give the same JSON byte for byte), plus [PAD] = 0 and [UNK] = 1.

The truncation length L is the LENGTH_QUANTILE (95th percentile) of the training texts' token
counts, rounded up, at most MAX_LENGTH: 19 texts in 20 are read whole, and one very long text
cannot make every batch long.

A pretrained text model reads the token ids its weights were trained on, so the data option
`tokenizer="minilm"` (which `--model minilm` sets) puts MiniLM's own tokenizer in the entry instead
of fitting one: BERT's uncased WordPiece (30,522 tokens, [PAD] = 0, [UNK] = 100), each text as
[CLS] ... [SEP]; L follows the same rule, at most the backbone's max_length (256). A text longer
than L keeps its first L - 1 ids and ends with [SEP], as the tokenizer's own truncation does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from deepstart.errors import DataError, DeepstartError

if TYPE_CHECKING:
    import tokenizers

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
VOCAB_SIZE = 20_000  # words kept, [PAD] and [UNK] included
MIN_FREQUENCY = 2  # a word seen once in training teaches nothing its [UNK] would not
LENGTH_QUANTILE = 0.95
MAX_LENGTH = 512
# Tokenizing is where building a text problem spends its time: Hugging Face's word-level tokenizer
# reads about a million characters a second on a 2-core machine, and one SpamAssassin message holds
# 130,000. No model reads past MAX_LENGTH tokens, so a text is tokenized from its first CUT_CHARS
# characters, and whole only when those give fewer than MAX_LENGTH + MARGIN tokens (a text of long
# "words", such as base64). A cut changes only the tokens at its end (a split word, a split
# <br />), so the first MAX_LENGTH + MARGIN ids are exactly the whole text's either way; the
# vocabulary is counted on these first characters, the part of each text a model can read.
CUT_CHARS = 8 * MAX_LENGTH
MARGIN = 8
TOKENIZER = "word-level (lower case, punctuation split)"


def length_rule(cap: int = MAX_LENGTH) -> str:
    return f"the {LENGTH_QUANTILE:.0%} quantile of the training texts' token counts, at most {cap}"


LENGTH_RULE = length_rule()
# data option tokenizer=NAME: a text backbone's own tokenizer (deepstart.pretrained), not fitted;
# the families that read its ids set it themselves (RunConfig.for_problem)
PRETRAINED_TOKENIZERS = {"minilm": "MiniLM's own WordPiece (BERT uncased: lower case, accents "
                                   "removed; [CLS] text [SEP])"}
FAMILY_TOKENIZERS = {"minilm": "minilm"}
# Families that read token ids (branch textmodels); a text problem trains `bag` by default: a
# fastText-style bag of words and bigrams, the fast strong baseline.
TEXT_FAMILIES = ("bag", "lstm", "gru", "transformer", "minilm")
RECIPE = {"model": "bag", "epochs": 10, "batch_size": 64, "lr": 3e-3}


def fit_tokenizer(texts: Sequence[str], vocab_size: int = VOCAB_SIZE,
                  min_frequency: int = MIN_FREQUENCY) -> "tokenizers.Tokenizer":
    """A word-level tokenizer trained on `texts` (the training texts only), as the module says."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(r"<br\s*/?>"), " "), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=[PAD, UNK], show_progress=False)
    tokenizer.train_from_iterator(list(texts), trainer)
    return tokenizer


def check_tokenizer(name) -> str:
    """The name of a pretrained tokenizer (the data option tokenizer=NAME), or a DeepstartError
    listing the known ones."""
    if name not in PRETRAINED_TOKENIZERS:
        from deepstart.errors import unknown_name

        raise unknown_name("tokenizer", str(name), PRETRAINED_TOKENIZERS)
    return name


def not_text(tokenizer: str, what: str) -> DeepstartError:
    """tokenizer=NAME on data without text: one sentence (`what`: "'digits' is a tabular problem")."""
    return DeepstartError(f"{what}, and tokenizer={tokenizer!r} is for text (the model "
                          f"'{tokenizer}' sets it to read texts with its own tokenizer); pick a text "
                          "problem (a table with a text column, or a folder of .txt files), or "
                          "another model.")


def pretrained_tokenizer(name: str) -> "tokenizers.Tokenizer":
    """A text backbone's own tokenizer (deepstart.pretrained.tokenizer_json), neither padding nor
    cutting; its [PAD] must be 0, as every text model here takes 0 for padding."""
    from tokenizers import Tokenizer

    from deepstart.pretrained import tokenizer_json

    tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json(check_tokenizer(name))))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    if tokenizer.token_to_id(PAD) != PAD_ID or tokenizer.token_to_id(UNK) is None:
        raise DeepstartError(f"the tokenizer of '{name}' has no {PAD} = {PAD_ID} and {UNK}, which "
                             "deepstart's text models need; reinstall its package.")
    return tokenizer


def fit_text_entry(name: str, columns: Sequence[str], texts: Sequence[str | None],
                   length: int | None = None, tokenizer: str | None = None) -> dict:
    """The schema entry of a text (one or several joined columns) fitted on the training texts:
    tokenizer JSON, vocabulary, truncation length L, how many training texts L cuts. `tokenizer`:
    a pretrained tokenizer's name (PRETRAINED_TOKENIZERS), used as it is instead of fitting one."""
    present = [t for t in texts if t is not None]
    where = f"the text column '{name}'" if len(columns) == 1 else \
        f"the text columns {', '.join(columns)}"
    if not present:
        raise DataError(f"{where} is empty: all {len(texts)} training values are missing or blank; "
                        "give texts, or pick the text column with --text.")
    if len(set(present)) == 1:
        example = present[0] if len(present[0]) <= 40 else present[0][:40] + "..."
        raise DataError(f"{where} holds the same text ({example!r}) in all {len(present)} training "
                        "rows, which cannot tell the rows apart; give varied texts or drop the column.")
    if tokenizer is None:
        fitted = fit_tokenizer([t[:CUT_CHARS] for t in present])
        vocab = fitted.get_vocab_size()
        if vocab <= 2:
            raise DataError(f"no word occurs {MIN_FREQUENCY} times in the {len(present)} training "
                            f"texts of {where}, so there is no vocabulary to learn from; give more "
                            "texts.")
        cap, unk_id, kind = MAX_LENGTH, UNK_ID, TOKENIZER
        own = {"min_frequency": MIN_FREQUENCY}
    else:
        from deepstart.pretrained import BACKBONES

        fitted = pretrained_tokenizer(tokenizer)
        vocab = fitted.get_vocab_size()
        cap, unk_id = int(BACKBONES[tokenizer].inputs["max_length"]), fitted.token_to_id(UNK)
        kind = PRETRAINED_TOKENIZERS[tokenizer]
        # the ids the tokenizer puts around every text ([CLS], [SEP]): a cut text ends with the last
        bounds = fitted.encode("").ids
        own = {"pretrained": tokenizer, "special_ids": bounds,
               "end_id": bounds[-1] if bounds else None}
    ids = _token_ids(fitted, present)
    # a count is exact up to MAX_LENGTH + MARGIN tokens and a lower bound beyond (see CUT_CHARS),
    # which is all that L (at most MAX_LENGTH) and the truncation count need
    counts = np.array([len(i) for i in ids], dtype=np.int64)
    if length is None:
        length = int(min(cap, max(len(own.get("special_ids", ())) + 1,
                                  math.ceil(np.quantile(counts, LENGTH_QUANTILE)))))
    elif not isinstance(length, int) or length < 1:
        raise DeepstartError(f"the text length must be a positive number of tokens; received {length!r}.")
    fitted.enable_truncation(length)
    fitted.enable_padding(length=length, pad_id=PAD_ID, pad_token=PAD)
    read = np.minimum(counts, length).sum()  # the tokens a model reads
    unknown = sum(i[:length].count(unk_id) for i in ids)
    cut = any(len(t) > CUT_CHARS for t in present)
    return {
        "name": name, "kind": "text", "columns": list(columns),
        "missing": len(texts) - len(present),
        "tokenizer": json.loads(fitted.to_str()), "tokenizer_kind": kind,
        "vocab_size": vocab, **own, "length": length,
        "length_rule": length_rule(cap), "pad_id": PAD_ID, "unk_id": unk_id,
        "texts": len(present), "truncated": int((counts > length).sum()),
        # a text tokenized from its first CUT_CHARS characters has a count that is only known to
        # be at least MAX_LENGTH + MARGIN: a statistic at or above that bound says "or more"
        "token_counts": {"median": float(np.median(counts)), "p95": float(np.quantile(counts, 0.95)),
                         "max": int(counts.max())} | ({"exact_below": MAX_LENGTH + MARGIN} if cut else {}),
        "unknown_share": float(unknown / read) if read else 0.0,
        "features": [f"{name}#{i}" for i in range(length)],
    }


def tokenizer_of(entry: dict, raw: bool = False) -> "tokenizers.Tokenizer":
    """The entry's tokenizer, padding and cutting to its length (cached on the entry's JSON);
    `raw`: the same tokenizer without padding and truncation."""
    from tokenizers import Tokenizer

    key = (json.dumps(entry["tokenizer"], sort_keys=True), raw)
    if key not in _TOKENIZERS:
        if len(_TOKENIZERS) > 16:
            _TOKENIZERS.clear()
        tokenizer = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
        if raw:
            tokenizer.no_truncation()
            tokenizer.no_padding()
        _TOKENIZERS[key] = tokenizer
    return _TOKENIZERS[key]


_TOKENIZERS: dict[tuple, object] = {}


def encode_texts(entry: dict, texts: Sequence[str | None]) -> np.ndarray:
    """Texts -> (N, L) int64 token ids, padded with 0 at the end, cut at L; a missing text is
    all padding (with a pretrained tokenizer: its [CLS] [SEP]). A pretrained tokenizer's cut text
    ends with its [SEP] (end_id), as that tokenizer's own truncation leaves it."""
    texts = ["" if t is None else str(t) for t in texts]
    length = int(entry["length"])
    out = np.zeros((len(texts), length), dtype=np.int64)
    end = entry.get("end_id")
    for row, ids in enumerate(_token_ids(tokenizer_of(entry, raw=True), texts)):
        out[row, :min(len(ids), length)] = ids[:length]
        if end is not None and len(ids) > length:
            out[row, -1] = end
    return out


def _token_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Each text's token ids, neither padded nor cut by the tokenizer; exact for the first
    MAX_LENGTH + MARGIN tokens, which is more than any model reads (see CUT_CHARS)."""
    ids = [e.ids for e in tokenizer.encode_batch([t[:CUT_CHARS] for t in texts])]
    redo = [i for i, t in enumerate(texts) if len(t) > CUT_CHARS and len(ids[i]) < MAX_LENGTH + MARGIN]
    for i, e in zip(redo, tokenizer.encode_batch([texts[i] for i in redo]) if redo else ()):
        ids[i] = e.ids
    return ids


def decode(entry: dict, ids) -> list[str]:
    """Token ids (N, L) (or one text's L ids) -> the texts as the model read them: lower case,
    words split from punctuation, rare words as [UNK], cut at L (a pretrained tokenizer's [CLS]
    and [SEP] left out)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim == 1:
        ids = ids[None]
    skip = {PAD_ID, *entry.get("special_ids", ())}
    rows = [[i for i in row if i not in skip] for row in ids.tolist()]
    return tokenizer_of(entry).decode_batch(rows, skip_special_tokens=False)


# Bytes that text does not hold (tab, line breaks, form feed and escape aside): a file with a NUL
# or with more than this share of them is binary (an image or archive renamed .txt). Real e-mails
# hold a few (the SpamAssassin corpus: at most 0.8 % of a message's bytes).
CONTROL = bytes(list(range(0, 9)) + list(range(14, 27)) + list(range(28, 32)))
MAX_CONTROL_SHARE = 0.05
FALLBACK = "cp1252"  # Windows-1252, a superset of the printable Latin-1: old Windows and mail files


def decode_bytes(data: bytes, where: str) -> tuple[str, str]:
    """A text file's bytes -> (text, encoding): UTF-8 (or UTF-16/32 by their byte-order mark),
    else Windows-1252 when the bytes decode as it; a DataError naming `where` for a binary file
    or bytes that are neither."""
    for bom, name in ((b"\xff\xfe\0\0", "utf-32"), (b"\0\0\xfe\xff", "utf-32"),
                      (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError:
                break
    control = len(data) - len(data.translate(None, CONTROL))
    if b"\0" in data or control > MAX_CONTROL_SHARE * len(data):
        raise DataError(f"{where} is a binary file, not text ({control:,} of its {len(data):,} bytes "
                        "are control bytes); remove it, or save it as plain text.")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as e:
        first = e
    try:
        return data.decode(FALLBACK), FALLBACK
    except UnicodeDecodeError:
        pass
    raise DataError(f"{where} is not UTF-8 text (byte 0x{data[first.start]:02x} at offset "
                    f"{first.start}) nor Windows-1252; convert it to UTF-8, e.g. `iconv -f "
                    f"ITS-ENCODING -t UTF-8 {where} > NEW.txt`, where ITS-ENCODING is the one it was saved "
                    "in (latin1, shift_jis, gb18030, ...).")


def text_entry(schema: dict) -> dict | None:
    return next((e for e in schema.get("columns", ()) if e.get("kind") == "text"), None)


def text_layout(schema: dict) -> dict | None:
    """Where the tokens lie in a problem's features: {"text_start": F, "text_length": L,
    "vocab_size": V}, or None when the problem has no text."""
    entry = text_entry(schema)
    if entry is None:
        return None
    start = sum(len(e.get("features", ())) for e in schema["columns"]
                if e.get("kind") != "text" and not e.get("dropped"))
    return {"text_start": start, "text_length": int(entry["length"]),
            "vocab_size": int(entry["vocab_size"])}


def join_columns(columns: dict[str, Sequence]) -> list[str | None]:
    """Several text columns -> one text per row, each part prefixed by its column name
    ("title: ... | body: ..."); one column's texts as they are. None where every part is missing."""
    from deepstart.problems.columns import as_text

    parts = {name: as_text(values) for name, values in columns.items()}
    if len(parts) == 1:
        return list(next(iter(parts.values())))
    rows = zip(*parts.values())
    names = list(parts)
    return [" | ".join(f"{n}: {v}" for n, v in zip(names, row) if v is not None) or None
            for row in rows]


def action_text(entry: dict) -> str:
    """What was done to the text, for the column table."""
    if entry.get("pretrained"):
        return (f"tokenized with {entry['tokenizer_kind']}: its {entry['vocab_size']:,} tokens, "
                f"none fitted here; padded or cut to {entry['length']} tokens "
                f"({entry['length_rule']}); {entry['truncated']:,} of {entry['texts']:,} training "
                f"texts cut; {entry['unknown_share']:.1%} of their tokens [UNK]")
    return (f"tokenized {entry['tokenizer_kind']}: {entry['vocab_size']:,} tokens (words seen "
            f">= {entry['min_frequency']} times + [PAD], [UNK]); padded or cut to "
            f"{entry['length']} tokens ({entry['length_rule']}); {entry['truncated']:,} of "
            f"{entry['texts']:,} training texts cut; {entry['unknown_share']:.1%} of their tokens "
            "[UNK]")


def text_problem(frame, text: str | Sequence[str] = "review", target: str = "label", *, test=None,
                 **kwargs):
    """A Problem for texts (one column, or several joined) and a target column of a frame.

    >>> problem = text_problem(train, text="review", target="score", test=test)  # doctest: +SKIP
    >>> Learner("bag", problem).fit(5)                                            # doctest: +SKIP

    `test`: a second frame, the canonical test rows (otherwise 20 % of `frame` are held out, as
    for any table). Other columns of the frame are features too. The keyword arguments are those
    of deepstart.problems.tabular.tabular_problem (name, title, task, metric, references,
    recipe, recipes, origin, path, tokenizer="minilm" for MiniLM's own tokenizer, ...)."""
    from deepstart.problems.tabular import tabular_problem

    columns = [text] if isinstance(text, str) else list(text)
    if not columns:
        raise DeepstartError("give the text column(s) with text='COLUMN'.")
    return tabular_problem(frame, target, text=columns, test=test, **kwargs)


__all__ = ["fit_tokenizer", "encode_texts", "decode", "text_layout", "text_problem",
           "fit_text_entry", "text_entry", "action_text", "join_columns", "decode_bytes"]
