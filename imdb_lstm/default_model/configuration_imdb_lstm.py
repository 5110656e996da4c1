"""Configuration of the IMDB sentiment classifier (recurrent or CNN encoder over word embeddings).

This file is copied to the Hub next to `modeling_imdb_lstm.py` and must import nothing but transformers.
"""

from transformers import PretrainedConfig

ENCODERS = ("rnn", "cnn")
CELLS = ("lstm", "gru")
POOLINGS = ("last", "max", "mean", "max_mean")
# Which end of a long input is cut (the tokenizer's `truncation_side`, and `forward`'s cut at `model_max_length`):
# "left" cuts the front and keeps the end, "right" cuts the end and keeps the beginning. The one list of them (the
# tokenizer checks against it too). A config's default is "right" because folders saved before the option existed
# were trained on the beginning of long reviews; new tokenizers default to "left" (tokenization.py).
TRUNCATION_SIDES = ("left", "right")
# Output layers of the language model (ImdbLstmForCausalLM): "tied" scores every word through the embedding (the
# first version's, kept for folders saved before the choice existed); "adaptive" is torch's adaptive softmax.
LM_OUTPUTS = ("tied", "adaptive")
# Compute dtype of the classifier's inference (see ImdbLstmConfig.inference_dtype).
INFERENCE_DTYPES = ("auto", "float32", "bfloat16")
DEFAULT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
# transformers' problem types, each with its loss (ImdbLstmForSequenceClassification.forward); None: inferred from
# the labels as transformers does (one label: regression; a float (batch, num_labels) target: multi-label).
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
# Checked when they are assigned after construction, so that a late change fails where it is made. (The n-gram
# branch's need of two labels is checked where a classifier is built: from_pretrained(folder, ngram_order=0,
# num_labels=5) builds the folder's config with num_labels=5 and only then assigns ngram_order.)
LABEL_FIELDS = ("id2label", "problem_type")


