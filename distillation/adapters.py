"""The task adapters of the ARTE pipeline (one module per task; the pipeline itself is task-free).

An adapter names its task (`TASK`), its gold output's row key (`TARGET`), its seed data set (`source_rows`,
`DATASET_SLUG`, `SOURCE`, `LICENSE`) and provides: `key`, `usable`, `bank_for`, `student_messages` (the
product's own prompt), `teacher_messages` (privileged `VIEWS`), `product_consensus` (the product's text without
a model), `clean`, `check` (the product's own checks), `agreement`, `preference_pairs_for`/`baseline_pairs`
(ARTE's student-preference proxy), `corrections` (teachers' corrections), `training_row` and `evaluate`
(held-out figures with the product's own measures; `PRIMARY` is the one versions are compared on).
"""

from __future__ import annotations

from types import ModuleType

from core.errors import ApplicationError
from distillation import feedback_task, tutor_task

ADAPTERS: dict[str, ModuleType] = {feedback_task.TASK: feedback_task, tutor_task.TASK: tutor_task}


def adapter_for(task: str) -> ModuleType:
    try:
        return ADAPTERS[task]
    except KeyError:
        raise ApplicationError(
            f"Task “{task}” has no distillation adapter; these have one: {', '.join(sorted(ADAPTERS))}."
        ) from None
