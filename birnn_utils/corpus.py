"""Real English text that ships with Python, for a space-restoration tagging task.

The standard library's ``pydoc_data.topics`` holds the interpreter's help texts (what
``help("if")`` prints): about 80 documents ("topics") of English prose with code examples.
This module turns them into a character-tagging task, with no download:

- :func:`load_topics` reads the topics (a clear error if the package is missing or its
  content is not a non-empty mapping of names to texts);
- :func:`clean_prose` keeps the prose paragraphs of one text (drops headings, indented code
  and grammar blocks), lower-cases it and keeps only the characters of :data:`ALPHABET`;
- :func:`split_topics` splits the topic *names* into train and test deterministically, so no
  document contributes to both;
- :func:`space_tagging` removes the spaces and labels each remaining character with 1 if a
  space followed it, 0 if not: x (N, T, V) one-hot, y (N, T), as a
  :class:`birnn_utils.data.SequenceTask`;
- :func:`space_pieces` does the same on sentences (cut further when long) instead of
  fixed chunks: a padded batch of token ids with their lengths, :class:`SpacePieces`;
- :class:`NgramSpacer` is the non-neural baseline: a table of counts over a window of
  characters around the gap, with back-off to shorter windows;
- :func:`space_scores` and :func:`insert_spaces` score and display predictions.

The texts differ between Python versions, so the exact numbers do too.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from birnn_utils.data import IGNORE_INDEX, SequenceTask
from birnn_utils.validation import check_elements, check_int, check_tensor, describe
from birnn_utils.varlen import check_lengths

__all__ = [
    "ALPHABET",
    "V",
    "load_topics",
    "clean_prose",
    "split_topics",
    "encode",
    "space_tagging",
    "SpacePieces",
    "space_pieces",
    "insert_spaces",
    "NgramSpacer",
    "SpaceScores",
    "space_scores",
]

#: The characters kept by :func:`clean_prose`, besides the space; token ``i`` is
#: ``ALPHABET[i]``.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.,;:'\"()-_"
#: Number of character classes (the one-hot width).
V = len(ALPHABET)

_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_UNDERLINE = re.compile(r"^([*=\-~^#+])\1{2,}$")
_SENTENCE_END = re.compile(r"(?<=[.:]) ")


def load_topics(module: str = "pydoc_data.topics") -> dict[str, str]:
    """The help topics as ``{name: text}``, read from ``module``'s ``topics`` dict.

    Raises ``RuntimeError`` if the module cannot be imported (some Python builds strip
    ``pydoc_data``), and ``ValueError`` if it has no ``topics`` mapping, the mapping is empty,
    or a name or text is not a non-empty string: never a silently empty corpus.
    """
    if not isinstance(module, str):
        raise TypeError(f"module must be a str, got {describe(module)}")
    if not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"module must be a dotted module name such as 'pydoc_data.topics', "
                         f"got {module!r}")
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        raise RuntimeError(
            f"cannot import {module!r} ({error}); the help texts ship with CPython's "
            "standard library, but some distributions remove them"
        ) from error
    topics = getattr(loaded, "topics", None)
    if not isinstance(topics, Mapping):
        raise ValueError(f"module {module!r}: {module}.topics must be a dict of name -> text, "
                         f"got {describe(topics)}")
    if not topics:
        raise ValueError(f"module {module!r}: {module}.topics is empty: there is no text to "
                         f"learn from")
    for name, text in topics.items():
        if not isinstance(name, str) or not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"module {module!r}: {module}.topics must map names to non-empty texts, got "
                f"{describe(name)} -> {describe(text)}"
            )
    return dict(topics)


def _is_prose(lines: list[str]) -> bool:
    """A paragraph is prose if no line is indented (code, grammar) and it is not a heading."""
    if any(line[:1].isspace() for line in lines):
        return False
    return not any(_UNDERLINE.match(line.strip()) for line in lines)


def clean_prose(text: str) -> str:
    """The prose paragraphs of ``text``, lower-cased, in :data:`ALPHABET` plus single spaces.

    Paragraphs are separated by blank lines. A paragraph is dropped if a line is indented
    (code examples, grammar rules) or is a heading underline (``****``, ``====``, ...).
    Curly quotes become straight ones; other characters outside the alphabet (``*``, ``|``,
    ...) are removed; runs of whitespace become one space. May return ``""``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    paragraphs = re.split(r"\n\s*\n", text.translate(_QUOTES))
    kept = []
    for paragraph in paragraphs:
        lines = [line for line in paragraph.split("\n") if line.strip()]
        if lines and _is_prose(lines):
            kept.append(" ".join(lines))
    prose = " ".join(kept).lower()
    prose = "".join(c if c in _INDEX else (" " if c.isspace() else "") for c in prose)
    return re.sub(r" +", " ", prose).strip()


