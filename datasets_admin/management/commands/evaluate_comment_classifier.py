from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datasets_admin.classifier import agreement, classifier_labels, classifier_scores
from datasets_admin.language_labels import comments_label_with_language_model
from datasets_admin.services import annotated_comments_read, classifier_active, comment_vectors
from models_runtime import api as models_api


class Command(BaseCommand):
    help = (
        "Agreement of the active comment classifier with people on an annotated CSV (SIGHT's layout): per "
        "category Cohen's kappa against each annotator and F1, and macro_kappa. Writes nothing but the classifier's "
        "first installation."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--data", type=Path, required=True, help="A CSV like SIGHT's sample_annotated.csv.")
        parser.add_argument("--split", default="", help="Only rows of this datasplit (e.g. validation).")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--language-model",
            action="store_true",
            help="Measure the language-model option (the model serving the teacher task) instead of the classifier.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["data"]
        if not path.is_file():
            raise CommandError(f"{path} does not exist.")
        comments = annotated_comments_read(path)
        if options["split"]:
            comments = [c for c in comments if c.split == options["split"]]
        if not comments:
            raise CommandError(f"{path} has no comment with people's labels (annotator_H1_<category> columns).")
        texts = [c.text for c in comments]
        if options["language_model"]:
            try:
                labels, provenance = comments_label_with_language_model(texts=texts)
            except models_api.ModelError as error:
                raise CommandError(f"The language model could not label the comments: {error}") from error
            result = agreement(labels, [c.labels for c in comments])
            result["language_model"] = provenance
            label = str(provenance.get("model_version", "language model"))
        else:
            version = classifier_active()
            scores = classifier_scores(version.parameters, comment_vectors(version.parameters, texts), texts)
            result = agreement(classifier_labels(version.parameters, scores), [c.labels for c in comments])
            result["classifier_version"] = version.version
            result["embedding"] = version.parameters.get("embedding", "all-MiniLM-L6-v2")
            label = version.version
        result["data"] = str(path)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(f"macro kappa {result['macro_kappa']} over {result['comments']} comments ({label})")
        for category, entry in result["categories"].items():
            self.stdout.write(f"  {category:<20} kappa {entry['kappa']:.3f}  f1 {entry['f1']:.3f}  n={entry['n']}")
        if result["left_out"]:
            self.stdout.write(f"  left out (no positive example): {', '.join(result['left_out'])}")
