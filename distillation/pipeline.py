"""The ARTE pipeline (Aligning Teacher with Student Preferences), one function per step.

Each step reads what earlier steps left in the run's directory (`MODELS_DIR/distillation/run-<id>/`), writes its
own artifacts atomically (a temporary file or directory renamed into place) and returns its figures. A step that
fails or is cancelled leaves the earlier steps' artifacts as they were, so a resumed run continues from it.

1. draft: for each seed item the teacher writes K candidates: sampled from privileged views (teachers' feedback
   on two different sets of similar graded answers, the reference and the verdict), plus the product's own
   retrieval-and-consensus text; each is checked by the product's checks and scored by how much the views agree.
2. prefer: each kept draft is the one in-context example for development items; its score is the gain in the
   student's mean log-likelihood of the teachers' feedback on them (ARTE's proxy), measured on the development
   items that discriminate most between drafts. Drafts are ranked; (best, worst) pairs are built per seed, and
   teachers' corrections add (edited, machine) pairs.
3. align: a local teacher is trained with DPO on those pairs (TRL, LoRA adapter, merged); a remote one keeps the
   preferred drafts (best of K).
4. generate: the aligned teacher writes each seed item's example again; the tailored example is the student's
   preferred one of (aligned teacher's, best draft). The tailored set and the untailored baseline set (the first
   teacher draft per seed, same size) are registered as data set versions.
5. distill: the student is fine-tuned (TRL SFTTrainer) on each set; corrections count `CORRECTION_WEIGHT` times.
6. evaluate: model-written feedback (the product's prompt, no retrieval choice) on the held-out answers, ROUGE-L
   and sacreBLEU (grading.evaluation.text_similarity), for the base student, the untailored and the tailored one;
   the tailored student is registered as a candidate version with the figures beside the active version's.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from core.errors import ApplicationError
from distillation import lm
from distillation.config import RunConfig
from models_runtime import api as models

CORRECTION_WEIGHT = 3
AGREEMENT_MIN = 0.2
MIN_SEEDS = 2

Report = Callable[..., None]  # report(done, total, message="") : progress, live log, cancellation


class NoUsableItemsError(ApplicationError):
    code = "no_usable_items"


def run_dir(run_id: int) -> Path:
    """The run's working directory; named by database too, so that two databases' run 1 never share one."""
    from django.db import connection

    database = Path(str(connection.settings_dict["NAME"])).name
    return Path(settings.MODELS_DIR) / "distillation" / f"{database}-run-{run_id}"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    if not path.exists():
        raise ApplicationError(f"{path.name} is missing from the run's directory: run the earlier steps again.")
    return json.loads(path.read_text(encoding="utf-8"))


class Context:
    """What the steps share: the run's configuration, seed, data and directory; the bank is built once."""

    def __init__(
        self,
        *,
        run_id: int,
        config: RunConfig,
        seed: int,
        rows: list[dict[str, Any]],
        report: Report,
        adapter: Any = None,
    ):
        from distillation.adapters import adapter_for

        self.run_id, self.config, self.seed, self.report = run_id, config, seed, report
        self.adapter = adapter if adapter is not None else adapter_for("feedback")
        self.directory = run_dir(run_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rows = rows
        self._bank: Any = None
        self._split: dict[str, list[dict[str, Any]]] | None = None

    def split(self) -> dict[str, list[dict[str, Any]]]:
        if self._split is None:
            adapter = self.adapter
            usable = [row for row in self.rows if adapter.usable(row)]
            by_split: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "heldout": []}
            for row in usable:
                by_split.setdefault(row.get("split", "train"), []).append(row)
            rng = random.Random(self.seed)
            train = list(by_split["train"])
            rng.shuffle(train)
            seeds = train[: self.config.seeds]
            seed_keys = {adapter.key(row) for row in seeds}
            dev = list(by_split["dev"])
            random.Random(self.seed + 1).shuffle(dev)
            heldout = sorted(by_split["heldout"], key=lambda row: (row["question"], adapter.key(row)))
            random.Random(0).shuffle(heldout)  # the same held-out answers for every run and seed
            if self.config.eval_items:
                heldout = heldout[: self.config.eval_items]
            self._split = {
                "seeds": seeds,
                "bank": [row for row in train if adapter.key(row) not in seed_keys],
                "dev": dev[: self.config.dev_pool],
                "heldout": heldout,
                "corrections": adapter.corrections(),
            }
        return self._split

    def bank(self) -> Any:
        """The task's bank of teachers' texts the prompts' examples come from (built and embedded once)."""
        if self._bank is None:
            self._bank = self.adapter.bank_for(
                self.split(), config=self.config, cache=self.directory / "embeddings.npz", report=self.report
            )
        return self._bank


