"""The shipped uptake model: loads, ranks an uptake-rich reply above a bare one, and keeps its held-out figures."""

from __future__ import annotations

from coaching.uptake import UPTAKE_MODEL_DIR, uptake_evaluate, uptake_exchanges_read, uptake_model_load


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
