"""The local language model as the distillation loop needs it: sampled and greedy generation in batches,
log-likelihood of a target given a prompt, DPO with a LoRA adapter and supervised fine-tuning (TRL).

Model files come from `models_runtime.api` (`model_dir_for`, `version_for_task`); the weights are read with
transformers in this process, as tutor/training.py does for its fine-tuning: training and scoring need them in
Python, which the model server cannot give. Every model directory is written to a temporary directory beside its
target and renamed into place only when complete (`model_save`), so a full disk leaves nothing half-written.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from core.errors import ApplicationError
from models_runtime import api as models

Messages = list[dict[str, str]]
Tick = Callable[[int, int], None]


class DiskFullError(ApplicationError):
    """Saving a checkpoint failed for want of space: nothing was left half-written; the step can be rerun."""

    status_code = 507
    code = "disk_full"


def _threads() -> None:
    import torch

    if settings.MODEL_TORCH_THREADS:
        torch.set_num_threads(settings.MODEL_TORCH_THREADS)


def cpu_bf16() -> bool:
    """Whether this run computes in bfloat16 on the CPU: where the CPU has bf16 instructions and MODEL_DTYPE does
    not ask for float32. On this 2-core machine (avx512_bf16) an SFT step of 4 x 600 tokens took 10 s under
    bf16 autocast against 23 s in float32, and a batch of 8 generations 13 s against 18 s (decision 0009)."""
    import torch

    if torch.cuda.is_available():
        return False
    return models.cpu_has_bf16() and (settings.MODEL_DTYPE or "auto").lower() in ("auto", "bfloat16")


def load(model_dir: Path, *, for_training: bool = False) -> tuple[Any, Any]:
    """Weights in float32 for training (bf16 mixed precision keeps float32 master weights), in bfloat16 for
    generation and scoring where the CPU computes in it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _threads()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if cpu_bf16() and not for_training else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, local_files_only=True)
    model.eval()
    return model, tokenizer


def _on_device(model: Any) -> Any:
    """Generation and scoring on the GPU when there is one (the `gpu` configuration); trainers place themselves."""
    import torch

    return model.to("cuda") if torch.cuda.is_available() else model


class LocalLM:
    """A Hugging Face causal LM directory, loaded once."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        model, self.tokenizer = load(model_dir)
        self.model = _on_device(model)

    def _prompt_ids(self, messages: Messages) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(
        self,
        conversations: list[Messages],
        *,
        max_new_tokens: int,
        samples: int = 1,
        temperature: float = 0.0,
        seed: int = 0,
        batch_size: int = 8,
        tick: Tick | None = None,
    ) -> list[list[str]]:
        """`samples` texts per conversation (greedy when temperature is 0), in batches of prompts of similar
        length (a batch is padded to its longest prompt: in arrival order a 1,700-token prompt padded seven
        short ones to its length), returned in the conversations' order."""
        import torch

        prompts = [self._prompt_ids(messages) for messages in conversations]
        order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]))
        outputs: list[list[str]] = [[] for _ in conversations]
        per_batch = max(1, batch_size // max(samples, 1))
        for start in range(0, len(order), per_batch):
            chunk = order[start : start + per_batch]
            ids = [prompts[index] for index in chunk]
            width = max(len(row) for row in ids)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in ids])
            attention = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids])
            torch.manual_seed(seed + start)
            options: dict[str, Any] = {"do_sample": temperature > 0, "num_return_sequences": samples}
            if temperature > 0:
                options.update(temperature=temperature, top_p=0.95)
            with torch.no_grad():
                generated = self.model.generate(
                    input_ids=input_ids.to(self.model.device),
                    attention_mask=attention.to(self.model.device),
                    max_new_tokens=max_new_tokens,
                    pad_token_id=pad,
                    **options,
                )
            texts = self.tokenizer.batch_decode(generated[:, width:].cpu(), skip_special_tokens=True)
            for position, index in enumerate(chunk):
                outputs[index] = [text.strip() for text in texts[position * samples : (position + 1) * samples]]
            if tick:
                tick(min(start + per_batch, len(conversations)), len(conversations))
        return outputs

    def target_logprob(
        self, pairs: list[tuple[Messages, str]], *, batch_size: int = 8, tick: Tick | None = None
    ) -> list[float]:
        """Mean log-probability per token of each target after its prompt (the chat template's reply position)."""
        import torch

        end = self.tokenizer.eos_token or ""
        encoded = [
            (self._prompt_ids(messages), self.tokenizer(target + end, add_special_tokens=False)["input_ids"][:96])
            for messages, target in pairs
        ]
        order = sorted(range(len(encoded)), key=lambda index: len(encoded[index][0]) + len(encoded[index][1]))
        scores: list[float] = [0.0] * len(pairs)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            rows = [encoded[index] for index in chunk]
            width = max(len(p) + len(t) for p, t in rows)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.full((len(rows), width), pad)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, (prompt, target_ids) in enumerate(rows):
                sequence = prompt + target_ids
                input_ids[i, : len(sequence)] = torch.tensor(sequence)
                attention[i, : len(sequence)] = 1
            with torch.no_grad():
                hidden = self.model.model(
                    input_ids=input_ids.to(self.model.device), attention_mask=attention.to(self.model.device)
                ).last_hidden_state
                for i, (prompt, target_ids) in enumerate(rows):
                    # Only the positions that predict the target go through the vocabulary projection.
                    positions = hidden[i, len(prompt) - 1 : len(prompt) - 1 + len(target_ids)]
                    logprobs = torch.log_softmax(self.model.lm_head(positions).float(), dim=-1)
                    picked = logprobs.gather(
                        -1, torch.tensor(target_ids, device=logprobs.device).unsqueeze(-1)
                    ).squeeze(-1)
                    scores[chunk[i]] = float(picked.mean())
            if tick:
                tick(min(start + batch_size, len(pairs)), len(pairs))
        return scores


