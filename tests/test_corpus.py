"""The space-restoration corpus: loading and its failures, cleaning, the split, the tagging
data against a plain-Python labelling, the n-gram baseline against a dict implementation,
the scores against counting by hand, and bad inputs that change nothing."""

import copy
import sys
import types
from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from birnn_utils import corpus
from birnn_utils.corpus import (
    ALPHABET,
    NgramSpacer,
    V,
    clean_prose,
    encode,
    insert_spaces,
    load_topics,
    space_pieces,
    space_scores,
    space_tagging,
    split_topics,
)
from birnn_utils.data import IGNORE_INDEX

words = st.text(alphabet=ALPHABET, min_size=1, max_size=8)
texts = st.lists(words, min_size=1, max_size=30).map(" ".join)


# --- loading -------------------------------------------------------------------------------

def test_load_topics_reads_the_standard_library_help_texts():
    topics = load_topics()
    assert len(topics) > 10
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in topics.items())
    assert "if" in topics and "statement" in topics["if"]


def test_load_topics_missing_module_is_a_clear_error():
    with pytest.raises(RuntimeError, match="cannot import 'no_such_pydoc_data_xyz'"):
        load_topics("no_such_pydoc_data_xyz")


@pytest.mark.parametrize(
    ("topics", "match"),
    [
        (None, "must be a dict of name -> text, got NoneType None"),
        (["if"], "must be a dict of name -> text, got list"),
        ({}, "is empty: there is no text"),
        ({"if": ""}, "non-empty texts, got str 'if' -> str ''"),
        ({"if": "   \n"}, "non-empty texts"),
        ({1: "text"}, "non-empty texts, got int 1"),
        ({"if": b"bytes"}, "non-empty texts, got str 'if' -> bytes"),
    ],
)
def test_load_topics_malformed_content_is_a_clear_error(monkeypatch, topics, match):
    fake = types.ModuleType("fake_topics")
    if topics is not None:
        fake.topics = topics
    monkeypatch.setitem(sys.modules, "fake_topics", fake)
    with pytest.raises(ValueError, match=match):
        load_topics("fake_topics")


def test_load_topics_when_pydoc_data_is_stripped(monkeypatch):
    # A Python without pydoc_data: the default call fails loudly, naming the module.
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # import raises ImportError
    with pytest.raises(RuntimeError, match="cannot import 'pydoc_data.topics'"):
        load_topics()


def test_load_topics_returns_a_copy():
    topics = load_topics()
    topics.clear()
    assert load_topics()


def test_load_topics_module_name_type():
    with pytest.raises(TypeError, match="module must be a str, got int 3"):
        load_topics(3)


# --- cleaning ------------------------------------------------------------------------------

def test_clean_prose_keeps_prose_and_drops_headings_and_code():
    text = (
        'The "if" statement\n******************\n\n'
        "It selects *exactly* one\nof the suites:\n\n"
        "   if_stmt ::= \"if\" expression\n\n"
        "Say \u201chello\u201d \u2014 it\u2019s 2 | 3.\n"
    )
    assert clean_prose(text) == 'it selects exactly one of the suites: say "hello" it\'s 2 3.'


@given(st.text(max_size=200))
def test_clean_prose_output_is_in_the_alphabet_with_single_spaces(text):
    cleaned = clean_prose(text)
    assert set(cleaned) <= set(ALPHABET) | {" "}
    assert "  " not in cleaned and cleaned == cleaned.strip()


@given(texts)
def test_clean_prose_leaves_clean_one_line_text_unchanged(text):
    assert clean_prose(text) == text


def test_clean_prose_of_the_real_corpus_is_mostly_kept_and_never_all_empty():
    topics = load_topics()
    cleaned = {name: clean_prose(text) for name, text in topics.items()}
    assert sum(map(len, cleaned.values())) > 0.3 * sum(map(len, topics.values()))
    assert sum(1 for c in cleaned.values() if c) > 0.9 * len(topics)


def test_clean_prose_type():
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        clean_prose(b"abc")


# --- the split -----------------------------------------------------------------------------

@given(st.lists(st.text(min_size=1, max_size=5), min_size=2, max_size=40, unique=True),
       st.integers(2, 7), st.randoms())
