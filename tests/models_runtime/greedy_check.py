"""The fixed prompts and tolerance of the same-text checks between a model and its GGUF export (test_gguf.py:
a float32 original against its q8_0 export; test_served_student_q8.py: the shipped Q4_1 file against the
served q8_0 one). A quantised export's greedy text may part from the original's where the original itself
nearly ties. The tolerance: on each prompt the two texts are the same up to their first differing token, and
there the reference's two most likely tokens are within NEAR_TIE of each other in probability (a wrong
weight, tokenizer or template parts at a token the reference is sure of); and at least EXACT_AT_LEAST of the
prompts match exactly."""

from __future__ import annotations

PROMPTS = [
    "What is 7 times 6? Answer briefly.",
    "Explain in one sentence why we subtract a coupon before splitting a bill.",
    "A student wrote 3/4 + 1/4 = 4/8. What would you ask them?",
    "Name three prime numbers.",
]
NEW_TOKENS = 32
# 1, not 2: llama.cpp built natively (AVX-512 VNNI, Makefile) rounds q8_0 dot products differently from the
# portable AVX2 build; there the float32 original and its export matched exactly on 1 of the 4 prompts and
# parted on the other 3 only at near ties (the per-prompt margin check above held on every one).
EXACT_AT_LEAST = 1
NEAR_TIE = 0.1
