"""Stop strings in a stream: never send a client part of the text it asked to stop at.

    checker = StopChecker(("\\n\\n", "###"))
    for char in generated:
        delta = checker.push(char)       # text now safe to send ("" while unsure)
        if checker.stopped: break
    rest = checker.flush()               # what was held back, at the end

A request may name stop strings; generation ends as soon as the text ends
with one, and the stop string itself is not part of the answer (OpenAI's
``stop``). A stop string can span several tokens, so when streaming, text
that *could* be the start of a stop string is held back until the next
tokens settle it: after ``"#"`` and ``"##"`` nothing is sent for a
``"###"`` stop; if the next character is ``"x"`` the held ``"##x"`` goes
out at once. Concatenating every delta and the final :meth:`flush` gives
exactly :attr:`text`, the answer without the stop string.

Check it: ``labkit check llm_serving`` (milestone m1).
"""

from __future__ import annotations

from collections.abc import Sequence


class StopChecker:
    """Watches the generated text for stop strings and says what is safe to send."""

    def __init__(self, stop: Sequence[str] = ()):
        if any(not s for s in stop):
            raise ValueError(f"stop strings must be non-empty, got {list(stop)}.")
        self.stop = tuple(stop)
        self.text = ""  # the answer so far, without any stop string
        self.sent = 0  # characters of ``text`` already returned by push
        self.stopped = False

    def _held(self) -> int:
        """How many trailing characters of ``text`` could begin a stop string."""
        longest = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(self.text)), longest, -1):
                if self.text.endswith(s[:n]):
                    longest = n
                    break
        return longest

    def push(self, piece: str) -> str:
        """Add the newest token's text; return the text that is now safe to send.

        When the text ends with a stop string, :attr:`stopped` becomes True,
        the stop string is cut from :attr:`text`, and the return value is
        whatever was held back before it.
        """
        if self.stopped:
            raise RuntimeError("the sequence already stopped; push nothing after it.")
        # BEGIN SOLUTION m1: append the piece; if the text now ends with a stop string, cut it off and stop; otherwise hold back the longest tail that begins a stop string and return the rest not yet sent
        self.text += piece
        for s in self.stop:
            if self.text.endswith(s):
                self.text = self.text[: len(self.text) - len(s)]
                self.stopped = True
                break
        safe = len(self.text) if self.stopped else len(self.text) - self._held()
        delta = self.text[self.sent : safe]
        self.sent = max(self.sent, safe)
        return delta
        # END SOLUTION

    def flush(self) -> str:
        """At the end of generation: whatever is still held back."""
        delta = self.text[self.sent :]
        self.sent = len(self.text)
        return delta
