"""The `local` backend: a Hugging Face model run in this process with transformers.

Requests from many threads (web requests, streams, a worker's batch) are served by one scheduler
thread with continuous batching: up to `max_batch_size` rows decode together, one token each per
forward pass, and a request that arrives while others are being written joins the running batch at
the next step (its prompt is read in one forward pass, then its key/value cache is merged in), so it
does not wait for the longest reply in flight. Each row streams its own tokens, samples with its own
settings and seed, and stops on its own (end of turn, its own token limit, a stop string, or the
caller cancelling); a finished row leaves the batch at once. Requests for JSON (constrained by a
grammar) are generated apart, in a batch of their own, with transformers' `generate`.
One engine per model directory and dtype per process.
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

from models_runtime.errors import ModelError, ModelFilesError, PromptTooLongError
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

    generator: Any = None  # a seeded torch.Generator for a sampled request with a seed


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
        running = _Running()
        while True:
            if not waiting and not running.jobs:
                waiting.append(self._pending.get())  # idle: sleep until a request comes
                deadline = time.monotonic() + self.batch_wait  # ...and gather those sent with it
                while (timeout := deadline - time.monotonic()) > 0:
                    try:
                        waiting.append(self._pending.get(timeout=timeout))
                    except queue.Empty:
                        break
            while True:
                try:
                    waiting.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            waiting = [job for job in waiting if not self._drop_if_cancelled(job)]
            constrained = [job for job in waiting if job.request.json_schema is not None][: self.max_batch_size]
            free = self.max_batch_size - len(running.jobs)
            joining = [job for job in waiting if job.request.json_schema is None][: max(free, 0)]
            waiting = [job for job in waiting if job not in constrained and job not in joining]
            try:
                if constrained:
                    self._run_generate(constrained)
                if joining:
                    running.add(self, joining)
                if running.jobs:
                    running.step(self)
            except Exception as error:  # a failed step must not kill the engine thread
                failed = [*constrained, *joining, *running.jobs]
                logger.exception("generation failed for %d request(s)", len(failed))
                failure = error if isinstance(error, ModelError) else ModelError(f"Generation failed: {error}")
                for job in failed:
                    if not job.is_done_sent:
                        job.events.put(failure)
                        self._finish(job, "error")
                running = _Running()

    @staticmethod
    def _drop_if_cancelled(job: _Job) -> bool:
        if job.is_cancelled:
            job.finish_reason = "cancelled"
            job.is_done_sent = True
            job.events.put(_DONE)
            return True
        return False

    def _sample(self, logits: Any, jobs: list[_Job]) -> list[int]:
        """The next token of each row: greedy, or sampled with the row's temperature, top-p and seed."""
        import torch

        tokens = logits.argmax(dim=-1).tolist()
        for row, job in enumerate(jobs):
            request = job.request
            if request.temperature <= 0:
                continue
            probabilities = torch.softmax(logits[row].float() / request.temperature, dim=-1)
            if request.top_p < 1.0:
                ordered, order = probabilities.sort(descending=True)
                keep = ordered.cumsum(-1) - ordered < request.top_p
                probabilities = torch.zeros_like(probabilities).scatter(0, order[keep], ordered[keep])
            if job.generator is None and request.seed is not None:
                job.generator = torch.Generator().manual_seed(request.seed)
            tokens[row] = int(torch.multinomial(probabilities, 1, generator=job.generator))
        return tokens

    def _run_generate(self, batch: list[_Job]) -> None:
        """Constrained (JSON) requests: one `generate` call with xgrammar's logits processor."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        engine = self
        pad = self.tokenizer.pad_token_id
        input_ids, attention = _left_padded(batch, pad)

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

        with torch.inference_mode():
            self.model.generate(  # type: ignore[misc]
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max(job.request.max_new_tokens for job in batch),
                pad_token_id=pad,
                eos_token_id=sorted(self.end_token_ids),
                streamer=RowStreamer(),
                stopping_criteria=StoppingCriteriaList([RowsFinished()]),
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                logits_processor=LogitsProcessorList(
                    [self._json_constraint([job.request.json_schema for job in batch])]
                ),
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


class _Running:
    """The rows being decoded together: their jobs, shared key/value cache, attention mask and positions.

    Rows are left-padded to a common cache length; the mask hides the padding, and each row's own
    position ids keep its rotary positions right whatever its padding.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.jobs: list[_Job] = []
        self.cache: Any = None
        self.mask: Any = None  # (rows, cache length) of 0/1
        self.positions: Any = None  # (rows,) the position of each row's next token
        self.last: Any = None  # (rows,) each row's last token, fed at the next step

    def add(self, engine: LocalEngine, jobs: list[_Job]) -> None:
        """Read the new prompts in one forward pass, take their first tokens, merge them into the batch."""
        import torch
        from transformers import DynamicCache

        ids, mask = _left_padded(jobs, engine.tokenizer.pad_token_id)
        width = ids.shape[1]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            output = engine.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=DynamicCache(config=engine.model.config),
                use_cache=True,
                logits_to_keep=1,
            )
        tokens = engine._sample(output.logits[:, -1, :], jobs)
        cache = output.past_key_values
        last = torch.tensor(tokens)
        next_positions = positions[:, -1] + 1
        if self.jobs:
            length = max(self.mask.shape[1], width)
            layers = []
            for old, new in zip(self.cache.layers, cache.layers, strict=True):
                keys = torch.cat([_left_pad(old.keys, length), _left_pad(new.keys, length)])
                values = torch.cat([_left_pad(old.values, length), _left_pad(new.values, length)])
                layers.append((keys, values))
            cache = DynamicCache(ddp_cache_data=layers, config=engine.model.config)
            mask = torch.cat([_left_pad(self.mask, length, dim=1), _left_pad(mask, length, dim=1)])
            last = torch.cat([self.last, last])
            next_positions = torch.cat([self.positions, next_positions])
        self.jobs = [*self.jobs, *jobs]
        self.cache, self.mask, self.last, self.positions = cache, mask, last, next_positions
        for job, token in zip(jobs, tokens, strict=True):
            engine._accept_token(job, token)
        self._drop_finished()

    def step(self, engine: LocalEngine) -> None:
        """One token for every row."""
        import torch

        self.mask = torch.cat([self.mask, torch.ones((len(self.jobs), 1), dtype=self.mask.dtype)], dim=1)
        with torch.inference_mode():
            output = engine.model(
                input_ids=self.last[:, None],
                attention_mask=self.mask,
                position_ids=self.positions[:, None],
                past_key_values=self.cache,
                use_cache=True,
            )
        self.cache = output.past_key_values
        tokens = engine._sample(output.logits[:, -1, :], self.jobs)
        self.last = torch.tensor(tokens)
        self.positions = self.positions + 1
        for job, token in zip(self.jobs, tokens, strict=True):
            engine._accept_token(job, token)
        self._drop_finished()

    def _drop_finished(self) -> None:
        """Rows that finished leave the batch; cache columns that only padding uses are cut off."""
        import torch

        keep = [row for row, job in enumerate(self.jobs) if not job.is_done_sent]
        if len(keep) == len(self.jobs):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep)
        self.jobs = [self.jobs[row] for row in keep]
        self.cache.batch_select_indices(index)
        self.mask, self.last, self.positions = self.mask[index], self.last[index], self.positions[index]
        first_used = int(self.mask.any(dim=0).float().argmax())
        if first_used > 0:
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, first_used:]
                layer.values = layer.values[:, :, first_used:]
            self.mask = self.mask[:, first_used:]


def _left_padded(jobs: list[_Job], pad: int) -> tuple[Any, Any]:
    """The jobs' prompts as one left-padded batch: (token ids, attention mask)."""
    import torch

    width = max(len(job.input_ids) for job in jobs)
    ids = torch.tensor([[pad] * (width - len(job.input_ids)) + job.input_ids for job in jobs])
    mask = torch.tensor([[0] * (width - len(job.input_ids)) + [1] * len(job.input_ids) for job in jobs])
    return ids, mask


def _left_pad(tensor: Any, length: int, *, dim: int = 2) -> Any:
    """Zeros before `tensor` along `dim` up to `length` (keys/values: dim 2; masks: dim 1)."""
    import torch

    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


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
