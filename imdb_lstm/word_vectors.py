"""Domain word vectors: gensim Word2Vec or FastText learnt on unlabelled text, written as a file that fine-tuning
(`imdb-lstm-train --glove FILE`) and pretraining (`imdb-lstm-pretrain --glove FILE`) read like GloVe.

    imdb-lstm-word-vectors --dataset ../shared/data/imdb --output outputs/vectors/imdb-w2v-100.kv
    imdb-lstm-word-vectors --dataset sample --output outputs/demo-vectors.kv --dimension 50 --epochs 2
    imdb-lstm-word-vectors configs/ssl_word_vectors.json      # the semi-supervised recipe's vectors

(the command is `imdb_lstm.commands.word_vectors`; from Python: `learn_word_vectors(WordVectorArguments(...))`).

Texts come from any `datasets` source through `imdb_lstm.data.load_unlabelled_texts` (IMDB's `train` +
`unsupervised` by default; a split expression that reads `test` is refused), leaving out the validation and test
reviews of `--exclude_dataset` (by default `--dataset` itself when it is labelled, split as `imdb-lstm-train` splits
it; `imdb_lstm.data.unlabelled_exclusion`), so no review a classifier is selected or scored on shapes its vectors,
even where the source repeats it (IMDB's `unsupervised` and `train` hold copies of test reviews).
Each text is split into words by the package's own tokenizer rules (markup removed, NFKC, lowercase, GloVe-style
tokens, see `imdb_lstm.tokenization`), so every word the tokenizer can produce has the spelling the vectors use.
The tokens are written once to a plain corpus file, which gensim reads with all its worker threads
(`corpus_file=`, faster than an iterator of Python lists).
"""

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .data import (EXCLUDE_AUTO, EXCLUDE_HELP, HUB_DATASET, DataError, Exclusion, load_unlabelled_texts,
                   unlabelled_exclusion)
from .tokenization import build_backend

logger = logging.getLogger(__name__)

METHODS = ("word2vec", "fasttext")


@dataclass
class WordVectorArguments:
    """Where the texts come from and how gensim learns the vectors."""

    output: str = field(metadata={"help": "vector file to write: .kv (gensim KeyedVectors) or .txt (word2vec text)"})
    dataset: str = field(default=HUB_DATASET, metadata={"help": "a `datasets` source, a local folder, or 'sample'"})
    dataset_config_name: str | None = field(default=None, metadata={"help": "the source's configuration name"})
    data_files: list[str] | None = field(default=None, metadata={"help": "files for loaders such as 'text'"})
    dataset_splits: str = field(
        default="train,unsupervised",
        metadata={"help": "comma-separated split expressions; any that reads 'test' is refused"},
    )
    text_column: str = field(default="text", metadata={"help": "the column holding the texts"})
    exclude_dataset: str = field(default=EXCLUDE_AUTO, metadata={"help": EXCLUDE_HELP["exclude_dataset"]})
    exclude_split_protocol: str = field(default="canonical", metadata={"help": EXCLUDE_HELP["exclude_split_protocol"]})
    exclude_validation_fraction: float = field(default=0.1,
                                               metadata={"help": EXCLUDE_HELP["exclude_validation_fraction"]})
    exclude_split_seed: int = field(default=42, metadata={"help": EXCLUDE_HELP["exclude_split_seed"]})
    method: str = field(default="word2vec", metadata={"help": "'word2vec' or 'fasttext' (gensim)"})
    dimension: int = field(default=100, metadata={"help": "width of the vectors"})
    epochs: int = field(default=5, metadata={"help": "passes over the texts"})
    window: int = field(default=5, metadata={"help": "context words on each side"})
    min_count: int = field(default=2, metadata={"help": "rarer words get no vector"})
    skip_gram: bool = field(default=True, metadata={"help": "skip-gram (true) or CBOW (false)"})
    negative: int = field(default=5, metadata={"help": "negative samples per word"})
    workers: int = field(default=2, metadata={"help": "gensim worker threads"})
    seed: int = field(default=42)
    max_texts: int | None = field(default=None, metadata={"help": "use only the first this many texts"})

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"--method {self.method!r} is not allowed; use one of {METHODS}.")
        for name in ("dimension", "epochs", "window", "min_count", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name}={value!r} must be a positive integer.")
        if Path(self.output).suffix not in (".kv", ".txt"):
            raise ValueError(f"--output {self.output}: end it in .kv (gensim KeyedVectors) or .txt (word2vec text).")


