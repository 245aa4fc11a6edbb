"""The cross-encoder: all-MiniLM-L6-v2 fine-tuned on "reference [SEP] answer" pairs with a 3-way label head
and a score head."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from grading.grader_model.config import GraderConfig


def _bf16_ok() -> bool:
    """bf16 autocast halves CPU time where the CPU has bf16 instructions; elsewhere it is emulated."""
    from models_runtime.api import cpu_has_bf16

    return not os.environ.get("GRADER_DISABLE_BF16") and cpu_has_bf16()


def _encoder_class() -> type:
    from torch import nn

    class CrossEncoder(nn.Module):
        def __init__(self, encoder: nn.Module, hidden: int) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(0.1)
            self.label_head = nn.Linear(hidden, 3)
            self.score_head = nn.Linear(hidden, 1)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            # Mean pooling, as all-MiniLM-L6-v2 was trained with: a better start than [CLS].
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
            return self.label_head(pooled).float(), self.score_head(pooled).float().squeeze(-1)

    return CrossEncoder


def _pair_tokens(tokenizer: Any, references: list[list[str]], answers: list[str], max_length: int) -> dict:
    firsts = [" | ".join(refs) for refs in references]
    return tokenizer(firsts, answers, truncation="longest_first", max_length=max_length)


def _collate(encoded: dict, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    length = max(len(encoded["input_ids"][i]) for i in rows)
    ids = torch.zeros((len(rows), length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for r, i in enumerate(rows):
        n = len(encoded["input_ids"][i])
        ids[r, :n] = torch.tensor(encoded["input_ids"][i])
        mask[r, :n] = 1
        types[r, :n] = torch.tensor(encoded["token_type_ids"][i])
    return ids, mask, types


def _train_encoder(
    references: list[list[str]],
    answers: list[str],
    labels: np.ndarray,
    scores: np.ndarray,
    config: GraderConfig,
    seed: int,
    tick: Callable[[], None],
) -> tuple[Any, Any, dict]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from models_runtime.api import embedding_model_path

    torch.manual_seed(seed)
    rng = random.Random(seed)
    base = str(embedding_model_path())
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    encoder = AutoModel.from_pretrained(base, local_files_only=True)
    # The word-embedding matrix is half of MiniLM's weights: freezing it halves the optimiser's work
    # and keeps a thousand examples from drifting rare-word vectors.
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    model = _encoder_class()(encoder, encoder.config.hidden_size)
    encoded = _pair_tokens(tokenizer, references, answers, config.max_length)
    n = len(answers)
    steps = config.epochs * math.ceil(n / config.batch_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    y = torch.tensor(labels, dtype=torch.long)
    target = torch.tensor(scores, dtype=torch.float32)
    bf16 = _bf16_ok()
    lengths = [len(ids) for ids in encoded["input_ids"]]
    losses = []
    model.train()
    for _ in range(config.epochs):
        # Shuffled, then sorted by length within chunks of 20 batches: little padding, still random.
        order = list(range(n))
        rng.shuffle(order)
        chunk = config.batch_size * 20
        batches = []
        for start in range(0, n, chunk):
            part = sorted(order[start : start + chunk], key=lengths.__getitem__)
            batches += [part[j : j + config.batch_size] for j in range(0, len(part), config.batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for rows in batches:
            ids, mask, types = _collate(encoded, rows)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits, score = model(ids, mask, types)
            loss = torch.nn.functional.cross_entropy(logits, y[rows])
            loss = loss + config.score_loss_weight * torch.nn.functional.mse_loss(torch.sigmoid(score), target[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss.detach()) * len(rows)
            tick()
        losses.append(round(total / n, 4))
    model.eval()
    return model, tokenizer, {"encoder_epoch_losses": losses, "bf16": bf16}


def _encoder_logits(
    model: Any, tokenizer: Any, references: list[list[str]], answers: list[str], max_length: int, batch_size: int
) -> np.ndarray:
    import torch

    out = np.zeros((len(answers), 3), dtype=np.float64)
    if not answers:
        return out
    encoded = _pair_tokens(tokenizer, references, answers, max_length)
    order = sorted(range(len(answers)), key=lambda i: len(encoded["input_ids"][i]))
    bf16 = _bf16_ok()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            logits, _ = model(*_collate(encoded, rows))
            out[rows] = logits.float().numpy()
    return out
