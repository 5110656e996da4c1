#!/usr/bin/env python
"""A bounded load test of the demo's server: many reviews from several clients at once, every answer checked.

    python scripts/load_test.py                                       # the shipped model, 200 requests, 16 clients
    python scripts/load_test.py --model outputs/demo --requests 12 --clients 4
    python scripts/load_test.py --output benchmarks/load_test.json --note "2-core VM shared with a training run"

The server is the demo's own (`imdb_lstm.demo.build_app` + `launch` on 127.0.0.1, a free port), in this process.
The clients take the path a browser or an API user takes: Gradio's queue (`gradio_client`, one `Client`, hence
one session, per simulated user: join the queue, read the answer from the event stream) on the endpoint the
page's button calls, `/classify`. It always explains (Integrated Gradients) and serves `concurrency_limit`
requests at a time (1; read from the app): the numbers are those of classify + explain behind a queue, what a
user waits for (`endpoint`, `explains` in the JSON). One explanation is made before the clock starts
(`warm_up_s`): the first pays one-off costs (captum's import, first kernels) a running server paid long ago.

Each client sends its next review as soon as its previous one is answered. The reviews are the shipped sample's
test reviews; their expected answers come first, in this process, from `imdb_lstm.predict.predict` in float32
(the endpoint's probabilities come from `explain`, exact float32 whatever the model's `inference_dtype`). An
answer must have the same label and each probability within `--tolerance` (1e-4: batching and threads may change
the last bits).

Bounded: a request waits at most `--request_timeout` s, the requests together at most what is left of
`--timeout` once the model is loaded and the expected answers computed; one not answered in time is `lost`, one
answered with an error an `error`; the server is shut down at the end whatever happened. Exit status 0 only when
every request was answered, without error, as expected; 1 otherwise; 2 when the run could not start.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry threads
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
os.environ["no_proxy"] = os.environ["NO_PROXY"]  # the clients talk to 127.0.0.1, never through a proxy

from imdb_lstm.benchmarking import command_line, machine_description, utc_now  # noqa: E402
from imdb_lstm.data import load_imdb  # noqa: E402
from imdb_lstm.demo import (API_NAME, HOST, build_app, classify_and_explain, free_port, launch,  # noqa: E402
                            require_gradio)
from imdb_lstm.predict import load_classifier, predict, quiet_progress_bars  # noqa: E402

ENDPOINT = f"/{API_NAME}"
EXPECTED_DTYPE = "float32"  # what the endpoint computes in (explain: exact float32)


def review_texts(count: int) -> list[str]:
    """`count` reviews for the requests: the shipped sample's test reviews in order, repeated if `count` is larger."""
    reviews = list(load_imdb("sample")["test"]["text"])
    return [reviews[i % len(reviews)] for i in range(count)]


def expected_answers(model, tokenizer, texts: list[str]) -> list[dict]:
    """{label, probabilities} per text, from the model called directly (float32, as the endpoint computes)."""
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return [{"label": row["label"], "probabilities": {name: row[f"p_{name.lower()}"] for name in labels}}
            for row in predict(model, tokenizer, texts, dtype=EXPECTED_DTYPE)]


def start_server(model, tokenizer) -> tuple[object, str]:
    """(the running Gradio app, its URL): the demo's app on a free port of 127.0.0.1, serving in a thread."""
    app = build_app(model, tokenizer)
    port = free_port()
    launch(app, port=port, prevent_thread_lock=True, quiet=True)
    return app, f"http://{HOST}:{port}/"


def served_at_once(app) -> int | str | None:
    """How many requests the endpoint serves at once (its `concurrency_limit`), read from the app, not assumed."""
    limits = [fn.concurrency_limit for fn in app.fns.values() if fn.api_name == API_NAME]
    return limits[0] if limits else None


def answer_of(result) -> dict:
    """{label, probabilities} from the endpoint's outputs: (the gr.Label value, the explanation's HTML)."""
    verdict, html = result
    if not isinstance(verdict, dict) or "label" not in verdict or not isinstance(html, str):
        raise ValueError(f"unexpected answer {result!r:.200}")
    return {"label": verdict["label"],
            "probabilities": {row["label"]: row["confidence"] for row in verdict.get("confidences", [])}}


def mismatch(answer: dict, expected: dict, tolerance: float) -> str | None:
    """Why `answer` differs from `expected` (label exact, each probability within `tolerance`), or None."""
    if answer["label"] != expected["label"]:
        return f"label {answer['label']} != {expected['label']}"
    if set(answer["probabilities"]) != set(expected["probabilities"]):
        return f"labels {sorted(answer['probabilities'])} != {sorted(expected['probabilities'])}"
    for name, p in expected["probabilities"].items():
        if abs(answer["probabilities"][name] - p) > tolerance:
            return f"p({name}) {answer['probabilities'][name]:.6f} != {p:.6f}"
    return None


def one_request(client, text: str, expected: dict, timeout: float, tolerance: float) -> dict:
    """Send one review and wait at most `timeout` s: {status: ok | mismatch | error | lost, latency_ms, detail}."""
    start = time.perf_counter()
    job = client.submit(text, api_name=ENDPOINT)
    try:
        result = job.result(timeout=timeout)
    except TimeoutError:
        job.cancel()
        return {"status": "lost", "latency_ms": None, "detail": f"no answer within {timeout:.0f} s"}
    except Exception as error:  # the server's error, as the client raises it
        return {"status": "error", "latency_ms": (time.perf_counter() - start) * 1000,
                "detail": f"{type(error).__name__}: {error}"}
    latency_ms = (time.perf_counter() - start) * 1000
    try:
        problem = mismatch(answer_of(result), expected, tolerance)
    except (ValueError, KeyError, TypeError) as error:
        return {"status": "error", "latency_ms": latency_ms, "detail": str(error)}
    return {"status": "mismatch" if problem else "ok", "latency_ms": latency_ms, "detail": problem}