def _teacher() -> tuple[Any, str]:
    """The teacher backend: the task `teacher`'s version; remote (OpenAI API, e.g. vLLM) or local files."""
    version = models.version_for_task("teacher")
    backend = "openai" if version.backend == models.ModelVersion.Backend.OPENAI else "local"
    return version, backend


def teacher_label() -> str:
    version, backend = _teacher()
    return f"{backend}:{version.name}"


def _remote_generate(conversations: list[Any], *, samples: int, config: RunConfig, report: Report) -> list[list[str]]:
    outputs: list[list[str]] = [[] for _ in conversations]
    for sample in range(samples):
        for start in range(0, len(conversations), config.generation_batch):
            chunk = conversations[start : start + config.generation_batch]
            generations = models.chat_batch(
                task="teacher",
                conversations=chunk,
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature if samples > 1 or sample else 0.0,
            )
            for offset, generation in enumerate(generations):
                outputs[start + offset].append(generation.text)
            report(sample * len(conversations) + start + len(chunk), samples * len(conversations))
    return outputs


def step_draft(context: Context) -> dict[str, Any]:
    adapter = context.adapter
    config, split = context.config, context.split()
    seeds = split["seeds"]
    if len(seeds) < MIN_SEEDS:
        raise NoUsableItemsError(
            f"The data set has {len(seeds)} usable seed item(s) in its training part (at least {MIN_SEEDS} are "
            "needed: an answer, a label and a teacher's feedback). Nothing was drafted."
        )
    if not split["dev"] or not split["heldout"]:
        raise NoUsableItemsError("The data set has no usable development or held-out answers; nothing was drafted.")
    bank = context.bank()
    version, backend = _teacher()
    generated = max(config.drafts - 1, 1)
    conversations, views = [], []
    for row in seeds:
        for index in range(generated):
            view = adapter.VIEWS[index % len(adapter.VIEWS)]
            conversations.append(adapter.teacher_messages(row, bank, view))
            views.append(view)
    context.report(0, len(conversations), f"The teacher ({backend}:{version.name}) drafts {len(conversations)} texts")

    def tick(done: int, total: int) -> None:
        context.report(done, total)

    if backend == "openai":
        texts = [options[0] for options in _remote_generate(conversations, samples=1, config=config, report=tick)]
    else:
        teacher = lm.LocalLM(models.model_dir_for(version))
        texts = [
            options[0]
            for options in teacher.generate(
                conversations,
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature,
                seed=context.seed,
                batch_size=config.generation_batch,
                tick=tick,
            )
        ]
    consensus = adapter.product_consensus(seeds, bank) if config.drafts > 1 else [""] * len(seeds)
    records: list[dict[str, Any]] = []
    for position, row in enumerate(seeds):
        own = texts[position * generated : (position + 1) * generated]
        drafts: list[dict[str, Any]] = [
            {"text": adapter.clean(text), "view": views[position * generated + i], "source": "teacher"}
            for i, text in enumerate(own)
        ]
        if config.drafts > 1:
            drafts.append({"text": consensus[position], "view": "product_consensus", "source": "retrieval"})
        for draft in drafts:
            draft["check"] = adapter.check(draft["text"], row)
            others = [other["text"] for other in drafts if other["view"] != draft["view"] and other["text"]]
            draft["agreement"] = (
                round(float(np.mean([adapter.agreement(draft["text"], other) for other in others])), 4)
                if others and draft["text"]
                else 0.0
            )
            draft["rationale"] = (
                f"{draft['view']} view; ROUGE-L agreement with the other views {draft['agreement']:.2f}"
                + (f"; refused by the product's checks: {draft['check']}" if draft["check"] else "")
            )
        passing = [draft for draft in drafts if not draft["check"]]
        best = max(passing, key=lambda d: d["agreement"]) if passing else None
        for draft in drafts:
            draft["kept"] = not draft["check"] and (draft["agreement"] >= AGREEMENT_MIN or draft is best)
        records.append({"seed": row, "drafts": drafts})
    write_json(context.directory / "drafts.json", {"teacher": f"{backend}:{version.name}", "records": records})
    all_drafts: list[dict[str, Any]] = [draft for record in records for draft in record["drafts"]]
    return {
        "teacher": f"{backend}:{version.name}",
        "seed_items": len(seeds),
        "drafts": len(all_drafts),
        "passing_checks": sum(1 for d in all_drafts if not d["check"]),
        "kept": sum(1 for d in all_drafts if d["kept"]),
        "mean_agreement": round(float(np.mean([d["agreement"] for d in all_drafts])), 4),
        "corrections": len(split["corrections"]),
    }


