"""One batch of MQTT messages to points to a sink: the bridge's logic without the network.

`BatchWriter.process` either stores every usable message of the batch and says which messages
are dead letters, or raises `SinkUnavailableError` having decided nothing, so the caller can retry
the very same batch and acknowledge only after success.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from gateway.outputs.bridge.points import Point, PointError
from gateway.outputs.bridge.schema import Decoded, IntervalKey, interpret
from gateway.outputs.bridge.sinks import PointsRejectedError, Sink
from gateway.outputs.mqtt.payloads import PayloadError


@dataclass(frozen=True, slots=True)
class Message:
    """A received MQTT message as the bridge keeps it until acknowledged."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    received: float = 0.0
    generation: int = 0
    """Connection it arrived on: acks for an earlier connection are never sent."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message: Message
    reason: str


@dataclass(slots=True)
class Outcome:
    points: int = 0
    stored: int = 0
    stale: int = 0
    dead: list[DeadLetter] = field(default_factory=list)


class BatchWriter:
    """Decodes, drops superseded interval revisions, writes, and isolates rejected messages."""

    def __init__(self, sink: Sink, *, prefix: str, tz: ZoneInfo, memory: int = 200_000) -> None:
        self.sink = sink
        self.prefix = prefix
        self.tz = tz
        self._memory = memory
        self._revisions: OrderedDict[IntervalKey, int] = OrderedDict()

    def process(self, messages: Sequence[Message]) -> Outcome:
        outcome = Outcome()
        usable: list[tuple[Message, Decoded]] = []
        for message in messages:
            try:
                decoded = interpret(
                    message.topic,
                    message.payload,
                    prefix=self.prefix,
                    received=message.received,
                    tz=self.tz,
                )
            except (PayloadError, PointError) as exc:
                outcome.dead.append(DeadLetter(message, str(exc)))
                continue
            except (ValueError, OverflowError, OSError) as exc:
                # Whatever slipped past the models (an out-of-range date, a name that slugs
                # to nothing): a dead letter with the reason, never a dead bridge.
                outcome.dead.append(DeadLetter(message, f"cannot store: {exc}"))
                continue
            usable.append((message, decoded))
        current = self._current(usable)
        outcome.stale = len(usable) - len(current)
        self._write(current, outcome)
        for _, decoded in current:
            if decoded.interval is not None:
                self._remember(decoded.interval, decoded.revision)
        return outcome

    def _current(self, usable: list[tuple[Message, Decoded]]) -> list[tuple[Message, Decoded]]:
        """Drop interval revisions older than one already written or later in this batch.

        Points of one interval share their timestamp, so only write order decides which
        revision survives; a stale one written last would silently undo a correction.
        """
        newest: dict[IntervalKey, tuple[int, int]] = {}
        for index, (_, decoded) in enumerate(usable):
            key = decoded.interval
            if key is not None and (key not in newest or decoded.revision >= newest[key][0]):
                newest[key] = (decoded.revision, index)
        kept = []
        for index, item in enumerate(usable):
            key = item[1].interval
            if key is not None and (
                newest[key][1] != index or item[1].revision < self._revisions.get(key, -1)
            ):
                continue
            kept.append(item)
        return kept

    def _write(self, items: list[tuple[Message, Decoded]], outcome: Outcome) -> None:
        """Write all points; on a rejection, halve until the refused messages are isolated."""
        if not items:
            return
        points: dict[tuple[object, ...], Point] = {}
        for _, decoded in items:
            for point in decoded.points:
                points.pop(point.key, None)
                points[point.key] = point
        try:
            self.sink.write(list(points.values()))
        except PointsRejectedError as exc:
            if len(items) == 1:
                outcome.dead.append(DeadLetter(items[0][0], f"rejected by the database: {exc}"))
                return
            middle = len(items) // 2
            self._write(items[:middle], outcome)
            self._write(items[middle:], outcome)
            return
        outcome.points += len(points)
        outcome.stored += len(items)

    def _remember(self, key: IntervalKey, revision: int) -> None:
        if revision >= self._revisions.get(key, -1):
            self._revisions[key] = revision
        self._revisions.move_to_end(key)
        while len(self._revisions) > self._memory:
            self._revisions.popitem(last=False)
