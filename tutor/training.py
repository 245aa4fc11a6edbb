"""Fine-tuning the tutor's model on teachers' replies (`manage.py train_tutor_model`).

The policy decides every reply and writes it in code; the model only says it in a teacher's words (and the
gate in `tutor.policy` checks whatever it writes). So the model learns exactly that step: for each teacher turn
of a MathDial dialogue, the prompt is the one the product sends (`replies.reply_prompt`: the problem, the
student's last message and the policy's planned reply for the dialogue so far) and the target is what the
human teacher actually said. Teachers' corrections in Tutorloop (a flagged reply with the better one written
out) are added the same way: the prompt of the flagged reply, the teacher's better reply as the target.

Training uses `transformers.Trainer` (full fine-tuning: the default student has 135M parameters, so there is
nothing to gain from adapters), writes into a temporary directory and moves it into place only when it is
complete, then registers a candidate `ModelVersion` for the `tutor` task. With `--evaluate`, the new version's
figures on MathDial's held-out qids (the dialogues it was not trained on) are stored with it, so activating
a worse version asks for confirmation.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import ApplicationError
from core.models import Job
from core.services import job_progress_set
from models_runtime import api as models
from models_runtime.api import ActivationNeedsConfirmation, ModelVersion, model_dir_for
from tutor.evaluation import dialogues_load, heldout
from tutor.policy.dialogue import STUDENT, TUTOR, DialogueTurn
from tutor.policy.plan import plan_from_dict
from tutor.policy.planning import reply_plan
from tutor.replies import TASK, reply_prompt

logger = logging.getLogger(__name__)

MAX_TARGET_TOKENS = 96  # a teacher's turn longer than this is cut: the product's replies are short
MIN_EXAMPLES = 8


@dataclass(frozen=True)
class ReplyExample:
    """One training pair: the product's prompt for a reply, and the reply a teacher gave."""

    messages: list[dict[str, str]]
    target: str
    source: str  # "mathdial" or "correction"


def _target_text(text: str) -> str:
    return " ".join(text.split())


def mathdial_examples(
    path: Path, *, split: str = "development", attempts_before_telling: int = 3
) -> list[ReplyExample]:
    """Every teacher turn of the MathDial CSV's `split`, with the prompt the product would send before it."""
    examples = []
    for dialogue in heldout(dialogues_load(path), split=split):
        so_far = [DialogueTurn(speaker=STUDENT, text=dialogue.incorrect_solution)]
        for turn in dialogue.turns:
            if turn.speaker == TUTOR and so_far[-1].speaker == STUDENT and turn.text.strip():
                plan = reply_plan(
                    facts=dialogue.facts,
                    dialogue=so_far,
                    attempts_before_telling=attempts_before_telling,
                    student_name=dialogue.name,
                )
                _, messages = reply_prompt(
                    statement=dialogue.facts.statement, student_message=so_far[-1].text, plan=plan
                )
                examples.append(ReplyExample(messages=messages, target=_target_text(turn.text), source="mathdial"))
            so_far.append(turn)
    return examples


def correction_examples() -> list[ReplyExample]:
    """Teachers' better replies to flagged tutor turns, with the prompt the flagged reply was written from."""
    from tutor.models import Turn

    examples = []
    flagged = (
        Turn.objects.filter(speaker=Turn.Speaker.TUTOR, is_flagged=True)
        .exclude(better_reply="")
        .select_related("session__problem", "reply_to")
        .order_by("pk")
    )
    for turn in flagged:
        stored = (turn.provenance or {}).get("policy")
        if not stored or turn.reply_to is None:
            continue
        plan = plan_from_dict(stored)
        _, messages = reply_prompt(
            statement=turn.session.problem.statement, student_message=turn.reply_to.text, plan=plan
        )
        examples.append(ReplyExample(messages=messages, target=_target_text(turn.better_reply), source="correction"))
    return examples