def _score_drafts(
    context: Context, scorer: lm.LocalLM, candidates: list[tuple[dict[str, Any], str]], dev: list[dict[str, Any]]
) -> np.ndarray:
    """matrix[c, j]: gain in mean log-likelihood of dev item j's gold output with candidate c in context."""
    adapter = context.adapter
    pairs = [pair for row, text in candidates for pair in adapter.preference_pairs_for(row, text, dev)]
    baseline = np.array(scorer.target_logprob(adapter.baseline_pairs(dev), batch_size=context.config.score_batch))

    def tick(done: int, total: int) -> None:
        context.report(done, total)

    scores = scorer.target_logprob(pairs, batch_size=context.config.score_batch, tick=tick)
    return np.array(scores).reshape(len(candidates), len(dev)) - baseline[None, :]


def step_prefer(context: Context) -> dict[str, Any]:
    adapter = context.adapter
    config, split = context.config, context.split()
    drafts = read_json(context.directory / "drafts.json")["records"]
    candidates = [
        (record["seed"], draft["text"], (r, d))
        for r, record in enumerate(drafts)
        for d, draft in enumerate(record["drafts"])
        if draft["kept"]
    ]
    if not candidates:
        raise NoUsableItemsError("No draft passed the product's checks; there is nothing to rank.")
    scorer = lm.LocalLM(models.model_dir_for(models.version_for_task(adapter.TASK)))
    context.report(0, len(candidates) * len(split["dev"]), f"Scoring {len(candidates)} drafts in context")
    matrix = _score_drafts(context, scorer, [(c[0], c[1]) for c in candidates], split["dev"])
    # ARTE keeps the development items that tell drafts apart: the highest variance of the gain across drafts.
    variance = matrix.var(axis=0)
    chosen_dev = sorted(np.argsort(-variance)[: config.dev_items].tolist())
    scores = matrix[:, chosen_dev].mean(axis=1)
    for (_, _, (r, d)), score in zip(candidates, scores, strict=True):
        drafts[r]["drafts"][d]["preference"] = round(float(score), 5)
    pairs = []
    for record in drafts:
        ranked = sorted((draft for draft in record["drafts"] if "preference" in draft), key=lambda d: -d["preference"])
        for rank, draft in enumerate(ranked):
            draft["rank"] = rank
        rejected = [draft for draft in record["drafts"] if draft is not ranked[0]] if ranked else []
        if ranked and rejected:
            worst = min(rejected, key=lambda d: d.get("preference", -1e9) if not d["check"] else -1e9)
            if worst["text"] and worst["text"] != ranked[0]["text"]:
                pairs.append({"seed": record["seed"], "chosen": ranked[0]["text"], "rejected": worst["text"]})
    corrections = [
        {"seed": row, "chosen": row[adapter.TARGET], "rejected": row["machine_text"], "source": "correction"}
        for row in split["corrections"]
    ]
    write_json(context.directory / "drafts.json", {**read_json(context.directory / "drafts.json"), "records": drafts})
    write_json(
        context.directory / "preferences.json",
        {"pairs": pairs + corrections, "dev_items": [adapter.key(split["dev"][i])[:80] for i in chosen_dev]},
    )
    winners = [r["drafts"][0] for r in drafts if r["drafts"]]
    best_views = [next((d["view"] for d in r["drafts"] if d.get("rank") == 0), "") for r in drafts]
    return {
        "drafts_scored": len(candidates),
        "dev_pool": len(split["dev"]),
        "dev_items_used": len(chosen_dev),
        "mean_gain": round(float(scores.mean()), 5),
        "best_gain": round(float(scores.max()), 5),
        "pairs": len(pairs),
        "correction_pairs": len(corrections),
        "preferred_view_share": {
            view: round(best_views.count(view) / max(len(best_views), 1), 3)
            for view in (*adapter.VIEWS, "product_consensus")
        },
        "seeds_with_drafts": len(winners),
    }


