"""The config (configuration_imdb_lstm.py): typed fields with their defaults declared once, the errors that name the
refused field, the rules across fields, and folders saved by older versions loading unchanged."""

import ast
import dataclasses
import json
import sys
import typing
from pathlib import Path

import pytest
from transformers import AutoConfig

import imdb_lstm
from imdb_lstm import ImdbLstmConfig
from imdb_lstm import configuration_imdb_lstm as configuration

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_MODEL = Path(imdb_lstm.__file__).parent / "default_model"
CHOICES = {"encoder", "cell", "pooling", "truncation_side", "lm_output", "inference_dtype"}


def test_config_round_trip_preserves_every_field(tmp_path):
    config = ImdbLstmConfig(
        vocab_size=123, embedding_dim=7, encoder="rnn", cell="gru", hidden_size=9, num_layers=3, bidirectional=True,
        pooling="max_mean", cnn_kernel_sizes=[2, 6], cnn_num_filters=11, embedding_dropout=0.1, rnn_dropout=0.2,
        dropout=0.3, freeze_embedding=True, pad_token_id=5, embedding_source="x.txt", embedding_coverage=0.5,
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, ImdbLstmConfig)
    saved, original = loaded.to_dict(), config.to_dict()
    assert saved.pop("_name_or_path") == str(tmp_path)
    original.pop("_name_or_path")
    assert saved == original
    assert loaded.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    assert loaded.label2id == {"NEGATIVE": 0, "POSITIVE": 1}


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("cell", "rnn", "('lstm', 'gru')"),
        ("encoder", "transformer", "('rnn', 'cnn')"),
        ("pooling", "attention", "('last', 'max', 'mean', 'max_mean')"),
        ("hidden_size", 0, "positive integer"),
        ("num_layers", -1, "positive integer"),
        ("vocab_size", 2.5, "positive integer"),
        ("dropout", 1.0, "[0, 1)"),
        ("embedding_dropout", -0.1, "[0, 1)"),
        ("cnn_kernel_sizes", [], "non-empty list"),
        ("pad_token_id", 30000, "vocab_size"),
    ],
)
def test_invalid_config_values_name_the_field(field, value, allowed):
    with pytest.raises(ValueError) as error:
        ImdbLstmConfig(**{field: value})
    assert f"ImdbLstmConfig.{field}" in str(error.value) and allowed in str(error.value)


def test_cnn_cannot_pool_last_state():
    with pytest.raises(ValueError, match="pooling='last' needs encoder='rnn'"):
        ImdbLstmConfig(encoder="cnn", pooling="last")


def test_num_hidden_layers_is_num_layers_and_old_folders_have_it():
    config = ImdbLstmConfig(num_hidden_layers=3)
    assert config.num_layers == 3 and config.num_hidden_layers == 3
    config.num_hidden_layers = 2
    assert config.num_layers == 2 and "num_hidden_layers" not in config.to_dict()
    legacy = AutoConfig.from_pretrained(FIXTURES / "legacy_bilstm")
    assert legacy.num_hidden_layers == legacy.num_layers


def test_every_choice_is_a_literal_type_and_the_module_lists_derive_from_it():
    hints = ImdbLstmConfig.__annotations__  # the class's own fields
    literals = {name for name, kind in hints.items() if typing.get_origin(kind) is typing.Literal}
    assert literals == CHOICES
    assert configuration.TRUNCATION_SIDES == typing.get_args(hints["truncation_side"]) == ("left", "right")
    assert configuration.INFERENCE_DTYPES == typing.get_args(hints["inference_dtype"]) == ("auto", "float32", "bfloat16")
    for field in sorted(CHOICES):
        allowed = typing.get_args(hints[field])
        with pytest.raises(ValueError, match=f"ImdbLstmConfig.{field}='nope' is not allowed; use one of "
                                             f"{allowed!r}".replace("(", r"\(").replace(")", r"\)")):
            ImdbLstmConfig(**{field: "nope"})


