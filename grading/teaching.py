"""Which answers a teacher should grade first so the grader learns most: one rule, for the review queue
and for `evaluate_grader --teacher-graded K`.

The grader learns most from the answers it is least sure of, and from answers unlike the ones already
graded. So the order takes groups of similar answers (same question, same predicted label, close
sentence embeddings) in turns: in each round, the least confident answer not yet taken of every group,
the groups ordered by that answer's confidence. A group of twenty near-identical answers then costs the
teacher one look before every other group has had one. Ties are broken by a seeded shuffle.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

GROUP_THRESHOLD = 0.88


def similar_groups(
    question_keys: Sequence[object], labels: Sequence[str], vectors: np.ndarray, *, threshold: float = GROUP_THRESHOLD
) -> list[int]:
    """A group number per item: items of the same question and label whose embedding is within `threshold`
    (cosine) of the group's first member share it; every other item is a group of its own."""
    groups: list[int] = []
    leaders: list[int] = []
    for index in range(len(labels)):
        for leader in leaders:
            if (
                question_keys[leader] == question_keys[index]
                and labels[leader] == labels[index]
                and float(vectors[index] @ vectors[leader]) >= threshold
            ):
                groups.append(groups[leader])
                break
        else:
            leaders.append(index)
            groups.append(index)
    return groups


def teaching_order(confidences: Sequence[float], groups: Sequence[int], *, seed: int = 0) -> list[int]:
    """Indices of the items in the order a teacher should grade them (see the module's docstring)."""
    rng = random.Random(seed)
    tie = list(range(len(confidences)))
    rng.shuffle(tie)
    by_group: dict[int, list[int]] = {}
    for index in sorted(range(len(confidences)), key=lambda i: (confidences[i], tie[i])):
        by_group.setdefault(groups[index], []).append(index)
    queues = list(by_group.values())
    order: list[int] = []
    while queues:
        heads = sorted(queues, key=lambda q: (confidences[q[0]], tie[q[0]]))
        for queue in heads:
            order.append(queue.pop(0))
        queues = [queue for queue in heads if queue]
    return order
