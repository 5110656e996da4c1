"""Validation sweep of recipe variants on a GPU (exploration only; the shipped numbers come from scripts/*.py on CPU).

Step 1, here (CPU): `python benchmarks/gpu_sweep.py prepare OUT` tokenises the canonical IMDB split (train minus a
stratified 10 % validation, split seed 42) exactly as scripts/train.py does and writes token ids, labels and the
GloVe matrix to OUT, with a copy of the model's two code files (they need only torch and transformers).
Step 2, on a machine with a GPU: `python benchmarks/gpu_sweep.py sweep OUT` trains each variant in VARIANTS with a
plain PyTorch loop that mirrors the recipe (AdamW, 5 % warm-up then linear decay, gradient clipping at 1.0,
length-grouped batches of 64) and prints validation accuracy per epoch as JSON lines. The test split is never
touched.
"""

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "recipe": {},
    "hidden256": {"hidden_size": 256},
    "layers2": {"num_layers": 2, "rnn_dropout": 0.3},
    "gru": {"cell": "gru"},
    "maxpool": {"pooling": "max"},
    "emb_drop0.4": {"embedding_dropout": 0.4},
    "lr1e-3_ep8": {"learning_rate": 1e-3, "epochs": 8},
    "wd0.01": {"weight_decay": 0.01},
    "hidden256_layers2": {"hidden_size": 256, "num_layers": 2, "rnn_dropout": 0.3},
    "frozen": {"freeze_embedding": True},
}
RECIPE = {"hidden_size": 128, "bidirectional": True, "pooling": "max_mean", "embedding_dropout": 0.25, "dropout": 0.5,
          "learning_rate": 2e-3, "epochs": 5, "weight_decay": 0.0, "batch_size": 64}


def prepare(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import train
    from imdb_lstm.data import load_imdb, make_splits
    from imdb_lstm.glove import build_model
    from imdb_lstm.tokenization import build_tokenizer

    data_args = train.DataArguments()
    splits = make_splits(load_imdb("../shared/data/imdb"), "canonical", data_args.validation_fraction, data_args.split_seed)
    tokenizer = build_tokenizer(splits["train"]["text"], data_args.vocab_size, data_args.min_frequency, data_args.max_length)
    model = build_model(tokenizer, oov="random", seed=42)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "embedding.npy", model.get_input_embeddings().weight.detach().numpy())
    for name in ("train", "validation"):
        ids = tokenizer(list(splits[name]["text"]), truncation=True)["input_ids"]
        np.save(out / f"{name}_ids.npy", np.concatenate([np.asarray(row, dtype=np.int32) for row in ids]))
        np.save(out / f"{name}_lengths.npy", np.asarray([len(row) for row in ids], dtype=np.int64))
        np.save(out / f"{name}_labels.npy", np.asarray(splits[name]["label"], dtype=np.int64))
    code = out / "imdbm"
    code.mkdir(exist_ok=True)
    (code / "__init__.py").write_text("")
    for file in ("configuration_imdb_lstm.py", "modeling_imdb_lstm.py"):
        shutil.copy(Path(sys.modules["imdb_lstm"].__file__).parent / file, code / file)
    (out / "meta.json").write_text(json.dumps({"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}))


def sweep(out: Path, names: list[str]) -> None:
    import torch

    sys.path.insert(0, str(out))
    from imdbm.configuration_imdb_lstm import ImdbLstmConfig
    from imdbm.modeling_imdb_lstm import ImdbLstmForSequenceClassification

    device = "cuda" if torch.cuda.is_available() else "cpu"
    embedding = torch.from_numpy(np.load(out / "embedding.npy"))
    data = {}
    for name in ("train", "validation"):
        lengths = np.load(out / f"{name}_lengths.npy")
        flat = np.load(out / f"{name}_ids.npy")
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        rows = [flat[offsets[i]:offsets[i + 1]] for i in range(len(lengths))]
        data[name] = (rows, lengths, np.load(out / f"{name}_labels.npy"))

    def batches(name, batch_size, rng=None):
        rows, lengths, labels = data[name]
        order = np.argsort(lengths, kind="stable")
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if rng is not None:  # shuffle within megabatches of 50 batches, then the batches (like group_by_length)
            perm = rng.permutation(len(order))
            mega = [perm[i:i + 50 * batch_size] for i in range(0, len(perm), 50 * batch_size)]
            chunks = []
            for m in mega:
                m = m[np.argsort(-lengths[m], kind="stable")]
                chunks += [m[i:i + batch_size] for i in range(0, len(m), batch_size)]
            chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        for chunk in chunks:
            width = max(1, int(lengths[chunk].max()))
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for j, i in enumerate(chunk):
                ids[j, : lengths[i]] = rows[i]
                mask[j, : lengths[i]] = 1
            yield (torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device),
                   torch.from_numpy(labels[chunk]).to(device))

    for name in names:
        settings = {**RECIPE, **VARIANTS[name]}
        torch.manual_seed(42)
        rng = np.random.default_rng(42)
        config_fields = {k: v for k, v in settings.items() if k not in ("learning_rate", "epochs", "weight_decay", "batch_size")}
        config = ImdbLstmConfig(vocab_size=embedding.shape[0], embedding_dim=embedding.shape[1], **config_fields)
        model = ImdbLstmForSequenceClassification(config)
        with torch.no_grad():
            model.embedding.weight.copy_(embedding)
        model.to(device)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=settings["learning_rate"], weight_decay=settings["weight_decay"])
        steps_per_epoch = -(-len(data["train"][1]) // settings["batch_size"])
        total = steps_per_epoch * settings["epochs"]
        warmup = int(0.05 * total + 0.999)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
        accuracies, started = [], time.time()
        for epoch in range(settings["epochs"]):
            model.train()
            for ids, mask, labels in batches("train", settings["batch_size"], rng):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
            model.eval()
            correct = 0
            with torch.no_grad():
                for ids, mask, labels in batches("validation", 256):
                    correct += (model(input_ids=ids, attention_mask=mask).logits.argmax(-1) == labels).sum().item()
            accuracies.append(round(correct / len(data["validation"][1]), 4))
        print(json.dumps({"variant": name, "settings": VARIANTS[name], "val_accuracy_per_epoch": accuracies,
                          "best": max(accuracies), "seconds": round(time.time() - started, 1)}), flush=True)


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "prepare":
        prepare(folder)
    else:
        sweep(folder, sys.argv[3].split(",") if len(sys.argv) > 3 else list(VARIANTS))
