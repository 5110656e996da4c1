"""Peak memory of one training step (forward + backward) on a long-review batch, with and without gradient
checkpointing (`model.gradient_checkpointing_enable()`).

    python scripts/measure_checkpointing_memory.py                       # batch 32 x 2000 tokens, BiLSTM-256
    python scripts/measure_checkpointing_memory.py --batch 8 --length 500 --cell gru

Each setting runs in a fresh subprocess: torch's CPU allocations are invisible to tracemalloc, so the measure is the
process's peak resident memory (`resource.getrusage` max RSS) minus its resident memory just before the step (the
model, its random weights and the batch already made). Prints one JSON line per setting.
"""

import argparse
import json
import resource
import subprocess
import sys


def one_step(args: argparse.Namespace) -> dict:
    import torch

    from imdb_lstm import ImdbLstmConfig, ImdbLstmForSequenceClassification

    torch.manual_seed(0)
    config = ImdbLstmConfig(vocab_size=args.vocab_size, embedding_dim=args.embedding_dim, cell=args.cell,
                            hidden_size=args.hidden_size, bidirectional=True, pooling="max_mean", dropout=0.0)
    model = ImdbLstmForSequenceClassification(config).train()
    if args.checkpointing:
        model.gradient_checkpointing_enable()
    input_ids = torch.randint(1, args.vocab_size, (args.batch, args.length))
    labels = torch.randint(0, 2, (args.batch,))
    with open("/proc/self/statm") as statm:  # resident pages now
        before_mb = int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    model(input_ids=input_ids, labels=labels).loss.backward()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {"checkpointing": args.checkpointing, "batch": args.batch, "length": args.length, "cell": args.cell,
            "hidden_size": args.hidden_size, "step_peak_mb": round(peak_mb - before_mb, 1),
            "process_peak_mb": round(peak_mb, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--embedding_dim", type=int, default=100)
    parser.add_argument("--vocab_size", type=int, default=20000)
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--checkpointing", action="store_true", help="(internal) measure one setting in this process")
    parser.add_argument("--child", action="store_true", help="(internal) run one step and print its JSON")
    args, _ = parser.parse_known_args(argv)
    if args.child:
        print(json.dumps(one_step(args)))
        return
    forwarded = [arg for arg in (argv if argv is not None else sys.argv[1:]) if arg != "--checkpointing"]
    for checkpointing in (False, True):
        command = [sys.executable, __file__, *forwarded, "--child", *(["--checkpointing"] if checkpointing else [])]
        print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