def split_topics(names, test_every: int = 5) -> tuple[list[str], list[str]]:
    """Split topic names into (train, test): in sorted order, every ``test_every``-th
    name (the 1st, the ``test_every + 1``-th, ...) is a test document, the rest train.

    Deterministic and by document, so no text is in both. Needs at least 2 names; both
    parts are non-empty.
    """
    test_every = check_int("test_every", test_every, minimum=2)
    if isinstance(names, str | bytes) or not hasattr(names, "__iter__"):
        raise TypeError(f"names must be an iterable of str, got {describe(names)}")
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must all be str, got {describe(names)}")
    if len(set(names)) != len(names):
        raise ValueError("names must be distinct")
    if len(names) < 2:
        raise ValueError(f"names must hold at least 2 topics to split, got {len(names)}")
    ordered = sorted(names)
    test = ordered[::test_every]
    train = [n for n in ordered if n not in set(test)]
    return train, test


def encode(chars: str) -> Tensor:
    """(len,) int64 token ids of ``chars``; every character must be in :data:`ALPHABET`."""
    if not isinstance(chars, str):
        raise TypeError(f"chars must be a str, got {describe(chars)}")
    bad = sorted({c for c in chars if c not in _INDEX})
    if bad:
        raise ValueError(f"chars must be in ALPHABET, got {bad!r}")
    return torch.tensor([_INDEX[c] for c in chars], dtype=torch.int64)


_LOOKUP = torch.full((256,), -1, dtype=torch.int64)
_LOOKUP[list(ALPHABET.encode("ascii"))] = torch.arange(V)


def _strip_spaces(text: str) -> tuple[Tensor, Tensor]:
    """(tokens, labels) of ``text`` without its spaces: per remaining character its id
    and 1 if a space followed it in ``text``, else 0 (IGNORE_INDEX for the last one)."""
    codes = torch.frombuffer(bytearray(text.encode("ascii")), dtype=torch.uint8).long()
    is_space = codes == ord(" ")  # (len,)
    followed = torch.cat([is_space[1:], torch.tensor([False])]).long()  # space after i?
    labels = followed[~is_space]
    if labels.numel():
        labels[-1] = IGNORE_INDEX  # the text ends here: no gap to label
    return _LOOKUP[codes[~is_space]], labels


