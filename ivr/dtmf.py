"""A pure DTMF collector for connectors that see single key presses.

SIP and the virtual caller receive one key at a time. They create a ``DtmfCollector`` for
each ``Gather`` action, feed it keys and the time, and send the ``DigitsCollected`` it
returns to the engine. It does no I/O and reads no clock: every method takes ``now``.

Timing rules:

- the first-digit ``timeout`` runs from the end of the prompts. With ``barge_in`` a key
  pressed during the prompts counts, and the connector stops the prompts;
- once the first key arrives only the ``inter_digit_timeout`` runs, from the latest key;
- the terminator ends collection at once and is not part of the digits;
- collection ends at ``max_digits``;
- with menu options (``complete`` and ``prefixes``), keys that match an option end
  collection at once unless a longer option still starts with them. Then the collector
  waits for the inter-digit timeout or the terminator. Keys that no option matches or
  continues also end collection at once, so the menu can reject them.
"""

from __future__ import annotations

from ivr import digits
from ivr.actions import DigitsCollected, DigitsReason, Gather


class DtmfCollector:
    """Collects keys for one ``Gather``; the owner calls ``expire`` at ``deadline()``.

    The owner calls ``prompt_finished`` when the prompts end. ``prompt_playing=False``
    means the owner does not play them (keys count at once), and a ``Gather`` without
    prompts given ``now`` starts its first-digit timeout there.
    """

    def __init__(
        self, gather: Gather, *, prompt_playing: bool = True, now: float | None = None
    ) -> None:
        self._gather = gather
        self._keys = ""
        self._prompt_end: float | None = None if gather.prompts else now
        self._last_key: float | None = None
        self._prompt_playing = prompt_playing and bool(gather.prompts)
        self.result: DigitsCollected | None = None

    @property
    def keys(self) -> str:
        return self._keys

    @property
    def prompt_playing(self) -> bool:
        return self._prompt_playing

    def prompt_finished(self, now: float) -> None:
        """Start the first-digit timeout; keys pressed during the prompt keep theirs."""
        self._prompt_playing = False
        if self._prompt_end is None:
            self._prompt_end = now

    def deadline(self) -> float | None:
        """Return when ``expire`` must be called, or None while nothing is timed."""
        if self.result is not None:
            return None
        if self._last_key is not None:
            return self._last_key + self._gather.inter_digit_timeout
        if self._prompt_end is not None:
            return self._prompt_end + self._gather.timeout
        return None

    def press(self, key: str, now: float) -> DigitsCollected | None:
        """Add a key pressed at ``now``; return the result if collection ended.

        A key pressed during the prompts without barge-in is ignored. A key that arrives
        after the deadline ends collection with the timeout instead of being added.
        """
        if self.result is not None:
            return self.result
        if self._prompt_playing and not self._gather.barge_in:
            return None
        overdue = self.expire(now)
        if overdue is not None:
            return overdue

        if self._prompt_playing:
            self._prompt_playing = False
            self._prompt_end = now
        if key == self._gather.terminator:
            return self._finish("terminator")

        self._keys += key
        self._last_key = now
        return self._decide()

    def expire(self, now: float) -> DigitsCollected | None:
        """End collection with a timeout if ``now`` is at or past the deadline."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        return self._finish("inter_digit_timeout" if self._keys else "no_input")

    def _decide(self) -> DigitsCollected | None:
        options = self._gather.complete
        if options:
            matched = any(digits.matches(option, self._keys) for option in options)
            longer = any(digits.continues(option, self._keys) for option in self._gather.prefixes)
            if not longer:
                return self._finish("complete")
            if matched:
                return None
        if len(self._keys) >= self._gather.max_digits:
            return self._finish("max_digits")
        return None

    def _finish(self, reason: DigitsReason) -> DigitsCollected:
        self.result = DigitsCollected(digits=self._keys, reason=reason)
        return self.result
