"""Where the bridge writes points: InfluxDB (v2 write API or 1.x `/write`) or the local store.

Every sink writes synchronously and raises instead of buffering: the bridge acknowledges an
MQTT message only after `write` returned, so a sink must never report success for points it
has not stored. Two failure kinds matter to the caller: `SinkUnavailableError` (retry the same
points later) and `PointsRejectedError` (the server refused the data itself; retrying is useless).
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import DoorcountError
from gateway.outputs.bridge.points import Point, encode

if TYPE_CHECKING:
    from gateway.outputs.bridge.settings import BridgeSettings
    from gateway.outputs.bridge.store import LocalStore

log = logging.getLogger(__name__)

# 400 bad line protocol / field type conflict, 413 batch too large, 422 unprocessable (3.x).
_REJECTED = frozenset({400, 413, 422})


class SinkUnavailableError(DoorcountError, ConnectionError):
    """The sink cannot take writes now (down, timeout, 5xx, auth): retry later."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class PointsRejectedError(DoorcountError, ValueError):
    """The sink refused these points; the same points will be refused again."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class Sink(Protocol):
    def write(self, points: Sequence[Point]) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str:
        """Where the points go, for logs; never includes credentials."""
        ...


class InfluxV2Sink:
    """InfluxDB 2.x/3.x (and 1.8+ through its v2 compatibility endpoint) via influxdb-client."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout: float) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._url = url
        self._org = org
        self._bucket = bucket
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout * 1000))
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, points: Sequence[Point]) -> None:
        from influxdb_client.rest import ApiException

        if not points:
            return
        try:
            self._api.write(bucket=self._bucket, org=self._org, record=encode(list(points)))
        except ApiException as exc:
            raise _http_error(exc.status, _short(exc.body)) from None
        except Exception as exc:  # urllib3 connection/timeout errors have no common base here
            raise SinkUnavailableError(f"{type(exc).__name__}: {_short(str(exc))}") from None

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]

    def describe(self) -> str:
        return (
            f"InfluxDB v2 API at {_redact(self._url)}, org {self._org!r}, bucket {self._bucket!r}"
        )


class InfluxV1Sink:
    """InfluxDB 1.x `/write` endpoint (database, optional retention policy, basic auth)."""

    def __init__(self, url: str, token: str, bucket: str, timeout: float) -> None:
        database, _, policy = bucket.partition("/")
        query = {"db": database, "precision": "ns"}
        if policy:
            query["rp"] = policy
        self._url = url
        self._database = database
        self._endpoint = f"{url}/write?{urllib.parse.urlencode(query)}"
        self._timeout = timeout
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:  # "username:password", checked by the settings
            self._headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        body = encode(list(points)).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL scheme is validated http(s)
            self._endpoint, data=body, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc.code, _short(exc.read().decode(errors="replace"))) from None
        except (OSError, TimeoutError) as exc:
            raise SinkUnavailableError(f"{type(exc).__name__}: {_short(str(exc))}") from None

    def close(self) -> None:
        """Nothing is held open between writes."""

    def describe(self) -> str:
        return f"InfluxDB v1 /write at {_redact(self._url)}, database {self._database!r}"


def _redact(url: str) -> str:
    """The URL without user:password@, for logs."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _http_error(status: int | None, body: str) -> SinkUnavailableError | PointsRejectedError:
    if status in _REJECTED:
        return PointsRejectedError(f"HTTP {status}: {body}", status)
    hint = " (check the token and its write permission)" if status in (401, 403) else ""
    return SinkUnavailableError(f"HTTP {status}{hint}: {body}", status)


def _short(raw: Any, limit: int = 300) -> str:
    text = str(raw or "").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def open_sink(settings: BridgeSettings) -> InfluxV2Sink | InfluxV1Sink | LocalStore:
    """The sink the settings ask for: InfluxDB when a URL is set, else the local store."""
    if settings.influx_url is None:
        from gateway.outputs.bridge.store import LocalStore

        return LocalStore(settings.store_path)
    if settings.influx_api == "v1":
        return InfluxV1Sink(
            settings.influx_url, settings.token(), settings.influx_bucket, settings.influx_timeout
        )
    return InfluxV2Sink(
        settings.influx_url,
        settings.token(),
        settings.influx_org,
        settings.influx_bucket,
        settings.influx_timeout,
    )
