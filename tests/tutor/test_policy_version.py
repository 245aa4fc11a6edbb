"""Provenance: the policy's output on a fixed set of dialogues is fingerprinted per POLICY_VERSION.

A change to what the policy plans or what its gate keeps must come with a new version (stored with every
reply), so that a reply can always be traced to the behaviour that made it. When this test fails because the
behaviour changed on purpose: bump `tutor.policy.POLICY_VERSION` and add the new fingerprint below (the
failure message prints it); never edit the fingerprint of a version that has shipped.
"""

from __future__ import annotations

import hashlib
import json

from tests.tutor.test_checks import _scripted_students, _shipped_problems, gate_reply
from tests.tutor.test_policy import play
from tutor.policy import POLICY_VERSION

FINGERPRINTS = {
    "tutor-policy@v2": "435b8084de499339e1bc36d0c2aae39f7aa569e0fdbd47a4df7362c2919b3ebd",
    "tutor-policy@v3": "04698080cd850c94ba09c2c22778ac8392d8b402f84be10ec62de038e1dbc527",
    # v4: the uptake clause must be said of what it is; the fixed dialogues gained a student who restates the
    # problem (so v2's and v3's entries are of the earlier dialogues).
    "tutor-policy@v4": "3e295a052efe5806110e3e279c5bebecc4a76febea28bc2971170ea81e99e0da",
}
MODEL_TEXTS = (
    "Yes, that's right!",
    "No, it is not correct, well done.",
    "Good try! Can you check your first step again?",
    "Let's count the spoons again.",
)


def policy_output() -> list[dict]:
    rows = []
    for qid, facts, opening in _shipped_problems():
        for messages in _scripted_students(facts, opening):
            for message, plan in zip(messages, play(facts, messages), strict=True):
                gated = [gate_reply(plan, facts, text, context=message) for text in MODEL_TEXTS]
                rows.append(
                    {
                        "qid": qid,
                        "message": message,
                        "move": plan.move,
                        "text": plan.text,
                        "target": plan.target_step,
                        "solved": plan.is_solved,
                        "tells": plan.tells_step,
                        "confirmed": list(plan.confirmed_values),
                        "forbidden": list(plan.forbidden_values),
                        "gate": gated,
                    }
                )
    return rows


def fingerprint() -> str:
    return hashlib.sha256(json.dumps(policy_output(), sort_keys=True).encode()).hexdigest()


def test_the_policys_behaviour_changes_only_with_its_version() -> None:
    found = fingerprint()
    assert POLICY_VERSION in FINGERPRINTS, f"New policy version {POLICY_VERSION}: add its fingerprint {found!r}"
    assert found == FINGERPRINTS[POLICY_VERSION], (
        f"The policy's output changed but POLICY_VERSION is still {POLICY_VERSION}: bump it and record {found!r}"
    )
