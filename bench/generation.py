"""Generation speed, side by side in one run: raw transformers, the local backend, serve_model over HTTP.

    .venv/bin/python bench/generation.py [--model smollm2-135m-instruct] [--max-new-tokens 64] [--rounds 3]

The same ~300-token prompts (a word problem with a worked solution, then a question about it), greedy,
a fixed token budget. For each path: tokens/second and time to first token (TTFT) for one stream, and
aggregate tokens/second for 8 concurrent streams. The paths take turns within each round, and each
ratio is taken within a round and then the median over rounds, so load from other work on the machine
hits the paths alike: the ratios are what to read, not the absolute numbers. Prints progress to stderr
and one JSON object to stdout at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from models_runtime.backends.local import engine_for
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.registry import model_dir_for
from models_runtime.types import ChatRequest

STREAMS = 8
PATHS = ["raw", "local", "http"]
NAMES = ["Amara", "Ben", "Chen", "Dalia", "Emil", "Farah", "Goran", "Hana"]


def prompt(index: int) -> list[dict[str, str]]:
    """A word problem, its worked solution and a follow-up question: about 300 tokens, distinct per index."""
    name = NAMES[index % len(NAMES)]
    price, count, coupon, friends = 3 + index, 12 + 2 * index, 5 + index, 3 + index % 3
    total = price * count
    paid = total - coupon
    share = paid / friends
    problem = (
        f"{name} is organising a class picnic. Sandwiches cost {price} dollars each and {name} needs "
        f"{count} of them. The shop gives a coupon worth {coupon} dollars off the whole order. {name} and "
        f"{friends - 1} friends agree to split the final bill equally. How much does each person pay?"
    )
    solution = (
        f"Step 1: Find the cost before the coupon. {count} sandwiches at {price} dollars each cost "
        f"{count} x {price} = {total} dollars.\n"
        f"Step 2: Apply the coupon. The coupon takes {coupon} dollars off the whole order, so the bill is "
        f"{total} - {coupon} = {paid} dollars. The coupon is subtracted once, not once per sandwich.\n"
        f"Step 3: Split the bill. {friends} people share it equally, so each pays {paid} / {friends} = "
        f"{share:.2f} dollars.\n"
        f"Check: {friends} x {share:.2f} is about {paid}, which matches the bill after the coupon. A common "
        f"mistake is to split the bill first and then subtract the coupon from each share, which takes the "
        f"coupon off {friends} times."
    )
    return [
        {"role": "system", "content": "You are a patient maths tutor for secondary school students."},
        {
            "role": "user",
            "content": f"Problem: {problem}\n\nWorked solution:\n{solution}\n\n"
            "I do not understand why the coupon is subtracted before splitting the bill and not after. "
            "Explain it to me again in different words, with a small example using other numbers.",
        },
    ]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rate(run: dict[str, Any]) -> float:
    return run["tokens"] / run["seconds"]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


# --- (a) raw transformers -------------------------------------------------------------------------
class FirstTokenClock(BaseStreamer):
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if not self.seen_prompt:
            self.seen_prompt = True
        elif self.first_token_at is None:
            self.first_token_at = time.monotonic()

    def end(self) -> None:
        pass


class RawGenerate:
    def __init__(self, model_dir: Path, dtype: torch.dtype):
        # Any: transformers' stubs do not follow from_pretrained and apply_chat_template's overloads.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, local_files_only=True)
        self.model.eval()
        eos = self.model.generation_config.eos_token_id
        self.eos = {eos} if isinstance(eos, int) else set(eos or [])
        if self.tokenizer.eos_token_id is not None:
            self.eos.add(self.tokenizer.eos_token_id)

    def ids(self, messages: list[dict[str, str]]) -> list[int]:
        encoded: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
            encoded = encoded["input_ids"]
        return list(encoded)

    def run(self, conversations: list[list[dict[str, str]]], max_new_tokens: int) -> dict[str, Any]:
        """One generate call for all the conversations (left-padded batch), greedy."""
        clock = FirstTokenClock()  # started before tokenising, as the backends' clocks are
        rows = [self.ids(messages) for messages in conversations]
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows])
        attention = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
                eos_token_id=sorted(self.eos),
                streamer=clock,
            )
        seconds = time.monotonic() - clock.started
        tokens = 0
        for row in output[:, width:].tolist():
            for token in row:
                if token in self.eos:
                    break
                tokens += 1
        return {
            "tokens": tokens,
            "seconds": seconds,
            "ttft": (clock.first_token_at or time.monotonic()) - clock.started,
        }


# --- (b) and (c): anything with submit() ----------------------------------------------------------
def stream_once(submit: Callable[[ChatRequest], Any], request: ChatRequest) -> dict[str, Any]:
    started = time.monotonic()
    handle = submit(request)
    first_at = None
    for _piece in handle:
        if first_at is None:
            first_at = time.monotonic()
    result = handle.result()
    finished = time.monotonic()
    return {
        "tokens": result.completion_tokens,
        "seconds": finished - started,
        "ttft": (first_at or finished) - started,
        "finished_at": finished,
        "started_at": started,
    }


def streams_together(submit: Callable[[ChatRequest], Any], requests: list[ChatRequest]) -> dict[str, Any]:
    """All requests start at once from their own threads; aggregate tokens over the wall time of the lot."""
    barrier = threading.Barrier(len(requests))
    runs: list[dict[str, Any]] = [{} for _ in requests]
    errors: list[BaseException] = []

    def one(index: int) -> None:
        barrier.wait()
        try:
            runs[index] = stream_once(submit, requests[index])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    started = min(run["started_at"] for run in runs)
    seconds = max(run["finished_at"] for run in runs) - started
    return {
        "tokens": sum(run["tokens"] for run in runs),
        "seconds": seconds,
        "ttft": min(run["ttft"] for run in runs),
        "ttft_max": max(run["ttft"] for run in runs),
    }


# --- serve_model subprocess -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, threads: int, extra: list[str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    import httpx

    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="bench-serve_model-", suffix=".log")[1])
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve_model",
                "--model",
                model,
                "--port",
                str(port),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                *extra,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve_model exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, f"http://127.0.0.1:{port}/v1", log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("serve_model did not start within 300 s")


def summary(runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "tokens_per_second": median([rate(run) for run in runs]),
        "ttft_seconds": median([run["ttft"] for run in runs]),
        "tokens": median([run["tokens"] for run in runs]),
        "seconds": median([run["seconds"] for run in runs]),
        **({"ttft_slowest_stream_seconds": median([run["ttft_max"] for run in runs])} if "ttft_max" in runs[0] else {}),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="torch threads for every path (default: half the cores, leaving room for clients and the server loop)",
    )
    parser.add_argument("--server-arg", action="append", default=[], help="extra serve_model argument (repeatable)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    model_dir = model_dir_for(args.model)
    conversations = [prompt(index) for index in range(STREAMS)]
    requests = [ChatRequest(messages=messages, max_new_tokens=args.max_new_tokens) for messages in conversations]

    log(f"starting serve_model ({args.model}, {args.threads} thread(s))")
    process, base_url, server_log = start_server(args.model, args.threads, args.server_arg)
    try:
        log("loading raw transformers and the local engine")
        engine = engine_for(model_dir, name=args.model)
        # raw generate in the engine's dtype, so local/raw measures the engine and nothing else; and raw in
        # float32 once per round, so the dtype's own gain is printed beside it.
        raw = RawGenerate(model_dir, getattr(torch, engine.dtype))
        raw32 = RawGenerate(model_dir, torch.float32) if engine.dtype != "float32" else None
        http = OpenAIBackend(base_url=base_url, model=args.model, timeout=600, max_retries=0)
        prompt_tokens = [len(raw.ids(messages)) for messages in conversations]

        log("warming up")
        raw.run(conversations[:1], 2)
        if raw32 is not None:
            raw32.run(conversations[:1], 2)
        engine.complete(ChatRequest(messages=conversations[0], max_new_tokens=2))
        http.complete(ChatRequest(messages=conversations[0], max_new_tokens=2))

        results: dict[str, dict[str, list[dict[str, Any]]]] = {path: {"one": [], "eight": []} for path in PATHS}
        float32_runs: list[dict[str, Any]] = []
        for number in range(args.rounds):
            # Within a round the three paths run back to back (one stream each, then 8 streams each), and
            # who goes first rotates, so a burst of outside load does not always land on the same path.
            order = PATHS[number % 3 :] + PATHS[: number % 3]
            one_request, one_messages = requests[number % STREAMS], conversations[number % STREAMS]
            for path in order:
                if path == "raw":
                    one = raw.run([one_messages], args.max_new_tokens)
                else:
                    one = stream_once((engine if path == "local" else http).submit, one_request)
                results[path]["one"].append(one)
                log(f"round {number + 1} {path:5}: 1 stream  {rate(one):6.1f} tok/s (TTFT {one['ttft']:.2f} s)")
                if path == "raw" and raw32 is not None:
                    float32_runs.append(raw32.run([one_messages], args.max_new_tokens))
                    log(f"round {number + 1} raw float32: 1 stream {rate(float32_runs[-1]):6.1f} tok/s")
            for path in order:
                if path == "raw":
                    eight = raw.run(conversations, args.max_new_tokens)
                else:
                    eight = streams_together((engine if path == "local" else http).submit, requests)
                results[path]["eight"].append(eight)
                log(f"round {number + 1} {path:5}: 8 streams {rate(eight):6.1f} tok/s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        server_log.unlink(missing_ok=True)

    def per_round(top: tuple[str, str], bottom: tuple[str, str]) -> float:
        """The median over rounds of a ratio measured within each round: steadier than a ratio of medians."""
        pairs = zip(results[top[0]][top[1]], results[bottom[0]][bottom[1]], strict=True)
        return median([rate(a) / max(rate(b), 1e-9) for a, b in pairs])

    local_over_raw = per_round(("local", "one"), ("raw", "one"))
    http_eight_over_one = per_round(("http", "eight"), ("http", "one"))
    http_ttft = median([run["ttft"] for run in results["http"]["one"]])
    report: dict[str, Any] = {
        "model": args.model,
        "prompt_tokens": {"min": min(prompt_tokens), "max": max(prompt_tokens)},
        "max_new_tokens": args.max_new_tokens,
        "greedy": True,
        "torch_threads": args.threads,
        "dtype": engine.dtype,
        "cpu_count": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "rounds": args.rounds,
        "raw_generate": {
            "one_stream": summary(results["raw"]["one"]),
            "eight_streams": summary(results["raw"]["eight"], mode="one batched generate call (left-padded)"),
        },
        "local_backend": {
            "one_stream": summary(results["local"]["one"]),
            "eight_streams": summary(results["local"]["eight"], mode="8 threads streaming at once"),
        },
        "serve_model_http": {
            "one_stream": summary(results["http"]["one"]),
            "eight_streams": summary(results["http"]["eight"], mode="8 OpenAIBackend streams at once"),
        },
        "ratios": {
            "note": "median over rounds of each ratio measured within a round",
            "local_over_raw_one_stream": local_over_raw,
            "serve_model_eight_over_one_stream": http_eight_over_one,
            "serve_model_ttft_seconds": http_ttft,
            "serve_model_over_local_one_stream": per_round(("http", "one"), ("local", "one")),
            "serve_model_over_local_eight_streams": per_round(("http", "eight"), ("local", "eight")),
            "local_eight_over_one_stream": per_round(("local", "eight"), ("local", "one")),
            "raw_batched_eight_over_one": per_round(("raw", "eight"), ("raw", "one")),
            **(
                {
                    f"raw_{engine.dtype}_over_float32_one_stream": median(
                        [rate(a) / rate(b) for a, b in zip(results["raw"]["one"], float32_runs, strict=True)]
                    ),
                    f"raw_float32_over_{engine.dtype}_ttft": median(
                        [b["ttft"] / a["ttft"] for a, b in zip(results["raw"]["one"], float32_runs, strict=True)]
                    ),
                }
                if float32_runs
                else {}
            ),
        },
        "targets_met": {
            "local_over_raw_one_stream >= 1.0": local_over_raw >= 1.0,
            "serve_model_eight_over_one_stream >= 3": http_eight_over_one >= 3,
            "serve_model_ttft_seconds < 0.5": http_ttft < 0.5,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