def test_defaults_are_declared_once_as_the_fields_and_fields_are_keyword_only():
    config = ImdbLstmConfig()
    own = [field for field in dataclasses.fields(ImdbLstmConfig) if field.name in ImdbLstmConfig.__annotations__]
    assert len(own) == len(ImdbLstmConfig.__annotations__) >= 28
    for field in own:
        default = list(field.default) if isinstance(field.default, tuple) else field.default
        assert getattr(config, field.name) == default, field.name
    assert config.cnn_kernel_sizes == [3, 4, 5] and isinstance(config.lm_adaptive_cutoffs, list)
    with pytest.raises(ValueError, match="only keyword arguments"):
        ImdbLstmConfig(100)


@pytest.mark.parametrize("fields, message", [
    ({"lm_output": "adaptive", "vocab_size": 100, "lm_adaptive_cutoffs": [20, 99]},
     r"lm_adaptive_cutoffs=\[20, 99\] must be increasing word ids in \[1, vocab_size - 1 = 99\)"),
    ({"lm_output": "adaptive", "lm_adaptive_cutoffs": [50, 20]}, r"lm_adaptive_cutoffs=\[50, 20\] must be increasing"),
    ({"ngram_order": 5}, r"ngram_order=5 with vocab_size=30000: the n-gram keys would not fit in 62 bits"),
    ({"pad_token_id": 10, "vocab_size": 10}, r"pad_token_id=10 must be an id in \[0, vocab_size=10\)"),
    ({"ngram_weight": 1.5}, r"ngram_weight=1.5 must be a number in \[0, 1\]"),
    ({"tie_word_embeddings": 0}, r"tie_word_embeddings=0 must be True or False"),
    ({"model_max_length": 0}, r"model_max_length=0 must be a positive integer or None"),
    ({"id2label": {0: "A", 2: "C"}}, r"must name the labels 0..num_labels-1"),
])
def test_rules_across_fields_and_per_field_rules_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        ImdbLstmConfig(**fields)
    ImdbLstmConfig(lm_output="adaptive", vocab_size=100, lm_adaptive_cutoffs=[20, 98], ngram_order=4)  # the edges pass


def test_a_late_change_is_checked_when_the_config_is_saved(tmp_path):
    config = ImdbLstmConfig()
    config.cell = "transformer"  # only label fields are checked at assignment
    with pytest.raises(ValueError, match="cell='transformer' is not allowed"):
        config.save_pretrained(tmp_path)


@pytest.mark.parametrize("folder", [FIXTURES / "legacy_bilstm", FIXTURES / "legacy_cnn", DEFAULT_MODEL],
                         ids=["legacy_bilstm", "legacy_cnn", "default_model"])
def test_folders_saved_by_older_versions_load_unchanged(folder, tmp_path):
    saved = json.loads((folder / "config.json").read_text())
    config = ImdbLstmConfig.from_pretrained(folder)
    loaded = json.loads(config.to_json_string(use_diff=False))
    for key, value in saved.items():
        if key != "transformers_version":
            assert loaded[key] == value, key
    # Fields the folder predates take the values it was trained with.
    for key, old_default in {"inference_dtype": "float32", "lm_output": "tied", "ngram_order": 0,
                             "truncation_side": "right", "tie_word_embeddings": True}.items():
        assert loaded[key] == saved.get(key, old_default), key
    # A key an older version saved and this one dropped is accepted and ignored.
    (tmp_path / "config.json").write_text(json.dumps({**saved, "concurrent_directions": True}))
    assert not hasattr(ImdbLstmConfig.from_pretrained(tmp_path), "concurrent_directions")