class ImdbLstmConfig(PretrainedConfig):
    r"""
    Configuration of the imdb-lstm family: [`ImdbLstmModel`] (embedding → encoder → per-token states),
    [`ImdbLstmForSequenceClassification`] (→ pooling over real tokens → dropout → linear head over `num_labels`
    labels, by default two, NEGATIVE and POSITIVE) and [`ImdbLstmForCausalLM`] (→ dropout → next/previous-word scores through an output
    layer tied to the embedding). One config serves them all, so a language model's folder loads as a classifier.

    Args:
        vocab_size (`int`): number of rows of the embedding; must equal the tokenizer's vocabulary size.
        embedding_dim (`int`): width of the word vectors (50 for glove-wiki-gigaword-50).
        encoder (`str`): `"rnn"` (recurrent, see `cell`) or `"cnn"` (Kim-2014 convolutions, see `cnn_*`).
        cell (`str`): `"lstm"` or `"gru"`, used when `encoder="rnn"`.
        hidden_size (`int`): units per direction of each recurrent layer.
        num_layers (`int`): stacked recurrent layers (also read and set as `num_hidden_layers`, transformers'
            common name; saved as `num_layers`).
        bidirectional (`bool`): add a right-to-left direction (run on each review reversed, so padding never
            enters it).
        pooling (`str`): how the per-token states become one vector: `"last"` (final state of each direction),
            `"max"`, `"mean"` or `"max_mean"` (both, concatenated). Padding is always excluded.
        cnn_kernel_sizes (`list[int]`): convolution widths of the CNN encoder.
        cnn_num_filters (`int`): filters per width of the CNN encoder.
        embedding_dropout (`float`): spatial dropout on the embeddings (whole dimensions dropped per review).
        rnn_dropout (`float`): dropout between stacked recurrent layers.
        dropout (`float`): dropout before the linear head (the classifier's, or the language model's output layer).
        freeze_embedding (`bool`): keep the (GloVe) embedding fixed during training.
        pad_token_id (`int`): id of `[PAD]`; its embedding row stays zero.
        embedding_source (`str`, optional): where the initial vectors came from (informational, for the card).
        embedding_coverage (`float`, optional): share of the vocabulary found in `embedding_source`.
        model_max_length (`int`, optional): longest input the model reads; a longer one is cut inside `forward`
            the way the tokenizer cuts it, so a caller that does not ask the tokenizer to truncate (a plain
            `pipeline(...)` call) gets what training saw. None (models saved before this field): no cut.
        truncation_side (`str`): which part of a longer input is kept, as the tokenizer's `truncation_side`:
            `"left"` cuts the front (keeps the end), `"right"` cuts the end (keeps the beginning).
        lm_output (`str`): the language model's output layer: `"tied"` (a full softmax over every word, scored
            through the input embedding) or `"adaptive"` (`nn.AdaptiveLogSoftmaxWithLoss`: frequent words in a
            small head, rarer ones in clusters read only for the positions that need them; several times faster
            to train). The default is `"tied"` so that folders saved before the field existed load unchanged.
        lm_adaptive_cutoffs (`list[int]`): with `lm_output="adaptive"`, the word ids where the head ends and each
            cluster ends (the vocabulary is ordered by frequency); increasing, each below `vocab_size - 1`.
        lm_adaptive_div_value (`float`): each cluster's projection is this many times narrower than the last.
        tie_word_embeddings (`bool`): whether the language model's output layer is the input embedding. The
            `"tied"` output layer always is (it scores words through the embedding: False is refused there); the
            adaptive softmax has output layers of its own, narrower than the embedding, so it has nothing to tie.
        num_labels, id2label, label2id, problem_type: as in any transformers classifier. Any number of labels
            (`ImdbLstmConfig(num_labels=5)` names them LABEL_0..LABEL_4); without either, NEGATIVE and POSITIVE.
            `problem_type` chooses the loss: "single_label_classification" (cross-entropy),
            "multi_label_classification" (binary cross-entropy on the logits), "regression" (mean squared error).
            A change after construction (`config.num_labels = 3`) is checked when it is made.
        ngram_order (`int`): 0, or the longest n-gram of token ids read by the classifier's n-gram branch (an
            NB-weighted logistic regression over the presence of 1..ngram_order-grams, fitted by
            `imdb_lstm.ngrams`; its weights are buffers of the model). Its log-odds join the recurrent ones: binary
            by nature, it needs two labels and single-label classification.
        ngram_features (`int`): how many n-grams the branch knows (the size of its buffers).
        ngram_weight (`float`): the n-gram branch's share in the joined log-odds, in [0, 1]:
            `(1 - w) * recurrent + w * n-gram` (chosen on validation).
        inference_dtype (`str`): compute dtype of the classifier's inference calls (no gradient, not training, logits
            only: what `pipeline` makes): `"auto"` autocasts to bfloat16 where the device computes it natively (a
            CPU with AVX512_BF16 or AMX, a GPU that supports it) and keeps float32 elsewhere; `"bfloat16"` always
            autocasts; `"float32"` never (exact float32 logits: ONNX parity, tests). Weights stay float32 and logits
            are returned in float32 either way; a probability moves by about 1e-2 under bfloat16. Models built by
            imdb-lstm are saved with `"auto"`; the config's default, `"float32"`, keeps older folders exact.
        distilled_from (`str`, optional): the teacher a distilled model learnt from (informational, for the card).
    """

    model_type = "imdb-lstm"
    attribute_map = {"num_hidden_layers": "num_layers"}

    def __init__(
        self,
        vocab_size: int = 30000,
        embedding_dim: int = 50,
        encoder: str = "rnn",
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        pooling: str = "last",
        cnn_kernel_sizes=(3, 4, 5),
        cnn_num_filters: int = 100,
        embedding_dropout: float = 0.0,
        rnn_dropout: float = 0.0,
        dropout: float = 0.5,
        freeze_embedding: bool = False,
        pad_token_id: int = 0,
        embedding_source: str | None = None,
        embedding_coverage: float | None = None,
        model_max_length: int | None = None,
        # "right" for folders saved before the option existed: they were trained on the beginning of long reviews.
        truncation_side: str = "right",
        lm_output: str = "tied",
        lm_adaptive_cutoffs=(2000, 10000),
        lm_adaptive_div_value: float = 4.0,
        tie_word_embeddings: bool = True,
        ngram_order: int = 0,
        ngram_features: int = 0,
        ngram_weight: float = 0.0,
        # "float32" for folders saved before the field existed (they keep their exact logits); models built by
        # imdb-lstm (`build_model`, hence training) choose "auto".
        inference_dtype: str = "float32",
        distilled_from: str | None = None,
        id2label=None,
        label2id=None,
        **kwargs,
    ):
        # Saved by folders from before it was measured and dropped (it ran a BiLSTM's directions on torch's
        # inter-op pool, with no reliable gain: BENCHMARKS.md): accepted and ignored.
        kwargs.pop("concurrent_directions", None)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.encoder = encoder
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.cnn_kernel_sizes = list(cnn_kernel_sizes)
        self.cnn_num_filters = cnn_num_filters
        self.embedding_dropout = embedding_dropout
        self.rnn_dropout = rnn_dropout
        self.dropout = dropout
        self.freeze_embedding = freeze_embedding
        self.embedding_source = embedding_source
        self.embedding_coverage = embedding_coverage
        self.model_max_length = model_max_length
        self.truncation_side = truncation_side
        self.lm_output = lm_output
        self.lm_adaptive_cutoffs = list(lm_adaptive_cutoffs)
        self.lm_adaptive_div_value = lm_adaptive_div_value
        self.tie_word_embeddings = tie_word_embeddings
        self.ngram_order = ngram_order
        self.ngram_features = ngram_features
        self.ngram_weight = ngram_weight
        self.inference_dtype = inference_dtype
        self.distilled_from = distilled_from
        if id2label is None and kwargs.get("num_labels", 2) == 2:
            id2label = dict(DEFAULT_LABELS)
        if label2id is None and id2label is not None:
            label2id = {label: i for i, label in id2label.items()}
        super().__init__(pad_token_id=pad_token_id, id2label=id2label, label2id=label2id, **kwargs)
        self.validate()

    def validate(self):
        """Raise a `ValueError` naming the first field whose value is not allowed."""
        for field, allowed in (
            ("encoder", ENCODERS), ("cell", CELLS), ("pooling", POOLINGS), ("truncation_side", TRUNCATION_SIDES),
            ("lm_output", LM_OUTPUTS), ("inference_dtype", INFERENCE_DTYPES),
        ):
            if getattr(self, field) not in allowed:
                raise ValueError(f"ImdbLstmConfig.{field}={getattr(self, field)!r} is not allowed; use one of {allowed}.")
        for field in ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "cnn_num_filters"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ImdbLstmConfig.{field}={value!r} must be a positive integer.")
        value = self.model_max_length
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"ImdbLstmConfig.model_max_length={value!r} must be a positive integer or None.")
        for field in ("embedding_dropout", "rnn_dropout", "dropout"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"ImdbLstmConfig.{field}={value!r} must be a number in [0, 1).")
        if not self.cnn_kernel_sizes or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.cnn_kernel_sizes
        ):
            raise ValueError(
                f"ImdbLstmConfig.cnn_kernel_sizes={self.cnn_kernel_sizes!r} must be a non-empty list of positive integers."
            )
        cutoffs = self.lm_adaptive_cutoffs
        if self.lm_output == "adaptive" and (
            not cutoffs or any(isinstance(c, bool) or not isinstance(c, int) for c in cutoffs)
            or cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= self.vocab_size - 1
        ):
            raise ValueError(
                f"ImdbLstmConfig.lm_adaptive_cutoffs={cutoffs!r} must be increasing word ids in [1, vocab_size - 1 = "
                f"{self.vocab_size - 1}); a vocabulary this small may use lm_output='tied'."
            )
        if not isinstance(self.lm_adaptive_div_value, (int, float)) or not self.lm_adaptive_div_value >= 1:
            raise ValueError(f"ImdbLstmConfig.lm_adaptive_div_value={self.lm_adaptive_div_value!r} must be a number >= 1.")
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError(f"ImdbLstmConfig.tie_word_embeddings={self.tie_word_embeddings!r} must be True or False.")
        for field in ("ngram_order", "ngram_features"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ImdbLstmConfig.{field}={value!r} must be 0 or a positive integer.")
        if self.ngram_order and (self.vocab_size + 1) ** self.ngram_order >= 2**62:
            raise ValueError(
                f"ImdbLstmConfig.ngram_order={self.ngram_order} with vocab_size={self.vocab_size}: the n-gram keys "
                "would not fit in 62 bits; use a shorter order or a smaller vocabulary."
            )
        value = self.ngram_weight
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"ImdbLstmConfig.ngram_weight={value!r} must be a number in [0, 1].")
        if self.encoder == "cnn" and self.pooling == "last":
            raise ValueError(
                "ImdbLstmConfig.pooling='last' needs encoder='rnn'; with encoder='cnn' use one of ('max', 'mean', 'max_mean')."
            )
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"ImdbLstmConfig.pad_token_id={self.pad_token_id!r} must be an id in [0, vocab_size={self.vocab_size})."
            )
        self._validate_labels()

    def _validate_labels(self):
        ids = sorted(self.id2label or {})
        if not ids or ids != list(range(len(ids))):
            raise ValueError(
                f"ImdbLstmConfig.id2label={self.id2label!r} must name the labels 0..num_labels-1 (at least one); "
                "set num_labels=N (names LABEL_0..) or give id2label={0: name, 1: name, ...}."
            )
        if self.problem_type not in (None, *PROBLEM_TYPES):
            raise ValueError(f"ImdbLstmConfig.problem_type={self.problem_type!r} is not allowed; use None or one of {PROBLEM_TYPES}.")
        if self.problem_type == "single_label_classification" and self.num_labels < 2:
            raise ValueError("ImdbLstmConfig.problem_type='single_label_classification' needs num_labels >= 2; use "
                             "problem_type='regression' for one output.")

    def validate_ngram_labels(self):
        """Raise a `ValueError` when the classifier's n-gram branch (`ngram_order`) meets labels it cannot serve."""
        if self.ngram_order and (self.num_labels != 2 or self.problem_type not in (None, "single_label_classification")):
            raise ValueError(
                f"ImdbLstmConfig.ngram_order={self.ngram_order} with num_labels={self.num_labels} and problem_type="
                f"{self.problem_type!r}: the n-gram branch scores NEGATIVE against POSITIVE, so it needs two labels and "
                "single-label classification. Set ngram_order=0 to drop it (re-heading a folder: from_pretrained("
                "folder, ngram_order=0, num_labels=N, ignore_mismatched_sizes=True))."
            )

    def __setattr__(self, key, value):
        """A label field changed after construction is checked at once (and left as it was when refused)."""
        if key not in LABEL_FIELDS or not self.__dict__.get("_post_init_done"):
            return super().__setattr__(key, value)
        previous = self.__dict__.get(key)
        super().__setattr__(key, value)
        try:
            self._validate_labels()
        except ValueError:
            super().__setattr__(key, previous)
            raise


ImdbLstmConfig.register_for_auto_class()
