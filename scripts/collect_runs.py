#!/usr/bin/env python
"""Rows of an ablation table from finished training folders (validation only: nothing here reads test): each
run's command, the settings that differ between the runs, validation accuracy per epoch (the recurrent part while
training), the final joined and recurrent validation accuracy, the n-gram branch's share, and training seconds.
Rows already in `--output` are kept unless a run of the same label is given again, so a table grows run by run.

    python scripts/collect_runs.py --output benchmarks/issue30_ablation.json \
        "VAT eps 5 + EMA + per-step normalisation, 10 epochs=outputs/issue30/vat_e5_ema_10ep" --note "..."
"""

import argparse
import json
from pathlib import Path

from imdb_lstm.benchmarking import machine_description, utc_now

# The settings an ablation varies (ImdbTrainingArguments and the model arguments), reported per row.
VARIED = ("bidirectional", "hidden_size", "embedding_dropout", "max_length", "num_train_epochs", "learning_rate",
          "normalize_embeddings", "ema_decay", "vat_epsilon", "adversarial_epsilon", "teacher_model", "bf16")


def run_row(folder: Path) -> dict:
    run_info = json.loads((folder / "run_info.json").read_text())
    results = json.loads((folder / "all_results.json").read_text())
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    arguments = {key: value for part in run_info["arguments"].values() for key, value in part.items()}
    return {
        "folder": str(folder),
        "command": " ".join(run_info["command"]),
        "settings": {key: arguments.get(key) for key in VARIED},
        "per_epoch_validation_recurrent": [
            {"epoch": entry["epoch"], "accuracy": entry["eval_accuracy"]}
            for entry in history if "eval_accuracy" in entry and "train_runtime" not in entry
        ][: int(arguments.get("num_train_epochs", 0)) or None],
        "validation_accuracy": results.get("eval_accuracy"),
        "validation_recurrent_accuracy": results.get("eval_recurrent_accuracy", results.get("eval_accuracy")),
        "ngram_weight": results.get("ngram_weight"),
        "ngram_c": results.get("ngram_c"),
        "train_seconds": round(results["train_runtime"], 1) if "train_runtime" in results else None,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help='"label=folder" for each finished run')
    parser.add_argument("--output", required=True, help="the table's JSON file (rows kept, same labels replaced)")
    parser.add_argument("--note", default=None, help="how the machine was loaded while these runs trained")
    args = parser.parse_args(argv)
    output = Path(args.output)
    table = json.loads(output.read_text()) if output.is_file() else {"rows": {}}
    for run in args.runs:
        label, _, folder = run.partition("=")
        if not folder:
            parser.error(f"{run!r}: give each run as label=folder")
        row = run_row(Path(folder))
        row.update(collected=utc_now(), machine=machine_description(), note=args.note)
        table["rows"][label] = row
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(table, indent=2))
    return table


if __name__ == "__main__":
    main()