def test_the_hub_copy_imports_transformers_and_the_standard_library_only():
    tree = ast.parse(Path(configuration.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "transformers" in modules
    for module in modules:
        top = module.split(".")[0]
        assert top == "transformers" or top in sys.stdlib_module_names, module


# ------------------------------------------------------------ one home for every default (issue 31)

REPOSITORY = Path(__file__).resolve().parents[1]
# Names that declare a config field's value: its fields, their aliases, and the flag for model_max_length.
FIELD_NAMES = {*ImdbLstmConfig.__annotations__, *ImdbLstmConfig.attribute_map, "max_length"}
# (file, declaration) -> why its own literal default is right there.
OWN_DEFAULTS = {
    # The reproduction's settings (BENCHMARKS.md's seed table): the study's Keras cut at 400 tokens keeping the end.
    ("scripts/reproduce_seed_table.py", "ReproductionArguments.max_length"): "the study's setting",
    ("scripts/reproduce_seed_table.py", "ReproductionArguments.truncation_side"): "the study's setting",
    ("scripts/reproduce_seed_table.py", "ReproductionArguments.pooling"): "the reproduction's measured choice",
    # The setting whose memory the script measures (a BiLSTM-256 over 100-d vectors), not a model default.
    ("scripts/measure_checkpointing_memory.py", "--hidden_size"): "the measured setting",
    ("scripts/measure_checkpointing_memory.py", "--embedding_dim"): "the measured setting",
    ("scripts/measure_checkpointing_memory.py", "--vocab_size"): "the measured setting",
    ("scripts/measure_checkpointing_memory.py", "--cell"): "the measured setting",
}


def declared_name(name: str) -> str:
    """`DEFAULT_TRUNCATION_SIDE` -> `truncation_side`: a constant named for a field, any case, prefix dropped."""
    name = name.lower().lstrip("_")
    return name.removeprefix("default_")


def is_literal(node, constants=frozenset()) -> bool:
    """Whether a default is a literal value (None is no value): a constant, a container, a lambda returning one,
    `field(default=...)` / `field(default_factory=...)` of one, or a module constant holding one."""
    if isinstance(node, ast.Constant):
        return node.value is not None
    if isinstance(node, ast.UnaryOp):
        return is_literal(node.operand, constants)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.Lambda):
        return is_literal(node.body, constants)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "field":
        return any(is_literal(k.value, constants) for k in node.keywords if k.arg in ("default", "default_factory"))
    return False


def redeclared_defaults(source: str, constants: set[str] = frozenset()) -> list[str]:
    """Declarations in `source` that give a config field (by name) a literal default: module constants, dataclass
    (or class) fields, function parameters and argparse options; `constants` are literal constants defined elsewhere
    (a name imported from another module)."""
    tree = ast.parse(source)
    constants = set(constants) | {target.id for node in tree.body if isinstance(node, ast.Assign)
                                  and is_literal(node.value) for target in node.targets if isinstance(target, ast.Name)}
    found = [target.id for node in tree.body if isinstance(node, ast.Assign) and is_literal(node.value)
             for target in node.targets if isinstance(target, ast.Name) and declared_name(target.id) in FIELD_NAMES]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            found += [f"{node.name}.{item.target.id}" for item in node.body if isinstance(item, ast.AnnAssign)
                      and isinstance(item.target, ast.Name) and item.target.id in FIELD_NAMES
                      and is_literal(item.value, constants)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            pairs = [*zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults),
                     *zip(arguments.kwonlyargs, arguments.kw_defaults)]
            found += [f"{getattr(node, 'name', 'lambda')}({argument.arg}=)" for argument, default in pairs
                      if argument.arg in FIELD_NAMES and is_literal(default, constants)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" and node.args \
                and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).lstrip("-") in FIELD_NAMES:
            found += [node.args[0].value for keyword in node.keywords
                      if keyword.arg == "default" and is_literal(keyword.value, constants)]
    return found


def checked_modules() -> list[Path]:
    package = [path for path in sorted((REPOSITORY / "imdb_lstm").rglob("*.py"))
               if "default_model" not in path.parts and path.name != "configuration_imdb_lstm.py"]
    return package + sorted((REPOSITORY / "scripts").glob("*.py"))


def test_no_module_declares_a_config_fields_default_again():
    """ImdbLstmConfig is the one home of every architecture default: a flag, parameter or constant named like one
    of its fields defaults to None ("the config's value"); a recipe's own values live in its configs/*.json."""
    paths = checked_modules()
    literal_constants = set()
    for path in paths:  # a constant imported from another module counts as that module's literal
        tree = ast.parse(path.read_text(encoding="utf-8"))
        literal_constants |= {target.id for node in tree.body if isinstance(node, ast.Assign) and is_literal(node.value)
                              for target in node.targets if isinstance(target, ast.Name) and target.id.isupper()}
    found = []
    for path in paths:
        relative = path.relative_to(REPOSITORY).as_posix()
        declared = redeclared_defaults(path.read_text(encoding="utf-8"), literal_constants)
        found += [f"{relative}: {name}" for name in declared if (relative, name) not in OWN_DEFAULTS]
    assert not found, "config defaults declared again (default them to None, or state them in configs/*.json):\n" \
        + "\n".join(found)


def test_the_default_check_finds_every_kind_of_declaration():
    source = '''
DEFAULT_TRUNCATION_SIDE = "left"
HIDDEN_SIZE = 128
OTHER = None
@dataclass
class Arguments:
    cell: str = field(default="lstm")
    cnn_kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    pooling: str | None = field(default=None)
    dropout: float = -0.5
def build(texts, vocab_size=30000, *, truncation_side=DEFAULT_TRUNCATION_SIDE, max_length=None, seed=42):
    parser.add_argument("--num_hidden_layers", type=int, default=2)
    parser.add_argument("--bidirectional", action="store_true")
def imported(truncation_side=SIDE_FROM_ELSEWHERE): ...
'''
    found = redeclared_defaults(source, {"SIDE_FROM_ELSEWHERE"})
    assert sorted(found) == sorted([
        "DEFAULT_TRUNCATION_SIDE", "HIDDEN_SIZE", "Arguments.cell", "Arguments.cnn_kernel_sizes", "Arguments.dropout",
        "build(vocab_size=)", "build(truncation_side=)", "--num_hidden_layers", "imported(truncation_side=)"])


def fine_tuning_run(*argv):
    """(resolved config, model arguments, data arguments) of an imdb-lstm-train command line (nothing is read)."""
    from imdb_lstm.training import finetune

    model_args, data_args, _ = finetune.parse_args([*argv, "--report_to", "none"])
    return finetune.resolve_model_config(model_args, data_args), model_args, data_args


def test_training_flags_default_to_the_configs_values_and_record_them():
    config, model_args, data_args = fine_tuning_run()
    defaults = ImdbLstmConfig()
    assert all(getattr(config, name) == getattr(defaults, name) for name in ImdbLstmConfig.__annotations__)
    # Unset flags are filled in with the values used (run_info.json and the model card read them).
    assert (model_args.hidden_size, model_args.bidirectional, model_args.pooling) == (128, False, "last")
    assert (data_args.vocab_size, data_args.max_length, data_args.truncation_side) == (30000, None, "right")


def test_config_name_then_config_overrides_then_explicit_flags(tmp_path):
    ImdbLstmConfig(cell="gru", hidden_size=64, pooling="max", dropout=0.1).save_pretrained(tmp_path)
    for source in (tmp_path, tmp_path / "config.json"):  # a folder or its config.json file
        config, model_args, data_args = fine_tuning_run(
            "--config_name", str(source),
            "--config_overrides", "hidden_size=96, bidirectional=true,model_max_length=300",
            "--pooling", "mean", "--truncation_side", "left")
        assert (config.cell, config.dropout) == ("gru", 0.1)  # the starting config's
        assert (config.hidden_size, config.bidirectional, config.model_max_length) == (96, True, 300)  # overridden
        assert (config.pooling, config.truncation_side) == ("mean", "left")  # the flags win
        assert (model_args.cell, model_args.hidden_size, data_args.max_length) == ("gru", 96, 300)


@pytest.mark.parametrize("overrides, message", [
    ("hidden=64", r"'hidden' is no ImdbLstmConfig field; the fields are vocab_size, embedding_dim, .*hidden_size"),
    ("hidden_size", r"'hidden_size' is no FIELD=VALUE pair"),
    ("hidden_size=big", r"hidden_size='big' cannot be read"),
    ("cell=transformer", r"ImdbLstmConfig.cell='transformer' is not allowed"),
])
def test_a_bad_config_override_is_named(overrides, message):
    from imdb_lstm.training.model_config import ConfigArgumentError

    with pytest.raises(ConfigArgumentError, match=message):
        fine_tuning_run("--config_overrides", overrides)


def test_config_name_of_another_model_is_refused(tmp_path):
    from transformers import BertConfig

    from imdb_lstm.training.model_config import ConfigArgumentError

    BertConfig().save_pretrained(tmp_path)
    with pytest.raises(ConfigArgumentError, match="is a 'bert' config, not an imdb-lstm one"):
        fine_tuning_run("--config_name", str(tmp_path))


def test_pretraining_flags_default_to_the_configs_values():
    from imdb_lstm.training import pretrain

    model_args, data_args, _ = pretrain.parse_args(["--report_to", "none"])
    config = pretrain.language_model_config(model_args, data_args)
    assert (config.lm_output, config.bidirectional, config.dropout, config.truncation_side) == ("tied", False, 0.5,
                                                                                                "right")
    model_args, data_args, _ = pretrain.parse_args(["--config_overrides", "lm_output=adaptive,vocab_size=3000"])
    assert pretrain.language_model_config(model_args, data_args).lm_adaptive_cutoffs == [2000]  # inside the vocabulary


def recipe_configs() -> list[tuple[str, dict]]:
    """(name, flags) of every training recipe under configs/ (a default-model build's candidates each)."""
    recipes = []
    for path in sorted((REPOSITORY / "configs").rglob("*.json")):
        values = json.loads(path.read_text())
        name = path.relative_to(REPOSITORY).as_posix()
        if "classifiers" in values:
            recipes += [(f"{name}:{candidate}", flags) for candidate, flags in values["classifiers"].items()]
        elif "method" not in values:  # word vectors have no model config
            recipes.append((name, values))
    return recipes


@pytest.mark.parametrize("name, flags", recipe_configs(), ids=[name for name, _ in recipe_configs()])
def test_every_recipe_resolves_to_the_values_it_states(name, flags):
    """The recipes' own values live in their JSON: each one it states is the resolved config's (the values that no
    module declares any more, such as left truncation or max+mean pooling, included)."""
    from transformers import HfArgumentParser

    from imdb_lstm.training import finetune, pretrain
    from imdb_lstm.training.model_config import FLAG_FIELDS, explicit_flags

    stated = {FLAG_FIELDS.get(key, key): value for key, value in flags.items()
              if FLAG_FIELDS.get(key, key) in ImdbLstmConfig.__annotations__}
    if "block_size" in flags:  # a language model
        model_args, data_args, _ = HfArgumentParser((pretrain.LanguageModelArguments, pretrain.PretrainingDataArguments,
                                                     pretrain.PretrainingArguments)).parse_dict(
            {**flags, "report_to": "none"})
        config = pretrain.language_model_config(model_args, data_args)
    else:
        model_args, data_args, _ = HfArgumentParser((finetune.ModelArguments, finetune.DataArguments,
                                                     finetune.ImdbTrainingArguments)).parse_dict(
            {**flags, "dataset": "sample", "report_to": "none"})
        # With --model_name_or_path (read at run time) the stated values are flags given over the pretrained config.
        config = explicit_flags(model_args, data_args) if model_args.model_name_or_path \
            else finetune.resolve_model_config(model_args, data_args)
    resolved = config if isinstance(config, dict) else {key: getattr(config, key) for key in stated}
    assert {key: resolved[key] for key in stated} == stated
    assert stated, f"{name} states no value of the model config"


def test_a_named_field_wins_over_build_models_own_choice():
    """A new model serves in bfloat16 where it is free (build_model's "auto") unless the user names
    inference_dtype: `--config_overrides inference_dtype=float32` equals ImdbLstmConfig's default, and still wins."""
    from helpers import tiny_tokenizer

    from imdb_lstm import build_model
    from imdb_lstm.training.model_config import architecture_fields

    tokenizer = tiny_tokenizer()
    config, model_args, _ = fine_tuning_run()
    assert "inference_dtype" not in architecture_fields(config, model_args)
    assert build_model(tokenizer, hidden_size=8, **architecture_fields(config, model_args)).config.inference_dtype == "auto"
    config, model_args, _ = fine_tuning_run("--config_overrides", "inference_dtype=float32")
    fields = architecture_fields(config, model_args)
    assert fields["inference_dtype"] == "float32"
    assert build_model(tokenizer, **{**fields, "hidden_size": 8}).config.inference_dtype == "float32"
