"""Chapter 4's numbers over more seeds than the notebook runs (outside it; ~1 min of CPU
per seed).

    .venv/bin/python benchmarks/bidirectional_at_work_seeds.py [n_seeds]

Same sizes and training settings as chapters/04_bidirectional_at_work.ipynb; each seed
changes the initial weights and the batch order (and, for the local-peak task, the data,
which the notebook keeps fixed). Prints mean and spread (min..max) per model. The book
cites none of these numbers: the notebook computes its own, over three seeds.
"""

import statistics
import sys

import torch

from birnn_utils import corpus, data, training, varlen
from birnn_utils.delayed import DelayedTagger, local_peak_ceiling
from birnn_utils.reproducibility import make_deterministic


def summary(values):
    return (f"mean {statistics.mean(values):.4f}  sd {statistics.pstdev(values):.4f}  "
            f"range {min(values):.4f}..{max(values):.4f}")


def trained(make, x, y, seed, **fit):
    torch.manual_seed(seed)
    model = make().double()
    training.fit(model, x, y, seed=seed, **fit)
    return model


def local_peak_runs(seeds):
    makers = {"GRU": lambda: training.SequenceTagger(8, 24, 2),
              **{f"GRU, delay {d}": (lambda d=d: DelayedTagger(8, 24, 2, delay=d))
                 for d in (1, 2, 3, 4)},
              "BiGRU": lambda: training.SequenceTagger(8, 16, 2, bidirectional=True)}
    results = {name: [] for name in makers}
    for seed in seeds:
        train = data.local_peak(384, 16, vocab=8, seed=2 * seed, radius=2)
        held_out = data.local_peak(1024, 16, vocab=8, seed=2 * seed + 1, radius=2)
        for name, make in makers.items():
            model = trained(make, train.x.double(), train.y, seed, epochs=15, lr=3e-2,
                            batch_size=64)
            results[name].append(training.accuracy(model, held_out.x.double(), held_out.y))
    print("local peak, radius 2, held-out accuracy; ceilings",
          [round(local_peak_ceiling(8, 2, k), 4) for k in range(3)])
    for name, values in results.items():
        print(f"  {name:13s} {summary(values)}")


def text_runs(seeds):
    topics = corpus.load_topics()
    train_names, test_names = corpus.split_topics(topics)
    train_texts = [corpus.clean_prose(topics[n]) for n in train_names]
    train = corpus.space_pieces(train_texts, 32)
    table_train = corpus.space_pieces(train_texts, 128)
    test = corpus.space_pieces([corpus.clean_prose(topics[n]) for n in test_names], 128)
    print("space restoration, test F1 (accuracy)")
    for left, right in [(4, 0), (5, 0), (3, 2)]:
        spacer = corpus.NgramSpacer(left, right).fit(table_train.tokens, table_train.y,
                                                     table_train.lengths)
        s = corpus.space_scores(spacer.predict(test.tokens, test.lengths), test.y)
        print(f"  n-gram ({left}, {right})  F1 {s.f1:.4f} (accuracy {s.accuracy:.4f}), "
              "deterministic")
    makers = {"GRU": lambda: varlen.VarLenTagger(corpus.V, 32, 2),
              "GRU, delay 2": lambda: varlen.VarLenTagger(corpus.V, 32, 2, delay=2),
              "BiGRU": lambda: varlen.VarLenTagger(corpus.V, 20, 2, bidirectional=True)}
    for name, make in makers.items():
        f1, accuracy = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            model = make().double()
            varlen.fit(model, *train, epochs=5, lr=3e-2, batch_size=64, seed=seed,
                       schedule="decay")
            s = corpus.space_scores(varlen.predict(model, *test[:2]), test.y)
            f1.append(s.f1)
            accuracy.append(s.accuracy)
        print(f"  {name:13s} F1 {summary(f1)}\n  {'':13s} accuracy {summary(accuracy)}")


if __name__ == "__main__":
    make_deterministic()
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    local_peak_runs(seeds)
    text_runs(seeds)
