"""One-off developer tool: build Tutorloop's bundled demo content.

This script is NEVER run by the app (the app must not read ../shared at run
time). A developer runs it once, by hand, to (re)create the two JSON files that
sit next to it, from the public data sets kept in the shared data folder:

    python datasets_admin/demo_data/build_demo_data.py --shared ../shared/data

Outputs (written next to this script):
  * saf_questions.json      4 English SAF questions with 12 graded answers each
  * mathdial_problems.json  10 MathDial problems

Standard library only. The selection is deterministic: the same input gives
byte-identical output. Text is copied unchanged except for selection, the JSON
layout and the trimming of surrounding whitespace (see ATTRIBUTION.md).
"""

import argparse
import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, OrderedDict
from pathlib import Path

HERE = Path(__file__).resolve().parent

# --- SAF ------------------------------------------------------------------
# Chosen by inspection: four different course modules (DLL, TC, MM, PE), short
# self-contained question texts, and at least four non-empty answers of each
# label. (The IPP files have only empty "Incorrect" answers; the two LM files
# 4.2/4.3 reuse the id "2.1"; 12.1/12.2 carry a stray "headers." in their text.)
SAF_FILES = [
    "2.3_DLL_v1.1.xml",
    "10.1_TC.xml",
    "8.3_MM.xml",
    "12.3_PE.xml",
]
SAF_PER_LABEL = 4              # 4 correct + 4 partially correct + 4 incorrect
SAF_MIN_CHARS = 40             # skip "No submission." / "Empty response." etc.
SAF_PREFERRED_MAX_CHARS = 700  # prefer answers that fit on a demo screen
LABELS = {
    "correct": "correct",
    "partially correct": "partially_correct",
    "incorrect": "incorrect",
}

# --- MathDial -------------------------------------------------------------
MATHDIAL_COUNT = 10
MATHDIAL_MAX_QUESTION_CHARS = 400
NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def spread(items, k):
    """Pick k items evenly spaced over a list (deterministic)."""
    n = len(items)
    if n <= k:
        return list(items)
    if k == 1:
        return [items[0]]
    return [items[round(i * (n - 1) / (k - 1))] for i in range(k)]


def clean_block(text):
    """Trim each line and the block (the XML indents text with tabs)."""
    lines = [line.strip() for line in (text or "").splitlines()]
    return "\n".join(lines).strip()


def norm_label(raw):
    key = " ".join((raw or "").split()).lower()
    if key not in LABELS:
        raise ValueError(f"unknown SAF label {raw!r}")
    return LABELS[key]


def build_saf(shared):
    folder = shared / "saf" / "training" / "english"
    out = []
    for name in SAF_FILES:
        root = ET.parse(folder / name).getroot()
        answers = []
        for pos, sa in enumerate(root.iter("studentAnswer")):
            answers.append({
                "pos": pos,
                "response": (sa.findtext("response") or "").strip(),
                "score": float((sa.findtext("score") or "").strip()),
                "label": norm_label(sa.findtext("verification_feedback")),
                "feedback": (sa.findtext("response_feedback") or "").strip(),
            })
        chosen = []
        for label in ("correct", "partially_correct", "incorrect"):
            pool = [a for a in answers
                    if a["label"] == label and len(a["response"]) >= SAF_MIN_CHARS]
            if label == "partially_correct":
                # spread over the score range, so the demo shows 0.25 .. 0.75
                pool.sort(key=lambda a: (a["score"], a["pos"]))
            short = [a for a in pool if len(a["response"]) <= SAF_PREFERRED_MAX_CHARS]
            if len(short) >= SAF_PER_LABEL:
                picked = spread(short, SAF_PER_LABEL)
            else:
                rest = sorted((a for a in pool if a not in short),
                              key=lambda a: (len(a["response"]), a["pos"]))
                picked = short + rest[:SAF_PER_LABEL - len(short)]
            if len(picked) < SAF_PER_LABEL:
                raise SystemExit(f"{name}: only {len(picked)} usable {label} answers")
            chosen.extend(picked)
        chosen.sort(key=lambda a: a["pos"])  # keep the file's order: labels mixed
        refs = [clean_block(r.text)
                for r in root.iter("referenceAnswer") if clean_block(r.text)]
        out.append({
            "source_file": name,
            "question_id": root.get("id"),
            # the XML hard-wraps the text like the PDF it came from; unwrap it
            "text": " ".join((root.findtext("questionText") or "").split()),
            "reference_answers": refs,
            "max_points": max(a["score"] for a in answers),
            "answers": [{k: a[k] for k in ("response", "score", "label", "feedback")}
                        for a in chosen],
        })
    return out