def test_split_topics_is_a_deterministic_partition(names, every, rng):
    train, test = split_topics(names, every)
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(names)
    assert len(test) == -(-len(names) // every) and train and test
    shuffled = list(names)
    rng.shuffle(shuffled)
    assert split_topics(shuffled, every) == (train, test)  # order of input does not matter


def test_split_of_the_real_topics_is_about_one_in_five():
    train, test = split_topics(load_topics())
    assert test == sorted(load_topics())[::5]
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.25


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((["a"],), ValueError, "at least 2 topics to split, got 1"),
        (([],), ValueError, "at least 2 topics"),
        ((["a", "a"],), ValueError, "names must be distinct"),
        (("ab",), TypeError, "names must be an iterable of str, got str 'ab'"),
        ((3,), TypeError, "names must be an iterable of str, got int 3"),
        ((["a", 1],), TypeError, "names must all be str"),
        ((["a", "b"], 1), ValueError, r"test_every must be an int >= 2, got 1"),
        ((["a", "b"], 2.0), TypeError, "test_every must be an int, got float"),
    ],
)
def test_split_topics_bad_inputs(args, error, match):
    before = copy.deepcopy(args)
    with pytest.raises(error, match=match):
        split_topics(*args)
    assert args == before


# --- the tagging data ----------------------------------------------------------------------

def reference_tagging(texts, seq_len):
    """Plain-Python labelling: per document, characters and 'a space follows'."""
    rows = []
    for text in texts:
        chars = [c for c in text if c != " "]
        labels = []
        for i, c in enumerate(text):
            if c != " ":
                labels.append(int(text[i + 1] == " ") if i + 1 < len(text) else IGNORE_INDEX)
        for start in range(0, len(chars) - seq_len + 1, seq_len):
            rows.append((chars[start : start + seq_len], labels[start : start + seq_len]))
    return rows


@given(st.lists(texts, min_size=1, max_size=4), st.integers(1, 12))
def test_space_tagging_matches_a_plain_python_labelling(documents, seq_len):
    expected = reference_tagging(documents, seq_len)
    if not expected:
        with pytest.raises(ValueError, match="the task would be empty"):
            space_tagging(documents, seq_len)
        return
    task = space_tagging(documents, seq_len)
    assert task.x.shape == (len(expected), seq_len, V) and task.x.dtype == torch.float32
    assert torch.equal(task.x.argmax(-1), task.tokens)
    for row, (chars, labels) in enumerate(expected):
        assert "".join(ALPHABET[i] for i in task.tokens[row].tolist()) == "".join(chars)
        assert task.y[row].tolist() == labels


@given(texts)
def test_insert_spaces_with_the_true_labels_restores_the_text(text):
    task = space_tagging([text], len(text.replace(" ", "")))
    assert task.tokens.shape[0] == 1
    assert insert_spaces(task.tokens[0], task.y[0]) == text


def test_space_tagging_of_the_real_corpus_is_not_empty_and_about_one_in_six_are_spaces():
    topics = load_topics()
    train, _ = split_topics(topics)
    task = space_tagging([clean_prose(topics[name]) for name in train], 64)
    labelled = task.y[task.y != IGNORE_INDEX].double()
    assert task.x.shape[0] > 1000
    assert 0.1 < labelled.mean().item() < 0.25


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((["ab cd"], 5), ValueError, r"seq_len=5 non-space characters \(the longest has 4\)"),
        (([], 3), ValueError, "the longest has 0"),
        ((["Ab"], 1), ValueError, r"only ALPHABET and spaces, got \['A'\]"),
        ((["a\tb"], 1), ValueError, "only ALPHABET and spaces"),
        (("ab cd", 2), TypeError, "texts must be a list of str, got str"),
        ((["ab", 3], 1), TypeError, "texts must all be str"),
        ((["ab"], 0), ValueError, "seq_len must be an int >= 1, got 0"),
        ((["ab"], True), TypeError, "seq_len must be an int, got bool"),
    ],
)
def test_space_tagging_bad_inputs(args, error, match):
    before = copy.deepcopy(args)
    with pytest.raises(error, match=match):
        space_tagging(*args)
    assert args == before


def test_encode_and_insert_spaces_bad_inputs():
    with pytest.raises(ValueError, match=r"chars must be in ALPHABET, got \['\?', 'A'\]"):
        encode("aA?")
    with pytest.raises(TypeError, match="chars must be a str"):
        encode(["a"])
    tokens = encode("abc")
    with pytest.raises(ValueError, match=r"spaces must have the shape of tokens \(3,\)"):
        insert_spaces(tokens, torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="spaces must have dtype int64"):
        insert_spaces(tokens, torch.zeros(3))
    with pytest.raises(ValueError, match=f"tokens must be in \\[0, {V}\\)"):
        insert_spaces(torch.tensor([0, V]), torch.zeros(2, dtype=torch.int64))
    assert insert_spaces(tokens, torch.tensor([1, IGNORE_INDEX, 1])) == "a bc"