def space_tagging(texts, seq_len: int) -> SequenceTask:
    """The space-restoration task: chunks of ``seq_len`` characters with the spaces removed.

    ``texts`` is a list of cleaned texts (one per document, see :func:`clean_prose`). Each
    text is cut into consecutive, non-overlapping chunks of ``T = seq_len`` non-space
    characters (a chunk never spans two texts; each text's remainder is dropped).
    ``y[n, t] = 1`` if a space followed character ``t`` of chunk ``n`` in the text, else 0
    (``-100`` for a text's very last character). ``x`` (N, T, V) float32 one-hot of
    ``tokens`` (N, T). Raises ``ValueError`` if no text has ``seq_len`` characters.
    """
    seq_len = check_int("seq_len", seq_len, minimum=1)
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise TypeError(f"texts must be a list of str, got {describe(texts)}")
    if not all(isinstance(t, str) for t in texts):
        raise TypeError(f"texts must all be str, got {describe(texts)}")
    token_rows, label_rows = [], []
    for text in texts:
        bad = sorted({c for c in text if c != " " and c not in _INDEX})
        if bad:
            raise ValueError(f"texts must hold only ALPHABET and spaces, got {bad!r}")
    usable = sum(len(t.replace(" ", "")) // seq_len * seq_len for t in texts)
    check_elements("the one-hot x", usable * V,
                   f"texts of {usable} usable characters, seq_len={seq_len}, V={V}")
    for text in texts:
        tokens, labels = _strip_spaces(text)  # (len,), (len,)
        usable = len(tokens) // seq_len * seq_len
        if usable:
            token_rows.append(tokens[:usable].view(-1, seq_len))
            label_rows.append(labels[:usable].view(-1, seq_len))
    if not token_rows:
        longest = max((len(t.replace(" ", "")) for t in texts), default=0)
        raise ValueError(
            f"texts: no text has seq_len={seq_len} non-space characters (the longest has "
            f"{longest}): the task would be empty"
        )
    tokens = torch.cat(token_rows)  # (N, T)
    y = torch.cat(label_rows)  # (N, T)
    return SequenceTask(F.one_hot(tokens, V).float(), y, tokens)


class SpacePieces(NamedTuple):
    """Pieces of text of different lengths, spaces removed, padded into one batch.

    ``tokens`` (N, T) int64 character ids, 0 after each piece's end; ``lengths`` (N,)
    int64 in ``[1, T]``; ``y`` (N, T) int64: 1 if a space followed the character in the
    text, 0 if not, ``-100`` at each piece's last character and after its end.
    """

    tokens: Tensor
    lengths: Tensor
    y: Tensor


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise TypeError(f"texts must be a list of str, got {describe(texts)}")
    if not all(isinstance(t, str) for t in texts):
        raise TypeError(f"texts must all be str, got {describe(texts)}")
    for text in texts:
        bad = sorted({c for c in text if c != " " and c not in _INDEX})
        if bad:
            raise ValueError(f"texts must hold only ALPHABET and spaces, got {bad!r}")
    return list(texts)


def _pieces(sentence: str, max_len: int) -> list[str]:
    """``sentence`` cut at its spaces into pieces of at most ``max_len`` non-space
    characters, greedily (as many whole words as fit); a longer word is cut every
    ``max_len`` characters."""
    pieces, words, size = [], [], 0
    for word in sentence.split():
        while len(word) > max_len:  # a word longer than a piece: cut it
            if words:
                pieces.append(" ".join(words))
            pieces.append(word[:max_len])
            word, words, size = word[max_len:], [], 0
        if words and size + len(word) > max_len:
            pieces.append(" ".join(words))
            words, size = [], 0
        words.append(word)
        size += len(word)
    if words:
        pieces.append(" ".join(words))
    return pieces


def space_pieces(texts, max_len: int) -> SpacePieces:
    """The space-restoration task on sentences: pieces of different lengths, padded.

    ``texts`` is a list of cleaned texts (see :func:`clean_prose`). Each is cut into
    sentences after every ``.`` or ``:`` followed by a space; a sentence of more than
    ``max_len`` non-space characters is cut further at its spaces into pieces of at most
    ``max_len`` (greedily; a longer word is cut every ``max_len`` characters). In each
    piece, with its spaces removed, ``y[n, t] = 1`` if a space followed character ``t``,
    else 0; the gap after a piece's last character is not labelled (``-100``): a piece
    ends where the text had a space, or where a text or a too-long word ends, and a model
    would be told the answer there, not asked. Pieces keep the order of the texts.
    Raises ``ValueError`` if the texts hold no character.
    """
    max_len = check_int("max_len", max_len, minimum=1, maximum=10**5)
    texts = _check_texts(texts)
    token_rows, label_rows = [], []
    for text in texts:
        for sentence in _SENTENCE_END.split(text):
            for piece in _pieces(sentence, max_len):
                tokens, labels = _strip_spaces(piece)  # the last label is -100
                token_rows.append(tokens)
                label_rows.append(labels)
    if not token_rows:
        raise ValueError("texts hold no character: the task would be empty")
    lengths = torch.tensor([len(row) for row in token_rows])  # (N,)
    tokens = torch.zeros(len(token_rows), int(lengths.max()), dtype=torch.int64)
    y = torch.full_like(tokens, IGNORE_INDEX)  # (N, T)
    for n, (row, labels) in enumerate(zip(token_rows, label_rows, strict=True)):
        tokens[n, : len(row)] = row
        y[n, : len(row)] = labels
    return SpacePieces(tokens, lengths, y)


def insert_spaces(tokens: Tensor, spaces: Tensor) -> str:
    """The text of ``tokens`` (T,) with a space after every character where ``spaces``
    (T,) is 1 (``-100`` counts as no space)."""
    _check_values("tokens", tokens, dim=1)
    _check_values("spaces", spaces, dim=1)
    if spaces.shape != tokens.shape:
        raise ValueError(f"spaces must have the shape of tokens {tuple(tokens.shape)}, "
                         f"got {tuple(spaces.shape)}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= V):
        raise ValueError(f"tokens must be in [0, {V}), got values outside")
    _check_tags("spaces", spaces, (0, 1, IGNORE_INDEX))
    return "".join(ALPHABET[c] + (" " if s == 1 else "")
                   for c, s in zip(tokens.tolist(), spaces.tolist(), strict=True)).strip()


def _check_values(name: str, value: object, dim: int) -> Tensor:
    """An int64 tensor of ``dim`` dimensions that holds values (not on the meta device)."""
    check_tensor(name, value, dim=dim, dtype=torch.int64)
    if value.is_meta:
        raise ValueError(f"{name} must hold values, got {describe(value)} on the meta device")
    return value


def _check_tags(name: str, value: Tensor, allowed: tuple[int, ...]) -> None:
    bad = value[~torch.isin(value, torch.tensor(allowed, device=value.device))]
    if bad.numel():
        raise ValueError(f"{name} must hold only {', '.join(map(str, allowed))}, "
                         f"got {int(bad[0])}")


_FITS_INT64 = max(w for w in range(1, 64) if (V + 1) ** w < 2**63)  # 11 characters


def _window_keys(tokens: Tensor, left: int, right: int, lengths: Tensor | None = None
                 ) -> Tensor:
    """Exact keys of the windows: the ``left`` characters ending at t and the ``right``
    characters after t, positions outside the chunk (or after ``lengths[n]``) read as the
    symbol V. One int64 per
    window, (N, T), in base V + 1 while that cannot overflow (up to 11 characters); for a
    wider window two int64 halves, (N, T, 2): a packed key must never wrap (two windows
    would share it)."""
    n, steps = tokens.shape
    width = left + right
    padded = torch.full((n, steps + width), V, dtype=torch.int64)
    padded[:, left : left + steps] = tokens
    if lengths is not None:
        after = torch.arange(steps + left + right) >= left + lengths[:, None]
        padded[after] = V

    def pack(positions: range) -> Tensor:
        key = torch.zeros(n, steps, dtype=torch.int64)
        for k in positions:  # window position k covers t - left + 1 + k
            key = key * (V + 1) + padded[:, k + 1 : k + 1 + steps]
        return key

    if width <= _FITS_INT64:
        return pack(range(width))
    return torch.stack((pack(range(width // 2)), pack(range(width // 2, width))), dim=-1)


def _lookup(keys: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """(where, found): for every query key, its index in the sorted unique ``keys`` and
    whether it is there. Keys are (K,) int64 or (K, 2) rows (see :func:`_window_keys`)."""
    if keys.dim() == 1:
        where = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
        return where, keys[where] == query
    rows = query.reshape(-1, 2)
    _, inverse = torch.cat((keys, rows)).unique(dim=0, return_inverse=True)
    index = torch.full((int(inverse.max()) + 1,), -1, dtype=torch.int64)
    index[inverse[: len(keys)]] = torch.arange(len(keys))
    where = index[inverse[len(keys):]].view(query.shape[:-1])
    return where.clamp(min=0), where >= 0


class NgramSpacer:
    """Non-neural baseline: predict a space after character t by majority vote among the
    training positions with the same window, ``left`` characters ending at t (t included)
    and ``right`` characters after it. An unseen window backs off to a shorter one
    (shrinking the longer side first), down to the global majority.

    ``right=0`` is a causal rule (it reads only the past, like a forward GRU);
    ``right > 0`` reads the future, like a BiGRU. ``fit(tokens, y)`` with (N, T) int64 tokens
    and labels (``-100`` ignored); ``predict(tokens)`` returns (N, T) int64 in {0, 1}.
    Both take ``lengths`` (N,) for a padded batch of pieces (:func:`space_pieces`): the
    characters after ``lengths[n]`` then read as outside the piece, and are predicted 0.
    """

    def __init__(self, left: int = 3, right: int = 2):
        self.left = check_int("left", left, minimum=1, maximum=6)
        self.right = check_int("right", right, minimum=0, maximum=6)
        self.tables: dict[tuple[int, int], tuple[Tensor, Tensor]] | None = None
        self.majority = 0

    def _levels(self) -> list[tuple[int, int]]:
        levels, left, right = [(self.left, self.right)], self.left, self.right
        while left + right > 0:
            if right >= left:
                right -= 1
            else:
                left -= 1
            levels.append((left, right))
        return levels

    def _check(self, tokens: object, name: str = "tokens") -> Tensor:
        tokens = _check_values(name, tokens, dim=2)
        if tokens.numel() == 0:
            raise ValueError(f"{name} must not be empty, got {describe(tokens)}")
        if tokens.min() < 0 or tokens.max() >= V:
            raise ValueError(f"{name} must be in [0, {V}), got min {int(tokens.min())} "
                             f"and max {int(tokens.max())}")
        return tokens

    def fit(self, tokens: Tensor, y: Tensor, lengths: Tensor | None = None) -> NgramSpacer:
        tokens = self._check(tokens)
        _check_values("y", y, dim=2)
        if y.shape != tokens.shape:
            raise ValueError(f"y must have the shape of tokens {tuple(tokens.shape)}, "
                             f"got {tuple(y.shape)}")
        if lengths is not None:
            lengths = check_lengths(lengths, tokens.shape[1], tokens.shape[0])
            inside = torch.arange(tokens.shape[1]) < lengths[:, None]
            if (y[~inside] != IGNORE_INDEX).any():
                raise ValueError("y must be -100 after each piece's end (lengths)")
        labelled = _labelled(y)
        if not ((y[labelled] == 0) | (y[labelled] == 1)).all():
            raise ValueError("y must hold 0, 1 or -100")
        spaces = y[labelled]
        tables = {}
        for level in self._levels():
            window = _window_keys(tokens, *level, lengths)[labelled]  # (M,) or (M, 2) keys
            keys, inverse = window.unique(return_inverse=True, dim=0 if window.dim() > 1
                                          else None)
            count = torch.bincount(inverse, minlength=len(keys))
            ones = torch.bincount(inverse, weights=spaces.double(), minlength=len(keys))
            tables[level] = (keys, (2 * ones > count).long())  # sorted keys -> majority
        self.tables = tables
        self.majority = int(2 * spaces.sum() > len(spaces))
        return self

    def predict(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.tables is None:
            raise RuntimeError("NgramSpacer.predict called before fit")
        tokens = self._check(tokens)
        if lengths is not None:
            lengths = check_lengths(lengths, tokens.shape[1], tokens.shape[0])
        prediction = torch.full(tokens.shape, self.majority, dtype=torch.int64)
        done = torch.zeros(tokens.shape, dtype=torch.bool)
        for level in self._levels():
            keys, vote = self.tables[level]
            where, found = _lookup(keys, _window_keys(tokens, *level, lengths))
            found &= ~done
            prediction[found] = vote[where][found]
            done |= found
        if lengths is not None:
            prediction[torch.arange(tokens.shape[1]) >= lengths[:, None]] = 0
        return prediction


def _labelled(y: Tensor) -> Tensor:
    """The mask of ``y``'s labelled positions; a ValueError when there is none."""
    labelled = y != IGNORE_INDEX
    if not labelled.any():
        raise ValueError("y has no labelled position (every label is -100)")
    return labelled


class SpaceScores(NamedTuple):
    """Scores of space predictions over labelled positions: ``accuracy`` of the 0/1 tags,
    and ``precision``, ``recall`` and ``f1`` of the predicted spaces (0 when undefined)."""

    accuracy: float
    precision: float
    recall: float
    f1: float


def space_scores(prediction: Tensor, y: Tensor) -> SpaceScores:
    """:class:`SpaceScores` of ``prediction`` against ``y`` (same shape, int64; ``y == -100``
    positions are ignored, and there ``prediction`` may be -100 too, as a padded batch's
    prediction is)."""
    for name, value in (("prediction", prediction), ("y", y)):
        check_tensor(name, value, dtype=torch.int64)
        if value.is_meta:
            raise ValueError(f"{name} must hold values, got {describe(value)} on the meta "
                             f"device")
    if prediction.shape != y.shape:
        raise ValueError(f"prediction must have the shape of y {tuple(y.shape)}, "
                         f"got {tuple(prediction.shape)}")
    _check_tags("y", y, (0, 1, IGNORE_INDEX))
    labelled = _labelled(y)
    # -100 ("no answer") is allowed only where y has no label (padding, a chunk's end).
    _check_tags("prediction", prediction[labelled], (0, 1))
    _check_tags("prediction", prediction[~labelled], (0, 1, IGNORE_INDEX))
    p, t = prediction[labelled] == 1, y[labelled] == 1
    hits = int((p & t).sum())
    precision = hits / int(p.sum()) if p.any() else 0.0
    recall = hits / int(t.sum()) if t.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return SpaceScores((p == t).double().mean().item(), precision, recall, f1)
