"""The computed references of the built-in text problems: majority class, TF-IDF + logistic
regression and multinomial naive Bayes (scikit-learn), trained on each problem's training part and
scored once on its test part, the split deepstart uses (deepstart.problems.text).

    python benchmarks/text_baselines.py                # every text problem whose data is here
    python benchmarks/text_baselines.py --only fine-foods

Settings are fixed in advance, not tuned on the test part: words and word pairs (scikit-learn's
default token pattern, lower case) seen in at least 2 training texts; TF-IDF with sublinear term
frequency; LogisticRegression(C=1, max_iter=2000); MultinomialNB(alpha=1) on the counts. Prints a
Markdown table: each problem's metric first (ROC AUC for fine-foods, accuracy for the others),
then accuracy and macro F1, and the wall time of fit + predict. The catalog's "computed here" references come
from one run of this script (deepstart/problems/catalog.py says when and on what machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from deepstart.problems import text

LOADERS = {
    "fine-foods": (text.fine_foods, "review", "score", "great"),
    "spam-assassin": (text.spam_assassin, "text", "label", "spam"),
    "imdb": (lambda: text.imdb(download=False), "review", "label", "pos"),
    "brown-genres": (text.brown_genres, "text", "genre", None),
}
METRIC = {"fine-foods": "roc_auc", "spam-assassin": "accuracy", "imdb": "accuracy",
          "brown-genres": "accuracy"}


def models():
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    return {
        "majority class": DummyClassifier(strategy="most_frequent"),
        "TF-IDF (1-2 grams) + logistic regression": make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            LogisticRegression(C=1.0, max_iter=2000)),
        "multinomial naive Bayes on 1-2 gram counts": make_pipeline(
            CountVectorizer(ngram_range=(1, 2), min_df=2), MultinomialNB(alpha=1.0)),
    }


def measure(name: str) -> list[dict]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    load, column, target, positive = LOADERS[name]
    train, test = load()
    # two classes: 1 for `positive`; several (positive None): the labels as they are
    y_train, y_test = ((f[target] == positive).to_numpy(np.int64) if positive else f[target].to_numpy()
                       for f in (train, test))
    rows = []
    for label, model in models().items():
        start = time.perf_counter()
        model.fit(train[column].tolist() if label != "majority class" else np.zeros((len(train), 1)),
                  y_train)
        x_test = test[column].tolist() if label != "majority class" else np.zeros((len(test), 1))
        predicted = model.predict(x_test)
        score = model.predict_proba(x_test)[:, 1] if positive else None
        seconds = time.perf_counter() - start
        rows.append({"problem": name, "model": label, "n": f"{len(train)} / {len(test)}",
                     "roc_auc": roc_auc_score(y_test, score) if positive else float("nan"),
                     "accuracy": accuracy_score(y_test, predicted),
                     "macro_f1": f1_score(y_test, predicted, average="macro"),
                     "seconds": seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(LOADERS), help="one problem")
    args = parser.parse_args()
    print("| problem | model | train / test | metric | value | accuracy | macro F1 | fit + predict s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in [args.only] if args.only else LOADERS:
        try:
            rows = measure(name)
        except ValueError as e:  # DataError: the data is not on this machine
            print(f"| {name} | (skipped: {e}) | | | | | | |")
            continue
        for r in rows:
            metric = METRIC[name]
            print(f"| {name} | {r['model']} | {r['n']} | {metric} | {r[metric]:.4f} | "
                  f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