class _Progress:
    """A `transformers.TrainerCallback` that reports steps (built lazily: transformers loads on first use)."""

    @staticmethod
    def callback(progress: Callable[[int, int], None]) -> Any:
        from transformers import TrainerCallback

        class ProgressCallback(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                progress(state.global_step, state.max_steps)

        return ProgressCallback()


def tutor_model_train(
    examples: list[ReplyExample],
    *,
    output_dir: Path,
    base_dir: Path,
    epochs: float = 1.0,
    learning_rate: float = 5e-5,
    batch_size: int = 8,
    max_steps: int = -1,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune the model in `base_dir` on `examples` (loss on the teacher's reply only); save to `output_dir`."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # positions count from the prompt's first token, as when it is served
    end = tokenizer.eos_token or ""
    rows = []
    for example in examples:
        prompt = tokenizer.apply_chat_template(example.messages, add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(example.target + end, add_special_tokens=False)["input_ids"][:MAX_TARGET_TOKENS]
        rows.append(
            {
                "input_ids": prompt_ids + target_ids,
                "attention_mask": [1] * (len(prompt_ids) + len(target_ids)),
                "labels": [-100] * len(prompt_ids) + target_ids,
            }
        )
    has_gpu = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32, local_files_only=True)
    arguments = TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        per_device_train_batch_size=batch_size,
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=10,
        weight_decay=0.0,
        max_grad_norm=1.0,
        train_sampling_strategy="group_by_length",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=not has_gpu,
        bf16=has_gpu and torch.cuda.is_bf16_supported(),
        seed=seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=rows,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[_Progress.callback(progress)] if progress else None,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout; progress goes to `progress`
    result = trainer.train()
    model.save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    shutil.rmtree(output_dir / "trainer", ignore_errors=True)
    return {
        "examples": len(rows),
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 4),
        "epochs": epochs,
        "learning_rate": learning_rate,
        "seed": seed,
        "device": "cuda" if has_gpu else "cpu",
        "training_seconds": round(time.monotonic() - started, 1),
    }


def tutor_model_train_and_register(
    *,
    data: Path | None,
    split: str = "development",
    include_corrections: bool = True,
    name: str | None = None,
    epochs: float = 1.0,
    learning_rate: float = 5e-5,
    max_examples: int | None = None,
    max_steps: int = -1,
    seed: int = 0,
    evaluate: bool = False,
    evaluate_limit: int | None = None,
    activate: bool = False,
    user: Any = None,
    job_id: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train from the tutor's current model on MathDial teacher turns and teachers' corrections; register it.

    The new version starts from the model that serves the tutor now (so corrections accumulate on top of an
    earlier fine-tuning). Nothing is registered, and no files are left, if any step fails.
    """
    examples = mathdial_examples(data, split=split) if data is not None else []
    if include_corrections:
        examples += correction_examples()
    if max_examples:
        examples = examples[:max_examples]
    if len(examples) < MIN_EXAMPLES:
        raise ApplicationError(
            f"There are only {len(examples)} teacher replies to learn from (at least {MIN_EXAMPLES} are needed): "
            "give a MathDial CSV with --data, or let teachers write better replies to flagged turns first."
        )
    base = models.version_for_task(TASK)
    base_dir = model_dir_for(base)
    name = name or f"tutor-{timezone.now():%Y%m%d-%H%M%S}"
    target = Path(settings.MODELS_DIR) / name
    if target.exists() or ModelVersion.objects.filter(name=name).exists():
        raise ApplicationError(f"A model version called {name} already exists; choose another name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    working = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        info = tutor_model_train(
            examples,
            output_dir=working,
            base_dir=base_dir,
            epochs=epochs,
            learning_rate=learning_rate,
            max_steps=max_steps,
            seed=seed,
            progress=progress,
        )
        working.rename(target)
    except BaseException:
        shutil.rmtree(working, ignore_errors=True)
        raise
    sources = {
        source: sum(1 for example in examples if example.source == source) for source in ("mathdial", "correction")
    }
    metrics: dict[str, Any] = {"training": info, "examples": sources, "trained_on_split": split if data else None}
    try:
        version = models.version_register(
            name=name,
            base_model=base.base_model or base.name,
            kind="generator",
            location=str(target),
            tasks=[TASK],
            metrics=metrics,
            made_by_job=job_id,
            notes=(
                f"Fine-tuned from {base.name} on {sources['mathdial']} MathDial teacher turns"
                f"{f' ({split} qids)' if data else ''} and {sources['correction']} teachers' corrections."
            ),
        )
        if evaluate and data is not None and split == "development":
            figures = evaluate_version(version, data=data, limit=evaluate_limit)
            metrics["primary"] = "sacrebleu"
            metrics["heldout"] = {key: figures[key] for key in ("sacrebleu", "rouge_l", "model_text_kept")}
            metrics["heldout_dialogues"] = figures["dialogues"]
            version.metrics = metrics
            version.save(update_fields=["metrics"])
    except BaseException:
        ModelVersion.objects.filter(name=name).delete()
        shutil.rmtree(target, ignore_errors=True)
        raise
    result: dict[str, Any] = {"version": version.name, "location": str(target), "metrics": metrics, "activated": False}
    if activate:
        try:
            models.version_activate(
                version=version, task=TASK, user=user, reason="Trained by train_tutor_model with --activate"
            )
            result["activated"] = True
        except ActivationNeedsConfirmation as refusal:
            # It scores lower on the held-out qids than the version serving now: it stays a candidate, which an
            # admin may still activate on the models page, knowingly.
            result["not_activated"] = refusal.message
    return result


def evaluate_version(version: ModelVersion, *, data: Path, limit: int | None = None) -> dict[str, Any]:
    """Next-turn figures of `version` on the held-out qids of `data` (the part it was not trained on)."""
    from tutor.evaluation import evaluate_next_turn

    return evaluate_next_turn(path=data, limit=limit, use_model=True, split="heldout", version=version)


def tutor_model_training_run(*, job: Job) -> dict[str, Any]:
    """The admins' job: fine-tune the model serving the tutor on teachers' better replies (nothing else is
    read at run time). The result is a candidate version, compared and activated on the models page."""
    from tutor.selectors import better_reply_count

    count = better_reply_count()  # the figure the page showed; the examples are built once, by the training
    job_progress_set(job=job, progress=0, total=100, message=f"{count} better replies written by teachers")

    def progress(step: int, total: int) -> None:
        job_progress_set(job=job, progress=min(99, int(100 * step / max(total, 1))), total=100)

    return tutor_model_train_and_register(
        data=None,
        epochs=float(job.params.get("epochs", 3.0)),
        max_steps=int(job.params.get("max_steps", -1)),
        job_id=str(job.pk),
        user=job.created_by,
        progress=progress,
    )