def _save_pretrained(model: Any, tokenizer: Any, directory: Path) -> None:
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))


def model_save(model: Any, tokenizer: Any, target: Path, *, what: str) -> Path:
    """Write a model directory atomically: into a temporary sibling, renamed into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    working = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _save_pretrained(model, tokenizer, working)
        if target.exists():
            shutil.rmtree(target)
        working.rename(target)
    except OSError as error:
        shutil.rmtree(working, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk is full: saving the {what} to {target.parent} failed (no space left on device). "
                "Nothing was half-written. Free some space, then resume the run: it continues from this step."
            ) from error
        raise
    except BaseException:
        shutil.rmtree(working, ignore_errors=True)
        raise
    return target


class _StepCallback:
    @staticmethod
    def make(tick: Tick | None, losses: list[dict[str, float]]) -> Any:
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if logs and "loss" in logs:
                    losses.append({"step": int(state.global_step), "loss": round(float(logs["loss"]), 4)})

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if tick:
                    tick(state.global_step, state.max_steps)

        return Callback()


def _device_options() -> dict[str, Any]:
    import torch

    has_gpu = torch.cuda.is_available()
    return {"use_cpu": not has_gpu, "bf16": bool((has_gpu and torch.cuda.is_bf16_supported()) or cpu_bf16())}


def _shared_arguments(
    *, scratch: str, steps: int, batch_size: int, learning_rate: float, max_length: int, seed: int
) -> dict[str, Any]:
    """What the DPO and SFT configurations share: a fixed number of steps, no checkpoints, no reporting."""
    return {
        "output_dir": scratch,
        "max_steps": steps,
        "per_device_train_batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_length": max_length,
        "logging_steps": 1,
        "activation_checkpointing": False,  # 135M parameters: memory is not the limit, time is
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "seed": seed,
        "dataloader_num_workers": 0,
        **_device_options(),
    }


def _train(trainer: Any, *, losses: list[dict[str, float]], counted: dict[str, int]) -> tuple[Any, dict[str, Any]]:
    """Train quietly (the step callback reports progress) and return the trained model with the figures; the
    caller adds the seconds once the model is saved."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    return trainer.model, {
        **counted,
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 4),
        "loss_curve": losses,
    }


def dpo_train_lora(
    *,
    base_dir: Path,
    rows: list[dict[str, Any]],
    output_dir: Path,
    steps: int,
    batch_size: int,
    learning_rate: float,
    rank: int,
    max_length: int,
    seed: int,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """DPO on (prompt, chosen, rejected) with a LoRA adapter on the teacher; the merged teacher is saved."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    started = time.monotonic()
    model, tokenizer = load(base_dir, for_training=True)
    losses: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="dpo-", dir=output_dir.parent) as scratch:
        shared = _shared_arguments(
            scratch=scratch,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_length=max_length,
            seed=seed,
        )
        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(beta=0.1, **shared),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=LoraConfig(
                r=rank,
                lora_alpha=2 * rank,
                lora_dropout=0.0,
                target_modules=["q_proj", "v_proj"],
                task_type="CAUSAL_LM",
            ),
            callbacks=[_StepCallback.make(tick, losses)],
        )
        trained, figures = _train(trainer, losses=losses, counted={"pairs": len(rows)})
        merged = trained.merge_and_unload()
        model_save(merged, tokenizer, output_dir, what="aligned teacher")
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def _conversation_tokens(tokenizer: Any, row: dict[str, Any]) -> int:
    """Tokens of a prompt/completion row as the trainer sees it; a longer row than max_length would be cut at the
    end, losing the completion it is there to teach, so such rows are left out (and counted) instead."""
    text = tokenizer.apply_chat_template([*row["prompt"], *row["completion"]], tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def sft_train(
    *,
    base_dir: Path,
    rows: list[dict[str, Any]],
    output_dir: Path,
    steps: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    seed: int,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Supervised fine-tuning (TRL SFTTrainer, loss on the completion only) of the student on prompt/completion rows."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    started = time.monotonic()
    model, tokenizer = load(base_dir, for_training=True)
    fitting = [row for row in rows if _conversation_tokens(tokenizer, row) <= max_length]
    if not fitting:
        raise ApplicationError(
            f"None of the {len(rows)} training examples fits in {max_length} tokens; raise max_length or shorten them."
        )
    losses: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="sft-", dir=output_dir.parent) as scratch:
        shared = _shared_arguments(
            scratch=scratch,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_length=max_length,
            seed=seed,
        )
        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(
                lr_scheduler_type="linear",
                warmup_steps=min(5, max(steps // 10, 0)),
                completion_only_loss=True,
                # Batches of similar length (a batch is padded to its longest row; the prompts run 400-1,700
                # tokens): at random, a step of 4 rows cost about 30 s on 2 cores, most of it padding.
                train_sampling_strategy="group_by_length",
                **shared,
            ),
            train_dataset=Dataset.from_list(fitting),
            processing_class=tokenizer,
            callbacks=[_StepCallback.make(tick, losses)],
        )
        trained, figures = _train(
            trainer, losses=losses, counted={"examples": len(fitting), "too_long": len(rows) - len(fitting)}
        )
        model_save(trained, tokenizer, output_dir, what="student checkpoint")
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures
