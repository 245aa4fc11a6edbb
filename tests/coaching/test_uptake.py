"""The shipped uptake model: loads, ranks an uptake-rich reply above a bare one, and keeps its held-out figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from coaching.uptake import (
    FEATURE_VERSION,
    UPTAKE_MODEL_DIR,
    pair_vectors,
    uptake_evaluate,
    uptake_exchanges_read,
    uptake_model_load,
    uptake_model_read,
)
from core.errors import ApplicationError


def test_a_reply_that_builds_on_the_student_scores_higher_than_okay() -> None:
    model = uptake_model_load()
    student = "I think three fourths is bigger because the pieces are closer to a whole."
    (built, built_label), (bare, bare_label) = model.predict(
        [student, student],
        ["So you think the pieces of three fourths are closer to a whole? Why closer?", "Okay. Next one."],
    )
    assert built > bare
    assert built_label >= bare_label
    assert {built_label, bare_label} <= {0, 1, 2}


def test_the_held_out_observations_reach_the_figures_recorded_with_the_model() -> None:
    model = uptake_model_load()
    exchanges = uptake_exchanges_read(UPTAKE_MODEL_DIR / "heldout_exchanges.csv")
    heldout = set(model.meta["figures"]["heldout_observation_ids"])
    assert {e.obs_id for e in exchanges} == heldout  # whole observations, none of them trained on
    assert not model.meta["refit_on_all"]
    figures = uptake_evaluate(model, exchanges)
    assert figures["uptake_spearman"] == model.meta["figures"]["heldout"]["uptake_spearman"]
    assert figures["uptake_spearman"] > figures["word_overlap_spearman"]
    assert figures["uptake_accuracy"] > figures["majority_class_accuracy"]


def test_the_pair_vector_reads_the_student_turn_and_does_not_depend_on_its_batch() -> None:
    reply = "So you think the pieces are closer to a whole?"
    student = "The pieces of three fourths are closer to a whole."
    (alone,) = pair_vectors([student], [reply])
    batched = pair_vectors(
        [student, "I counted every one of the tiles on the long side and then the short side, " * 4, "Seven."],
        [reply, "Okay, and what did you get when you multiplied them together?", reply],
    )
    assert np.allclose(alone, batched[0], atol=1e-5)  # padding in a longer batch changes nothing
    assert np.isclose(float(np.linalg.norm(alone)), 1.0, atol=1e-5)
    # The same reply after another student turn is read differently: the reply's tokens attend to the student's.
    assert float(alone @ batched[2]) < 0.999


def test_a_model_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    for name in ("weights.npz", "model.json"):
        shutil.copy(UPTAKE_MODEL_DIR / name, tmp_path / name)
    meta = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert meta["feature_version"] == FEATURE_VERSION
    (tmp_path / "model.json").write_text(json.dumps({**meta, "feature_version": 1}), encoding="utf-8")
    with pytest.raises(ApplicationError, match=r"trained on other features \(version 1\)"):
        uptake_model_read(tmp_path)
