from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from core.models import Job
from core.services import job_run
from datasets_admin.models import ClassifierVersion, Comment, Dataset, DatasetVersion, Lecture
from datasets_admin.services import classifier_training_run, classifier_training_start, comment_label_toggle

pytestmark = pytest.mark.django_db

VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:40.000\nToday we compute eigenvalues of a two by two matrix.\n\n"
    "00:00:40.000 --> 00:01:20.000\nThe trace is the sum and the determinant the product of the eigenvalues.\n\n"
    "00:01:20.000 --> 00:02:40.000\nNow singular values: the square roots of the eigenvalues of A transpose A.\n"
)


def test_import_commands_check_like_the_page(tmp_path, capsys) -> None:
    (tmp_path / "eig101.vtt").write_text(VTT, encoding="utf-8")
    metadata = {"video_id": "eig101", "title": "Eigenvalues", "date": "2024-03-01"}
    (tmp_path / "eig101.json").write_text(json.dumps(metadata))
    call_command("import_lectures", str(tmp_path), "--course", "linear-algebra")
    assert "1 new lectures, 0 replaced" in capsys.readouterr().out
    lecture = Lecture.objects.get()
    assert (lecture.title, str(lecture.recorded_on), lecture.course.code, lecture.is_timed) == (
        "Eigenvalues", "2024-03-01", "linear-algebra", True,
    )  # fmt: skip
    comments = tmp_path / "comments.json"
    comments.write_text(
        json.dumps(
            [
                {"comment": "Thank you professor, wonderful lecture!", "video_id": "eig101", "comment_id": "1"},
                {"comment": '=HYPERLINK("x")', "video_id": "eig101", "comment_id": "2"},
            ]
        )
    )
    call_command("import_comments", str(comments), "--json")
    result = json.loads(capsys.readouterr().out)
    assert (result["comments"], result["refused_count"]) == (1, 1)
    assert result["refused"][0]["row"] == 2 and "formula" in result["refused"][0]["message"]
    assert "gratitude" in Comment.objects.get().categories
    assert Dataset.objects.filter(slug="comments-linear-algebra").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("text,when\nhello,now\n")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_comments", str(bad))
    assert "lacks the column video_id" in capsys.readouterr().out
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_lectures", str(tmp_path / "missing.txt"))


def test_evaluate_prints_kappa_per_annotator_f1_and_macro_kappa(tmp_path, capsys) -> None:
    header = ["comment", "video_id"] + [f"annotator_H{h}_{c}" for h in (1, 2) for c in ("gratitude", "confusion")]
    rows = [
        ["Thank you so much, great lecture!", "v1", "1.0", "0.0", "1.0", "0.0"],
        ["Thanks MIT, this saved my exam", "v1", "1.0", "0.0", "1.0", "0.0"],
        ["I don't understand why the determinant is zero here?", "v1", "0.0", "1.0", "0.0", "1.0"],
        ["I'm confused, how did he get the second eigenvector?", "v1", "0.0", "1.0", "0.0", "0.0"],
        ["What a lecture", "v1", "0.0", "0.0", "0.0", "0.0"],
    ]
    path = tmp_path / "annotated.csv"
    path.write_text("\n".join(",".join(f'"{cell}"' for cell in row) for row in [header, *rows]) + "\n")
    call_command("evaluate_comment_classifier", "--data", str(path), "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["comments"] == 5
    assert set(result["categories"]) == {"gratitude", "confusion"}
    assert set(result["left_out"]) == {"general", "setup", "pedagogy", "personal_experience", "clarification",
                                       "bookmark", "non_english", "na"}  # fmt: skip
    for entry in result["categories"].values():
        assert set(entry) == {"n", "positives", "kappa_annotator_1", "kappa_annotator_2", "f1", "kappa"}
        assert entry["kappa"] == pytest.approx((entry["kappa_annotator_1"] + entry["kappa_annotator_2"]) / 2, abs=1e-4)
    kappas = [entry["kappa"] for entry in result["categories"].values()]
    assert result["macro_kappa"] == pytest.approx(sum(kappas) / 2, abs=1e-4)
    assert result["categories"]["gratitude"]["kappa"] == 1.0  # two plain thank-yous


def test_retraining_learns_from_corrections_and_relabels(db, school, tmp_path) -> None:
    (tmp_path / "eig101.vtt").write_text(VTT, encoding="utf-8")
    call_command("import_lectures", str(tmp_path / "eig101.vtt"))
    (tmp_path / "c.csv").write_text('comment,video_id,comment_id\n"see you at 1:30 for the SVD part",eig101,1\n')
    call_command("import_comments", str(tmp_path / "c.csv"))
    comment = Comment.objects.get()
    comment_label_toggle(comment=comment, category="bookmark", user=school.admin)
    job = classifier_training_start(user=school.admin)
    job_run(job_id=str(job.pk), work=lambda j: classifier_training_run(job=j))
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = ClassifierVersion.objects.get(is_active=True)
    assert (version.corrections_used, version.job_id, job.result["version"]) == (1, str(job.pk), version.version)
    assert version.training_size == 179 + 1  # SIGHT's train and expansion rows, and the correction
    assert set(version.metrics["categories"]) >= {"confusion", "gratitude"}
    comment.refresh_from_db()
    assert comment.provenance["classifier_version"] == version.version
    assert ("bookmark" in comment.categories) is comment.corrections.get(category="bookmark").is_present
    # The rows it was trained and measured on are registered and locked for the job: they never change after.
    training = DatasetVersion.objects.get(dataset__slug="comment-classifier-training")
    heldout = DatasetVersion.objects.get(dataset__slug="comment-classifier-heldout")
    assert (training.is_locked, training.locked_by_job, training.row_count) == (True, str(job.pk), 180)
    assert (heldout.is_locked, heldout.locked_by_job, heldout.row_count) == (True, str(job.pk), 60)
    assert version.metrics["datasets"] == {
        "training": "comment-classifier-training@1",
        "evaluation": "comment-classifier-heldout@1",
    }
    assert training.rows.filter(data__source="correction").count() == 1