def step_align(context: Context) -> dict[str, Any]:
    adapter = context.adapter
    config = context.config
    version, backend = _teacher()
    pairs = read_json(context.directory / "preferences.json")["pairs"]
    if backend == "openai" or not pairs:
        return {
            "mode": "best_of_k",
            "why": "remote teacher: its weights cannot be trained here" if backend == "openai" else "no pairs",
            "pairs": len(pairs),
        }
    bank = context.bank()
    rows = [
        {
            "prompt": adapter.teacher_messages(pair["seed"], bank, adapter.VIEWS[0]),
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}],
        }
        for pair in pairs
    ]

    def tick(done: int, total: int) -> None:
        context.report(done, total, f"DPO step {done} of {total}")

    info = lm.dpo_train_lora(
        base_dir=models.model_dir_for(version),
        rows=rows,
        output_dir=context.directory / "teacher",
        steps=config.dpo_steps,
        batch_size=config.dpo_batch,
        learning_rate=config.dpo_learning_rate,
        rank=config.lora_rank,
        max_length=config.max_length,
        seed=context.seed,
        tick=tick,
    )
    return {"mode": "dpo_lora", **info}


def _dataset_register(
    adapter: Any, *, slug: str, name: str, rows: list[dict[str, Any]], run_id: int, description: str
) -> Any:
    from datasets_admin.services import dataset_register, dataset_version_lock

    with transaction.atomic():  # registered and locked together, or not at all
        version = dataset_register(
            slug=slug,
            name=name,
            kind="training_set",
            owner_app="distillation",
            source=f"Distillation run {run_id} from {adapter.SOURCE}",
            license=adapter.LICENSE,
            rows=rows,
            description=description,
        )
        return dataset_version_lock(version=version, job_id=f"distillation-run-{run_id}")


