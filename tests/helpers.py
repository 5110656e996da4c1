"""Small shared builders for the tests: a tokenizer and a model over the shipped IMDB sample, and a script of
scripts/ loaded as a module."""

import functools
import importlib.util
import sys
from pathlib import Path

from imdb_lstm import ImdbLstmForCausalLM, build_model, build_tokenizer
from imdb_lstm.data import load_imdb


@functools.lru_cache(maxsize=1)
def sample_texts(count: int = 300) -> tuple[str, ...]:
    return tuple(load_imdb("sample")["train"]["text"][:count])


def tiny_tokenizer(max_length: int = 64):
    return build_tokenizer(sample_texts(), vocab_size=2000, min_frequency=1, model_max_length=max_length)


def tiny_model(tokenizer=None, **config):
    tokenizer = tokenizer or tiny_tokenizer()
    # Exact float32 logits unless a test asks otherwise: most tests compare logits at 1e-5 (bfloat16 inference, the
    # default where the CPU has it, is tested on its own in test_serving.py).
    config = {"hidden_size": 16, "inference_dtype": "float32", **config}
    return build_model(tokenizer, **config).eval(), tokenizer


# Reviews of a few lengths (one of two tokens), for the model-family tests.
SHORT_REVIEWS = [
    "A wonderful, moving film with a brilliant cast. I loved every minute of it!",
    "Terrible. The plot made no sense and the acting was wooden.",
    "ok",
    "Not bad at all, though far too long.",
]


def tiny_lm(tokenizer, **config):
    """A tiny bidirectional language model (no dropout), in eval mode."""
    return build_model(tokenizer, model_class=ImdbLstmForCausalLM,
                       **{"hidden_size": 8, "bidirectional": True, "dropout": 0.0, **config}).eval()


def load_script(name: str):
    """`scripts/<name>.py` as a module, for a test of the script's own functions (no script imports another, so
    scripts/ need not be on sys.path)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
