"""scripts/load_test.py: the demo's server under several concurrent clients, every answer checked against the model
called directly. A short run on the sample model (12 requests, 4 clients), and the checker's own arithmetic (a
mismatch is seen, an unanswered request counts as lost), so that a clean report cannot be a vacuous one."""

import json

import pytest
from helpers import load_script

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
pytest.importorskip("captum")

load_test = load_script("load_test")


def test_the_demo_answers_every_concurrent_request_as_the_model_does(sample_model_dir, tmp_path, capsys):
    output = tmp_path / "load.json"
    status = load_test.main(["--model", str(sample_model_dir), "--requests", "12", "--clients", "4",
                             "--request_timeout", "600", "--timeout", "1200", "--output", str(output)])
    report = json.loads(output.read_text())
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{\n"):]) == report  # printed too (after gradio's own lines)
    assert status == 0, report["problems"]
    assert (report["requests"], report["clients"], report["answered"]) == (12, 4, 12)
    assert (report["errors"], report["lost"], report["mismatches"]) == (0, 0, 0), report["problems"]
    assert len(report["latencies_ms"]) == 12 and all(latency > 0 for latency in report["latencies_ms"])
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["max_ms"]
    assert report["endpoint"] == "/classify" and report["explains"] is True and report["concurrency_limit"] == 1
    assert report["wall_s"] > 0 and report["requests_per_s"] > 0 and report["machine"]


def test_the_checker_sees_a_wrong_label_or_probability_and_counts_unanswered_requests_as_lost():
    expected = {"label": "POSITIVE", "probabilities": {"NEGATIVE": 0.2, "POSITIVE": 0.8}}
    assert load_test.mismatch(expected, expected, 1e-4) is None
    close = {"label": "POSITIVE", "probabilities": {"NEGATIVE": 0.20005, "POSITIVE": 0.79995}}
    assert load_test.mismatch(close, expected, 1e-4) is None
    off = {"label": "POSITIVE", "probabilities": {"NEGATIVE": 0.2002, "POSITIVE": 0.7998}}
    assert "p(NEGATIVE)" in load_test.mismatch(off, expected, 1e-4)
    flipped = {"label": "NEGATIVE", "probabilities": {"NEGATIVE": 0.8, "POSITIVE": 0.2}}
    assert "label NEGATIVE != POSITIVE" in load_test.mismatch(flipped, expected, 1e-4)

    verdict = {"label": "POSITIVE", "confidences": [{"label": "POSITIVE", "confidence": 0.8},
                                                   {"label": "NEGATIVE", "confidence": 0.2}]}
    assert load_test.answer_of((verdict, "<div></div>")) == expected
    with pytest.raises(ValueError, match="unexpected answer"):
        load_test.answer_of(({}, None))

    records = [{"status": "ok", "latency_ms": 10.0, "detail": None},
               {"status": "mismatch", "latency_ms": 30.0, "detail": "label NEGATIVE != POSITIVE"},
               {"status": "error", "latency_ms": 20.0, "detail": "AppError: boom"},
               {"status": "lost", "latency_ms": None, "detail": "no answer within 5 s"},
               None]  # never sent: the run's deadline came first
    report = load_test.summarise(records, clients=2, wall_s=2.0)
    assert (report["requests"], report["answered"], report["errors"], report["lost"], report["mismatches"]) == \
        (5, 2, 1, 2, 1)
    assert (report["p50_ms"], report["max_ms"], report["requests_per_s"]) == (20.0, 30.0, 1.0)
    assert len(report["problems"]) == 3 and not load_test.is_clean(report)