def word_splitter():
    """A function text -> list of words, by the tokenizer's own normaliser and pre-tokenizer."""
    backend = build_backend()
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer

    def split(text: str) -> list[str]:
        return [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]

    return split


def write_corpus(texts, path: Path, max_texts: int | None = None) -> tuple[int, int]:
    """Write one line of space-separated words per non-empty text; returns (texts written, words)."""
    split = word_splitter()
    written = words = 0
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, len(texts), 1000):
            for text in texts[start : start + 1000]["text"]:
                if max_texts is not None and written >= max_texts:
                    return written, words
                tokens = split(text) if isinstance(text, str) else []
                if tokens:
                    handle.write(" ".join(tokens) + "\n")
                    written += 1
                    words += len(tokens)
    return written, words


def learn_word_vectors(args: WordVectorArguments, excluded_texts=None) -> dict:
    """Learn the vectors `args` describes and write them to `args.output`; returns what was done (also written
    next to the vectors as `<output>.json`, with `excluded_texts`: how many texts were left out, None for none).
    The texts left out of those read, wherever the source repeats them: `excluded_texts` when given (the default
    model's build passes its own run's validation and test reviews), else those `args.exclude_dataset` names
    (`imdb_lstm.data.unlabelled_exclusion`)."""
    from gensim.models import FastText, Word2Vec

    splits = [name.strip() for name in args.dataset_splits.split(",") if name.strip()]
    if excluded_texts is None:
        exclusion = unlabelled_exclusion(args.dataset, splits, args.exclude_dataset, args.exclude_split_protocol,
                                         args.exclude_validation_fraction, args.exclude_split_seed, use="word vectors")
    else:
        exclusion = Exclusion(list(excluded_texts), None)
    texts = load_unlabelled_texts(args.dataset, splits, text_column=args.text_column,
                                  config_name=args.dataset_config_name, data_files=args.data_files, use="word vectors",
                                  excluded_texts=exclusion.texts)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imdb-lstm-corpus-") as folder:
        corpus = Path(folder) / "corpus.txt"
        text_count, word_count = write_corpus(texts, corpus, args.max_texts)
        if word_count == 0:
            raise DataError(f"The texts of {args.dataset!r} (splits {splits}, column {args.text_column!r}) hold no "
                            "words: they are empty. Give a source with text, or the column that holds it.")
        logger.info("Learning %s vectors on %d texts, %d words", args.method, text_count, word_count)
        model_class = Word2Vec if args.method == "word2vec" else FastText
        model = model_class(corpus_file=str(corpus), vector_size=args.dimension, window=args.window,
                            min_count=args.min_count, sg=int(args.skip_gram), negative=args.negative,
                            workers=args.workers, epochs=args.epochs, seed=args.seed)
    if len(model.wv) == 0:
        raise DataError(f"No word occurs min_count={args.min_count} times in the texts of {args.dataset!r}: give "
                        "more text or a lower --min_count.")
    if output.suffix == ".kv":
        model.wv.save(str(output))
    else:
        model.wv.save_word2vec_format(str(output), binary=False)
    seconds = time.perf_counter() - started
    report = {"output": str(output), "texts": text_count, "words": word_count, "vocabulary": len(model.wv),
              "seconds": round(seconds, 1), "arguments": asdict(args),
              "excluded_texts": exclusion.count, "excluded_from": exclusion.source}
    Path(f"{output}.json").write_text(json.dumps(report, indent=2))
    logger.info("Wrote %d vectors of %d dimensions to %s in %.0f s", len(model.wv), args.dimension, output, seconds)
    return report
