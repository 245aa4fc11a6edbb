"""Run configurations: `tiny` (tests: every step for real, in seconds), `cpu` (a small run on a 2-core machine,
under 20 minutes on a quiet one), `gpu` (a lent GPU). A run stores its whole configuration and seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from core.errors import ApplicationError


@dataclass(frozen=True)
class RunConfig:
    seeds: int  # seed items drawn from the registered data set's training part
    drafts: int  # K candidates per seed item (the product's retrieval-and-consensus text is one of them)
    dev_pool: int  # development items scored; the most discriminative `dev_items` of them rank the drafts
    dev_items: int
    dpo_steps: int
    dpo_batch: int
    dpo_learning_rate: float
    lora_rank: int
    sft_steps: int
    sft_batch: int
    sft_learning_rate: float
    eval_items: int  # held-out answers measured (0: all of the held-out part)
    max_new_tokens: int
    temperature: float
    generation_batch: int
    score_batch: int
    max_length: int
    bank_per_question: int = 0  # 0: every training answer of the questions involved is a retrieval example

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, RunConfig] = {
    "tiny": RunConfig(
        seeds=3,
        drafts=2,
        dev_pool=3,
        dev_items=2,
        dpo_steps=1,
        dpo_batch=1,
        dpo_learning_rate=1e-4,
        lora_rank=4,
        sft_steps=2,
        sft_batch=1,
        sft_learning_rate=5e-5,
        eval_items=2,
        max_new_tokens=20,
        temperature=0.8,
        generation_batch=4,
        score_batch=4,
        max_length=1152,
        bank_per_question=3,
    ),
    "cpu": RunConfig(
        seeds=32,
        drafts=3,
        dev_pool=4,
        dev_items=2,
        dpo_steps=6,
        dpo_batch=2,
        dpo_learning_rate=2e-4,
        lora_rank=8,
        sft_steps=12,
        sft_batch=4,
        sft_learning_rate=5e-5,
        eval_items=40,
        max_new_tokens=48,
        temperature=0.8,
        generation_batch=8,
        score_batch=8,
        max_length=1152,
        bank_per_question=40,
    ),
    "gpu": RunConfig(
        seeds=600,
        drafts=8,
        dev_pool=48,
        dev_items=16,
        dpo_steps=300,
        dpo_batch=8,
        dpo_learning_rate=2e-4,
        lora_rank=16,
        sft_steps=400,
        sft_batch=16,
        sft_learning_rate=5e-5,
        eval_items=0,
        max_new_tokens=80,
        temperature=0.8,
        generation_batch=64,
        score_batch=64,
        max_length=1536,
    ),
}


def config_for(name: str, **overrides: Any) -> RunConfig:
    if name not in PRESETS:
        raise ApplicationError(f"Unknown configuration “{name}”: choose one of {', '.join(PRESETS)}.")
    return replace(PRESETS[name], **{key: value for key, value in overrides.items() if value is not None})


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    return RunConfig(**values)