def run_clients(url: str, texts, expected, clients: int, request_timeout: float, deadline: float,
                tolerance: float) -> tuple[list[dict | None], float]:
    """(one record per request, None where never sent or never recorded, i.e. lost; the wall seconds from the first
    request to the last answer). The clients connect first (config, API info, heartbeat), so the clock measures
    requests only. Each client thread is a daemon joined only until `deadline`: a stuck one cannot hold the run."""
    from gradio_client import Client

    records: list[dict | None] = [None] * len(texts)
    next_index = iter(range(len(texts)))
    lock = threading.Lock()
    sessions = []

    def user(client):
        while True:
            with lock:
                index = next(next_index, None)
            remaining = deadline - time.monotonic()
            if index is None or remaining <= 0:
                return
            records[index] = one_request(client, texts[index], expected[index], min(request_timeout, remaining),
                                         tolerance)

    try:
        for _ in range(clients):
            try:
                sessions.append(Client(url, verbose=False, download_files=False, analytics_enabled=False,
                                       httpx_kwargs={"timeout": request_timeout}))
            except Exception as error:  # httpx's and gradio_client's own errors: the server is not answering
                raise RuntimeError(f"client {len(sessions)} cannot connect to the demo at {url}: {error}") from error
        threads = [threading.Thread(target=user, args=(client,), name=f"client-{i}", daemon=True)
                   for i, client in enumerate(sessions)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        return list(records), time.perf_counter() - start
    finally:
        for client in sessions:
            client.close()


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (inclusive method); the value itself for a single one, None for none."""
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summarise(records: list[dict | None], clients: int, wall_s: float) -> dict:
    """The counts and the latencies (ms) of the answered requests."""
    statuses = [record["status"] if record else "lost" for record in records]
    latencies = [record["latency_ms"] for record in records if record and record["latency_ms"] is not None]
    problems = [f"request {i}: {record['status']}: {record['detail']}" for i, record in enumerate(records)
                if record and record["status"] != "ok"]
    answered = sum(status in ("ok", "mismatch") for status in statuses)
    return {
        "requests": len(records), "clients": clients, "answered": answered, "errors": statuses.count("error"),
        "lost": statuses.count("lost"), "mismatches": statuses.count("mismatch"),
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies, default=None), "wall_s": wall_s,
        "requests_per_s": answered / wall_s if wall_s > 0 else None, "problems": problems[:10],
        "latencies_ms": [round(value, 1) for value in latencies],
    }


def run_load_test(model_dir: str | None = None, requests: int = 200, clients: int = 16,
                  request_timeout: float = 300.0, timeout: float = 1800.0, tolerance: float = 1e-4) -> dict:
    """Serve `model_dir` (None: the shipped model, `imdb_lstm.DEFAULT_MODEL`) with the demo, send `requests`
    reviews from `clients` concurrent clients, check each answer against the direct prediction; the report (see
    `summarise`, plus what was run and where)."""
    if requests < 1 or clients < 1:
        raise ValueError(f"--requests ({requests}) and --clients ({clients}) must be at least 1.")
    gradio = require_gradio()  # with captum: the endpoint explains
    deadline = time.monotonic() + timeout
    model, tokenizer = load_classifier(model_dir)
    texts = review_texts(requests)
    expected = expected_answers(model, tokenizer, texts)
    warm_up = time.perf_counter()  # the first explanation pays one-off costs (captum's import, first kernels)
    classify_and_explain(model, tokenizer, texts[0])
    warm_up_s = time.perf_counter() - warm_up
    app, url = start_server(model, tokenizer)
    try:
        at_once = served_at_once(app)
        records, wall_s = run_clients(url, texts, expected, min(clients, requests), request_timeout, deadline,
                                      tolerance)
    finally:
        app.close()
    return {
        "model": "the shipped model (imdb_lstm.DEFAULT_MODEL)" if model_dir is None else str(model_dir),
        "endpoint": ENDPOINT, "explains": True, "concurrency_limit": at_once,
        "expected_from": f"imdb_lstm.predict.predict(dtype={EXPECTED_DTYPE!r}) in the same process",
        "tolerance": tolerance, **summarise(records, min(clients, requests), wall_s),
        "warm_up_s": warm_up_s, "request_timeout_s": request_timeout, "timeout_s": timeout,
        "gradio": gradio.__version__, "machine": machine_description(), "load_average_1min": os.getloadavg()[0],
        "date": utc_now(),
    }


def is_clean(report: dict) -> bool:
    """Every request answered, none with an error, none lost, every answer as expected."""
    return report["answered"] == report["requests"] and not (report["errors"] or report["lost"] or report["mismatches"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder or Hub repo id (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=200, help="requests in all (default 200)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, one session each (default 16)")
    parser.add_argument("--request_timeout", type=float, default=300.0,
                        help="seconds a request may wait for its answer, queue included (default 300)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds for the whole run, model loading included (default 1800)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest probability difference (default 1e-4)")
    parser.add_argument("--output", help="also write the JSON report to this file")
    parser.add_argument("--note", help="a remark stored in the report, e.g. what else the machine was doing")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet_progress_bars()
    try:
        report = run_load_test(args.model, args.requests, args.clients, args.request_timeout, args.timeout,
                               args.tolerance)
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report["command"] = command_line("load_test.py", argv)
    if args.note:
        report["note"] = args.note
    print(json.dumps(report, indent=2))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if is_clean(report) else 1


if __name__ == "__main__":
    sys.exit(main())
