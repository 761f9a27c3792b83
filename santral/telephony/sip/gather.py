"""Collecting keys for a ``Gather`` action, without I/O or timers of its own.

``timeout`` runs from the end of the prompts until the first key; after the first key only
``inter_digit_timeout`` runs. Collection ends at the terminator (not included), at
``max_digits``, or at once when the keys so far are an entry of ``complete`` that no entry
of ``prefixes`` continues.
"""

from __future__ import annotations

from ivr.actions import DigitsCollected, Gather


class DigitCollector:
    """Feed keys and the time; returns ``DigitsCollected`` once the rules end collection."""

    def __init__(self, gather: Gather) -> None:
        self._gather = gather
        self.keys = ""
        self.deadline: float | None = None

    def prompts_finished(self, now: float) -> None:
        """Start the first-key timer unless a key already arrived during the prompts."""
        if not self.keys:
            self.deadline = now + self._gather.timeout

    def key(self, key: str, now: float) -> DigitsCollected | None:
        gather = self._gather
        if gather.terminator and key in gather.terminator:
            return DigitsCollected(digits=self.keys, reason="terminator")
        self.keys += key
        if len(self.keys) >= gather.max_digits:
            return DigitsCollected(digits=self.keys, reason="max_digits")
        if self.keys in gather.complete and not self._continued():
            return DigitsCollected(digits=self.keys, reason="complete")
        self.deadline = now + gather.inter_digit_timeout
        return None

    def _continued(self) -> bool:
        return any(
            len(entry) > len(self.keys) and entry.startswith(self.keys)
            for entry in self._gather.prefixes
        )

    def expire(self, now: float) -> DigitsCollected | None:
        """Return the result if the running timer has run out at ``now``."""
        if self.deadline is None or now < self.deadline:
            return None
        if not self.keys:
            return DigitsCollected(digits="", reason="no_input")
        return DigitsCollected(digits=self.keys, reason="inter_digit_timeout")
