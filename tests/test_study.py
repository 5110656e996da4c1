"""The original study's example review and table as the package ships them."""

from pathlib import Path

import pytest

from imdb_lstm.commands.predict import EXAMPLE_REVIEW as CLI_EXAMPLE
from imdb_lstm.study import EXAMPLE_REVIEW, STUDY_TABLE

STUDY_README = Path(__file__).resolve().parents[2] / "shared" / "study" / "README.md"


def test_the_cli_example_is_the_studys_excerpt():
    assert CLI_EXAMPLE is EXAMPLE_REVIEW
    assert EXAMPLE_REVIEW.startswith("[...]There are sequences in this movie")
    assert "fun to see Mark Hamill acting again" in EXAMPLE_REVIEW
    assert EXAMPLE_REVIEW.endswith("Stupid, stupid, stupid.")


@pytest.mark.skipif(not STUDY_README.exists(), reason="the study's README (../shared/study) is not beside this checkout")
def test_example_and_table_match_the_study_text():
    text = STUDY_README.read_text()
    quoted = next(line.strip() for line in text.splitlines() if line.startswith("    [...]There are sequences"))
    assert EXAMPLE_REVIEW == quoted
    for (protocol, epochs), rates in STUDY_TABLE.items():
        assert f"| {protocol} | {epochs} | " + " | ".join(f"{rate:.4f}" for rate in rates) + " |" in text
