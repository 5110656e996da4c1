"""Score a saved classifier once on IMDB's test split: accuracy, TPR, TNR, FNR, FPR, with its n-gram branch and with
it off (the recurrent part alone). For the end of a search, after the choices were made on validation.

    python scripts/score_classifier.py --model outputs/ssl/fast --dataset ../shared/data/imdb --output result.json
"""

import argparse
import json
import time

import numpy as np

from imdb_lstm.data import load_imdb
from imdb_lstm.metrics import binary_rates
from imdb_lstm.predict import load_classifier, predict_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved classifier folder")
    parser.add_argument("--dataset", default="stanfordnlp/imdb", help="IMDB source (a Hub id or a folder)")
    parser.add_argument("--output", help="write the figures as JSON here")
    args = parser.parse_args()
    model, tokenizer = load_classifier(args.model)
    test = load_imdb(args.dataset, splits=("test",))["test"]
    labels = np.asarray(test["label"])
    start = time.perf_counter()
    result = {"model": args.model, "test_reviews": len(labels)}
    rates = binary_rates(predict_logits(model, tokenizer, test["text"]).argmax(-1).numpy(), labels)
    result.update({f"test_{name}": rates[name] for name in ("accuracy", "tpr", "tnr", "fnr", "fpr")})
    if getattr(model, "ngram", None) is not None:
        model.config.ngram_weight = 0.0  # the head's logits alone
        recurrent = predict_logits(model, tokenizer, test["text"]).argmax(-1).numpy()
        result["test_recurrent_accuracy"] = float((recurrent == labels).mean())
    result["scoring_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=1))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