def step_generate(context: Context) -> dict[str, Any]:
    adapter = context.adapter
    config, split = context.config, context.split()
    drafts = read_json(context.directory / "drafts.json")
    records = drafts["records"]
    teacher_dir = context.directory / "teacher"
    bank = context.bank()
    aligned_texts: list[str] = []
    aligned_scores: list[float] = []
    if teacher_dir.exists():
        teacher = lm.LocalLM(teacher_dir)
        conversations = [adapter.teacher_messages(record["seed"], bank, adapter.VIEWS[0]) for record in records]

        def tick(done: int, total: int) -> None:
            context.report(done, total, "The aligned teacher writes the tailored set")

        aligned_texts = [
            adapter.clean(options[0])
            for options in teacher.generate(
                conversations, max_new_tokens=config.max_new_tokens, batch_size=config.generation_batch, tick=tick
            )
        ]
        del teacher
        preferences = read_json(context.directory / "preferences.json")
        dev_by_answer = {adapter.key(row)[:80]: row for row in split["dev"]}
        dev = [dev_by_answer[key] for key in preferences["dev_items"] if key in dev_by_answer] or split["dev"]
        scorer = lm.LocalLM(models.model_dir_for(models.version_for_task(adapter.TASK)))
        matrix = _score_drafts(
            context, scorer, [(r["seed"], t or ".") for r, t in zip(records, aligned_texts, strict=True)], dev
        )
        aligned_scores = matrix.mean(axis=1).tolist()
    tailored, untailored = [], []
    from_aligned = 0
    for position, record in enumerate(records):
        row = record["seed"]
        ranked = sorted((d for d in record["drafts"] if "preference" in d), key=lambda d: -d["preference"])
        best = ranked[0] if ranked else None
        choice, source = (best["text"], f"best_of_k:{best['view']}") if best else ("", "")
        if (
            aligned_texts
            and not adapter.check(aligned_texts[position], row)
            and (best is None or aligned_scores[position] >= best["preference"])
        ):
            choice, source = aligned_texts[position], "aligned_teacher"
            from_aligned += 1
        if not choice:
            continue
        first = next(
            (d for d in record["drafts"] if d["source"] == "teacher" and not d["check"]),
            next((d for d in record["drafts"] if d["source"] == "teacher"), None),
        )
        common = {
            **adapter.training_row(row),
            "weight": 1,
            "teacher": drafts["teacher"],
            "policy_version": adapter.POLICY_VERSION,
            "prompt_template": adapter.TEACHER_PROMPT.label,
        }
        tailored.append({**common, adapter.TARGET: choice, "source": source})
        if first is not None:
            untailored.append({**common, adapter.TARGET: first["text"], "source": f"first_draft:{first['view']}"})
    if not tailored:
        raise NoUsableItemsError(
            "Neither the aligned teacher nor the drafts gave a usable example; nothing was registered."
        )
    size = min(len(tailored), len(untailored))
    tailored, untailored = tailored[:size], untailored[:size]
    for correction in split["corrections"]:
        extra = {
            **adapter.training_row(correction),
            adapter.TARGET: correction[adapter.TARGET],
            "weight": CORRECTION_WEIGHT,
            "source": "teacher_correction",
            "teacher": "a teacher",
            "policy_version": adapter.POLICY_VERSION,
            "prompt_template": "",
        }
        tailored.append(extra)
        untailored.append(extra)
    registered = {}
    for name, rows in (("tailored", tailored), ("untailored", untailored)):
        title, description = adapter.TRAINING_SET_TEXT[name]
        registered[name] = _dataset_register(
            adapter,
            slug=f"arte-{adapter.TASK}-{name}",
            name=title,
            rows=rows,
            run_id=context.run_id,
            description=f"{description} (distillation app)",
        )
    tailored_version, untailored_version = registered["tailored"], registered["untailored"]
    write_json(context.directory / "sets.json", {"tailored": tailored, "untailored": untailored})
    return {
        "tailored_rows": len(tailored),
        "untailored_rows": len(untailored),
        "from_aligned_teacher": from_aligned,
        "from_best_of_k": size - from_aligned,
        "tailored_dataset": f"{tailored_version.dataset.slug} v{tailored_version.number}",
        "untailored_dataset": f"{untailored_version.dataset.slug} v{untailored_version.number}",
        "mean_length_words": round(float(np.mean([len(r[adapter.TARGET].split()) for r in tailored])), 1),
    }