# --- the n-gram baseline -------------------------------------------------------------------

def reference_spacer(train_tokens, train_y, test_tokens, left, right):
    """The same rule with Python dicts and tuples of characters (None = outside)."""
    def window(row, t, n_left, n_right):
        return tuple(row[i] if 0 <= i < len(row) else None
                     for i in range(t - n_left + 1, t + n_right + 1))

    levels = NgramSpacer(left, right)._levels()
    counts = {level: {} for level in levels}
    all_labels = []
    for row, labels in zip(train_tokens.tolist(), train_y.tolist(), strict=True):
        for t, label in enumerate(labels):
            if label == IGNORE_INDEX:
                continue
            all_labels.append(label)
            for level in levels:
                counts[level].setdefault(window(row, t, *level), Counter())[label] += 1
    majority = int(2 * sum(all_labels) > len(all_labels))
    out = []
    for row in test_tokens.tolist():
        predicted = []
        for t in range(len(row)):
            vote = majority
            for level in levels:
                c = counts[level].get(window(row, t, *level))
                if c is not None:
                    vote = int(2 * c[1] > c[0] + c[1])
                    break
            predicted.append(vote)
        out.append(predicted)
    return out


@given(st.integers(1, 6), st.integers(2, 8), st.integers(1, 3), st.integers(0, 3),
       st.integers(0, 10_000), st.integers(2, 4))
def test_ngram_spacer_matches_a_dict_implementation(n, steps, left, right, seed, used):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(used, (n, steps), generator=generator)  # few symbols: repeats
    y = torch.randint(-1, 2, (n, steps), generator=generator)
    y[y == -1] = IGNORE_INDEX
    y[0, 0] = 1  # at least one labelled position
    test_tokens = torch.randint(used + 1, (2, steps), generator=generator)  # unseen ones too
    spacer = NgramSpacer(left, right).fit(tokens, y)
    expected = reference_spacer(tokens, y, test_tokens, left, right)
    assert spacer.predict(test_tokens).tolist() == expected


def test_ngram_spacer_two_sided_beats_left_only_on_the_real_corpus():
    topics = load_topics()
    train, test = split_topics(topics)
    train_task = space_tagging([clean_prose(topics[n]) for n in train], 64)
    test_task = space_tagging([clean_prose(topics[n]) for n in test], 64)
    scores = {}
    for right in (0, 2):
        spacer = NgramSpacer(3, right).fit(train_task.tokens, train_task.y)
        scores[right] = space_scores(spacer.predict(test_task.tokens), test_task.y)
    assert scores[2].f1 > scores[0].f1 + 0.1


def test_ngram_spacer_bad_inputs_change_nothing():
    tokens = encode("abcabc").view(2, 3)
    y = torch.tensor([[0, 1, 0], [1, 0, IGNORE_INDEX]])
    spacer = NgramSpacer(2, 1)
    with pytest.raises(RuntimeError, match="predict called before fit"):
        spacer.predict(tokens)
    spacer.fit(tokens, y)
    tables = copy.deepcopy(spacer.tables)
    bad_calls = [
        (lambda: spacer.fit(tokens.float(), y), TypeError, "tokens must have dtype int64"),
        (lambda: spacer.fit(tokens[0], y), ValueError, "tokens must have 2 dimensions"),
        (lambda: spacer.fit(tokens, y[:1]), ValueError, r"y must have the shape of tokens"),
        (lambda: spacer.fit(tokens, torch.full_like(y, IGNORE_INDEX)), ValueError,
         "no labelled position"),
        (lambda: spacer.fit(tokens, y + 1), ValueError, "y must hold 0, 1 or -100"),
        (lambda: spacer.fit(tokens + V, y), ValueError, f"tokens must be in \\[0, {V}\\)"),
        (lambda: spacer.predict(tokens[:0]), ValueError, "tokens must not be empty"),
        (lambda: NgramSpacer(0, 1), ValueError, r"left must be an int in \[1, 6\], got 0"),
        (lambda: NgramSpacer(2, -1), ValueError, r"right must be an int in \[0, 6\], got -1"),
        (lambda: NgramSpacer(2, 1.5), TypeError, "right must be an int, got float"),
    ]
    for call, error, match in bad_calls:
        with pytest.raises(error, match=match):
            call()
        assert spacer.tables.keys() == tables.keys()
        for level, (keys, votes) in tables.items():
            assert torch.equal(spacer.tables[level][0], keys)
            assert torch.equal(spacer.tables[level][1], votes)


