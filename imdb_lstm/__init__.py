"""imdb-lstm: an LSTM (or GRU / CNN) IMDB sentiment classifier over GloVe, packaged as a `transformers` model.

Importing the package registers the model family with `AutoConfig`, `AutoModel`, `AutoModelForCausalLM`,
`AutoModelForSequenceClassification` and `AutoTokenizer`, so saved models load without `trust_remote_code` wherever `imdb_lstm` is
installed. `DEFAULT_MODEL` is the folder of the trained classifier the package ships:

    from transformers import pipeline
    classify = pipeline("text-classification", model=imdb_lstm.DEFAULT_MODEL)

Importing the package (and `imdb_lstm.predict`) needs only torch, transformers, tokenizers and safetensors; the
training modules need the `[train]` extra (`pip install "imdb-lstm[train]"`).
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from .configuration_imdb_lstm import ImdbLstmConfig
from .modeling_imdb_lstm import ImdbLstmForCausalLM, ImdbLstmForSequenceClassification, ImdbLstmModel
from .tokenization_imdb_lstm import ImdbLstmTokenizer

AutoConfig.register(ImdbLstmConfig.model_type, ImdbLstmConfig, exist_ok=True)
AutoModel.register(ImdbLstmConfig, ImdbLstmModel, exist_ok=True)
AutoModelForCausalLM.register(ImdbLstmConfig, ImdbLstmForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(ImdbLstmConfig, ImdbLstmForSequenceClassification, exist_ok=True)
AutoTokenizer.register(ImdbLstmConfig, fast_tokenizer_class=ImdbLstmTokenizer, exist_ok=True)

from .glove import DEFAULT_GLOVE, build_model, load_glove  # noqa: E402
from .predict import DEFAULT_MODEL  # noqa: E402
from .tokenization import build_tokenizer  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_GLOVE",
    "DEFAULT_MODEL",
    "ImdbLstmConfig",
    "ImdbLstmForCausalLM",
    "ImdbLstmForSequenceClassification",
    "ImdbLstmModel",
    "ImdbLstmTokenizer",
    "build_model",
    "build_tokenizer",
    "load_glove",
]
