"""Which sequence numbers of one tick stream (one boot of one node) have been received.

Every tick a node makes gets the next sequence number of its boot. A receiver keeps the first
number not yet received (`next_seq`: everything below it arrived, or was given up) and the
numbers received beyond a gap (`ahead`). The engine (de-duplication and loss accounting), the
node session (what to ask a node to resend) and the serial source (what went to the service
once) all keep this window; this is its one implementation. The engine keeps the two fields on
its own compiled boot record and calls `fill` / `give_up_below`; the others hold a `SeqWindow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_OUT_OF_ORDER = 4096
"""Sequence numbers held beyond a gap before the gap is given up (a node resends from its
flash buffer; past this many newer ticks, what is missing is not coming)."""


def fill(next_seq: int, ahead: set[int]) -> int:
    """`next_seq` moved past the numbers in `ahead` that continue it (removed from `ahead`)."""
    while next_seq in ahead:
        ahead.remove(next_seq)
        next_seq += 1
    return next_seq


def give_up_below(next_seq: int, ahead: set[int], seq: int) -> tuple[int, int]:
    """Stop waiting for anything below `seq`: the new `next_seq`, and how many numbers were
    never received. `ahead` loses what is now below `next_seq`."""
    if seq <= next_seq:
        return next_seq, 0
    held = {s for s in ahead if s < seq}
    ahead -= held
    return fill(seq, ahead), seq - next_seq - len(held)


@dataclass(slots=True)
class SeqWindow:
    """The received numbers of one stream, from `next_seq` on (see the module docstring)."""

    next_seq: int
    ahead: set[int] = field(default_factory=set)
    highest: int = -1
    """The highest number received."""

    def take(self, seq: int) -> bool:
        """True if `seq` is new (and now received), False for a duplicate."""
        if seq < self.next_seq or seq in self.ahead:
            return False
        if seq > self.highest:
            self.highest = seq
        if seq == self.next_seq:
            self.next_seq = fill(seq + 1, self.ahead)
        else:
            self.ahead.add(seq)
        return True

    def give_up_below(self, seq: int) -> int:
        """Stop waiting for anything below `seq`; returns how many numbers never arrived."""
        self.next_seq, skipped = give_up_below(self.next_seq, self.ahead, seq)
        return skipped

    def give_up_all(self) -> int:
        """Stop waiting for every gap; returns how many numbers never arrived."""
        return self.give_up_below(max(self.ahead) + 1) if self.ahead else 0

    def give_up_overflow(self) -> int:
        """Past `MAX_OUT_OF_ORDER` numbers held beyond a gap, give up the oldest gap."""
        if len(self.ahead) > MAX_OUT_OF_ORDER:
            return self.give_up_below(min(self.ahead))
        return 0

    @property
    def missing(self) -> bool:
        """Whether a gap is open (numbers were received beyond one)."""
        return bool(self.ahead)

    def shift(self, delta: int) -> None:
        """Renumber (a corrected wrap count of the 16-bit wire numbers)."""
        self.next_seq += delta
        self.ahead = {s + delta for s in self.ahead}
        if self.highest >= 0:
            self.highest += delta