def _sft_rows(context: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    adapter, bank = context.adapter, context.bank()
    out = []
    for row in rows:
        example = {
            "prompt": adapter.student_messages(row, bank),
            "completion": [{"role": "assistant", "content": row[adapter.TARGET]}],
        }
        out.extend([example] * max(int(row.get("weight", 1)), 1))
    random.Random(context.seed).shuffle(out)
    return out


def step_distill(context: Context) -> dict[str, Any]:
    adapter = context.adapter
    config = context.config
    sets = read_json(context.directory / "sets.json")
    base_dir = models.model_dir_for(models.version_for_task(adapter.TASK))
    figures: dict[str, Any] = {}
    names = ("untailored", "tailored")
    for number, name in enumerate(names):
        target = context.directory / f"student-{name}"
        if target.exists() and (context.directory / f"student-{name}.json").exists():
            figures[name] = read_json(context.directory / f"student-{name}.json")
            continue

        def tick(done: int, total: int, number: int = number, name: str = name) -> None:
            context.report(number * total + done, len(names) * total, f"SFT of the student on the {name} set")

        info = lm.sft_train(
            base_dir=base_dir,
            rows=_sft_rows(context, sets[name]),
            output_dir=target,
            steps=config.sft_steps,
            batch_size=config.sft_batch,
            learning_rate=config.sft_learning_rate,
            max_length=config.max_length,
            seed=context.seed,
            tick=tick,
        )
        write_json(context.directory / f"student-{name}.json", info)
        figures[name] = info
    return figures


def model_written(context: Context, model_dir: Path, rows: list[dict[str, Any]], tick: Any = None) -> list[str]:
    """What a model writes by itself with the product's own prompt (greedy), cleaned as the product does."""
    adapter, bank = context.adapter, context.bank()
    writer = lm.LocalLM(model_dir)
    conversations = [adapter.student_messages(row, bank) for row in rows]
    texts = writer.generate(
        conversations,
        max_new_tokens=context.config.max_new_tokens,
        batch_size=context.config.generation_batch,
        tick=tick,
    )
    return [adapter.clean(options[0]) for options in texts]


def step_evaluate(context: Context, *, job_id: str = "") -> dict[str, Any]:
    adapter = context.adapter
    heldout, bank = context.split()["heldout"], context.bank()
    active = models.version_for_task(adapter.TASK)
    models_to_measure = {
        "base": models.model_dir_for(active),
        "untailored": context.directory / "student-untailored",
        "tailored": context.directory / "student-tailored",
    }

    def written(directory: Path, rows: list[dict[str, Any]], position: tuple[int, int, str]) -> list[str]:
        number, count, name = position

        def tick(done: int, total: int) -> None:
            context.report(number * total + done, count * total, f"Measuring the {name} student")

        return model_written(context, directory, rows, tick=tick)

    figures, samples = adapter.evaluate(written, models_to_measure, heldout, bank, active=active)
    write_json(context.directory / "evaluation.json", {"figures": figures, "samples": samples})
    name = f"{adapter.TASK}-arte-r{context.run_id}-s{context.seed}"
    if models.ModelVersion.objects.filter(name=name).exists():
        figures["candidate"] = name  # registered by an earlier attempt of this step
        return figures
    final = context.directory / "candidate"
    if not final.exists():
        shutil.copytree(models_to_measure["tailored"], context.directory / ".candidate-copy")
        (context.directory / ".candidate-copy").rename(final)
    metrics = {
        "primary": adapter.PRIMARY,
        "heldout": figures["tailored"],
        "comparison": {key: value for key, value in figures.items() if isinstance(value, dict)},
        "active_version": {"name": active.name, "heldout": figures["base"]},
        "heldout_items": len(heldout),
        "distillation_run": context.run_id,
        "policy_version": adapter.POLICY_VERSION,
        **adapter.CANDIDATE_METRICS,
    }
    version = models.version_register(
        name=name,
        base_model=active.base_model or active.name,
        kind="generator",
        location=str(final),
        tasks=[adapter.TASK],
        metrics=metrics,
        made_by_job=job_id,
        notes=f"ARTE-distilled by run {context.run_id} ({context.config.seeds} seed items, teacher {teacher_label()}).",
    )
    figures["candidate"] = version.name
    for heavy in ("teacher", "student-untailored", "student-tailored"):
        shutil.rmtree(context.directory / heavy, ignore_errors=True)  # the candidate keeps the tailored weights
    return figures


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "draft": step_draft,
    "prefer": step_prefer,
    "align": step_align,
    "generate": step_generate,
    "distill": step_distill,
    "evaluate": step_evaluate,
}
