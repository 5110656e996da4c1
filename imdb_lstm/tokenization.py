"""The word-level tokenizer: built from training texts with `tokenizers`, saved as `tokenizer.json` with the
`ImdbLstmTokenizer` class (`tokenization_imdb_lstm.py`, which travels with the model like its modeling file).

Normalisation and splitting follow the vocabulary of Stanford's GloVe (Wikipedia + Gigaword, lowercased, PTB-style
tokens): IMDB's `<br />` tags and other markup are removed, text is NFKC-normalised and lowercased, punctuation marks
are tokens of their own, and clitics are split the way GloVe has them ("don't" → "do" "n't", "it's" → "it" "'s").
"""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from .configuration_imdb_lstm import TRUNCATION_SIDES, ImdbLstmConfig
from .tokenization_imdb_lstm import ImdbLstmTokenizer

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# The vocabulary size, longest input and truncation side of a tokenizer are those of the model it serves: unset, they
# are `ImdbLstmConfig`'s (`vocab_size`, `model_max_length`, `truncation_side`; the recipes state their own in
# configs/*.json, e.g. "left": cut the front and keep the ending, where verdicts usually are, as Keras'
# `pad_sequences` does). Saved in tokenizer_config.json, so every later call (predict, pipeline) cuts the way training
# did. What each side keeps, for messages:
KEPT_PART = {"left": "keep the end", "right": "keep the beginning"}

# Markup (IMDB's `<br />` above all) becomes a space; everything else GloVe-like is a token. A plain pattern, so that
# `imdb_lstm.explain` removes the same markup with `re` when it draws a review.
MARKUP = r"<[^<>]{0,200}>"
TOKEN = Regex(
    r"\p{L}+(?=n't)"  # "do" of "don't", "ca" of "can't"
    r"|n't|'(?:s|re|ve|m|ll|d)\b"  # clitics as GloVe has them
    r"|[\p{L}\p{N}]+(?:[-.][\p{L}\p{N}]+)*"  # words, numbers, "well-known", "3.5"
    r"|[^\s\p{L}\p{N}]"  # each other symbol alone: punctuation, emoji
)


def build_backend(vocab: dict[str, int] | None = None) -> Tokenizer:
    """A `tokenizers.Tokenizer` with IMDB/GloVe normalisation and splitting; empty vocabulary unless given."""
    tokenizer = Tokenizer(WordLevel(vocab or {PAD_TOKEN: 0, UNK_TOKEN: 1}, unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(MARKUP), " "), normalizers.NFKC(), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split(TOKEN, behavior="removed", invert=True)
    return tokenizer


def build_tokenizer(
    texts: Iterable[str],
    vocab_size: int | None = None,
    min_frequency: int = 2,
    model_max_length: int | None = None,
    truncation_side: str | None = None,
) -> ImdbLstmTokenizer:
    """Learn a word vocabulary from `texts`: the `vocab_size` most frequent words seen at least `min_frequency`
    times (the two special tokens included), `[PAD]` = 0 and `[UNK]` = 1. Reviews longer than `model_max_length`
    tokens are cut on `truncation_side` when the tokenizer is called with `truncation=True` ("left": the
    beginning is dropped and the ending kept; "right": the ending is dropped). Unset, `vocab_size`,
    `model_max_length` (None: no limit) and `truncation_side` are `ImdbLstmConfig`'s defaults."""
    vocab_size = ImdbLstmConfig.vocab_size if vocab_size is None else vocab_size
    if vocab_size < 3:
        raise ValueError(f"vocab_size={vocab_size} must be at least 3 ([PAD], [UNK] and one word).")
    if min_frequency < 1:
        raise ValueError(f"min_frequency={min_frequency} must be at least 1.")
    if model_max_length is not None and model_max_length < 1:
        raise ValueError(f"model_max_length={model_max_length} must be a positive number of tokens.")
    if truncation_side is not None:
        check_truncation_side(truncation_side)
    backend = build_backend()
    trainer = WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False
    )
    backend.train_from_iterator(texts, trainer=trainer)
    if backend.get_vocab_size() <= 2:
        raise ValueError(
            f"No word occurs at least min_frequency={min_frequency} times in the training texts: "
            "give more texts or lower min_frequency."
        )
    return wrap_backend(backend, model_max_length, truncation_side)


def check_truncation_side(truncation_side: str) -> None:
    if truncation_side not in TRUNCATION_SIDES:
        choices = ", ".join(f"{side!r} ({KEPT_PART[side]})" for side in TRUNCATION_SIDES)
        raise ValueError(f"truncation_side={truncation_side!r} is not allowed; use {choices}.")


def wrap_backend(
    backend: Tokenizer, model_max_length: int | None = None, truncation_side: str | None = None
) -> ImdbLstmTokenizer:
    """The `transformers` face of a backend tokenizer: right padding with `[PAD]` (the model needs real tokens
    first), truncation on `truncation_side`, no token type ids; unset, the longest input and the truncation side are
    `ImdbLstmConfig`'s defaults (no limit: transformers' own)."""
    length = {} if model_max_length is None else {"model_max_length": model_max_length}
    return ImdbLstmTokenizer(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        padding_side="right",
        truncation_side=ImdbLstmConfig.truncation_side if truncation_side is None else truncation_side,
        model_input_names=["input_ids", "attention_mask"],
        **length,
    )