@given(st.lists(st.sampled_from([0, 1]), min_size=1, max_size=40), st.randoms())
def test_space_scores_match_counting_by_hand(truth, rng):
    predicted = [rng.choice([0, 1]) for _ in truth]
    y, p = torch.tensor(truth), torch.tensor(predicted)
    tp = sum(a == b == 1 for a, b in zip(predicted, truth, strict=True))
    fp = sum(a == 1 and b == 0 for a, b in zip(predicted, truth, strict=True))
    fn = sum(a == 0 and b == 1 for a, b in zip(predicted, truth, strict=True))
    scores = space_scores(p, y)
    hits = sum(a == b for a, b in zip(predicted, truth, strict=True))
    assert scores.accuracy == pytest.approx(hits / len(truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    assert scores.precision == pytest.approx(precision) and scores.recall == pytest.approx(recall)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    assert scores.f1 == pytest.approx(f1)


def test_space_scores_ignore_unlabelled_positions_and_reject_bad_inputs():
    y = torch.tensor([1, IGNORE_INDEX, 0])
    assert space_scores(torch.tensor([1, 0, 0]), y).accuracy == 1.0
    with pytest.raises(ValueError, match="no labelled position"):
        space_scores(torch.tensor([1]), torch.tensor([IGNORE_INDEX]))
    with pytest.raises(ValueError, match=r"prediction must have the shape of y \(3,\)"):
        space_scores(torch.tensor([1]), y)
    with pytest.raises(TypeError, match="prediction must have dtype int64"):
        space_scores(torch.tensor([1.0, 0.0, 0.0]), y)


def test_module_constants():
    assert V == len(ALPHABET) == len(set(ALPHABET)) and " " not in ALPHABET
    assert corpus.encode(ALPHABET).tolist() == list(range(V))


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4), st.integers(1, 5))
def test_space_tagging_rejects_any_text_outside_the_alphabet_and_changes_nothing(docs, seq_len):
    outside = [c for doc in docs for c in doc if c != " " and c not in ALPHABET]
    before = list(docs)
    if outside:
        with pytest.raises(ValueError, match="only ALPHABET and spaces"):
            space_tagging(docs, seq_len)
    assert docs == before


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3), st.none()))
def test_ngram_spacer_rejects_non_tensor_tokens_and_keeps_its_tables(bad):
    tokens = encode("abcabc").view(2, 3)
    spacer = NgramSpacer(2, 1).fit(tokens, torch.tensor([[0, 1, 0], [1, 0, 0]]))
    keys, votes = (t.clone() for t in spacer.tables[2, 1])
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor"):
        spacer.predict(bad)
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor"):
        spacer.fit(bad, torch.zeros(2, 3, dtype=torch.int64))
    assert torch.equal(spacer.tables[2, 1][0], keys) and torch.equal(spacer.tables[2, 1][1], votes)


# --- variable-length pieces ------------------------------------------------------------------

def reference_pieces(documents, max_len):
    """Pieces and labels by hand: sentences after '. ' or ': ', then whole words while they
    fit (a longer word cut every max_len characters); each piece's last label -100."""
    pieces = []
    for text in documents:
        sentences, current = [], ""
        for i, c in enumerate(text):
            if c == " " and i > 0 and text[i - 1] in ".:":
                sentences.append(current)
                current = ""
            else:
                current += c
        sentences.append(current)
        for sentence in sentences:
            words = [w for w in sentence.split(" ") if w]
            piece = []
            for word in words:
                while len(word) > max_len:
                    if piece:
                        pieces.append(piece)
                    pieces.append([word[:max_len]])
                    word, piece = word[max_len:], []
                if piece and sum(map(len, piece)) + len(word) > max_len:
                    pieces.append(piece)
                    piece = []
                piece.append(word)
            if piece:
                pieces.append(piece)
    rows = []
    for piece in pieces:
        chars, labels = [], []
        for k, word in enumerate(piece):
            chars += list(word)
            labels += [0] * (len(word) - 1) + [1 if k < len(piece) - 1 else IGNORE_INDEX]
        rows.append(("".join(chars), labels))
    return rows


texts_with_ends = st.lists(
    st.tuples(st.lists(words, min_size=1, max_size=6), st.sampled_from([".", ":", ""])),
    min_size=1, max_size=5).map(lambda parts: " ".join(" ".join(w) + end for w, end in parts))


