"""The tutor policy: which move to make next, the reply written in code, and the check on every reply.

Pure functions over plain data (no Django, no model). The model may rephrase a reply, but the safety
of the policy comes from here: the tiny default model cannot be trusted to keep an answer to itself,
so `checks.reply_violation` is run on everything before a student sees it, and the code-written reply is
always there to fall back on.

Moves follow MathDial (Macina et al., 2023):
- generic: greeting, invitation to explain, confirmation, keeping the chat on track;
- probing: asks the student to explain their own reasoning;
- focus: points at the step where the student's numbers leave the worked solution;
- telling: reveals part of the solution, only after the course's number of real attempts.

The modules, in the order a reply is made:
- `numbers`, `sentences`: reading numbers and sentences in any text;
- `solution`: the worked solution's steps and what the policy knows of a problem (`ProblemFacts`);
- `messages`: what a student's message is, and the answer it puts forward;
- `diagnosis`: the first wrong or missing step of a student's worked solution;
- `dialogue`: the dialogue so far, replayed (`dialogue_state`);
- `plan`: the decision for one reply (`ReplyPlan`), stored with it;
- `wording`: the questions and openings, in MathDial's teachers' words;
- `planning`: choosing the move and writing the reply (`reply_plan`);
- `checks`: what every reply must pass (`reply_violation`, `plan_text_violation`);
- `gate`: the model's text, let through sentence by sentence (`ReplyGate`).
"""

# Stored with every plan. A change to what the policy plans or what its gate keeps needs a new version
# (tests/tutor/test_policy_version.py fingerprints both).
POLICY_VERSION = "tutor-policy@v4"
