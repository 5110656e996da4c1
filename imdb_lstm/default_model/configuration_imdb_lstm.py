"""Configuration of the IMDB sentiment classifier. Copied to the Hub next to `modeling_imdb_lstm.py`: it imports
transformers and the standard library only."""

from typing import Annotated, Literal, get_args, get_origin

from transformers import PretrainedConfig

TruncationSide = Literal["left", "right"]  # the end cut from a long input ("left": the front); the tokenizer's too
InferenceDtype = Literal["auto", "float32", "bfloat16"]  # see ImdbLstmConfig.inference_dtype
TRUNCATION_SIDES, INFERENCE_DTYPES = get_args(TruncationSide), get_args(InferenceDtype)
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")  # transformers' losses


def _number(x, kinds=(int, float), least=0):  # a bool is no number here
    return isinstance(x, kinds) and not isinstance(x, bool) and x >= least


# Field types that carry their rule, Annotated[type, check, what a refused value is told]: `validate` checks them.
PositiveInt = Annotated[int, lambda n: _number(n, int, least=1), "must be a positive integer"]
CountOrZero = Annotated[int, lambda n: _number(n, int), "must be 0 or a positive integer"]
MaxLength = Annotated[int | None, lambda n: n is None or _number(n, int, least=1), "must be a positive integer or None"]
Dropout = Annotated[float, lambda p: _number(p) and p < 1, "must be a number in [0, 1)"]
Weight = Annotated[float, lambda w: _number(w) and w <= 1, "must be a number in [0, 1]"]
Probability = Annotated[float, lambda p: _number(p) and 0 < p < 1, "must be a probability in (0, 1)"]
DivValue = Annotated[float, lambda d: isinstance(d, (int, float)) and d >= 1, "must be a number >= 1"]
Flag = Annotated[bool, lambda flag: isinstance(flag, bool), "must be True or False"]
KernelSizes = Annotated[list[int] | tuple[int, ...], lambda ks: bool(ks) and all(_number(k, int, 1) for k in ks),
                        "must be a non-empty list of positive integers"]