def final_number(ground_truth):
    """MathDial ground truths end with a line holding only the answer ("\\n 18")."""
    lines = [l.strip() for l in ground_truth.strip().splitlines() if l.strip()]
    if len(lines) < 2:
        return None
    last = lines[-1].lstrip("#").strip()  # also accept GSM8K's "#### 18"
    if not NUMBER_RE.fullmatch(last):
        return None
    body = "\n".join(lines[:-1])
    # sanity check: the answer is also stated in the worked solution itself
    if last not in NUMBER_RE.findall(body.replace(",", "")):
        return None
    return last


def build_mathdial(shared):
    path = shared / "mathdial" / "mathdial_dev.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_qid = OrderedDict()
    for row in rows:
        by_qid.setdefault(row["qid"], []).append(row)
    candidates = []
    for qid, group in by_qid.items():
        first = group[0]
        question = first["question"].strip()
        answer = final_number(first["ground_truth"])
        wrong = first["student_incorrect_solution"].strip()
        if len(question) >= MATHDIAL_MAX_QUESTION_CHARS or answer is None or not wrong:
            continue
        wrong_last = wrong.splitlines()[-1].strip()
        if wrong_last == answer:
            continue  # the "incorrect" solution should actually be wrong
        confusions = [" ".join(r["teacher_described_confusion"].split()) for r in group]
        confusions = [c for c in confusions if c]
        # prefer a description of at least three words over "miscalculation"
        described = [c for c in confusions if len(c.split()) >= 3] or confusions
        candidates.append({
            "qid": qid,
            "statement": question,
            "worked_solution": first["ground_truth"].strip(),
            "final_answer": answer,
            "student_incorrect_solution": wrong,
            "common_misconceptions": described[:1],
        })
    candidates.sort(key=lambda c: int(c["qid"]))
    if len(candidates) < MATHDIAL_COUNT:
        raise SystemExit(f"only {len(candidates)} usable MathDial problems")
    return spread(candidates, MATHDIAL_COUNT)


def write_json(path, data):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, type=Path,
                        help="the shared data folder (holds saf/ and mathdial/)")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="output folder (default: this script's folder)")
    args = parser.parse_args(argv)

    saf = build_saf(args.shared)
    mathdial = build_mathdial(args.shared)
    write_json(args.out / "saf_questions.json", saf)
    write_json(args.out / "mathdial_problems.json", mathdial)

    # validate: reload and summarise
    saf = json.loads((args.out / "saf_questions.json").read_text(encoding="utf-8"))
    mathdial = json.loads((args.out / "mathdial_problems.json").read_text(encoding="utf-8"))
    assert len(saf) == len(SAF_FILES) and len(mathdial) == MATHDIAL_COUNT
    assert len({q["qid"] for q in mathdial}) == MATHDIAL_COUNT
    for q in saf:
        assert len(q["answers"]) == 3 * SAF_PER_LABEL and q["reference_answers"]
        counts = Counter(a["label"] for a in q["answers"])
        print(f"SAF {q['question_id']:>5} ({q['source_file']}): max {q['max_points']}, "
              f"{len(q['reference_answers'])} reference(s), {dict(counts)}")
    for p in mathdial:
        print(f"MathDial {p['qid']}: final answer {p['final_answer']!r}, "
              f"misconception {p['common_misconceptions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
