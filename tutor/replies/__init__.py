"""Writing a tutor reply and streaming it as server-sent events.

The student's message and a pending reply row are stored together (tutor.services); this package
writes the reply's text and streams it:

- `prompt`: what the model is asked (the prompt template, stop strings, token budget);
- `store`: the reply's row (claimed by one writer, saved as it grows, completed once);
- `writer`: the writer thread (model -> the policy's gate -> pieces and stored text);
- `stream`: the server-sent events one reader receives, and the HTTP response that sends them.
"""

from tutor.replies.prompt import PROMPTS_DIR, STOP, TASK, reply_prompt, reply_reveals_answer
from tutor.replies.stream import ReplyEvents, reply_stream_response, sse_event

__all__ = [
    "PROMPTS_DIR",
    "STOP",
    "TASK",
    "ReplyEvents",
    "reply_prompt",
    "reply_reveals_answer",
    "reply_stream_response",
    "sse_event",
]
