"""Reference chrF values from sacrebleu itself, for trajkit's own implementation to match.

Reads a JSON array of [hypothesis, reference] pairs from the file named as the first argument and
prints a JSON array of `CHRF().sentence_score(hypothesis, [reference]).score` (sacrebleu's
defaults: char order 6, word order 0, beta 2, whitespace removed, effective-order averaging),
plus the sacrebleu version, so the Rust test can say which version it matched.
"""

import json
import sys

import sacrebleu
from sacrebleu.metrics import CHRF


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        pairs = json.load(handle)
    metric = CHRF()
    scores = [metric.sentence_score(hypothesis, [reference]).score for hypothesis, reference in pairs]
    json.dump({"version": sacrebleu.__version__, "scores": scores}, sys.stdout)


if __name__ == "__main__":
    main()
