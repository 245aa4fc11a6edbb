"""The `local` backend: a Hugging Face model run in this process with transformers.

Requests from many threads (web requests, streams, a worker's batch) are gathered by one scheduler
thread into shared forward passes: a batch of up to `max_batch_size` prompts is generated together,
each row streaming its own tokens and stopping on its own (end of turn, its own token limit, a stop
string, or the caller cancelling). One engine per model directory per process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from models_runtime.errors import GenerationCancelled, ModelError, ModelFilesError, PromptTooLongError
from models_runtime.hardware import dtype_name
from models_runtime.types import ChatRequest, ChatResult

logger = logging.getLogger(__name__)

_DONE = object()


@dataclass(eq=False)
class _Job:
    request: ChatRequest
    input_ids: list[int]
    events: queue.Queue[Any] = field(default_factory=queue.Queue)
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    finish_reason: str | None = None
    is_cancelled: bool = False
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    is_done_sent: bool = False

    @property
    def group_key(self) -> tuple[Any, ...]:
        # Rows in one batch share sampling settings; constrained (JSON) rows run apart.
        return (self.request.temperature, self.request.top_p, self.request.json_schema is not None)


class GenerationHandle:
    """A request in flight: iterate for text pieces, or call result()."""

    def __init__(self, job: _Job, engine: LocalEngine):
        self._job = job
        self._engine = engine
        self._result: ChatResult | None = None
        self._is_drained = False
        self._error: BaseException | None = None

    def __iter__(self) -> Iterator[str]:
        while not self._is_drained:
            item = self._job.events.get()
            if item is _DONE:
                self._is_drained = True
                break
            if isinstance(item, BaseException):
                self._error = item
                continue
            yield item
        if self._error is not None:
            raise self._error

    def result(self) -> ChatResult:
        if self._result is None:
            for _ in self:
                pass
            job = self._job
            self._result = ChatResult(
                text=job.text,
                model=self._engine.name,
                prompt_tokens=len(job.input_ids),
                completion_tokens=len(job.token_ids),
                finish_reason=job.finish_reason or "stop",
                extra={"first_token_seconds": (job.first_token_at or time.monotonic()) - job.started_at},
            )
        return self._result

    def cancel(self) -> None:
        """Stop generating this reply (the client went away). Other rows in the batch go on."""
        self._job.is_cancelled = True


class LocalEngine:
    def __init__(
        self,
        model_dir: Path,
        *,
        name: str | None = None,
        max_batch_size: int = 8,
        batch_wait: float = 0.01,
        dtype: str | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = Path(model_dir)
        self.name = name or self.model_dir.name
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait
        self.dtype = dtype_name(dtype)  # "auto" resolved: bfloat16 where the CPU has bf16 instructions
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(self.model_dir), dtype=getattr(torch, self.dtype), local_files_only=True
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelFilesError(f"The model files in {self.model_dir} could not be loaded: {error}") from error
        self.model.eval()
        threads = int(getattr(settings, "MODEL_TORCH_THREADS", 0) or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.end_token_ids = self._end_token_ids()
        self._grammar_lock = threading.Lock()
        self._grammar_compiler: Any = None
        self._grammars: dict[str, Any] = {}
        self._pending: queue.Queue[_Job] = queue.Queue()
        self._thread = threading.Thread(target=self._schedule_forever, name=f"engine-{self.name}", daemon=True)
        self._thread.start()

    def _end_token_ids(self) -> set[int]:
        ids: set[int] = set()
        eos = self.model.generation_config.eos_token_id
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(eos)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    # --- public -------------------------------------------------------------------------------
    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        encoded: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
            encoded = encoded["input_ids"]
        return [int(token) for token in encoded]

    def submit(self, request: ChatRequest) -> GenerationHandle:
        input_ids = self.prompt_ids(request.messages)
        budget = self.context_window - request.max_new_tokens
        if len(input_ids) > budget:
            raise PromptTooLongError(
                f"The prompt is {len(input_ids):,} tokens; with {request.max_new_tokens} new tokens it exceeds "
                f"the model's context window of {self.context_window:,} tokens. Shorten the input."
            )
        job = _Job(request=request, input_ids=input_ids)
        self._pending.put(job)
        return GenerationHandle(job, self)

    def complete(self, request: ChatRequest) -> ChatResult:
        return self.submit(request).result()

    def complete_batch(self, requests: list[ChatRequest]) -> list[ChatResult]:
        handles = [self.submit(request) for request in requests]
        return [handle.result() for handle in handles]

    # --- scheduler ----------------------------------------------------------------------------
    def _schedule_forever(self) -> None:
        waiting: list[_Job] = []
        while True:
            if not waiting:
                waiting.append(self._pending.get())
            deadline = time.monotonic() + self.batch_wait
            while len(waiting) < self.max_batch_size * 4:
                timeout = deadline - time.monotonic()
                try:
                    waiting.append(
                        self._pending.get(timeout=max(timeout, 0)) if timeout > 0 else self._pending.get_nowait()
                    )
                except queue.Empty:
                    break
            key = waiting[0].group_key
            batch = [job for job in waiting if job.group_key == key][: self.max_batch_size]
            waiting = [job for job in waiting if job not in batch]
            batch = [job for job in batch if not self._drop_if_cancelled(job)]
            if not batch:
                continue
            try:
                self._run_batch(batch)
            except Exception as error:  # one failed batch must not kill the engine thread
                logger.exception("generation failed for a batch of %d", len(batch))
                failure = error if isinstance(error, ModelError) else ModelError(f"Generation failed: {error}")
                for job in batch:
                    if not job.is_done_sent:
                        job.events.put(failure)
                        self._finish(job, "error")

    @staticmethod
    def _drop_if_cancelled(job: _Job) -> bool:
        if job.is_cancelled:
            job.finish_reason = "cancelled"
            job.is_done_sent = True
            job.events.put(_DONE)
            return True
        return False

    def _run_batch(self, batch: list[_Job]) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        engine = self
        width = max(len(job.input_ids) for job in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(job.input_ids)) + job.input_ids for job in batch])
        attention = torch.tensor([[0] * (width - len(job.input_ids)) + [1] * len(job.input_ids) for job in batch])

        class RowStreamer(BaseStreamer):
            def __init__(self) -> None:
                self.seen_prompt = False

            def put(self, value: torch.Tensor) -> None:
                if not self.seen_prompt:
                    self.seen_prompt = True
                    return
                for row, token in enumerate(value.view(-1).tolist()):
                    engine._accept_token(batch[row], token)

            def end(self) -> None:
                pass

        class RowsFinished(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
                return torch.tensor([job.finish_reason is not None or job.is_cancelled for job in batch])

        first = batch[0].request
        options: dict[str, Any] = {
            "max_new_tokens": max(job.request.max_new_tokens for job in batch),
            "pad_token_id": pad,
            "eos_token_id": sorted(self.end_token_ids),
            "streamer": RowStreamer(),
            "stopping_criteria": StoppingCriteriaList([RowsFinished()]),
        }
        if first.temperature > 0:
            options.update(do_sample=True, temperature=first.temperature, top_p=first.top_p)
            if first.seed is not None:
                torch.manual_seed(first.seed)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if first.json_schema is not None:
            options["logits_processor"] = [self._json_constraint([job.request.json_schema for job in batch])]

        with torch.inference_mode():
            self.model.generate(  # type: ignore[misc]
                input_ids=input_ids, attention_mask=attention, **options
            )
        for job in batch:
            self._finish(job, job.finish_reason or ("cancelled" if job.is_cancelled else "length"))

    def _accept_token(self, job: _Job, token: int) -> None:
        if job.finish_reason is not None:
            return
        if job.is_cancelled:
            self._finish(job, "cancelled")
            return
        if token in self.end_token_ids:
            self._finish(job, "stop")
            return
        if job.first_token_at is None:
            job.first_token_at = time.monotonic()
        job.token_ids.append(token)
        text = str(self.tokenizer.decode(job.token_ids, skip_special_tokens=True))
        if text.endswith("\ufffd"):
            return  # half of a multi-byte character: wait for the rest
        for stop in job.request.stop:
            at = text.find(stop)
            if at != -1:
                text = text[:at]
                job.finish_reason = "stop"
                break
        job.text = text
        if len(text) > job.emitted:
            job.events.put(text[job.emitted :])
            job.emitted = len(text)
        if job.finish_reason is None and len(job.token_ids) >= job.request.max_new_tokens:
            job.finish_reason = "length"
        if job.finish_reason is not None:
            self._finish(job, job.finish_reason)  # its reader need not wait for the batch's longest row

    def _finish(self, job: _Job, reason: str) -> None:
        if job.is_done_sent:
            return
        job.finish_reason = reason
        job.is_done_sent = True
        job.events.put(_DONE)

    def _compiled_grammar(self, schema: dict[str, Any]) -> Any:
        """Compile a JSON schema once per engine (xgrammar: constrained decoding on the CPU)."""
        import json

        import xgrammar

        key = json.dumps(schema, sort_keys=True)
        with self._grammar_lock:
            compiled = self._grammars.get(key)
            if compiled is None:
                if self._grammar_compiler is None:
                    info = xgrammar.TokenizerInfo.from_huggingface(
                        self.tokenizer, vocab_size=self.model.config.vocab_size
                    )
                    self._grammar_compiler = xgrammar.GrammarCompiler(info)
                compiled = self._grammar_compiler.compile_json_schema(key, any_whitespace=False)
                self._grammars[key] = compiled
        return compiled

    def _json_constraint(self, schemas: list[dict[str, Any] | None]) -> Any:
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor([self._compiled_grammar(schema or {}) for schema in schemas])


_engines: dict[tuple[Path, str], LocalEngine] = {}
_engines_lock = threading.Lock()


def engine_for(model_dir: Path, *, name: str | None = None, dtype: str | None = None, **options: Any) -> LocalEngine:
    """The process-wide engine for a model directory in a dtype (MODEL_DTYPE by default), loaded on first use."""
    key = (Path(model_dir).resolve(), dtype_name(dtype))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = LocalEngine(key[0], name=name, dtype=key[1], **options)
            _engines[key] = engine
        return engine


def check_not_cancelled(handle: GenerationHandle) -> None:
    if handle.result().finish_reason == "cancelled":
        raise GenerationCancelled("The generation was cancelled.")