class ImdbLstmConfig(PretrainedConfig):
    r"""
    Configuration of the imdb-lstm family: [`ImdbLstmModel`] (embedding → encoder → per-token states),
    [`ImdbLstmForSequenceClassification`] (→ pooling over real tokens → dropout → linear head; NEGATIVE and POSITIVE
    unless `num_labels` or `id2label` say otherwise) and [`ImdbLstmForCausalLM`] (→ next/previous-word scores). One
    config serves them all, so a language model's folder loads as a classifier. Fields are keyword-only and typed;
    `validate` names the field a value breaks. Where a default is not what imdb-lstm builds today (`model_max_length`,
    `truncation_side`, `lm_output`, `inference_dtype`), it keeps folders saved before the field existed unchanged.

    Args:
        vocab_size, embedding_dim: rows (the tokenizer's vocabulary size) and width of the word embedding.
        encoder: recurrent (a `cell` of `hidden_size` units per direction, `num_layers` of them, also read as
            `num_hidden_layers`; `bidirectional` adds a right-to-left pass over each review reversed) or Kim-2014
            convolutions (`cnn_kernel_sizes` widths, `cnn_num_filters` filters each).
        pooling: per-token states → one vector: final state of each direction (rnn only), max, mean or both.
        embedding_dropout, rnn_dropout, dropout: on the embeddings (whole dimensions), between layers, before a head.
        freeze_embedding: keep the (GloVe) embedding fixed in training. pad_token_id: `[PAD]`, its row stays zero.
        embedding_source, embedding_coverage, distilled_from: informational, for the card.
        model_max_length, truncation_side: longest input read, and the end cut from a longer one ("left": the
            front), inside `forward` as the tokenizer cuts, so a plain `pipeline(...)` call gets what training saw.
        lm_output: the LM's output layer: a softmax over word vectors (the input embedding's; with
            `tie_word_embeddings=False` a copy of its own) or `nn.AdaptiveLogSoftmaxWithLoss` (`lm_adaptive_cutoffs`:
            increasing ids < `vocab_size - 1` ending the head and each cluster, each `lm_adaptive_div_value`x narrower).
        id2label, label2id, problem_type: as in transformers; a change after construction is checked when it is made.
        ngram_order, ngram_features, ngram_weight: the classifier's binary n-gram branch (NB-weighted logistic
            regression, `imdb_lstm.ngrams`): longest n-gram (0: none), n-grams known, its share w of the joined
            log-odds `(1 - w) * recurrent + w * n-gram`.
        multilabel_threshold: a multi-label model's decision: a label applies where its sigmoid probability
            exceeds it (chosen on validation by the training run).
        inference_dtype: compute dtype of no-gradient, logits-only calls (`pipeline`'s): "auto" is bfloat16 where the
            device computes it natively, "float32" exact; weights and returned logits stay float32.
    """

    model_type = "imdb-lstm"
    attribute_map = {"num_hidden_layers": "num_layers"}

    vocab_size: PositiveInt = 30000
    embedding_dim: PositiveInt = 50
    encoder: Literal["rnn", "cnn"] = "rnn"
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: PositiveInt = 128
    num_layers: PositiveInt = 1
    bidirectional: bool = False
    pooling: Literal["last", "max", "mean", "max_mean"] = "last"
    cnn_kernel_sizes: KernelSizes = (3, 4, 5)
    cnn_num_filters: PositiveInt = 100
    embedding_dropout: Dropout = 0.0
    rnn_dropout: Dropout = 0.0
    dropout: Dropout = 0.5
    freeze_embedding: bool = False
    pad_token_id: int = 0
    embedding_source: str | None = None
    embedding_coverage: float | None = None
    model_max_length: MaxLength = None
    truncation_side: TruncationSide = "right"
    lm_output: Literal["tied", "adaptive"] = "tied"
    lm_adaptive_cutoffs: list[int] | tuple[int, ...] = (2000, 10000)
    lm_adaptive_div_value: DivValue = 4.0
    tie_word_embeddings: Flag = True
    ngram_order: CountOrZero = 0
    ngram_features: CountOrZero = 0
    ngram_weight: Weight = 0.0
    inference_dtype: InferenceDtype = "float32"
    multilabel_threshold: Probability = 0.5
    distilled_from: str | None = None

    def __post_init__(self, **kwargs):
        kwargs.pop("concurrent_directions", None)  # saved by older folders; measured and dropped (BENCHMARKS.md)
        self.cnn_kernel_sizes, self.lm_adaptive_cutoffs = list(self.cnn_kernel_sizes), list(self.lm_adaptive_cutoffs)
        if self.id2label is None and kwargs.get("num_labels", 2) == 2:
            self.id2label = {0: "NEGATIVE", 1: "POSITIVE"}
        if self.label2id is None and self.id2label is not None:
            self.label2id = {label: i for i, label in self.id2label.items()}
        super().__post_init__(**kwargs)
        self.validate()

    def validate(self):
        """Raise a `ValueError` naming the first field whose value its type, or a rule across fields, refuses."""
        for field, kind in ImdbLstmConfig.__annotations__.items():
            value = getattr(self, field)
            if get_origin(kind) is Literal and value not in get_args(kind):
                raise ValueError(f"ImdbLstmConfig.{field}={value!r} is not allowed; use one of {get_args(kind)}.")
            if get_origin(kind) is Annotated and not kind.__metadata__[0](value):
                raise ValueError(f"ImdbLstmConfig.{field}={value!r} {kind.__metadata__[1]}.")
        cutoffs, vocab_size = self.lm_adaptive_cutoffs, self.vocab_size
        if self.lm_output == "adaptive" and not (cutoffs and all(_number(c, int, 1) for c in cutoffs)
                                                 and cutoffs == sorted(set(cutoffs)) and cutoffs[-1] < vocab_size - 1):
            raise ValueError(f"ImdbLstmConfig.lm_adaptive_cutoffs={cutoffs!r} must be increasing word ids in [1, "
                             f"vocab_size - 1 = {vocab_size - 1}); a vocabulary this small may use lm_output='tied'.")
        if self.ngram_order and (vocab_size + 1) ** self.ngram_order >= 2**62:
            raise ValueError(f"ImdbLstmConfig.ngram_order={self.ngram_order} with vocab_size={vocab_size}: the n-gram "
                             "keys would not fit in 62 bits; use a shorter order or a smaller vocabulary.")
        if self.encoder == "cnn" and self.pooling == "last":
            raise ValueError("ImdbLstmConfig.pooling='last' needs encoder='rnn'; with encoder='cnn' use one of "
                             "('max', 'mean', 'max_mean').")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < vocab_size:
            raise ValueError(f"ImdbLstmConfig.pad_token_id={self.pad_token_id!r} must be an id in [0, {vocab_size=}).")
        self._validate_labels()
        super().validate()  # transformers' own class validators (PreTrainedConfig.validate_*)

    def _validate_labels(self):
        if not self.id2label or sorted(self.id2label) != list(range(len(self.id2label))):
            raise ValueError(f"ImdbLstmConfig.id2label={self.id2label!r} must name the labels 0..num_labels-1 (at "
                             "least one); set num_labels=N (names LABEL_0..) or give id2label={0: name, 1: name, ...}.")
        if self.problem_type not in (None, *PROBLEM_TYPES):
            raise ValueError(f"ImdbLstmConfig.problem_type={self.problem_type!r} is not allowed; use None or one of "
                             f"{PROBLEM_TYPES}.")

    def validate_head(self, head: Literal["classifier", "causal_lm"]):
        """Raise a `ValueError` when this config cannot hold `head` (checked where a model is built)."""
        if head == "classifier" and self.ngram_order and (self.num_labels != 2 or self.problem_type not in (
                None, PROBLEM_TYPES[0])):
            raise ValueError(f"ImdbLstmConfig.ngram_order={self.ngram_order}: the n-gram branch scores NEGATIVE against"
                             f" POSITIVE, not num_labels={self.num_labels}, problem_type={self.problem_type!r}. Drop "
                             "it: from_pretrained(folder, ngram_order=0, num_labels=N, ignore_mismatched_sizes=True).")
        if head == "causal_lm" and (self.encoder != "rnn" or self.bidirectional and self.num_layers > 1):
            raise ValueError(f"ImdbLstmForCausalLM needs encoder='rnn', and with bidirectional=True needs num_layers=1 "
                             f"(got encoder={self.encoder!r}, num_layers={self.num_layers}): a CNN, or a second layer "
                             "reading the other direction's states, sees the word it must predict.")

    def __setattr__(self, key, value):
        """A label field changed after construction is checked at once (and left as it was when refused)."""
        if key not in ("id2label", "problem_type") or not self.__dict__.get("_post_init_done"):
            return super().__setattr__(key, value)
        previous = self.__dict__.get(key)
        super().__setattr__(key, value)
        try:
            self._validate_labels()
        except ValueError:
            super().__setattr__(key, previous)
            raise


ImdbLstmConfig.register_for_auto_class()