@given(st.lists(texts_with_ends, min_size=1, max_size=3), st.integers(1, 12))
def test_space_pieces_match_a_plain_python_cutting(documents, max_len):
    expected = reference_pieces(documents, max_len)
    task = space_pieces(documents, max_len)
    assert task.tokens.shape == (len(expected), max(len(c) for c, _ in expected))
    assert task.lengths.tolist() == [len(c) for c, _ in expected]
    for row, (chars, labels) in enumerate(expected):
        n = len(chars)
        assert "".join(ALPHABET[i] for i in task.tokens[row, :n].tolist()) == chars
        assert task.y[row, :n].tolist() == labels
        assert (task.tokens[row, n:] == 0).all() and (task.y[row, n:] == IGNORE_INDEX).all()
    assert int(task.lengths.max()) <= max_len


@given(st.lists(texts_with_ends, min_size=1, max_size=3))
def test_space_pieces_give_each_text_back_when_no_word_is_too_long(documents):
    task = space_pieces(documents, 200)
    restored = [insert_spaces(t[:n], y[:n]) for t, n, y in zip(*task, strict=True)]
    assert " ".join(restored) == " ".join(" ".join(d.split()) for d in documents)


def test_space_pieces_of_the_real_corpus_are_sentences_of_different_lengths():
    topics = load_topics()
    _, test = split_topics(topics)
    task = space_pieces([clean_prose(topics[n]) for n in test], 128)
    assert task.lengths.min() < 20 < 128 == task.lengths.max()
    last = task.tokens[torch.arange(len(task.lengths)), task.lengths - 1]
    assert (last == encode(".")[0]).double().mean() > 0.5  # most pieces end a sentence


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([], 3), ValueError, "texts hold no character"),
        (([" ", ""], 3), ValueError, "texts hold no character"),
        ((["Ab"], 3), ValueError, r"only ALPHABET and spaces, got \['A'\]"),
        (("ab cd", 2), TypeError, "texts must be a list of str, got str"),
        ((["ab", 3], 1), TypeError, "texts must all be str"),
        ((["ab"], 0), ValueError, r"max_len must be an int in \[1, 100000\], got 0"),
        ((["ab"], 2.0), TypeError, "max_len must be an int, got float"),
    ],
)
def test_space_pieces_bad_inputs(args, error, match):
    before = copy.deepcopy(args)
    with pytest.raises(error, match=match):
        space_pieces(*args)
    assert args == before


@given(st.integers(1, 5), st.integers(2, 8), st.integers(1, 3), st.integers(0, 3),
       st.integers(0, 10_000), st.integers(2, 4))
def test_ngram_spacer_with_lengths_matches_the_dict_implementation_on_the_pieces(
        n, steps, left, right, seed, used):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(used, (n, steps), generator=generator)
    lengths = torch.randint(1, steps + 1, (n,), generator=generator)
    y = torch.randint(0, 2, (n, steps), generator=generator)
    y[torch.arange(steps) >= lengths[:, None]] = IGNORE_INDEX
    y[0, 0] = 1
    test_tokens = torch.randint(used + 1, (3, steps), generator=generator)
    test_lengths = torch.tensor([steps, 1, max(steps // 2, 1)])

    class Rows:  # lists of different lengths, as the reference reads them
        def __init__(self, tensor, lengths):
            self.rows = [r[:k] for r, k in zip(tensor.tolist(), lengths.tolist(), strict=True)]

        def tolist(self):
            return self.rows

    spacer = NgramSpacer(left, right).fit(tokens, y, lengths)
    expected = reference_spacer(Rows(tokens, lengths), Rows(y, lengths),
                                Rows(test_tokens, test_lengths), left, right)
    predicted = spacer.predict(test_tokens, test_lengths)
    for row, k in enumerate(test_lengths.tolist()):
        assert predicted[row, :k].tolist() == expected[row]
        assert (predicted[row, k:] == 0).all()


def test_ngram_spacer_refuses_bad_lengths_and_labels_on_the_padding():
    tokens = encode("abcabc").view(2, 3)
    y = torch.tensor([[0, 1, IGNORE_INDEX], [1, IGNORE_INDEX, IGNORE_INDEX]])
    spacer = NgramSpacer(2, 1).fit(tokens, y, torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="y must be -100 after each piece's end"):
        spacer.fit(tokens, y, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 3\]"):
        spacer.predict(tokens, torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="lengths must have dtype int64"):
        spacer.predict(tokens, torch.tensor([1.0, 2.0]))


def test_space_scores_accepts_no_answer_only_where_there_is_no_label():
    y = torch.tensor([[1, 0, -100, -100]])
    padded = torch.tensor([[1, 0, -100, -100]])  # a padded batch's prediction
    assert space_scores(padded, y) == space_scores(torch.tensor([[1, 0, 0, 1]]), y)
    with pytest.raises(ValueError, match="prediction must hold only 0, 1, got -100"):
        space_scores(torch.tensor([[-100, 0, 0, 0]]), y)
