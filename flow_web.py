"""flow-web: a standalone operator UI over an ematix-flow RunLog.

ematix-flow's scheduler records every run in a "RunLog" database (SQLite, or a
PostgreSQL or MySQL server). This program reads that database and serves the
operator views (workflows, jobs, runs, the DAG and a run's detail page) plus the
JSON API behind them, and writes the `requested` rows that ask the scheduler to
restart, rerun, pause or resume a run. It is one file, `flow-web.pyz`, built by
`build.py`; run it with

    python3 flow-web.pyz --run-log-url sqlite:////var/lib/flow/run_log.db
    python3 flow-web.pyz --demo

and open http://127.0.0.1:8080/. `python3 flow-web.pyz --help` lists the flags.

Sections, in dependency order (grep for "^# [A-Z]" to print this outline):

    Settings and errors     constants, the frozen Config, the exception family,
                            timestamp parsing and formatting
    Run-history store       SQL dialects, connections, RunLog readers and writers
    Catalog                 jobs, workflows and triggers from modules, a catalog
                            file or the run history itself
    Triggers and schedules  cron forecasts, trigger states, late jobs
    DAG layout              layered layout of job and step graphs
    API views               the JSON documents the HTTP API returns
    HTTP application        auth gate, routes, error handling, app assembly
    Demo RunLog             the `--demo` scenario, written with the store's writer
    Command line            flags, subcommands and `main()`
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import collections
import concurrent.futures
import contextlib
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
import heapq
import hmac
import importlib
import ipaddress
import itertools
import json
import logging
import math
import os
import queue
import re
import sqlite3
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
import uuid
from pathlib import Path
from typing import (
    Any,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
)

import anyio.to_thread
from croniter import croniter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__version__ = "0.1.0"

log = logging.getLogger("flow_web")

# ------------------------------------------------------------------------------------
# Settings and errors
# ------------------------------------------------------------------------------------

ENV_TOKEN = "EMATIX_FLOW_WEB_TOKEN"
ENV_RUN_LOG_URL = "EMATIX_FLOW_RUN_LOG_URL"
ENV_RUN_LOG_PATH = "EMATIX_FLOW_RUN_LOG_PATH"
DEFAULT_RUN_LOG_PATH = "~/.ematix-flow/run_log.db"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8080
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# A state-changing request without an Origin header must carry this header and
# value. flow-web's page sends it; an HTML form cannot, and a cross-site
# script cannot without a CORS preflight, which flow-web never grants.
REQUESTED_BY_HEADER = "X-Requested-By"
REQUESTED_BY_VALUE = "flow-web"
MAX_ACTION_BODY_BYTES = 64 * 1024

# A request that waits on a locked database gives up after this long, so no
# page hangs behind a long write transaction.
DB_BUSY_TIMEOUT_S = 3.0
# Cached API documents are reused for this long on servers that offer no cheap
# "has anything changed" signal (SQLite's PRAGMA data_version is used instead).
CACHE_TTL_S = 2.0
CACHE_MAX_ENTRIES = 64

# Threads that run the endpoints: cache lookups and single-run queries,
# since documents are built by threads of their own. anyio's default is 40.
# With 8, 50 clients of tests/bench/stress.py on the 1,000,000-run benchmark
# RunLog got the same throughput and p99 as with 40, within the noise of a
# shared two-core machine (see BENCHMARKS.md). They need 8 pooled
# connections, each with its own SQLite page cache, instead of 40.
WORKER_THREADS = 8
# Threads that build the cached documents that requests wait for, apart
# from the worker threads. With two, one slow page (the runs sorted by
# duration) does not hold up others.
DOCUMENT_BUILD_THREADS = 2
# A thread that rebuilds documents in the background after another process
# changed the RunLog, while requests get the previous versions.
DOCUMENT_REFRESH_THREADS = 1
# One pooled connection for every thread that reads the RunLog, so none
# waits for a connection or opens one per request.
DB_POOL_SIZE = WORKER_THREADS + DOCUMENT_BUILD_THREADS + DOCUMENT_REFRESH_THREADS
# Idle keep-alive connections stay open this long: longer than the page's
# 5-second refresh, so a browser reuses its connection instead of racing
# the server's close.
KEEP_ALIVE_TIMEOUT_S = 20
# A connection must send a request's complete headers within this long of
# opening or of the request's first byte, else it is closed. uvicorn's h11
# server has no such limit, so clients that connect and send nothing, or
# send headers a byte at a time, would hold their sockets forever.
HEADER_TIMEOUT_S = 10.0
# The largest request line and headers accepted. h11's default of 16 KiB
# applies only to what arrives in pieces, so a URL that names a 100 KB job
# worked or failed depending on how TCP split it. The header timeout bounds
# how long a connection can hold this much.
MAX_REQUEST_HEAD_BYTES = 256 * 1024
# Connections the kernel queues before flow-web accepts them; Linux caps
# this at net.core.somaxconn (4096 by default since 5.4).
LISTEN_BACKLOG = 2048

RUNS_DEFAULT_LIMIT = 50
RUNS_MAX_LIMIT = 1000
RECENT_RUNS_PER_JOB = 10
MEDIAN_WINDOW_RUNS = 100
FAILURE_WINDOW_DAYS = 7
TRIGGER_TERMINAL_WINDOW_RUNS = 10
LATE_GRACE_S = 900

RUN_STATUSES = ("requested", "running", "paused", "succeeded", "failed", "cancelled")
OPEN_STATUSES = ("requested", "running", "paused")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
RUN_KINDS = ("batch", "streaming", "replay")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one flow-web process, built once by `main()` from flags,
    environment variables and defaults (in that order of precedence)."""

    run_log_url: str
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    log_level: str = "info"
    token: Optional[str] = None
    modules: tuple = ()
    catalog_path: Optional[str] = None
    read_only: bool = False
    # A fixed "now" for reproducible tests and screenshots; None means the clock.
    now: Optional[dt.datetime] = None
    late_grace_s: int = LATE_GRACE_S
    access_log: bool = False
    # Extra Host header names (`name` or `name:port`) accepted besides this
    # server's own addresses and the loopback names.
    allowed_hosts: tuple = ()

    def clock(self) -> dt.datetime:
        return self.now if self.now is not None else dt.datetime.now(dt.timezone.utc)


class FlowWebError(Exception):
    """Base of the errors flow-web reports to a user. `status` is the HTTP
    status of the API response, and the message is shown as is."""

    status = 500


class ConfigError(FlowWebError):
    """A flag, URL, file or module given at start-up is unusable."""

    status = 500


class BadRequest(FlowWebError):
    status = 400


class Unauthorized(FlowWebError):
    status = 401


class Forbidden(FlowWebError):
    status = 403


class NotFound(FlowWebError):
    status = 404


class MethodNotAllowed(FlowWebError):
    status = 405


class Conflict(FlowWebError):
    status = 409


class PayloadTooLarge(FlowWebError):
    status = 413


class UnsupportedMediaType(FlowWebError):
    status = 415


class Unavailable(FlowWebError):
    """The RunLog cannot be read or written right now (locked, missing,
    read-only, server down); the request may succeed when retried."""

    status = 503


_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2}|UTC)?"
)


def parse_timestamp(text: Any) -> Optional[dt.datetime]:
    """Parse an ISO 8601 timestamp as the RunLog stores it into an aware UTC
    datetime. Accepts a `Z`, `+00:00` or `+0000` offset, no offset (read as
    UTC), a space instead of `T` and any number of fraction digits. Returns
    None for anything else, including None."""
    if isinstance(text, dt.datetime):
        moment = text
        return (
            moment.replace(tzinfo=dt.timezone.utc)
            if moment.tzinfo is None
            else (moment.astimezone(dt.timezone.utc))
        )
    if not isinstance(text, str):
        return None
    return _parse_timestamp_text(text)


@functools.lru_cache(maxsize=65536)
def _parse_timestamp_text(text: str) -> Optional[dt.datetime]:
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            micros,
            tzinfo=_parse_offset(offset),
        )
        # Year 1 with a positive offset, or 9999 with a negative one, has no
        # UTC time within datetime's range.
        return moment.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None


def _parse_offset(offset: Optional[str]) -> dt.timezone:
    if offset is None or offset in ("Z", "z", "UTC"):
        return dt.timezone.utc
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.timezone(sign * delta)


def format_api_time(moment: Optional[dt.datetime]) -> Optional[str]:
    """Format as the API emits run timestamps: `2026-05-21T14:30:00.000Z`."""
    if moment is None:
        return None
    utc = moment.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_db_time(moment: dt.datetime) -> str:
    """Format as ematix-flow stores timestamps: whole seconds with a `Z`, so
    that text order is time order."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_forecast_time(moment: Optional[dt.datetime]) -> Optional[str]:
    """Format a forecast tick as ematix-flow does: `2026-05-21T13:00:00+00:00`."""
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).isoformat()


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by `***`, for logs and errors."""
    try:
        parts = urllib.parse.urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:
        # Not even a well-formed URL: hide whatever sits between the first
        # colon after "//" and the last "@".
        return re.sub(r"(//[^/:@]*:)[^/]*@", r"\1***@", url)
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# ------------------------------------------------------------------------------------
# Run-history store
# ------------------------------------------------------------------------------------

RUN_COLUMNS = (
    "run_id",
    "pipeline",
    "status",
    "started_at",
    "finished_at",
    "attempt",
    "failed_step",
    "failed_watermark",
    "error_summary",
    "kind",
    "extras_json",
)
SUMMARY_COLUMNS = RUN_COLUMNS[:7] + ("kind",)
TEXT_OR_NULL_COLUMNS = (
    "started_at",
    "finished_at",
    "failed_step",
    "failed_watermark",
    "error_summary",
)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of `run_records`, with timestamps kept as the stored text."""

    run_id: str
    pipeline: str
    status: str
    started_at: Optional[str]
    finished_at: Optional[str] = None
    attempt: int = 1
    failed_step: Optional[str] = None
    failed_watermark: Optional[str] = None
    error_summary: Optional[str] = None
    kind: str = "batch"
    extras_json: str = "{}"
    # True for rows made up from run_log and pipeline_claims when the RunLog
    # has no run_records table; they have no start time and no actions.
    synthetic: bool = False
    # Database order among runs that started in the same second.
    tiebreak: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def started(self) -> Optional[dt.datetime]:
        return parse_timestamp(self.started_at)

    @property
    def finished(self) -> Optional[dt.datetime]:
        return parse_timestamp(self.finished_at)

    @property
    def duration_ms(self) -> Optional[int]:
        started, finished = self.started, self.finished
        if started is None or finished is None or self.synthetic:
            return None
        return int((finished - started) / dt.timedelta(milliseconds=1))

    def extras(self) -> dict:
        """Decode `extras_json`. Text that is not a JSON object is kept under
        `raw_extras_json` so an operator still sees it."""
        text = self.extras_json
        if not text:
            return {}
        try:
            # NaN and Infinity, which json.dumps writes by default, have no
            # JSON form in a response; they read as unknown (null).
            value = json.loads(text, parse_constant=lambda constant: None)
        except ValueError:
            return {"raw_extras_json": text}
        return value if isinstance(value, dict) else {"raw_extras_json": text}


def _record_from_row(
    columns: Sequence[str], row: Sequence[Any], tiebreak: Any = None
) -> RunRecord:
    values = dict(zip(columns, row))
    values["tiebreak"] = tiebreak
    values["attempt"] = _coerce_attempt(values.get("attempt"))
    for name in ("run_id", "pipeline", "status", "kind"):
        values[name] = _coerce_text(values.get(name)) or ""
    # SQLite keeps whatever type a writer stored, such as a number or bytes
    # in a TEXT column. The API shows every text column as text or null.
    for name in TEXT_OR_NULL_COLUMNS:
        values[name] = _coerce_text(values.get(name))
    if "extras_json" in values:
        values["extras_json"] = _coerce_text(values["extras_json"]) or "{}"
    return RunRecord(**values)


SYNTHETIC_RUN_LOG_PREFIX = "run_log:"
SYNTHETIC_CLAIM_PREFIX = "claim:"


def merge_synthetic_runs(
    recent: Mapping[str, list], synthetic: Sequence[RunRecord], keep: int
) -> dict:
    """Add made-up runs to each pipeline's newest runs (newest first) where
    `run_records` lacks them: a claim while no run is running, and a run_log
    completion that no recorded run accounts for (none was under way then).
    Keeps `keep` runs per pipeline."""
    merged = {name: list(runs) for name, runs in recent.items()}
    for record in synthetic:
        runs = merged.setdefault(record.pipeline, [])
        if record.status == "running":
            missing = not any(run.status == "running" for run in runs)
        else:
            missing = not any(_was_under_way(run, record.finished) for run in runs)
        if missing:
            runs.append(record)
            runs.sort(key=lambda run: run.started or _EPOCH, reverse=True)
            del runs[keep:]
    return merged


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _was_under_way(run: RunRecord, moment: Optional[dt.datetime]) -> bool:
    """Whether the run had started by `moment` and had not finished before
    it, so a completion recorded at that moment may be this run's."""
    if moment is None or run.status == "requested" or run.started is None:
        return False
    finished = run.finished
    return run.started <= moment and (finished is None or finished >= moment)


def _coerce_text(value: Any) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return format_db_time(parse_timestamp(value))
    return str(value)


def _coerce_attempt(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


@dataclasses.dataclass(frozen=True)
class Dialect:
    """Where the SQL of one database differs from the others. Queries are
    written with `?` placeholders and converted by `sql()`."""

    name: str
    paramstyle: str
    # Expression for a run's duration in milliseconds (NULL while open).
    duration_ms_sql: str
    # WHERE clause term for the status filter when the pipeline is filtered
    # too; SQLite's planner needs `+status` to keep the (pipeline, started_at)
    # index instead of scanning the status index of a large table.
    status_with_pipeline_sql: str
    # Lists the distinct pipeline names with one index seek per name.
    pipeline_names_sql: str
    begin_write_sql: str
    # Suffix of a SELECT that locks the rows it reads until commit. Writers
    # lock the run they act on with it, so that two flow-web processes on one
    # server take turns; SQLite needs none because BEGIN IMMEDIATE already
    # admits one writer at a time.
    lock_rows_sql: str
    # Lists the tables that unqualified names in queries resolve to.
    table_names_sql: str
    # Lists the names of the indexes on run_records.
    index_names_sql: str
    # Creates run_records with the columns of ematix-flow's SQLite table, in
    # this database's native text types; the only DDL flow-web issues.
    run_records_ddl: str
    # Orders runs that started in the same second. SQLite's rowid puts the
    # row written first first, as ematix-flow's own listing does. On the
    # servers, the `seq` column of run_records numbers rows the same way.
    tiebreak_column: str
    # (name, columns) of the indexes on run_records: ematix-flow's three,
    # which in SQLite end with the implicit rowid and on servers with `seq`.
    run_records_indexes: tuple
    # Runs a per-pipeline `{select}` for every name of a bound list in one
    # statement; planning a UNION of hundreds of parts costs PostgreSQL more
    # than running them. Empty where UNION ALL is used instead.
    lateral_names_sql: str = ""
    # Statement that serialises writers of one pipeline (its name bound to
    # `?`) until the transaction ends, even before the pipeline has a row to
    # lock; empty where locking rows is enough.
    pipeline_lock_sql: str = ""

    def sql(self, text: str) -> str:
        if self.paramstyle == "qmark":
            return text
        return text.replace("%", "%%").replace("?", "%s")


_SKIP_SCAN_PIPELINES_SQL = (
    "WITH RECURSIVE names(name) AS ("
    " SELECT MIN(pipeline) FROM run_records"
    " UNION ALL"
    " SELECT (SELECT MIN(pipeline) FROM run_records WHERE pipeline > names.name)"
    " FROM names WHERE names.name IS NOT NULL"
    ") SELECT name FROM names WHERE name IS NOT NULL"
)

SQLITE_DIALECT = Dialect(
    name="sqlite",
    paramstyle="qmark",
    duration_ms_sql=(
        "CAST(ROUND((julianday(finished_at) - julianday(started_at)) * 86400000)"
        " AS INTEGER)"
    ),
    status_with_pipeline_sql="+status = ?",
    pipeline_names_sql=_SKIP_SCAN_PIPELINES_SQL,
    begin_write_sql="BEGIN IMMEDIATE",
    lock_rows_sql="",
    table_names_sql="SELECT name FROM sqlite_master WHERE type = 'table'",
    index_names_sql=(
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name = 'run_records'"
    ),
    run_records_ddl=(
        "CREATE TABLE IF NOT EXISTS run_records (run_id TEXT PRIMARY KEY,"
        " pipeline TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL,"
        " finished_at TEXT, attempt INTEGER NOT NULL, failed_step TEXT,"
        " failed_watermark TEXT, error_summary TEXT, kind TEXT NOT NULL,"
        " extras_json TEXT NOT NULL)"
    ),
    tiebreak_column="rowid",
    run_records_indexes=(
        ("idx_run_records_started_at", "started_at DESC"),
        ("idx_run_records_pipeline", "pipeline, started_at DESC"),
        ("idx_run_records_status", "status, started_at DESC"),
    ),
)

# ematix-flow's three run_records indexes with the `seq` tiebreak appended,
# as SQLite appends the rowid, so that a page of runs is read in index order.
_SERVER_RUN_RECORDS_INDEXES = (
    ("idx_run_records_started_at", "started_at DESC, seq"),
    ("idx_run_records_pipeline", "pipeline, started_at DESC, seq"),
    ("idx_run_records_status", "status, started_at DESC, seq"),
)

# The shape of a stored timestamp; a value of another shape gets no duration
# instead of failing the whole query with a cast error. LIKE costs a fifth of
# the casts on PostgreSQL 15, a regular expression four times as much.
_PG_TIMESTAMP_LIKE = "'____-__-__T__:__%'"

POSTGRES_DIALECT = Dialect(
    name="postgresql",
    paramstyle="format",
    duration_ms_sql=(
        f"CASE WHEN started_at LIKE {_PG_TIMESTAMP_LIKE}"
        f" AND finished_at LIKE {_PG_TIMESTAMP_LIKE}"
        " THEN CAST(ROUND(EXTRACT(EPOCH FROM CAST(finished_at AS TIMESTAMPTZ)"
        " - CAST(started_at AS TIMESTAMPTZ)) * 1000) AS BIGINT) END"
    ),
    status_with_pipeline_sql="status = ?",
    # PostgreSQL has no loose index scan, so the recursive skip scan is needed.
    pipeline_names_sql=_SKIP_SCAN_PIPELINES_SQL,
    begin_write_sql="BEGIN",
    lock_rows_sql=" FOR UPDATE",
    # PostgreSQL takes no gap locks, so a transaction-scoped advisory lock
    # keyed on the pipeline name stands in for the row that may not exist yet.
    pipeline_lock_sql="SELECT pg_advisory_xact_lock(hashtext(?))",
    lateral_names_sql=(
        "SELECT part.* FROM unnest(CAST(? AS text[])) AS names(name)"
        " CROSS JOIN LATERAL ({select}) AS part"
    ),
    table_names_sql=(
        "SELECT tablename FROM pg_catalog.pg_tables"
        " WHERE schemaname = ANY (current_schemas(false))"
    ),
    index_names_sql=(
        "SELECT indexname FROM pg_catalog.pg_indexes WHERE tablename = 'run_records'"
        " AND schemaname = ANY (current_schemas(false))"
    ),
    # COLLATE "C" compares bytes as SQLite does, so sorting and the pipeline
    # skip scan give the same order whatever the database's locale is.
    run_records_ddl=(
        'CREATE TABLE IF NOT EXISTS run_records (run_id TEXT COLLATE "C" PRIMARY KEY,'
        ' pipeline TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL,'
        ' started_at TEXT COLLATE "C" NOT NULL, finished_at TEXT COLLATE "C",'
        " attempt INTEGER NOT NULL, failed_step TEXT, failed_watermark TEXT,"
        " error_summary TEXT, kind TEXT NOT NULL, extras_json TEXT NOT NULL,"
        " seq BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE)"
    ),
    tiebreak_column="seq",
    run_records_indexes=_SERVER_RUN_RECORDS_INDEXES,
)

# MySQL and MariaDB parse the first 19 characters of a stored timestamp
# (whole seconds, which is what ematix-flow writes); STR_TO_DATE returns NULL
# for anything else.
_MYSQL_TIMESTAMP = "STR_TO_DATE(LEFT({}, 19), '%Y-%m-%dT%H:%i:%s')"

MYSQL_DIALECT = Dialect(
    name="mysql",
    paramstyle="format",
    duration_ms_sql=(
        "TIMESTAMPDIFF(SECOND, "
        + _MYSQL_TIMESTAMP.format("started_at")
        + ", "
        + _MYSQL_TIMESTAMP.format("finished_at")
        + ") * 1000"
    ),
    status_with_pipeline_sql="status = ?",
    # MariaDB 10.11 runs the recursive skip scan with a full index scan per
    # name (20 s for 200 names in a million runs), but DISTINCT with one full
    # scan of the pipeline index (0.2 s there).
    pipeline_names_sql="SELECT DISTINCT pipeline FROM run_records",
    begin_write_sql="START TRANSACTION",
    lock_rows_sql=" FOR UPDATE",
    # A named lock lives as long as the session, and write connections are
    # closed right after their transaction, which releases it after COMMIT.
    pipeline_lock_sql="SELECT GET_LOCK(CONCAT('flow-web:', SHA1(?)), 10)",
    table_names_sql=(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = DATABASE()"
    ),
    index_names_sql=(
        "SELECT DISTINCT index_name FROM information_schema.statistics"
        " WHERE table_schema = DATABASE() AND table_name = 'run_records'"
    ),
    # utf8mb4_bin compares bytes as SQLite does: run ids and pipeline names
    # that differ only in case stay distinct, and sorting matches.
    run_records_ddl=(
        "CREATE TABLE IF NOT EXISTS run_records (run_id VARCHAR(255) NOT NULL,"
        " pipeline VARCHAR(255) NOT NULL, status VARCHAR(32) NOT NULL,"
        " started_at VARCHAR(64) NOT NULL, finished_at VARCHAR(64) NULL,"
        " attempt INT NOT NULL, failed_step TEXT NULL, failed_watermark TEXT NULL,"
        " error_summary MEDIUMTEXT NULL, kind VARCHAR(32) NOT NULL,"
        " extras_json MEDIUMTEXT NOT NULL, seq BIGINT NOT NULL AUTO_INCREMENT,"
        " PRIMARY KEY (run_id), UNIQUE KEY run_records_seq (seq))"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    ),
    tiebreak_column="seq",
    run_records_indexes=_SERVER_RUN_RECORDS_INDEXES,
)


class Connector:
    """Opens connections to one RunLog and says how its errors read.
    Subclasses exist per database kind."""

    dialect: Dialect
    # Whether change_marker() can tell that nothing changed; without it the
    # store reuses cached documents for CACHE_TTL_S at most.
    tracks_changes = False

    def describe(self) -> str:
        """The RunLog's location for logs and messages, without secrets."""
        raise NotImplementedError

    def connect(self, write: bool = False) -> Any:
        raise NotImplementedError

    def fetch_all(self, connection: Any, sql: str, params: Sequence[Any]) -> list:
        return _execute(connection, sql, params).fetchall()

    def identity(self) -> Any:
        """A value that changes when the database behind the location is
        replaced (a restored file); pooled connections are reopened then."""
        return None

    def change_marker(self, connection: Any) -> Any:
        """A cheap value that changes whenever anything was committed, or
        None when the database has no such signal (a time-based TTL is used)."""
        return None

    def translate_error(self, error: Exception, write: bool) -> Optional[FlowWebError]:
        """The user-facing error for a driver exception, or None to re-raise."""
        raise NotImplementedError

    def check_startup(self) -> None:
        """Raise ConfigError with a one-line fix when the RunLog is unusable."""

    def is_disconnect(self, error: Exception) -> bool:
        """Tell whether the error means the connection is dead (the server
        closed it or restarted), so that a new connection may succeed."""
        return False


class SQLiteConnector(Connector):
    """A RunLog file. Reads use read-only connections and writes a separate
    read-write one; neither creates the file nor changes its journal mode."""

    dialect = SQLITE_DIALECT
    tracks_changes = True

    def __init__(self, path: str):
        absolute = os.path.abspath(os.path.expanduser(path))
        # POSIX keeps a leading "//", which a file: URI would read as a host.
        self.path = (
            "/" + absolute.lstrip("/") if absolute.startswith("//") else absolute
        )
        self._immutable = False

    def describe(self) -> str:
        return "sqlite:///" + self.path.lstrip("/")

    def connect(self, write: bool = False) -> sqlite3.Connection:
        if not os.path.exists(self.path):
            raise Unavailable(
                f"RunLog file {self.path} does not exist; check --run-log-url"
            )
        mode = "rw" if write else "ro"
        uri = f"file:{urllib.parse.quote(self.path)}?mode={mode}"
        if self._immutable and not write:
            uri += "&immutable=1"
        connection = sqlite3.connect(
            uri,
            uri=True,
            timeout=DB_BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        return connection

    def fetch_all(self, connection: Any, sql: str, params: Sequence[Any]) -> list:
        try:
            return super().fetch_all(connection, sql, params)
        except sqlite3.OperationalError as error:
            if "decode" not in str(error):
                raise
        # Text that is not UTF-8 (written by some other tool) is shown with
        # replacement characters instead of failing the whole page.
        connection.text_factory = _decode_leniently
        try:
            return super().fetch_all(connection, sql, params)
        finally:
            connection.text_factory = str

    def identity(self) -> Any:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def change_marker(self, connection: Any) -> Any:
        return connection.execute("PRAGMA data_version").fetchone()[0]

    def translate_error(self, error: Exception, write: bool) -> Optional[FlowWebError]:
        if not isinstance(error, sqlite3.Error):
            return None
        text = str(error)
        if "locked" in text or "busy" in text:
            return Unavailable(
                f"RunLog {self.path} is locked by another writer; retry in a few"
                " seconds"
            )
        if (
            "readonly" in text
            or "read-only" in text
            or (write and "unable to open" in text)
        ):
            return Unavailable(
                f"RunLog {self.path} is read-only for this process ({text}); actions"
                " need write access to the file and its folder, reads still work"
            )
        if "not a database" in text or "malformed" in text:
            return Unavailable(
                f"RunLog {self.path} is not a valid SQLite database ({text})"
            )
        if "no such table" in text:
            return Unavailable(
                f"RunLog {self.path} lost a table while flow-web was running ({text});"
                " check that it is an ematix-flow RunLog"
            )
        return Unavailable(f"RunLog {self.path} cannot be read: {text}")

    def check_startup(self) -> None:
        if not os.path.exists(self.path):
            raise ConfigError(
                f"RunLog file {self.path} does not exist; pass --run-log-url"
                " sqlite:////path/to/run_log.db for an existing ematix-flow RunLog,"
                " or --demo"
            )
        if os.path.isdir(self.path):
            raise ConfigError(f"RunLog path {self.path} is a folder, not a SQLite file")
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(16)
        except OSError as error:
            raise ConfigError(
                f"cannot read RunLog file {self.path}: {error.strerror}"
            ) from None
        if header and header != b"SQLite format 3\x00":
            raise ConfigError(
                f"RunLog file {self.path} is not a SQLite database; point"
                " --run-log-url at the file ematix-flow writes (run_log.db)"
            )
        self._check_readable()

    def _check_tables(self, tables: set) -> None:
        """Reject a database that holds other tables but none of ematix-flow's;
        an empty one may be a RunLog the scheduler has not written yet."""
        if tables.intersection(RUN_LOG_TABLES):
            return
        if tables:
            raise ConfigError(
                f"RunLog file {self.path} is a SQLite database without any of"
                f" ematix-flow's RunLog tables ({', '.join(RUN_LOG_TABLES)}); point"
                " --run-log-url at the file the scheduler writes"
            )
        log.warning(
            "RunLog %s has no tables yet; pages stay empty until the scheduler"
            " writes there",
            self.path,
        )

    def _check_readable(self) -> None:
        try:
            connection = self.connect()
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
            connection.close()
            self._check_tables({str(row[0]).lower() for row in rows})
        except sqlite3.OperationalError as error:
            if "unable to open" not in str(error):
                raise ConfigError(f"cannot read RunLog {self.path}: {error}") from None
            # A WAL database in a folder we may not write needs its -shm file;
            # immutable mode reads it without one but cannot see new writes.
            self._immutable = True
            log.warning(
                "RunLog %s opened as immutable because its folder is not writable;"
                " new runs appear only after a restart",
                self.path,
            )


def parse_run_log_url(url: str) -> Connector:
    """Build the connector for a RunLog URL or path. `sqlite:////abs/path.db`,
    `sqlite:///rel/path.db` (ematix-flow reads this one as absolute too, see
    below), `file:`, a bare path, `postgresql://` and `mysql://` are accepted."""
    text = url.strip()
    # A scheme is followed by "://", except in file:/abs/x.db. A Windows
    # drive such as C:\ and a file named backup:1.db are paths.
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):(//)?", text)
    scheme = ""
    if match and (match.group(2) or match.group(1).lower() == "file"):
        scheme = match.group(1).lower()
    if scheme == "":
        return SQLiteConnector(text)
    if scheme == "file":
        # file:///abs/x.db and file:/abs/x.db both name /abs/x.db.
        path = text[len("file:") :]
        if path.startswith("//"):
            path = path[2:]
        return SQLiteConnector(urllib.parse.unquote(_without_query(text, path)))
    if scheme == "sqlite":
        return SQLiteConnector(_sqlite_url_path(text))
    factory = NETWORK_CONNECTORS.get(scheme)
    if factory is not None:
        try:
            return factory(text)
        except ValueError as error:
            raise ConfigError(
                f"invalid RunLog URL {redact_url(text)!r} ({error}); use the form"
                f" {scheme}://user@host:port/database"
            ) from None
    raise ConfigError(
        f"unknown RunLog URL scheme {scheme!r} in {redact_url(text)!r}; use"
        " sqlite:////path/to/run_log.db, postgresql://user@host/db or"
        " mysql://user@host/db"
    )


def _without_query(url: str, path: str) -> str:
    """Return `path` of the SQLite URL `url`, which must have no options."""
    if "?" not in path:
        return path
    options = path.split("?", 1)[1]
    raise ConfigError(
        f"RunLog URL {url!r} has options ({options}) that flow-web does not"
        " read; remove them. flow-web opens the file read-only for its pages"
        " anyway, and --read-only turns off the actions"
    )


def _sqlite_url_path(url: str) -> str:
    # ematix-flow takes everything after "sqlite://" as the path, so
    # sqlite:///var/x.db is /var/x.db. It also turns sqlite:///./x.db into
    # /./x.db, which flow-web reads as the relative path ./x.db instead.
    rest = urllib.parse.unquote(_without_query(url, url[len("sqlite://") :]))
    if rest.startswith(("/./", "/../")):
        return rest[1:]
    if re.match(r"^/[A-Za-z]:[/\\]", rest):
        return rest[1:]
    if not rest:
        raise ConfigError(
            f"RunLog URL {url!r} has no path; use sqlite:////path/run_log.db"
        )
    return rest


# -- database servers ---------------------------------------------------------------

# Statements on a database server are cancelled after this long, so a slow
# query becomes a 503 with a message instead of a page that hangs.
DB_STATEMENT_TIMEOUT_S = 10.0
# Opening a TCP connection to a database server gives up after this long.
DB_CONNECT_TIMEOUT_S = 5.0
# TLS modes, named as libpq names its `sslmode` values.
TLS_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
# Tables that mark a database as an ematix-flow RunLog.
RUN_LOG_TABLES = ("run_log", "attempt_state", "pipeline_claims", "run_records")


class StaleConnection(Unavailable):
    """A pooled connection turned out to be closed by the server, for example
    after the server restarted; a new connection may work."""


class StatementFailed(Unavailable):
    """One statement failed (it timed out, lacked a privilege or found no
    table, or no pooled connection came free) while the RunLog as a whole
    may be fine, so other reads go on."""


# Failure kinds of a server connector that concern one statement.
STATEMENT_FAILURE_KINDS = ("timeout", "permission", "missing-table", "other")


@dataclasses.dataclass(frozen=True)
class ServerAddress:
    """Location of a RunLog on a database server, parsed from its URL."""

    scheme: str
    host: str
    port: int
    database: str
    user: str
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    tls_mode: str = "prefer"
    ca_file: Optional[str] = None
    connect_timeout_s: float = DB_CONNECT_TIMEOUT_S

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """Return the URL without password or options, for logs and messages."""
        return f"{self.scheme}://{self.user}@{self.endpoint}/{self.database}"


def parse_server_url(
    url: str,
    default_port: int,
    option_names: Mapping[str, str],
    password_env: str,
    environ: Mapping[str, str],
) -> tuple:
    """Split a server RunLog URL into a ServerAddress (without TLS settings)
    and its query options, renamed through `option_names`. The password comes
    from the URL, else from the environment variable `password_env`."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(
            "the port in the RunLog URL is not a number from 1 to 65535"
        ) from None
    database = urllib.parse.unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(
            f"the RunLog URL {redact_url(url.split('?', 1)[0])!r} names no database;"
            f" add it as the path, for example {parts.scheme}://user@host/run_log"
        )
    password = (
        urllib.parse.unquote(parts.password)
        if parts.password is not None
        else environ.get(password_env)
    )
    address = ServerAddress(
        scheme=parts.scheme.lower(),
        host=parts.hostname or "localhost",
        port=port,
        database=database,
        user=_server_user(parts.username),
        password=password,
    )
    return address, _server_url_options(parts.query, option_names)


def _server_user(name: Optional[str]) -> str:
    # As the libpq and MySQL clients do, a URL without a user name logs in
    # with the name of the operating-system user.
    if name:
        return urllib.parse.unquote(name)
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise ConfigError(
            "the RunLog URL names no user and the login name of this process is"
            " unknown; add one as scheme://USER@host/database"
        ) from None


def _server_url_options(query: str, option_names: Mapping[str, str]) -> dict:
    options = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        key = option_names.get(name.lower())
        if key is None:
            # Only the name is shown: an unknown option may carry a secret.
            raise ConfigError(
                f"unknown option {name!r} in the RunLog URL; supported options are"
                f" {', '.join(sorted(option_names))}"
            )
        options[key] = value
    return options


def parse_timeout_option(name: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise ConfigError(
            f"{name}={text!r} in the RunLog URL is not a number of seconds"
            " between 0 and 3600"
        )
    return seconds


def with_connect_timeout(
    address: ServerAddress, options: Mapping[str, str], name: str
) -> ServerAddress:
    """Return `address` with the connect timeout of URL option `name`, if
    the URL gives one."""
    if name not in options:
        return address
    seconds = parse_timeout_option(name, options[name])
    return dataclasses.replace(address, connect_timeout_s=seconds)


def tls_context(mode: str, ca_file: Optional[str]) -> Any:
    """The drivers' TLS setting for a mode of TLS_MODES: False for no TLS, None
    for TLS without verification when the server offers it (both drivers'
    default), or an SSLContext that must be used. As in libpq, `require` with a
    CA file also verifies the server's certificate chain; `verify-ca` and
    `verify-full` without one use the system's trusted CAs."""
    if mode == "disable":
        return False
    if mode == "prefer":
        return None
    import ssl

    try:
        if ca_file is None or ca_file == "system":
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"cannot load the CA certificate file {ca_file!r} named in the RunLog"
            f" URL: {getattr(error, 'strerror', None) or error}"
        ) from None
    if mode != "verify-full":
        context.check_hostname = False
    if mode == "require" and ca_file is None:
        context.verify_mode = ssl.CERT_NONE
    return context


def import_driver(module: str, product: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ConfigError(
            f"{product} RunLogs need the {package} package, which flow-web.pyz"
            f" bundles; in a development install run: pip install {package}"
        ) from None


class ServerConnector(Connector):
    """A RunLog on a database server. Subclasses open connections with their
    driver and sort its errors into the kinds that `failure_message` words."""

    product = "database"
    # The environment variable that contains the password when the URL has none.
    password_env = ""
    # URL options that set TLS, for messages.
    tls_options = ""

    def __init__(self, address: ServerAddress):
        self.address = address
        self.tls = tls_context(address.tls_mode, address.ca_file)
        # Limit of each statement on new connections; None for no limit, which
        # bulk work such as building indexes on a large table may need.
        self.statement_timeout_s: Optional[float] = DB_STATEMENT_TIMEOUT_S

    def socket_timeout_s(self) -> Optional[float]:
        """Return how long a read from the server may block: a little longer
        than the statement timeout, so that a server that stops responding
        fails the request instead of hanging it."""
        if self.statement_timeout_s is None:
            return None
        return self.statement_timeout_s + self.address.connect_timeout_s

    def describe(self) -> str:
        return self.address.describe()

    def classify(self, error: Exception) -> Optional[str]:
        """Return the kind of a driver error: a key of `failure_message`'s
        table, "other" for other database errors, or None for errors that do
        not come from the database."""
        raise NotImplementedError

    def driver_message(self, error: Exception) -> str:
        return str(error)

    def is_disconnect(self, error: Exception) -> bool:
        return self.classify(error) == "disconnect"

    def translate_error(self, error: Exception, write: bool) -> Optional[FlowWebError]:
        kind = self.classify(error)
        if kind is None:
            return None
        message = self.failure_message(kind, self.driver_message(error), write)
        if kind == "disconnect":
            return StaleConnection(message)
        if kind in STATEMENT_FAILURE_KINDS:
            return StatementFailed(message)
        return Unavailable(message)

    def failure_message(self, kind: str, text: str, write: bool) -> str:
        address = self.address
        where = f"{self.product} at {address.endpoint}"
        run_log = f"RunLog {self.describe()}"
        limit = self.statement_timeout_s or 0
        needed = (
            "actions need INSERT and UPDATE on run_records"
            if write
            else "reading needs SELECT on run_log, attempt_state, pipeline_claims"
            " and run_records"
        )
        messages = {
            "connect": f"cannot connect to {where} ({text}); check the host and port"
            " in the RunLog URL and that the server is running",
            "unreachable": f"cannot reach {where} within"
            f" {address.connect_timeout_s:g} s ({text}); check the host, the port"
            " and the firewall",
            "unknown-host": f"cannot resolve the host {address.host!r} ({text}); check"
            " the host in the RunLog URL",
            "auth": f"{where} rejected user {address.user!r} ({text}); check the"
            f" user and the password (in the RunLog URL or {self.password_env})",
            "missing-database": f"database {address.database!r} does not exist on"
            f" {where}; create it or fix the database name in the RunLog URL",
            "database-denied": f"{where} denies user {address.user!r} access to"
            f" database {address.database!r} ({text}); check the database name in"
            " the RunLog URL and the user's grants",
            "tls": f"TLS connection to {where} failed ({text}); check"
            f" {self.tls_options} in the RunLog URL",
            "starting": f"{where} is starting up or shutting down ({text}); retry in"
            " a few seconds",
            "overloaded": f"{where} accepts no more connections ({text}); retry"
            " later or raise the server's connection limit",
            "timeout": f"a query on {run_log} took longer than {limit:g} s and was"
            f" cancelled ({text}); the server is busy or a table is locked, so retry"
            " in a moment",
            "disconnect": f"lost the connection to {run_log} ({text}); retry in a"
            " few seconds",
            "permission": f"user {address.user!r} lacks a privilege on {run_log}"
            f" ({text}); {needed}",
            "missing-table": f"a table of {run_log} is missing ({text}); check that"
            " the database is an ematix-flow RunLog",
        }
        return messages.get(kind, f"{run_log} failed: {text}")

    def check_startup(self) -> None:
        try:
            connection = self.connect()
            try:
                sql = self.dialect.sql(self.dialect.table_names_sql)
                rows = _execute(connection, sql, ()).fetchall()
            finally:
                _close_quietly(connection)
        except Exception as error:
            kind = self.classify(error)
            if kind is None:
                raise
            message = self.failure_message(kind, self.driver_message(error), False)
            raise ConfigError(message) from None
        tables = {_coerce_text(row[0]).lower() for row in rows}
        if not tables.intersection(RUN_LOG_TABLES):
            log.warning(
                "database %s has none of ematix-flow's RunLog tables (%s) yet;"
                " pages stay empty until the scheduler writes there",
                self.describe(),
                ", ".join(RUN_LOG_TABLES),
            )


def _socket_error_kind(error: OSError) -> str:
    import socket
    import ssl

    if isinstance(error, ssl.SSLError):
        return "tls"
    if isinstance(error, socket.gaierror):
        return "unknown-host"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "unreachable"
    return "connect"


def _socket_error_text(error: BaseException) -> str:
    verify_message = getattr(error, "verify_message", None)
    if verify_message:
        return f"certificate verify failed: {verify_message}"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


CHANGE_MARKER_SQL = "SELECT CAST(pg_current_snapshot() AS TEXT)"
# A %s placeholder or a %% escape in a statement written for paramstyle format.
_FORMAT_PLACEHOLDER_RE = re.compile(r"%([s%])")


class PostgresConnector(ServerConnector):
    """A RunLog in a PostgreSQL database, read and written with pg8000.
    URL: postgresql://user[:password]@host[:port]/database[?options]."""

    dialect = POSTGRES_DIALECT
    product = "PostgreSQL"
    password_env = "PGPASSWORD"
    tls_options = "sslmode and sslrootcert"
    option_names = {
        "sslmode": "sslmode",
        "sslrootcert": "sslrootcert",
        "connect_timeout": "connect_timeout",
    }
    # SQLSTATE codes and classes of PostgreSQL errors, by kind.
    error_codes = {
        "28P01": "auth",
        "28000": "auth",
        "3D000": "missing-database",
        "57014": "timeout",
        "55P03": "timeout",
        "57P01": "disconnect",
        "57P02": "disconnect",
        "57P03": "starting",
        "53300": "overloaded",
        "42P01": "missing-table",
        "42501": "permission",
    }

    tracks_changes = True

    def __init__(self, url: str, environ: Optional[Mapping[str, str]] = None):
        self.driver = import_driver("pg8000.dbapi", self.product)
        address, options = parse_server_url(
            url,
            5432,
            self.option_names,
            self.password_env,
            os.environ if environ is None else environ,
        )
        mode = options.get("sslmode", "prefer").lower()
        if mode == "allow":
            mode = "prefer"
        if mode not in TLS_MODES:
            raise ConfigError(
                f"sslmode={mode!r} in the RunLog URL is not one of"
                f" {', '.join(TLS_MODES)}"
            )
        address = dataclasses.replace(
            address, tls_mode=mode, ca_file=options.get("sslrootcert") or None
        )
        super().__init__(with_connect_timeout(address, options, "connect_timeout"))

    def connect(self, write: bool = False) -> Any:
        import socket

        address = self.address
        sock = socket.create_connection(
            (address.host, address.port), address.connect_timeout_s
        )
        sock.settimeout(self.socket_timeout_s())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            connection = self.driver.connect(
                user=address.user,
                host=address.host,
                port=address.port,
                database=address.database,
                password=address.password,
                ssl_context=self.tls,
                sock=sock,
                application_name="flow-web",
            )
        except AttributeError as error:
            sock.close()
            if address.password is not None:
                raise
            # pg8000 1.31 fails this way when the server asks for a password
            # and none was given.
            raise self.driver.InterfaceError(
                f"the server requested a password and none was given; put it in"
                f" the URL or in {self.password_env}"
            ) from error
        except BaseException:
            sock.close()
            raise
        try:
            # Reads run as single statements; writes open their own BEGIN.
            connection.autocommit = True
            # PostgreSQL reads 0 as no limit.
            timeout_ms = str(int((self.statement_timeout_s or 0) * 1000))
            _execute(
                connection,
                "SELECT set_config('statement_timeout', %s, false)",
                (timeout_ms,),
            )
        except BaseException:
            _close_quietly(connection)
            raise
        return connection

    def fetch_all(self, connection: Any, sql: str, params: Sequence[Any]) -> list:
        if not params:
            return super().fetch_all(connection, sql, params)
        # pg8000's DB-API cursor converts %s placeholders by scanning the
        # statement one character at a time in Python, which took a third of
        # the time of /api/pipelines on a million runs. A regular expression
        # does the same here, which is safe because no string literal in
        # flow-web's statements contains %s.
        numbers = itertools.count(1)
        statement = _FORMAT_PLACEHOLDER_RE.sub(
            lambda match: "%" if match.group(1) == "%" else f"${next(numbers)}", sql
        )
        return connection.execute_unnamed(statement, vals=tuple(params)).rows or []

    def change_marker(self, connection: Any) -> Any:
        # The current snapshot lists the oldest running transaction, the next
        # transaction id and the running ones. It changes when a transaction
        # of the cluster that writes starts or ends, so no commit goes
        # unnoticed, and stays the same while nothing is written.
        return _execute(connection, CHANGE_MARKER_SQL, ()).fetchall()[0][0]

    def classify(self, error: Exception) -> Optional[str]:
        import ssl

        exceptions = self.driver
        if isinstance(error, OSError):
            return _socket_error_kind(error)
        if isinstance(error, exceptions.DatabaseError) and _pg_fields(error):
            code = _pg_fields(error).get("C", "")
            if code.startswith("08"):
                return "disconnect"
            return self.error_codes.get(code, "other")
        if isinstance(error, exceptions.InterfaceError):
            text = str(error)
            if isinstance(error.__cause__, ssl.SSLError) or "SSL" in text:
                return "tls"
            # pg8000 reports a socket error, and a server that closed the
            # connection (end of file), as "network error".
            if isinstance(error.__cause__, OSError) or text in (
                "network error",
                "communication error",
                "connection is closed",
            ):
                return "disconnect"
            if "password" in text or "Authentication" in text:
                return "auth"
            return "other"
        if isinstance(error, exceptions.Error) or type(error).__module__.startswith(
            "scramp"
        ):
            return "other"
        return None

    def driver_message(self, error: Exception) -> str:
        if isinstance(error, OSError):
            return _socket_error_text(error)
        fields = _pg_fields(error)
        if fields:
            return fields.get("M", "") or str(error)
        if isinstance(error.__cause__, OSError):
            return f"{error}: {_socket_error_text(error.__cause__)}"
        return str(error)


def _pg_fields(error: Exception) -> dict:
    # pg8000 passes the server's error fields as a dict: C is the SQLSTATE
    # code and M the message.
    first = error.args[0] if error.args else None
    return first if isinstance(first, dict) else {}


# MySQL's `ssl-mode` values, mapped to TLS_MODES.
MYSQL_TLS_MODES = {
    "disabled": "disable",
    "preferred": "prefer",
    "required": "require",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}


class MySQLConnector(ServerConnector):
    """A RunLog in a MySQL or MariaDB database, read and written with PyMySQL.
    URL: mysql://user[:password]@host[:port]/database[?options]."""

    dialect = MYSQL_DIALECT
    password_env = "MYSQL_PWD"
    tls_options = "ssl-mode and ssl-ca"
    option_names = {
        "ssl-mode": "ssl-mode",
        "ssl_mode": "ssl-mode",
        "ssl-ca": "ssl-ca",
        "ssl_ca": "ssl-ca",
        "connect-timeout": "connect-timeout",
        "connect_timeout": "connect-timeout",
    }
    # Server and client error numbers, by kind.
    error_codes = {
        1045: "auth",
        # MySQL reports a missing database as 1044 to users without rights
        # on it, so as not to reveal which databases exist.
        1044: "database-denied",
        1049: "missing-database",
        1142: "permission",
        1143: "permission",
        1146: "missing-table",
        1040: "overloaded",
        1205: "timeout",
        1317: "timeout",
        1969: "timeout",
        3024: "timeout",
        1053: "disconnect",
        1927: "disconnect",
        2006: "disconnect",
        2013: "disconnect",
        2014: "disconnect",
        2055: "disconnect",
        4031: "disconnect",
        2003: "connect",
        2005: "unknown-host",
        2026: "tls",
    }

    def __init__(self, url: str, environ: Optional[Mapping[str, str]] = None):
        self.driver = import_driver("pymysql", "MySQL")
        address, options = parse_server_url(
            url,
            3306,
            self.option_names,
            self.password_env,
            os.environ if environ is None else environ,
        )
        self.product = "MariaDB" if address.scheme == "mariadb" else "MySQL"
        name = options.get("ssl-mode", "preferred").lower()
        if name not in MYSQL_TLS_MODES:
            raise ConfigError(
                f"ssl-mode={name!r} in the RunLog URL is not one of"
                f" {', '.join(value.upper() for value in MYSQL_TLS_MODES)}"
            )
        address = dataclasses.replace(
            address,
            tls_mode=MYSQL_TLS_MODES[name],
            ca_file=options.get("ssl-ca") or None,
        )
        super().__init__(with_connect_timeout(address, options, "connect-timeout"))

    def connect(self, write: bool = False) -> Any:
        address = self.address
        tls: dict = {}
        if self.tls is False:
            tls["ssl_disabled"] = True
        elif self.tls is not None:
            tls["ssl"] = self.tls
        connection = self.driver.connect(
            host=address.host,
            port=address.port,
            user=address.user,
            password=(address.password or "").encode("utf-8"),
            database=address.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=address.connect_timeout_s,
            read_timeout=self.socket_timeout_s(),
            write_timeout=self.socket_timeout_s(),
            **tls,
        )
        try:
            self._prepare_session(connection)
        except BaseException:
            _close_quietly(connection)
            raise
        return connection

    def _prepare_session(self, connection: Any) -> None:
        # Read committed lets a writer that waited for a row lock see the rows
        # committed meanwhile, as on PostgreSQL.
        _execute(
            connection, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", ()
        )
        if self.statement_timeout_s is None:
            return
        # The statement time limit is max_statement_time (seconds) on MariaDB
        # and max_execution_time (milliseconds, SELECT only) on MySQL; lock
        # waits have limits of their own in whole seconds.
        seconds = self.statement_timeout_s
        if "mariadb" in connection.get_server_info().lower():
            limit = "SET SESSION max_statement_time = %s"
            value: Any = seconds
        else:
            limit = "SET SESSION max_execution_time = %s"
            value = int(seconds * 1000)
        _execute(
            connection,
            limit + ", SESSION lock_wait_timeout = %s,"
            " SESSION innodb_lock_wait_timeout = %s",
            (value, max(1, int(seconds)), max(1, int(seconds))),
        )

    def classify(self, error: Exception) -> Optional[str]:
        errors = self.driver.err
        if isinstance(error, OSError):
            return _socket_error_kind(error)
        if not isinstance(error, errors.MySQLError):
            return None
        code = error.args[0] if error.args else None
        if isinstance(error, errors.InterfaceError) and not isinstance(code, int):
            return "disconnect"
        if code == 2003:
            cause = getattr(error, "original_exception", None) or error.__cause__
            if isinstance(cause, OSError):
                return _socket_error_kind(cause)
        return self.error_codes.get(code, "other")

    def driver_message(self, error: Exception) -> str:
        if isinstance(error, OSError):
            return _socket_error_text(error)
        cause = getattr(error, "original_exception", None)
        if isinstance(cause, OSError):
            return _socket_error_text(cause)
        if len(error.args) >= 2 and error.args[1]:
            return str(error.args[1])
        return str(error) or "connection closed"


# Database kinds served over the network, by URL scheme; each maps to a
# callable that builds its Connector from the URL.
NETWORK_CONNECTORS: dict = {
    "postgresql": PostgresConnector,
    "postgres": PostgresConnector,
    "mysql": MySQLConnector,
    "mariadb": MySQLConnector,
}


class RunLogStore:
    """Reads and writes one RunLog through a small connection pool, and caches
    derived documents until the database changes."""

    def __init__(self, connector: Connector):
        self.connector = connector
        self.dialect = connector.dialect
        self._pool: queue.LifoQueue = queue.LifoQueue()
        # Read connections open at once, pooled or lent out.
        self._slots = threading.BoundedSemaphore(DB_POOL_SIZE)
        self._pool_identity: Any = None
        # Transactions this process committed; part of the fingerprint, so its
        # own writes show at once even where changes are not tracked.
        self._commits = 0
        self._pool_lock = threading.Lock()
        self._marker_lock = threading.Lock()
        self._watcher: Any = None
        self._watcher_identity: Any = None
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_fingerprint: Any = None
        self._cache_locks: dict = {}
        self._cache_lock = threading.Lock()
        # Messages only: a kept exception would keep its traceback's frames,
        # and the documents they were building, alive for the outage.
        self._marker_failure: Optional[tuple] = None
        self._outage: Optional[str] = None
        self._outage_began = 0.0
        self._probe_lock = threading.Lock()

    # -- connections -------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self, write: bool = False, fresh: bool = False) -> Iterator[Any]:
        """Lend a connection, a new one when `fresh`. Driver errors come out
        as FlowWebError, or as StaleConnection when a pooled connection turns
        out to be closed. While the RunLog is unavailable, reads fail at once
        (see `_outage_guard`)."""
        guard = contextlib.nullcontext() if write else self._outage_guard()
        with guard:
            try:
                connection, reused = self._checkout(write, fresh)
            except FlowWebError:
                raise
            except Exception as error:
                raise self._translate(error, write) from error
            healthy = True
            try:
                yield connection
            except FlowWebError:
                raise
            except Exception as error:
                healthy = False
                translated = self._translate(error, write)
                if isinstance(translated, StaleConnection) and not reused:
                    translated = Unavailable(str(translated))
                raise translated from error
            finally:
                self._checkin(connection, write, healthy)

    @contextlib.contextmanager
    def _outage_guard(self) -> Iterator[None]:
        """Fail reads at once while the RunLog is known to be unavailable.

        A read that fails with Unavailable (locked, missing, unreachable)
        marks the whole RunLog unavailable; StaleConnection, which a retry on
        a new connection handles, and StatementFailed, which concerns one
        statement, do not. From then on one read at a time goes to the
        database as a probe and waits as long as it needs to, while every
        other read fails at once with the same 503 instead of waiting
        DB_BUSY_TIMEOUT_S too. The first probe that succeeds ends the outage,
        so flow-web recovers within one probe of the database returning."""
        outage = self._outage
        probing = outage is not None
        if probing and not self._probe_lock.acquire(blocking=False):
            raise Unavailable(outage)
        try:
            yield
        except (StaleConnection, StatementFailed):
            raise
        except Unavailable as error:
            self._start_outage(error)
            raise
        else:
            if probing:
                self._end_outage()
        finally:
            if probing:
                self._probe_lock.release()

    def _start_outage(self, error: FlowWebError) -> None:
        if self._outage is None:
            self._outage_began = time.monotonic()
            log.warning(
                "RunLog %s is unavailable, responding 503 until it is back: %s",
                self.connector.describe(),
                error,
            )
        self._outage = str(error)

    def _end_outage(self) -> None:
        if self._outage is not None:
            self._outage = None
            log.info(
                "RunLog %s is available again after %.1f s",
                self.connector.describe(),
                time.monotonic() - self._outage_began,
            )

    def _translate(self, error: Exception, write: bool) -> Exception:
        translated = self.connector.translate_error(error, write)
        if translated is None:
            return error
        log.debug("database error on %s", self.connector.describe(), exc_info=error)
        return translated

    def _checkout(self, write: bool, fresh: bool) -> tuple:
        """(connection, whether it was reused from the pool)."""
        if write:
            return self.connector.connect(write=True), False
        if not self._slots.acquire(timeout=DB_STATEMENT_TIMEOUT_S):
            raise StatementFailed(
                f"all {DB_POOL_SIZE} connections to RunLog"
                f" {self.connector.describe()} stayed busy for"
                f" {DB_STATEMENT_TIMEOUT_S:g} s; retry in a moment"
            )
        try:
            self._refresh_pool_identity()
            if not fresh:
                with contextlib.suppress(queue.Empty):
                    return self._pool.get_nowait(), True
            return self.connector.connect(), False
        except BaseException:
            self._slots.release()
            raise

    def _checkin(self, connection: Any, write: bool, healthy: bool) -> None:
        if write:
            _close_quietly(connection)
            return
        try:
            if not healthy or self._pool.qsize() >= DB_POOL_SIZE:
                _close_quietly(connection)
            else:
                self._pool.put(connection)
        finally:
            self._slots.release()

    def _refresh_pool_identity(self) -> None:
        identity = self.connector.identity()
        if identity == self._pool_identity:
            return
        with self._pool_lock:
            if identity == self._pool_identity:
                return
            if self._pool_identity is not None:
                log.warning(
                    "RunLog %s was replaced; reopening connections",
                    self.connector.describe(),
                )
            self._pool_identity = identity
            self.close()

    def close(self) -> None:
        while True:
            try:
                _close_quietly(self._pool.get_nowait())
            except queue.Empty:
                return

    def query(self, sql: str, params: Sequence[Any] = ()) -> list:
        """Rows of one read statement. When a pooled connection turns out to
        be closed (the server restarted), the pool is emptied and the
        statement retried once on a new connection."""
        statement = self.dialect.sql(sql)
        try:
            return self._fetch_all(statement, params, fresh=False)
        except StaleConnection as error:
            log.warning("%s; reconnecting and retrying once", error)
            self.close()
            return self._fetch_all(statement, params, fresh=True)

    def _fetch_all(self, statement: str, params: Sequence[Any], fresh: bool) -> list:
        with self.connection(fresh=fresh) as connection:
            return self.connector.fetch_all(connection, statement, params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Callable[..., Any]]:
        """Run writes in one transaction; yields `execute(sql, params)` that
        returns a cursor. Commits on success, rolls back on any error."""
        identity = self.connector.identity()
        with self.connection(write=True) as connection:
            dialect = self.dialect

            def execute(sql: str, params: Sequence[Any] = ()) -> Any:
                return _execute(connection, dialect.sql(sql), params)

            if dialect.begin_write_sql:
                execute(dialect.begin_write_sql)
            try:
                yield execute
            except BaseException:
                _roll_back_quietly(connection)
                raise
            _execute(connection, "COMMIT", ())
            self._commits += 1
        self._check_not_replaced(identity)

    def _check_not_replaced(self, identity: Any) -> None:
        # A restore that renames another file over the RunLog between the
        # connect and the commit leaves the write in the unlinked old file.
        if identity is not None and self.connector.identity() != identity:
            raise Unavailable(
                f"RunLog {self.connector.describe()} was replaced while this"
                " request was written to it, so the request may be lost with the"
                " old file; check the runs and send it again"
            )

    # -- change detection and caching ---------------------------------------------

    def committed_writes(self) -> int:
        """Return how many write transactions this process has committed."""
        return self._commits

    def fingerprint(self) -> Any:
        """A value that differs whenever the RunLog may have changed."""
        with self._outage_guard():
            return self._read_fingerprint()

    def _read_fingerprint(self) -> Any:
        identity = self.connector.identity()
        if not self.connector.tracks_changes:
            return (identity, self._commits, int(time.monotonic() / CACHE_TTL_S))
        waiting_since = time.monotonic()
        with self._marker_lock:
            # A read that failed while this one waited for the lock covers
            # this request's time, so this one fails too instead of waiting
            # DB_BUSY_TIMEOUT_S again behind it.
            failure = self._marker_failure
            if failure is not None and failure[1] >= waiting_since:
                raise Unavailable(failure[0])
            try:
                marker = self._read_marker(identity)
            except FlowWebError as error:
                self._marker_failure = (str(error), time.monotonic())
                raise
            self._marker_failure = None
        if marker is None:
            return (identity, self._commits, int(time.monotonic() / CACHE_TTL_S))
        return (identity, self._commits, marker)

    def _read_marker(self, identity: Any) -> Any:
        # A watcher closed by the server (after a restart) is replaced once.
        for retry in (False, True):
            if self._watcher is None or self._watcher_identity != identity:
                self._close_watcher()
                self._watcher = self._open_watcher()
                self._watcher_identity = identity
            try:
                return self.connector.change_marker(self._watcher)
            except Exception as error:
                self._close_watcher()
                if retry or not self.connector.is_disconnect(error):
                    raise self._translate(error, write=False) from error
                log.warning(
                    "the change-watching connection to RunLog %s was closed (%s);"
                    " reconnecting",
                    self.connector.describe(),
                    error,
                )
        return None

    def _open_watcher(self) -> Any:
        # One long-lived connection answers "did anything change?", because
        # SQLite's data_version is only comparable on the same connection.
        try:
            return self.connector.connect()
        except FlowWebError:
            raise
        except Exception as error:
            raise self._translate(error, write=False) from error

    def _close_watcher(self) -> None:
        if self._watcher is not None:
            _close_quietly(self._watcher)
        self._watcher = None

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Return `compute()` for `key` as of the RunLog's current state. The
        cache empties whenever the RunLog changes; concurrent callers of one
        key wait for the first one instead of computing it again."""
        fingerprint = self.fingerprint()
        with self._cache_lock:
            if fingerprint != self._cache_fingerprint:
                self._cache.clear()
                self._cache_fingerprint = fingerprint
            if key in self._cache:
                return self._cache[key]
            key_lock = self._cache_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._cache_lock:
                # A result computed while the RunLog changed is not kept.
                if fingerprint == self._cache_fingerprint:
                    self._cache[key] = value
                    while len(self._cache) > CACHE_MAX_ENTRIES:
                        self._cache.popitem(last=False)
                self._cache_locks.pop(key, None)
            return value

    # -- schema ---------------------------------------------------------------------

    def tables(self) -> frozenset:
        """Lower-case names of the RunLog's tables."""
        return self.cached(("tables",), self._read_tables)

    def _read_tables(self) -> frozenset:
        rows = self.query(self.dialect.table_names_sql)
        return frozenset(_coerce_text(row[0]).lower() for row in rows)

    def has_history(self) -> bool:
        return "run_records" in self.tables()

    # -- readers ----------------------------------------------------------------

    def list_runs(
        self,
        pipeline: Optional[str] = None,
        status: Optional[str] = None,
        limit: int = RUNS_DEFAULT_LIMIT,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
    ) -> tuple:
        """One page of run summaries and the total number of matching runs."""
        where, params = self._run_filter(pipeline, status)
        order = self._run_order(sort, descending)
        sql = (
            f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM run_records{where}"
            f" ORDER BY {order} LIMIT ? OFFSET ?"
        )
        rows = self.query(sql, (*params, limit, offset))
        total = self.count_runs(pipeline, status)
        return [_record_from_row(SUMMARY_COLUMNS, row) for row in rows], total

    def count_runs(self, pipeline: Optional[str], status: Optional[str]) -> int:
        """Count the matching runs. The count is cached until the RunLog
        changes, because it reads every matching index entry."""
        where, params = self._run_filter(pipeline, status)
        sql = f"SELECT COUNT(*) FROM run_records{where}"
        key = ("count", pipeline, status)
        return self.cached(key, lambda: int(self.query(sql, params)[0][0]))

    def _run_filter(self, pipeline: Optional[str], status: Optional[str]) -> tuple:
        terms, params = [], []
        if pipeline is not None:
            terms.append("pipeline = ?")
            params.append(pipeline)
        if status is not None:
            terms.append(
                self.dialect.status_with_pipeline_sql
                if pipeline is not None
                else "status = ?"
            )
            params.append(status)
        return (" WHERE " + " AND ".join(terms) if terms else ""), params

    def _run_order(self, sort: str, descending: bool) -> str:
        direction, reverse = ("DESC", "ASC") if descending else ("ASC", "DESC")
        newest = f"started_at DESC, {self.dialect.tiebreak_column} ASC"
        if sort == "started":
            return f"started_at {direction}, {self.dialect.tiebreak_column} {reverse}"
        if sort == "duration":
            return (
                f"(finished_at IS NULL), {self.dialect.duration_ms_sql} {direction},"
                f" {newest}"
            )
        return f"{RUN_SORT_COLUMNS[sort]} {direction}, {newest}"

    def get_run(self, run_id: str) -> Optional[RunRecord]:
        rows = self.query(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM run_records WHERE run_id = ?",
            (run_id,),
        )
        return _record_from_row(RUN_COLUMNS, rows[0]) if rows else None

    def pipeline_names(self) -> list:
        rows = self.query(self.dialect.pipeline_names_sql)
        return sorted({_coerce_text(row[0]) for row in rows if row[0] is not None})

    def newest_runs(
        self,
        names: Sequence[str],
        per_name: int,
        status: Optional[str] = None,
        columns: Sequence[str] = SUMMARY_COLUMNS,
    ) -> dict:
        """The `per_name` newest runs of each pipeline (optionally only those
        with the given status), newest first, keyed by pipeline."""
        result: dict = {name: [] for name in names}
        extra = ""
        if status is not None:
            extra = " AND " + self.dialect.status_with_pipeline_sql.replace(
                "?", f"'{RUN_STATUSES[RUN_STATUSES.index(status)]}'"
            )
        tiebreak = self.dialect.tiebreak_column
        select = (
            f"SELECT {', '.join(columns)}, {tiebreak} AS tiebreak FROM run_records"
            f" WHERE pipeline = {{pipeline}}{extra}"
            f" ORDER BY started_at DESC, {tiebreak} ASC LIMIT ?"
        )
        for row in self._rows_per_pipeline(select, names, per_name):
            record = _record_from_row(columns, row[:-1], tiebreak=row[-1])
            result[record.pipeline].append(record)
        for records in result.values():
            records.sort(key=lambda record: record.tiebreak)
            records.sort(key=lambda record: record.started_at or "", reverse=True)
        return result

    def recent_durations(self, names: Sequence[str], per_name: int) -> dict:
        """Durations in ms of each pipeline's `per_name` newest finished runs."""
        result: dict = {name: [] for name in names}
        select = (
            f"SELECT pipeline, {self.dialect.duration_ms_sql} FROM run_records"
            " WHERE pipeline = {pipeline} AND finished_at IS NOT NULL"
            " ORDER BY started_at DESC LIMIT ?"
        )
        for pipeline, millis in self._rows_per_pipeline(select, names, per_name):
            if millis is not None:
                result[_coerce_text(pipeline)].append(int(millis))
        return result

    def _rows_per_pipeline(self, select: str, names: Sequence[str], limit: int) -> list:
        """Run `select` (whose `{pipeline}` marks the pipeline it filters on
        and whose one `?` is the row limit) for every name, each part served
        by the pipeline index: in one LATERAL join where the dialect has one,
        else as UNION ALL of 100 parts per statement."""
        if not names:
            return []
        if self.dialect.lateral_names_sql:
            part = select.format(pipeline="names.name")
            sql = self.dialect.lateral_names_sql.format(select=part)
            return self.query(sql, (list(names), limit))
        rows: list = []
        for start in range(0, len(names), 100):
            chunk = list(names[start : start + 100])
            parts = [
                f"SELECT * FROM ({select.format(pipeline='?')}) AS part{index}"
                for index in range(len(chunk))
            ]
            params: list = []
            for name in chunk:
                params += [name, limit]
            rows += self.query(" UNION ALL ".join(parts), params)
        return rows

    def status_counts_since(self, names: Sequence[str], since: dt.datetime) -> dict:
        """(runs, finished runs, failed runs) per pipeline among runs started
        at or after `since`."""
        result = {name: (0, 0, 0) for name in names}
        if not names:
            return result
        for start in range(0, len(names), 500):
            chunk = list(names[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self.query(
                "SELECT pipeline, COUNT(*), SUM(CASE WHEN status IN ('succeeded',"
                " 'failed', 'cancelled') THEN 1 ELSE 0 END), SUM(CASE WHEN status"
                f" = 'failed' THEN 1 ELSE 0 END) FROM run_records WHERE pipeline IN"
                f" ({marks}) AND started_at >= ? GROUP BY pipeline",
                (*chunk, format_db_time(since)),
            )
            for pipeline, total, finished, failed in rows:
                result[_coerce_text(pipeline)] = (
                    int(total),
                    int(finished or 0),
                    int(failed or 0),
                )
        return result

    def run_log_rows(self) -> list:
        """(pipeline, last_run_at, success) from the `run_log` table."""
        if "run_log" not in self.tables():
            return []
        rows = self.query(
            "SELECT pipeline_name, last_run_at, success FROM run_log"
            " ORDER BY pipeline_name"
        )
        return [
            (_coerce_text(name), _coerce_text(at), bool(ok)) for name, at, ok in rows
        ]

    def attempt_states(self) -> dict:
        """Open retry cycles from `attempt_state`, keyed by pipeline."""
        if "attempt_state" not in self.tables():
            return {}
        rows = self.query(
            "SELECT pipeline_name, attempt_count, last_attempt_at, gave_up"
            " FROM attempt_state ORDER BY pipeline_name"
        )
        return {
            _coerce_text(name): {
                "attempt_count": _coerce_attempt(count),
                "last_attempt_at": format_api_time(parse_timestamp(_coerce_text(at))),
                "gave_up": bool(gave_up),
            }
            for name, count, at, gave_up in rows
        }

    def claims(self) -> dict:
        """Leases from `pipeline_claims`, keyed by pipeline; the scheduler's own
        leader lease `_scheduler_singleton` is left out."""
        if "pipeline_claims" not in self.tables():
            return {}
        rows = self.query(
            "SELECT pipeline_name, worker_id, claimed_at, expires_at"
            " FROM pipeline_claims ORDER BY pipeline_name"
        )
        return {
            _coerce_text(name): {
                "worker_id": _coerce_text(worker),
                "claimed_at": format_api_time(parse_timestamp(_coerce_text(claimed))),
                "expires_at": format_api_time(parse_timestamp(_coerce_text(expires))),
            }
            for name, worker, claimed, expires in rows
            if name != "_scheduler_singleton"
        }

    def synthetic_runs(self, now: dt.datetime) -> list:
        """Run rows made up from `run_log`, `attempt_state` and
        `pipeline_claims`: each pipeline's last completion with its retry
        count, and a running row for each unexpired claim. ematix-flow 1.0.0
        records batch runs only there, so they complete what `run_records`
        holds, and stand in for it when the table is missing."""
        attempts = self.attempt_states()
        records = []
        for name, last_run_at, success in self.run_log_rows():
            retry = attempts.get(name, {})
            extras = {
                "source": "run_log",
                "note": "run_log keeps only the completion time",
            }
            if retry:
                extras["retry_state"] = retry
            records.append(
                RunRecord(
                    run_id=f"{SYNTHETIC_RUN_LOG_PREFIX}{name}",
                    pipeline=name,
                    status="succeeded" if success else "failed",
                    started_at=last_run_at,
                    finished_at=last_run_at,
                    attempt=1 if success else retry.get("attempt_count", 1),
                    extras_json=json.dumps(extras),
                    synthetic=True,
                )
            )
        for name, claim in self.claims().items():
            expires = parse_timestamp(claim["expires_at"])
            if expires is not None and expires > now:
                records.append(
                    RunRecord(
                        run_id=f"{SYNTHETIC_CLAIM_PREFIX}{name}",
                        pipeline=name,
                        status="running",
                        started_at=claim["claimed_at"],
                        extras_json=json.dumps({"source": "pipeline_claims", **claim}),
                        synthetic=True,
                    )
                )
        return records

    # -- writers ----------------------------------------------------------------

    def init_history(self) -> list:
        """Create run_records and its indexes where they are missing, and
        return what was created ("table run_records", "index NAME"). Running
        it again finds everything present and changes nothing."""
        created = []
        dialect = self.dialect
        with self.transaction() as execute:
            tables = execute(dialect.table_names_sql).fetchall()
            if "run_records" not in {_coerce_text(row[0]).lower() for row in tables}:
                execute(dialect.run_records_ddl)
                created.append("table run_records")
            indexes = execute(dialect.index_names_sql).fetchall()
            present = {_coerce_text(row[0]).lower() for row in indexes}
            for name, columns in dialect.run_records_indexes:
                if name not in present:
                    execute(f"CREATE INDEX {name} ON run_records ({columns})")
                    created.append(f"index {name}")
        return created

    def insert_run(self, execute: Callable[..., Any], record: RunRecord) -> None:
        """Insert a new run row inside a `transaction()`."""
        marks = ", ".join("?" for _ in RUN_COLUMNS)
        execute(
            f"INSERT INTO run_records ({', '.join(RUN_COLUMNS)}) VALUES ({marks})",
            [getattr(record, column) for column in RUN_COLUMNS],
        )

    def lock_run(self, execute: Callable[..., Any], run_id: str) -> Optional[RunRecord]:
        """Read one run inside a `transaction()`. On servers the row stays
        locked until commit; on SQLite, BEGIN IMMEDIATE already serialises
        all writers."""
        rows = execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM run_records WHERE run_id = ?"
            + self.dialect.lock_rows_sql,
            (run_id,),
        ).fetchall()
        return _record_from_row(RUN_COLUMNS, rows[0]) if rows else None

    def lock_pipeline(self, execute: Callable[..., Any], pipeline: str) -> None:
        """Serialise requests for one pipeline inside a `transaction()` on
        servers, with a lock on its name that holds even before the pipeline
        has any row (SQLite's BEGIN IMMEDIATE serialises every writer)."""
        if not self.dialect.pipeline_lock_sql:
            return
        row = execute(self.dialect.pipeline_lock_sql, (pipeline,)).fetchone()
        if row is not None and row[0] == 0:
            raise Unavailable(
                f"another writer held the lock on pipeline {pipeline} for 10 s;"
                " retry in a moment"
            )

    def pending_request(
        self, execute: Callable[..., Any], pipeline: str, extras: Mapping[str, Any]
    ) -> Optional[str]:
        """Return the id of the oldest still `requested` row of `pipeline`
        whose extras equal `extras` (compared as JSON values), or None. Runs
        inside a `transaction()`."""
        rows = execute(
            "SELECT run_id, extras_json FROM run_records WHERE pipeline = ?"
            f" AND {self.dialect.status_with_pipeline_sql}"
            f" ORDER BY started_at, {self.dialect.tiebreak_column}"
            + self.dialect.lock_rows_sql,
            (pipeline, "requested"),
        ).fetchall()
        for row in rows:
            candidate = _record_from_row(("run_id", "extras_json"), row)
            if candidate.extras() == extras:
                return candidate.run_id
        return None

    def insert_request(self, execute: Callable[..., Any], record: RunRecord) -> tuple:
        """Insert a `requested` row inside a `transaction()` unless an
        identical request (same pipeline and extras) is still `requested`.
        Returns (run id of the new or the pending row, whether a row was
        inserted)."""
        pending = self.pending_request(execute, record.pipeline, record.extras())
        if pending is not None:
            return pending, False
        self.insert_run(execute, record)
        return record.run_id, True

    def finish_request(
        self,
        execute: Callable[..., Any],
        run_id: str,
        status: str,
        now: dt.datetime,
        extras: Mapping[str, Any],
    ) -> None:
        """Close a `requested` row inside a `transaction()`: set its status and
        finished_at, and replace its extras."""
        execute(
            "UPDATE run_records SET status = ?, finished_at = ?, extras_json = ?"
            " WHERE run_id = ? AND status = 'requested'",
            (status, format_db_time(now), json.dumps(extras, default=str), run_id),
        )

    def update_extras(
        self, execute: Callable[..., Any], run_id: str, extras: Mapping[str, Any]
    ) -> None:
        """Replace one run's extras inside a `transaction()`, encoded as
        ematix-flow encodes them (`json.dumps(extras, default=str)`)."""
        execute(
            "UPDATE run_records SET extras_json = ? WHERE run_id = ?",
            (json.dumps(extras, default=str), run_id),
        )


RUN_SORT_COLUMNS = {
    "started": "started_at",
    "duration": "duration",
    "pipeline": "pipeline",
    "status": "status",
    "attempt": "attempt",
}


def _decode_leniently(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _execute(connection: Any, sql: str, params: Sequence[Any]) -> Any:
    cursor = connection.cursor()
    cursor.execute(sql, tuple(params))
    return cursor


def _roll_back_quietly(connection: Any) -> None:
    # Every connection runs in autocommit mode (sqlite3 with isolation_level
    # None, the servers' drivers with autocommit on), so transactions begin
    # and end with SQL. A connection that broke mid-transaction cannot roll
    # back, and the server discards its transaction anyway.
    try:
        _execute(connection, "ROLLBACK", ())
    except Exception as error:
        log.debug("rolling back a RunLog transaction failed: %s", error)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception as error:  # a broken connection may fail to close
        log.debug("closing a database connection failed: %s", error)


# ------------------------------------------------------------------------------------
# Catalog
# ------------------------------------------------------------------------------------

CATALOG_FORMAT = "flow-web-catalog"
CATALOG_VERSION = 1
JOB_KINDS = ("batch", "streaming")


@dataclasses.dataclass(frozen=True)
class TriggerOp:
    """An ALL/ANY node of a workflow's `triggered_by` expression; members are
    leaf names (str) or nested TriggerOp nodes."""

    kind: str
    members: tuple

    def leaves(self) -> list:
        names: list = []
        for member in self.members:
            names += member.leaves() if isinstance(member, TriggerOp) else [member]
        return names


@dataclasses.dataclass(frozen=True)
class Job:
    """A batch job or streaming pipeline listed in the catalog."""

    name: str
    kind: str = "batch"
    schedule: Optional[str] = None
    timezone: Optional[str] = None
    depends_on: tuple = ()
    retry: Optional[Mapping[str, Any]] = None


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A declared workflow: member jobs plus the triggers that start it."""

    name: str
    jobs: tuple
    triggered_by: Optional[TriggerOp] = None
    schedule: Optional[str] = None
    timezone: Optional[str] = None
    on_message: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Catalog:
    """Jobs and declared workflows, in registration order. `sources` names
    where they came from, for the start-up log and `/api/me`."""

    jobs: tuple = ()
    workflows: tuple = ()
    sources: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_jobs_by_name", {job.name: job for job in self.jobs})
        object.__setattr__(
            self, "_workflows_by_name", {flow.name: flow for flow in self.workflows}
        )

    def job(self, name: str) -> Optional[Job]:
        return self._jobs_by_name.get(name)

    def workflow(self, name: str) -> Optional[Workflow]:
        return self._workflows_by_name.get(name)

    def workflow_of(self, job_name: str) -> Optional[str]:
        """Return the declared workflow a job belongs to. The last declaration
        wins, as in ematix-flow."""
        owner = None
        for workflow in self.workflows:
            if job_name in workflow.jobs:
                owner = workflow.name
        return owner

    def edges(self) -> list:
        """Return every `depends_on` edge as (upstream, downstream), in
        registration order."""
        return [
            (upstream, job.name) for job in self.jobs for upstream in job.depends_on
        ]

    def is_empty(self) -> bool:
        return not self.jobs and not self.workflows


def merge_catalogs(catalogs: Sequence[Catalog]) -> Catalog:
    """Merge catalogs; for a name defined twice the earlier catalog wins."""
    jobs: dict = {}
    workflows: dict = {}
    sources: list = []
    for catalog in catalogs:
        for job in catalog.jobs:
            jobs.setdefault(job.name, job)
        for workflow in catalog.workflows:
            workflows.setdefault(workflow.name, workflow)
        sources += catalog.sources
    return Catalog(tuple(jobs.values()), tuple(workflows.values()), tuple(sources))


# -- from ematix-flow's registries ---------------------------------------------------


def load_module_catalog(modules: Sequence[str], serving: bool = True) -> Catalog:
    """Import the user's pipeline modules and read ematix-flow's registries.
    The current folder goes on sys.path first, as `flow run` does. `serving`
    is False for the `catalog` subcommand, whose errors cannot suggest
    --catalog."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        pipeline = importlib.import_module("ematix_flow.pipeline")
    except ImportError as error:
        if not serving:
            raise ConfigError(
                f"the catalog subcommand needs ematix-flow, which is not"
                f" importable here ({error}); run it with a Python that has your"
                " pipelines' dependencies and ematix-flow installed"
            ) from None
        raise ConfigError(
            f"--module needs ematix-flow, which is not importable here ({error});"
            " on a host that has it run `python3 flow-web.pyz catalog --module"
            f" {' --module '.join(modules)} -o catalog.json` and start flow-web with"
            " --catalog catalog.json"
        ) from None
    for name in modules:
        _import_user_module(name, ", or use --catalog" if serving else "")
    return _catalog_from_registries(pipeline, _streaming_registry())


def _import_user_module(name: str, alternative: str) -> None:
    try:
        importlib.import_module(name)
    except SystemExit as error:
        raise ConfigError(
            f"importing pipeline module {name!r} failed: it called"
            f" sys.exit({error.code!r}); check that it imports with `python3 -c"
            f" 'import {name}'` in this folder{alternative}"
        ) from None
    except Exception as error:  # any failure of user code is a start-up error
        raise ConfigError(
            f"importing pipeline module {name!r} failed: {type(error).__name__}:"
            f" {error}; check that it imports with `python3 -c 'import {name}'` in"
            f" this folder{alternative}"
        ) from None


def _streaming_registry() -> dict:
    try:
        streaming = importlib.import_module("ematix_flow.streaming")
    except ImportError:
        return {}
    return dict(getattr(streaming, "_STREAMING_PIPELINES", {}))


def _catalog_from_registries(pipeline: Any, streaming: Mapping[str, Any]) -> Catalog:
    depends_on = getattr(pipeline, "_DEPENDS_ON", {})
    retry = getattr(pipeline, "_RETRY_POLICY", {})
    jobs = [
        Job(
            name=entry.name,
            schedule=entry.schedule,
            timezone=entry.timezone,
            depends_on=tuple(depends_on.get(entry.name, ())),
            retry=_retry_as_dict(retry.get(entry.name)),
        )
        for entry in getattr(pipeline, "_REGISTRY", {}).values()
    ]
    jobs += [Job(name=name, kind="streaming") for name in streaming]
    workflows = [
        Workflow(
            name=entry.name,
            jobs=tuple(entry.jobs),
            triggered_by=_trigger_from_registry(entry.triggered_by),
            schedule=entry.schedule,
            timezone=entry.timezone,
            on_message=None if entry.on_message is None else repr(entry.on_message),
        )
        for entry in getattr(pipeline, "_WORKFLOWS", {}).values()
    ]
    return Catalog(tuple(jobs), tuple(workflows), ("modules",))


def _retry_as_dict(policy: Any) -> Optional[dict]:
    if policy is None:
        return None
    if dataclasses.is_dataclass(policy):
        return {
            key: _json_safe(value) for key, value in dataclasses.asdict(policy).items()
        }
    return {"policy": repr(policy)}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(getattr(value, "value", value))


def _trigger_from_registry(op: Any) -> Optional[TriggerOp]:
    if op is None:
        return None
    members = tuple(
        member if isinstance(member, str) else _trigger_from_registry(member)
        for member in op.members
    )
    return TriggerOp(str(op.kind), members)


# -- catalog files -------------------------------------------------------------------


def catalog_to_json(catalog: Catalog) -> dict:
    """Build the catalog file document (its schema is in the README)."""
    return {
        "format": CATALOG_FORMAT,
        "version": CATALOG_VERSION,
        "generated_at": format_api_time(dt.datetime.now(dt.timezone.utc)),
        "generated_by": f"flow-web {__version__}",
        "jobs": [
            {
                "name": job.name,
                "kind": job.kind,
                "schedule": job.schedule,
                "timezone": job.timezone,
                "depends_on": list(job.depends_on),
                "retry": None if job.retry is None else dict(job.retry),
            }
            for job in catalog.jobs
        ],
        "workflows": [
            {
                "name": workflow.name,
                "jobs": list(workflow.jobs),
                "triggered_by": _trigger_to_json(workflow.triggered_by),
                "schedule": workflow.schedule,
                "timezone": workflow.timezone,
                "on_message": workflow.on_message,
            }
            for workflow in catalog.workflows
        ],
    }


def _trigger_to_json(op: Optional[TriggerOp]) -> Any:
    if op is None:
        return None
    return {
        op.kind: [m if isinstance(m, str) else _trigger_to_json(m) for m in op.members]
    }


def load_catalog_file(path: str) -> Catalog:
    """Read a catalog file written by the `catalog` subcommand."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as error:
        raise ConfigError(
            f"cannot read catalog file {path}: {error.strerror}"
        ) from None
    except ValueError as error:
        raise ConfigError(
            f"catalog file {path} is not valid JSON ({error}); write it with"
            " `python3 flow-web.pyz catalog --module <module> -o FILE`"
        ) from None
    try:
        return _catalog_from_json(document, path)
    except _CatalogSchemaError as error:
        raise ConfigError(
            f"catalog file {path} does not match the catalog schema: {error}; see"
            ' "Catalog file" in the README or regenerate it with the catalog'
            " subcommand"
        ) from None


class _CatalogSchemaError(ValueError):
    pass


CATALOG_KEYS = (
    "format",
    "version",
    "generated_at",
    "generated_by",
    "jobs",
    "workflows",
)
CATALOG_JOB_KEYS = ("name", "kind", "schedule", "timezone", "depends_on", "retry")
CATALOG_WORKFLOW_KEYS = (
    "name",
    "jobs",
    "triggered_by",
    "schedule",
    "timezone",
    "on_message",
)


def _catalog_from_json(document: Any, path: str) -> Catalog:
    _expect(isinstance(document, dict), "the top level must be an object")
    _expect_keys(document, CATALOG_KEYS, "the top level")
    _expect(
        document.get("format") == CATALOG_FORMAT, f'"format" must be {CATALOG_FORMAT!r}'
    )
    _expect(
        document.get("version") == CATALOG_VERSION,
        f'"version" must be {CATALOG_VERSION}, not {document.get("version")!r}',
    )
    jobs = [
        _job_from_json(item, f"jobs[{index}]")
        for index, item in enumerate(_list_field(document, "jobs", "catalog"))
    ]
    workflows = [
        _workflow_from_json(item, f"workflows[{index}]")
        for index, item in enumerate(_list_field(document, "workflows", "catalog"))
    ]
    catalog = Catalog(tuple(jobs), tuple(workflows), (f"catalog file {path}",))
    _check_catalog_names(catalog)
    return catalog


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _CatalogSchemaError(message)


def _list_field(item: dict, key: str, where: str) -> list:
    value = item.get(key, [])
    _expect(isinstance(value, list), f"{where}.{key} must be a list")
    return value


def _optional_text(item: dict, key: str, where: str) -> Optional[str]:
    value = item.get(key)
    _expect(
        value is None or isinstance(value, str),
        f"{where}.{key} must be a string or null, not {value!r}",
    )
    return value


def _expect_keys(item: dict, allowed: Sequence[str], where: str) -> None:
    # A misspelt key would otherwise drop a schedule or edges without a word.
    unknown = sorted(key for key in item if key not in allowed)
    _expect(
        not unknown,
        f"{where} has unknown keys {unknown}; the keys are {', '.join(allowed)}",
    )


def _job_from_json(item: Any, where: str) -> Job:
    _expect(isinstance(item, dict), f"{where} must be an object")
    _expect_keys(item, CATALOG_JOB_KEYS, where)
    name = item.get("name")
    _expect(
        isinstance(name, str) and name != "", f"{where}.name must be a non-empty string"
    )
    kind = item.get("kind", "batch")
    _expect(kind in JOB_KINDS, f"{where}.kind must be one of {', '.join(JOB_KINDS)}")
    depends_on = _list_field(item, "depends_on", where)
    _expect(
        all(isinstance(x, str) for x in depends_on),
        f"{where}.depends_on must be a list of job names",
    )
    retry = item.get("retry")
    _expect(
        retry is None or isinstance(retry, dict),
        f"{where}.retry must be an object or null",
    )
    schedule = _optional_text(item, "schedule", where)
    timezone = _optional_text(item, "timezone", where)
    _check_schedule(schedule, timezone, f"{where} ({name})")
    return Job(name, kind, schedule, timezone, tuple(depends_on), retry)


def _workflow_from_json(item: Any, where: str) -> Workflow:
    _expect(isinstance(item, dict), f"{where} must be an object")
    _expect_keys(item, CATALOG_WORKFLOW_KEYS, where)
    name = item.get("name")
    _expect(
        isinstance(name, str) and name != "", f"{where}.name must be a non-empty string"
    )
    jobs = _list_field(item, "jobs", where)
    _expect(
        bool(jobs) and all(isinstance(x, str) for x in jobs),
        f"{where}.jobs must be a non-empty list of job names",
    )
    schedule = _optional_text(item, "schedule", where)
    timezone = _optional_text(item, "timezone", where)
    _check_schedule(schedule, timezone, f"{where} ({name})")
    trigger = _trigger_from_json(item.get("triggered_by"), f"{where}.triggered_by")
    return Workflow(
        name,
        tuple(jobs),
        trigger,
        schedule,
        timezone,
        _optional_text(item, "on_message", where),
    )


def _trigger_from_json(value: Any, where: str) -> Optional[TriggerOp]:
    # ematix-flow accepts a name, a list of names (ALL) or a nested tree.
    if value is None:
        return None
    if isinstance(value, str):
        return TriggerOp("all", (value,))
    if isinstance(value, list):
        return TriggerOp("all", tuple(_trigger_member(m, where) for m in value))
    _expect(
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("all", "any"),
        f'{where} must be a name, a list or an object {{"all"|"any": [...]}}',
    )
    kind, members = next(iter(value.items()))
    _expect(
        isinstance(members, list) and bool(members),
        f"{where}.{kind} must be a non-empty list",
    )
    return TriggerOp(
        kind, tuple(_trigger_member(m, f"{where}.{kind}") for m in members)
    )


def _trigger_member(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return value
    return _trigger_from_json(value, where)


def _check_schedule(
    schedule: Optional[str], timezone: Optional[str], where: str
) -> None:
    if schedule is not None and not cron_is_valid(schedule):
        raise _CatalogSchemaError(
            f"{where}: schedule {schedule!r} is not a valid cron expression"
        )
    if timezone is not None and load_zone(timezone) is None:
        raise _CatalogSchemaError(
            f"{where}: timezone {timezone!r} is not an IANA time zone"
        )


def _check_catalog_names(catalog: Catalog) -> None:
    names = [job.name for job in catalog.jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    _expect(not duplicates, f"job names appear twice: {', '.join(duplicates)}")
    known = set(names)
    for job in catalog.jobs:
        unknown = [name for name in job.depends_on if name not in known]
        _expect(not unknown, f"job {job.name} depends on unknown jobs {unknown}")
    flows = [workflow.name for workflow in catalog.workflows]
    duplicates = sorted({name for name in flows if flows.count(name) > 1})
    _expect(not duplicates, f"workflow names appear twice: {', '.join(duplicates)}")
    for workflow in catalog.workflows:
        unknown = [name for name in workflow.jobs if name not in known]
        _expect(not unknown, f"workflow {workflow.name} lists unknown jobs {unknown}")
        leaves = workflow.triggered_by.leaves() if workflow.triggered_by else []
        unknown = [name for name in leaves if name not in known | set(flows)]
        _expect(
            not unknown,
            f"workflow {workflow.name} is triggered by unknown names {unknown}",
        )
        _expect(
            workflow.name not in leaves,
            f"workflow {workflow.name} is triggered by itself",
        )
    cycle = _dependency_cycle(catalog.jobs)
    _expect(not cycle, f"depends_on forms a cycle: {' -> '.join(cycle)}")


def _dependency_cycle(jobs: Sequence[Job]) -> list:
    """Return one cycle of `depends_on` as a list of names, or [] if none."""
    upstreams = {job.name: sorted(job.depends_on) for job in jobs}
    state: dict = {}
    for start in sorted(upstreams):
        if start in state:
            continue
        path: list = []
        stack = [(start, iter(upstreams[start]))]
        state[start] = "open"
        path.append(start)
        while stack:
            name, pending = stack[-1]
            upstream = next(pending, None)
            if upstream is None:
                state[name] = "done"
                stack.pop()
                path.pop()
            elif state.get(upstream) == "open":
                return path[path.index(upstream) :] + [upstream]
            elif upstream not in state:
                state[upstream] = "open"
                path.append(upstream)
                stack.append((upstream, iter(upstreams.get(upstream, []))))
    return []


def load_catalog(config: Config) -> Catalog:
    """Load and merge the `--module` and `--catalog` sources, module first."""
    catalogs = []
    if config.modules:
        catalogs.append(load_module_catalog(config.modules))
    if config.catalog_path:
        catalogs.append(load_catalog_file(config.catalog_path))
    return merge_catalogs(catalogs)


# ------------------------------------------------------------------------------------
# Triggers and schedules
# ------------------------------------------------------------------------------------

TRIGGER_STATES = ("ready", "pending", "failed")


def load_zone(name: Optional[str]) -> Optional[dt.tzinfo]:
    """Return the IANA time zone, UTC for None, or None for an unknown name."""
    if name is None or name.upper() == "UTC":
        return dt.timezone.utc
    return _load_zone_cached(name)


@functools.lru_cache(maxsize=256)
def _load_zone_cached(name: str) -> Optional[dt.tzinfo]:
    from zoneinfo import ZoneInfo  # the tz database (or the tzdata package)

    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return None


@functools.lru_cache(maxsize=1024)
def cron_is_valid(expression: str) -> bool:
    try:
        return bool(croniter.is_valid(expression))
    except (ValueError, KeyError, TypeError):
        return False


def next_tick(
    expression: str, zone_name: Optional[str], after: dt.datetime
) -> Optional[dt.datetime]:
    """Return the first cron tick strictly after `after`, reading the cron in
    the given time zone (UTC when None), or None for an invalid cron or zone."""
    return _cron_step(expression, zone_name, after, forward=True)


def previous_tick(
    expression: str, zone_name: Optional[str], before: dt.datetime
) -> Optional[dt.datetime]:
    """Return the last cron tick strictly before `before`, like next_tick."""
    return _cron_step(expression, zone_name, before, forward=False)


def _cron_step(
    expression: str, zone_name: Optional[str], start: dt.datetime, forward: bool
) -> Optional[dt.datetime]:
    zone = load_zone(zone_name)
    if zone is None or not cron_is_valid(expression):
        return None
    try:
        schedule = croniter(expression, start.astimezone(zone))
        tick = (
            schedule.get_next(dt.datetime)
            if forward
            else schedule.get_prev(dt.datetime)
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    return tick.astimezone(dt.timezone.utc)


def tick_label(tick: dt.datetime, zone_name: Optional[str], now: dt.datetime) -> str:
    """`02:10 EST` for a tick on today's local date, else `2026-12-05 02:10 EST`."""
    zone = load_zone(zone_name) or dt.timezone.utc
    local = tick.astimezone(zone)
    abbreviation = local.tzname() or "UTC"
    if local.date() == now.astimezone(zone).date():
        return f"{local:%H:%M} {abbreviation}"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}"


class Forecaster:
    """The cron ticks around now, for each (cron, zone), reused until the
    next tick passes."""

    def __init__(self) -> None:
        self._brackets: dict = {}
        self._lock = threading.Lock()

    def bracket(
        self, expression: str, zone_name: Optional[str], now: dt.datetime
    ) -> tuple:
        """(last tick before now, first tick after now); either may be None."""
        key = (expression, zone_name)
        with self._lock:
            known = self._brackets.get(key)
        if known is not None and known[0] < now < known[1]:
            return known
        bracket = (
            previous_tick(expression, zone_name, now),
            next_tick(expression, zone_name, now),
        )
        # When `now` is itself a tick, the bracket spans it, so it is not
        # reused: a moment later that tick would be the last one.
        if None not in bracket and now.astimezone(dt.timezone.utc) != next_tick(
            expression, zone_name, bracket[0]
        ):
            with self._lock:
                self._brackets[key] = bracket
        return bracket

    def next_run(
        self, expression: str, zone_name: Optional[str], now: dt.datetime
    ) -> Optional[dt.datetime]:
        return self.bracket(expression, zone_name, now)[1]


@dataclasses.dataclass(frozen=True)
class NameHistory:
    """The newest success and newest finished status of one job or workflow,
    as trigger evaluation reads them."""

    newest_success: Optional[RunRecord] = None
    newest_terminal_status: Optional[str] = None

    @property
    def success_finished(self) -> Optional[dt.datetime]:
        record = self.newest_success
        if record is None:
            return None
        return record.finished or record.started

    @property
    def success_started(self) -> Optional[dt.datetime]:
        return None if self.newest_success is None else self.newest_success.started


def read_name_histories(
    store: RunLogStore, names: Sequence[str], now: dt.datetime
) -> dict:
    """NameHistory per name, from each name's newest success and its newest
    terminal run among its last few runs, `run_log` completions included."""
    if not names:
        return {}
    recent: dict = {name: [] for name in names}
    successes: dict = {name: [] for name in names}
    if store.has_history():
        recent = store.newest_runs(names, TRIGGER_TERMINAL_WINDOW_RUNS)
        successes = store.newest_runs(names, 1, status="succeeded")
    synthetic = [run for run in store.synthetic_runs(now) if run.pipeline in recent]
    recent = merge_synthetic_runs(recent, synthetic, TRIGGER_TERMINAL_WINDOW_RUNS)
    # Only run_log successes that no recorded run accounts for count (a paused
    # run's worker returns normally, and run_log calls that a success).
    succeeded = [
        run
        for runs in recent.values()
        for run in runs
        if run.synthetic and run.status == "succeeded"
    ]
    successes = merge_synthetic_runs(successes, succeeded, 1)
    histories = {}
    for name in names:
        terminal = next(
            (run.status for run in recent[name] if run.status in TERMINAL_STATUSES),
            None,
        )
        newest = successes[name][0] if successes[name] else None
        histories[name] = NameHistory(newest, terminal)
    return histories


@dataclasses.dataclass(frozen=True)
class WorkflowView:
    """A row of /api/workflows: a declared workflow, a job on its own
    ("single") or a streaming pipeline, with its member edges."""

    name: str
    kind: str
    jobs: tuple
    edges: tuple
    triggered_by: Optional[TriggerOp] = None
    schedule: Optional[str] = None
    timezone: Optional[str] = None
    on_message: Optional[str] = None


def workflow_views(
    catalog: Catalog,
    history_names: Sequence[str] = (),
    history_streams: Collection[str] = (),
) -> list:
    """List the workflows in ematix-flow's three groups: declared workflows by
    name, then jobs in no workflow, then streaming pipelines in no workflow.
    Without any catalog, every pipeline of the run history is a single job,
    or a streaming pipeline when it is in `history_streams`."""
    if catalog.is_empty():
        names = sorted(history_names)
        return [
            WorkflowView(name, "single", (name,), ())
            for name in names
            if name not in history_streams
        ] + [
            WorkflowView(name, "streaming", (name,), ())
            for name in names
            if name in history_streams
        ]
    members = {job for workflow in catalog.workflows for job in workflow.jobs}
    views = [
        _declared_view(catalog, flow) for flow in sorted(catalog.workflows, key=_name)
    ]
    loose = sorted((job for job in catalog.jobs if job.name not in members), key=_name)
    views += [_single_view(job) for job in loose if job.kind == "batch"]
    views += [
        WorkflowView(job.name, "streaming", (job.name,), ())
        for job in loose
        if job.kind == "streaming"
    ]
    return views


def _name(item: Any) -> str:
    return item.name


def _declared_view(catalog: Catalog, workflow: Workflow) -> WorkflowView:
    member_set = set(workflow.jobs)
    edges = tuple(
        (upstream, downstream)
        for upstream, downstream in catalog.edges()
        if upstream in member_set and downstream in member_set
    )
    streaming = any(
        (catalog.job(name) or Job(name)).kind == "streaming" for name in workflow.jobs
    )
    return WorkflowView(
        workflow.name,
        "streaming" if streaming else "declared",
        workflow.jobs,
        edges,
        workflow.triggered_by,
        workflow.schedule,
        workflow.timezone,
        workflow.on_message,
    )


def _single_view(job: Job) -> WorkflowView:
    upstream = TriggerOp("all", tuple(job.depends_on)) if job.depends_on else None
    edges = tuple((name, job.name) for name in job.depends_on)
    return WorkflowView(
        job.name, "single", (job.name,), edges, upstream, job.schedule, job.timezone
    )


class TriggerEvaluator:
    """Trigger states of workflows at one moment.

    A leaf is ready when its job (or workflow) finished a successful run after
    the workflow last started a successful run. It is failed when its newest
    finished run failed instead, and pending otherwise. ALL and ANY combine
    their members as `combine_states` describes."""

    def __init__(
        self,
        catalog: Catalog,
        histories: Mapping[str, NameHistory],
        now: dt.datetime,
        forecaster: Forecaster,
    ):
        self.catalog = catalog
        self.histories = histories
        self.now = now
        self.forecaster = forecaster

    @staticmethod
    def names_needed(catalog: Catalog, views: Sequence[WorkflowView]) -> list:
        names = set()
        for view in views:
            names.add(view.name)
            names.update(view.jobs)
            if view.triggered_by is not None:
                names.update(view.triggered_by.leaves())
        for workflow in catalog.workflows:
            names.update(workflow.jobs)
        return sorted(names)

    def triggers(self, view: WorkflowView) -> list:
        if view.kind == "streaming":
            return []
        since = self.last_started(view)
        entries = []
        if view.schedule:
            entries.append(self._schedule_entry(view, since))
        if view.triggered_by is not None:
            expr = self._node(view.triggered_by, since)
            entries.append({"kind": "after_expr", "state": expr["state"], "expr": expr})
        if view.on_message is not None:
            entries.append(
                {
                    "kind": "on_message",
                    "source": view.on_message,
                    "state": "pending",
                    "label": view.on_message,
                }
            )
        return entries

    def last_started(self, view: WorkflowView) -> Optional[dt.datetime]:
        """When the workflow last started a run that succeeded: its own
        workflow-level row, else the newest such run of a root member job."""
        own = self._history(view.name).success_started
        if own is not None or view.kind == "single":
            return own
        downstream = {to for _, to in view.edges}
        roots = [job for job in view.jobs if job not in downstream]
        starts = [self._history(job).success_started for job in roots]
        return max((start for start in starts if start is not None), default=None)

    def _history(self, name: str) -> NameHistory:
        return self.histories.get(name) or NameHistory()

    def _success_finished(self, name: str) -> Optional[dt.datetime]:
        finished = self._history(name).success_finished
        workflow = self.catalog.workflow(name)
        if finished is not None or workflow is None:
            return finished
        # A workflow without workflow-level rows has succeeded when every
        # job that nothing in it depends on has succeeded.
        member_set = set(workflow.jobs)
        upstreams = {up for up, down in self.catalog.edges() if down in member_set}
        sinks = [job for job in workflow.jobs if job not in upstreams]
        times = [self._history(job).success_finished for job in sinks]
        return None if not times or None in times else min(times)

    def _leaf_state(self, name: str, since: Optional[dt.datetime]) -> str:
        finished = self._success_finished(name)
        if finished is not None and (since is None or finished > since):
            return "ready"
        if self._history(name).newest_terminal_status == "failed":
            return "failed"
        return "pending"

    def _node(self, node: Any, since: Optional[dt.datetime]) -> dict:
        if isinstance(node, str):
            return {
                "kind": "leaf",
                "name": node,
                "state": self._leaf_state(node, since),
            }
        members = [self._node(member, since) for member in node.members]
        states = [member["state"] for member in members]
        return {
            "kind": node.kind,
            "members": members,
            "state": combine_states(node.kind, states),
        }

    def _schedule_entry(self, view: WorkflowView, since: Optional[dt.datetime]) -> dict:
        tick = next_tick(view.schedule, view.timezone, since or self.now)
        entry = {
            "kind": "schedule",
            "cron": view.schedule,
            "timezone": view.timezone,
            "next_at": format_forecast_time(tick),
            "state": "ready" if tick is not None and self.now >= tick else "pending",
            "label": view.schedule
            if tick is None
            else tick_label(tick, view.timezone, self.now),
        }
        return entry


def combine_states(kind: str, states: Sequence[str]) -> str:
    """Roll member states up into an ALL or ANY node's state. ALL is ready
    when every member is, and failed when one failed and none is pending. ANY
    is ready when one member is, and failed when all failed. Anything else is
    pending."""
    if kind == "any":
        if "ready" in states:
            return "ready"
        return "failed" if states and all(s == "failed" for s in states) else "pending"
    if all(state == "ready" for state in states):
        return "ready"
    return "failed" if "failed" in states and "pending" not in states else "pending"


def late_since(
    job: Job,
    newest_start: Optional[dt.datetime],
    now: dt.datetime,
    grace_s: int,
    forecaster: Forecaster,
) -> Optional[dt.datetime]:
    """Return the first cron tick a batch job missed, or None. A tick is
    missed when it is older than the grace period and no run started since;
    a run up to a minute early counts, for clock skew. The grace period is
    `grace_s`, or half the cron's interval when that is shorter, so that a
    job that runs every few minutes can be late too."""
    if job.kind != "batch" or not job.schedule:
        return None
    previous, following = forecaster.bracket(job.schedule, job.timezone, now)
    if previous is None:
        return None
    interval_s = (following - previous).total_seconds() if following else 2 * grace_s
    grace = dt.timedelta(seconds=min(grace_s, interval_s / 2))
    due = previous
    if now - due <= grace:
        # A job with no runs at all may be new, so only its latest tick counts.
        if newest_start is None:
            return None
        due = previous_tick(job.schedule, job.timezone, previous)
    skew = dt.timedelta(minutes=1)
    if due is None or (newest_start is not None and newest_start >= due - skew):
        return None
    if newest_start is None:
        return due
    return next_tick(job.schedule, job.timezone, newest_start + skew) or due


# ------------------------------------------------------------------------------------
# DAG layout
# ------------------------------------------------------------------------------------
#
# A layered (Sugiyama-style) layout, left to right, as a pipeline of pure phases:
# dag_break_cycles, dag_assign_ranks, dag_insert_dummies, dag_order_ranks,
# dag_assign_coordinates and dag_route_edges. layout_dag runs them on each connected
# component and packs the component drawings with dag_pack_components. Every phase
# works on node indexes that follow the sorted node names, and breaks every tie by
# index, so the output does not depend on the order of the input lists.

LAYOUT_RANK_GAP_PX = 56.0  # horizontal space between two columns, where edges curve
LAYOUT_NODE_GAP_PX = 16.0  # vertical space between two node boxes in a column
LAYOUT_EDGE_GAP_PX = 8.0  # vertical space between two long edges crossing a column
LAYOUT_COMPONENT_GAP_PX = 40.0  # space between packed components
LAYOUT_PORT_GAP_PX = 6.0  # maximum spacing between edge ends on one side of a node
LAYOUT_PORT_MARGIN_PX = 4.0  # minimum distance of an edge end from a node corner
LAYOUT_ASPECT_RATIO = 16 / 9  # width / height that the component packing aims for

LAYOUT_TITLE_FONT_PX = 12.0  # first line of a node box, bold monospace
LAYOUT_TEXT_FONT_PX = 11.0  # other lines of a node box, monospace
LAYOUT_LINE_HEIGHT_EM = 1.4  # height of one text line, in em of its font size
# Advance width of one monospace character, in em. DejaVu Sans Mono, Menlo and
# Courier New are about 0.6 em wide, so text in a wider font would overflow the box.
LAYOUT_CHAR_WIDTH_EM = 0.6
LAYOUT_NODE_PADDING_X_PX = 10.0
LAYOUT_NODE_PADDING_Y_PX = 6.0

# Weight of an edge segment in coordinate assignment, by how many of its two ends are
# dummy nodes. Heavier segments are pulled straighter, so long edges run straight.
# These are the weights 1, 2 and 8 that Gansner et al. give for dot.
_LAYOUT_SEGMENT_WEIGHTS = (1.0, 2.0, 8.0)
# Maximum network simplex exchanges per edge. The benchmark graphs need fewer than
# 0.5 per edge, so the cap only guards against exchanges that cycle.
_LAYOUT_SIMPLEX_EXCHANGES_PER_EDGE = 20
_LAYOUT_ORDER_MAX_ITERATIONS = 24  # maximum sweeps, and then transposes, per stage
_LAYOUT_ORDER_MAX_STALLS = 3  # sweeps without a better order before stopping
# Edge ends that each stage of dag_order_ranks may visit, which bounds its run time
# on large graphs. A sweep with its crossing count visits every edge end twice, about
# 10,000 in the 1,000-node benchmark graph, so the sweep stage reaches its cap only
# on graphs about three times that size. One transpose visits about 10,000 edge ends
# in the 200-node benchmark graph and 45,000 to 95,000 in the 1,000-node one, where
# the cap cuts the second transpose short.
_LAYOUT_SWEEP_WORK_LIMIT = 300_000
_LAYOUT_TRANSPOSE_WORK_LIMIT = 100_000
_LAYOUT_COORDINATE_SWEEPS = 8  # sweeps of coordinate assignment over all ranks
_LAYOUT_BEZIER_SAMPLES = 15  # odd, so that no sample falls on a curve's midpoint
_LAYOUT_TRAILING_ZERO = re.compile(r"\.0(?= |$)")
_LAYOUT_PATH_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def measure_node(lines: Sequence[str]) -> tuple[float, float]:
    """Return the width and height in px of a node box showing these text
    lines (the first in bold 12px monospace, the others 11px)."""
    width = 0.0
    height = 0.0
    for index, line in enumerate(lines):
        font_px = LAYOUT_TITLE_FONT_PX if index == 0 else LAYOUT_TEXT_FONT_PX
        cells = _layout_text_cells(line)
        width = max(width, cells * font_px * LAYOUT_CHAR_WIDTH_EM)
        height += font_px * LAYOUT_LINE_HEIGHT_EM
    width = math.ceil(width + 2 * LAYOUT_NODE_PADDING_X_PX)
    height = math.ceil(height + 2 * LAYOUT_NODE_PADDING_Y_PX)
    return float(width), float(height)


def _layout_text_cells(text: str) -> int:
    """Count the monospace cells that text fills. Wide East Asian characters take
    two cells and combining marks none."""
    cells = 0
    for character in text:
        if unicodedata.combining(character):
            continue
        wide = unicodedata.east_asian_width(character) in ("W", "F")
        cells += 2 if wide else 1
    return cells


def _layout_consecutive_pairs(items: Sequence) -> Iterable[tuple]:
    # itertools.pairwise would do, but it needs Python 3.10.
    return zip(items, items[1:])  # noqa: RUF007


# Phase 1: break cycles ----------------------------------------------------------------


def dag_break_cycles(
    node_count: int, edges: Sequence[tuple[int, int]]
) -> tuple[list[int], list[int]]:
    """Choose the edges to reverse so that the graph becomes acyclic.

    Follows the greedy heuristic of Eades, Lin and Smyth, "A fast and effective
    heuristic for the feedback arc set problem" (Information Processing Letters 47,
    1993). It builds a node sequence by moving sinks to its end, sources to its
    start, and otherwise the node of maximum out-degree minus in-degree to its start.
    Edges that point backwards in the sequence form the feedback arc set. Ties go to
    the smallest node index.

    Pre: nodes are 0 .. node_count - 1, and edges may repeat or be self-loops.
    Post: returns (reversed, self_loops), two sorted lists of edge indexes. Dropping
    the self-loops and reversing the others listed leaves a directed acyclic graph.
    An acyclic input gets no reversed edges.
    """
    self_loops = [i for i, (tail, head) in enumerate(edges) if tail == head]
    sequence = _layout_greedy_sequence(node_count, edges)
    position = [0] * node_count
    for index, node in enumerate(sequence):
        position[node] = index
    reversed_edges = [
        i for i, (tail, head) in enumerate(edges) if position[tail] > position[head]
    ]
    return reversed_edges, self_loops


def _layout_greedy_sequence(
    node_count: int, edges: Sequence[tuple[int, int]]
) -> list[int]:
    successors: list[list[int]] = [[] for _ in range(node_count)]
    predecessors: list[list[int]] = [[] for _ in range(node_count)]
    for tail, head in edges:
        if tail != head:
            successors[tail].append(head)
            predecessors[head].append(tail)
    out_degree = [len(nodes) for nodes in successors]
    in_degree = [len(nodes) for nodes in predecessors]
    sinks = [v for v in range(node_count) if out_degree[v] == 0]
    sources = [v for v in range(node_count) if in_degree[v] == 0]
    by_delta = [(in_degree[v] - out_degree[v], v) for v in range(node_count)]
    heapq.heapify(by_delta)
    removed = [False] * node_count
    start: list[int] = []
    end: list[int] = []

    def remove(node: int) -> None:
        removed[node] = True
        for head in successors[node]:
            if not removed[head]:
                in_degree[head] -= 1
                _layout_requeue(head, in_degree, out_degree, sources, sinks, by_delta)
        for tail in predecessors[node]:
            if not removed[tail]:
                out_degree[tail] -= 1
                _layout_requeue(tail, in_degree, out_degree, sources, sinks, by_delta)

    while len(start) + len(end) < node_count:
        node = _layout_pop_next(
            removed, in_degree, out_degree, sinks, sources, by_delta
        )
        if out_degree[node] == 0:
            end.append(node)
        else:
            start.append(node)
        remove(node)
    return start + end[::-1]


def _layout_requeue(node, in_degree, out_degree, sources, sinks, by_delta) -> None:
    if out_degree[node] == 0:
        heapq.heappush(sinks, node)
    elif in_degree[node] == 0:
        heapq.heappush(sources, node)
    heapq.heappush(by_delta, (in_degree[node] - out_degree[node], node))


def _layout_pop_next(removed, in_degree, out_degree, sinks, sources, by_delta) -> int:
    """Pop the next node of the greedy sequence: a sink, else a source, else the node
    of maximum out-degree minus in-degree. Heap entries are stale when the node was
    removed or its degrees changed since the push."""
    while sinks:
        node = heapq.heappop(sinks)
        if not removed[node] and out_degree[node] == 0:
            return node
    while sources:
        node = heapq.heappop(sources)
        if not removed[node] and in_degree[node] == 0:
            return node
    while True:
        delta, node = heapq.heappop(by_delta)
        if not removed[node] and delta == in_degree[node] - out_degree[node]:
            return node


# Phase 2: assign ranks ----------------------------------------------------------------


def dag_assign_ranks(node_count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Assign each node a rank (a column index) that minimises the total edge length
    under the constraint that every edge points to a higher rank.

    Follows the network simplex ranking of Gansner, Koutsofios, North and Vo, "A
    technique for drawing directed graphs" (IEEE TSE 19(3), 1993). It starts from
    the longest-path ranking and grows a spanning tree of tight edges (length 1).
    Then it exchanges a tree edge with a negative cut value for the non-tree edge
    of minimum slack across the same cut, until no cut value is negative. All
    edges weigh 1 and have minimum length 1.

    Pre: the edges form a directed acyclic graph, may repeat, and contain no
    self-loops.
    Post: rank[head] >= rank[tail] + 1 for every edge, and the minimum rank is 0.
    The sum of rank[head] - rank[tail] over all edges is minimal, unless the cap in
    _LayoutSpanningTree.optimise stopped the exchanges first.
    """
    tails = [tail for tail, _ in edges]
    heads = [head for _, head in edges]
    ranks = _layout_longest_path_ranks(node_count, tails, heads)
    _LayoutSpanningTree(node_count, tails, heads, ranks).optimise()
    low = min(ranks, default=0)
    return [rank - low for rank in ranks]


def _layout_longest_path_ranks(node_count, tails, heads) -> list[int]:
    """Rank each node one past its highest predecessor (Kahn's algorithm)."""
    successors: list[list[int]] = [[] for _ in range(node_count)]
    waiting = [0] * node_count
    for tail, head in zip(tails, heads):
        successors[tail].append(head)
        waiting[head] += 1
    ranks = [0] * node_count
    ready = [node for node in range(node_count) if waiting[node] == 0]
    placed = 0
    while ready:
        node = ready.pop()
        placed += 1
        for head in successors[node]:
            ranks[head] = max(ranks[head], ranks[node] + 1)
            waiting[head] -= 1
            if waiting[head] == 0:
                ready.append(head)
    if placed != node_count:
        raise ValueError(
            "dag_assign_ranks failed: the edges contain a cycle. "
            "Run dag_break_cycles first."
        )
    return ranks


class _LayoutSpanningTree:
    """Spanning forest of tight edges for network simplex ranking, rooted in each
    component at its smallest node. It changes the ranks list in place.

    For each non-root node v, parent_edge[v] joins v to parent[v], size[v] counts
    v's subtree and net[v] sums out-degree minus in-degree over that subtree. The
    cut value of v's parent edge is net[v] if the edge leaves v, else -net[v],
    because every edge inside the subtree adds +1 at its tail and -1 at its head.
    """

    def __init__(self, node_count, tails, heads, ranks) -> None:
        self.tails = tails
        self.heads = heads
        self.ranks = ranks
        self.incident: list[list[int]] = [[] for _ in range(node_count)]
        self.net = [0] * node_count
        for edge, (tail, head) in enumerate(zip(tails, heads)):
            self.incident[tail].append(edge)
            self.incident[head].append(edge)
            self.net[tail] += 1
            self.net[head] -= 1
        self.in_tree = [False] * len(tails)
        self.parent = [-1] * node_count
        self.parent_edge = [-1] * node_count
        self.size = [1] * node_count
        self.root_of = list(range(node_count))
        self.mark = [0] * node_count
        self.stamp = 0
        for root in range(node_count):
            if self.root_of[root] == root:
                self._grow_tight_tree(root)
                self._hang(root)

    def _grow_tight_tree(self, root: int) -> None:
        """Make a tree of tight edges spanning root's component, as Gansner et al.'s
        feasible_tree does, but grown like Prim's algorithm from a heap.

        Tree members store their rank minus shift, so moving the whole tree to
        tighten the incident edge of minimum slack only changes shift. Out-edges
        are keyed by slack + shift and in-edges by slack - shift, keys that stay
        fixed while the tree moves. Both kinds get shorter moving one way, so only
        the smaller of the two minimum slacks can be closed without making an edge
        shorter than 1."""
        ranks, tails, heads = self.ranks, self.tails, self.heads
        member = self.root_of
        member[root] = -1  # -1 marks this tree's members while it grows
        members = [root]
        shift = 0
        leaving: list[tuple[int, int]] = []
        entering: list[tuple[int, int]] = []
        node = root
        while True:
            for edge in self.incident[node]:
                tail, head = tails[edge], heads[edge]
                if tail == node and member[head] != -1:
                    heapq.heappush(leaving, (ranks[head] - ranks[tail] - 1, edge))
                elif head == node and member[tail] != -1:
                    heapq.heappush(entering, (ranks[head] - ranks[tail] - 1, edge))
            while leaving and member[heads[leaving[0][1]]] == -1:
                heapq.heappop(leaving)
            while entering and member[tails[entering[0][1]]] == -1:
                heapq.heappop(entering)
            if not leaving and not entering:
                break
            out_slack = leaving[0][0] - shift if leaving else math.inf
            in_slack = entering[0][0] + shift if entering else math.inf
            if out_slack <= in_slack:
                edge = heapq.heappop(leaving)[1]
                shift += out_slack
                node = heads[edge]
            else:
                edge = heapq.heappop(entering)[1]
                shift -= in_slack
                node = tails[edge]
            ranks[node] -= shift
            member[node] = -1
            members.append(node)
            self.in_tree[edge] = True
        for node in members:
            ranks[node] += shift
            member[node] = root

    def _hang(self, root: int) -> None:
        """Set parent, parent_edge, size and net for the tree of root."""
        order = [root]
        for node in order:
            for edge in self.incident[node]:
                if self.in_tree[edge] and edge != self.parent_edge[node]:
                    child = self._other_end(edge, node)
                    self.parent[child] = node
                    self.parent_edge[child] = edge
                    order.append(child)
        for node in reversed(order[1:]):
            self.size[self.parent[node]] += self.size[node]
            self.net[self.parent[node]] += self.net[node]

    def _other_end(self, edge: int, node: int) -> int:
        tail = self.tails[edge]
        return self.heads[edge] if tail == node else tail

    def optimise(self) -> None:
        """Exchange edges until no cut value is negative. The search for a negative
        cut value resumes after the last one found, as Gansner et al. suggest.

        Exchanges of zero slack leave the total length unchanged, so in theory they
        could repeat forever. _LAYOUT_SIMPLEX_EXCHANGES_PER_EDGE caps the work, and
        the ranking stays valid, though maybe not minimal, if the cap stops it."""
        node_count = len(self.parent)
        cursor = 0
        for _ in range(_LAYOUT_SIMPLEX_EXCHANGES_PER_EDGE * len(self.tails)):
            node = self._find_negative_cut(cursor)
            if node < 0:
                return
            self._exchange(node)
            cursor = node + 1 if node + 1 < node_count else 0

    def _find_negative_cut(self, cursor: int) -> int:
        parent_edge, net, tails = self.parent_edge, self.net, self.tails
        node_count = len(parent_edge)
        for step in range(node_count):
            node = cursor + step
            if node >= node_count:
                node -= node_count
            edge = parent_edge[node]
            if edge >= 0 and (net[node] if tails[edge] == node else -net[node]) < 0:
                return node
        return -1

    def _exchange(self, child: int) -> None:
        """Replace the parent edge of child by the entering edge and move the ranks
        of the smaller side of the cut, so that the entering edge becomes tight."""
        edge = self.parent_edge[child]
        leaves_subtree = self.tails[edge] == child
        total = self.size[self.root_of[child]]
        side_is_subtree = 2 * self.size[child] <= total
        start = child if side_is_subtree else self.parent[child]
        side = self._mark_side(start, edge)
        entering, slack = self._entering_edge(side, side_is_subtree, leaves_subtree)
        delta = -slack if leaves_subtree else slack
        if not side_is_subtree:
            delta = -delta
        for node in side:
            self.ranks[node] += delta
        inside = self.tails[entering]
        if (self.mark[inside] == self.stamp) != side_is_subtree:
            inside = self.heads[entering]
        self._reshape(child, edge, entering, inside)

    def _mark_side(self, start: int, removed: int) -> list[int]:
        """Mark and return the nodes that stay connected to start in the tree once
        the removed edge is gone."""
        self.stamp += 1
        stamp, mark, in_tree = self.stamp, self.mark, self.in_tree
        tails, heads, incident = self.tails, self.heads, self.incident
        mark[start] = stamp
        side = [start]
        for node in side:
            for edge in incident[node]:
                if edge != removed and in_tree[edge]:
                    other = tails[edge]
                    if other == node:
                        other = heads[edge]
                    if mark[other] != stamp:
                        mark[other] = stamp
                        side.append(other)
        return side

    def _entering_edge(self, side, side_is_subtree, leaves_subtree):
        """Return the non-tree edge of minimum slack, then minimum index, that goes
        from the head component of the leaving edge to its tail component."""
        tails, heads, ranks, in_tree = self.tails, self.heads, self.ranks, self.in_tree
        stamp, mark = self.stamp, self.mark
        best_edge = -1
        best_slack = 0
        for node in side:
            for edge in self.incident[node]:
                if in_tree[edge]:
                    continue
                tail_marked = mark[tails[edge]] == stamp
                head_marked = mark[heads[edge]] == stamp
                if tail_marked == head_marked:
                    continue
                if (head_marked == side_is_subtree) != leaves_subtree:
                    continue
                slack = ranks[heads[edge]] - ranks[tails[edge]] - 1
                if best_edge < 0 or (slack, edge) < (best_slack, best_edge):
                    best_edge, best_slack = edge, slack
        return best_edge, best_slack

    def _reshape(self, child: int, leaving: int, entering: int, inside: int) -> None:
        """Swap the leaving edge for the entering one, whose end inside is in the
        subtree of child, and update parent, size and net along the tree paths that
        change."""
        parent, size, net = self.parent, self.size, self.net
        outside = self._other_end(entering, inside)
        moved_size, moved_net = size[child], net[child]
        ancestor = self._common_ancestor(parent[child], outside)
        for start, sign in ((parent[child], -1), (outside, 1)):
            node = start
            while node != ancestor:
                size[node] += sign * moved_size
                net[node] += sign * moved_net
                node = parent[node]
        path = [inside]
        while path[-1] != child:
            path.append(parent[path[-1]])
        self._reverse_path(path)
        parent[inside] = outside
        self.parent_edge[inside] = entering
        self.in_tree[leaving] = False
        self.in_tree[entering] = True

    def _common_ancestor(self, first: int, second: int) -> int:
        self.stamp += 1
        node = first
        while node >= 0:
            self.mark[node] = self.stamp
            node = self.parent[node]
        node = second
        while self.mark[node] != self.stamp:
            node = self.parent[node]
        return node

    def _reverse_path(self, path: list[int]) -> None:
        """Re-hang the path [inside, ..., child] so that inside becomes its top.
        Each node's new subtree is its old one minus the old subtree of the path
        node below it, plus the new subtree of the path node above it."""
        parent, parent_edge = self.parent, self.parent_edge
        size, net = self.size, self.net
        old_size = [size[node] for node in path]
        old_net = [net[node] for node in path]
        for index in range(len(path) - 1, -1, -1):
            node = path[index]
            if index > 0:
                size[node] -= old_size[index - 1]
                net[node] -= old_net[index - 1]
            if index + 1 < len(path):
                size[node] += size[path[index + 1]]
                net[node] += net[path[index + 1]]
        for index in range(len(path) - 1, 0, -1):
            parent[path[index]] = path[index - 1]
            parent_edge[path[index]] = parent_edge[path[index - 1]]


# Phase 3: insert dummy nodes ----------------------------------------------------------


def dag_insert_dummies(
    ranks: Sequence[int], edges: Sequence[tuple[int, int]]
) -> tuple[list[int], list[list[int]]]:
    """Split every edge that spans more than one rank into a chain of unit-length
    segments through new dummy nodes, as in Sugiyama, Tagawa and Toda, "Methods for
    visual understanding of hierarchical system structures" (IEEE SMC 11(2), 1981).

    Pre: rank[head] > rank[tail] for every edge.
    Post: returns (ranks, chains). The ranks list extends the input with the ranks of
    the dummies, numbered from len(ranks) up in edge order. chains[i] is the node
    path of edge i, [tail, dummies..., head], whose ranks increase by 1 at each step.
    """
    all_ranks = list(ranks)
    chains: list[list[int]] = []
    for tail, head in edges:
        chain = [tail]
        for rank in range(ranks[tail] + 1, ranks[head]):
            chain.append(len(all_ranks))
            all_ranks.append(rank)
        chain.append(head)
        chains.append(chain)
    return all_ranks, chains


# Phase 4: order nodes within ranks ----------------------------------------------------


def dag_order_ranks(
    ranks: Sequence[int], chains: Sequence[Sequence[int]]
) -> tuple[list[list[int]], int]:
    """Order the nodes of each rank to reduce edge crossings.

    Follows the iterative heuristic of Gansner et al. (1993), which builds on the
    layer-by-layer sweep of Sugiyama et al. (1981). It starts from a depth-first
    order and works in two stages, keeping the order with the fewest crossings
    seen:

    1. Sweep the ranks alternately left to right and right to left, sorting each
       rank by the barycenter of its neighbours in the rank just placed, until
       _LAYOUT_ORDER_MAX_STALLS sweeps in a row bring no improvement.
    2. From the best order, alternate "transpose" (swap adjacent nodes while that
       removes crossings) with a sweep. Every other transpose also swaps pairs
       whose count stays the same, to leave plateaus. This stage ends after two
       transposes without improvement.

    Either stage also ends after _LAYOUT_ORDER_MAX_ITERATIONS rounds, or when it
    has visited more edge ends than its work limit, which only large graphs reach.

    Crossings are counted exactly, by reducing each pair of adjacent ranks to
    counting inversions, after Barth, Juenger and Mutzel, "Simple and efficient
    bilayer cross counting" (JGAA 8(2), 2004).

    Pre: chains come from dag_insert_dummies, so each step joins adjacent ranks.
    Post: returns (layers, crossings). layers[r] lists the nodes of rank r from top
    to bottom and crossings is the exact crossing count of that order.
    """
    ordering = _LayoutOrdering(ranks, chains)
    _layout_sweep_stage(ordering)
    ordering.restore_best()
    _layout_transpose_stage(ordering)
    return ordering.best, ordering.best_crossings


def _layout_sweep_stage(ordering: _LayoutOrdering) -> None:
    ordering.limit = ordering.work + _LAYOUT_SWEEP_WORK_LIMIT
    stalls = 0
    for _ in range(_LAYOUT_ORDER_MAX_ITERATIONS):
        if ordering.best_crossings == 0 or stalls >= _LAYOUT_ORDER_MAX_STALLS:
            return
        if ordering.work > ordering.limit:
            return
        ordering.sweep()
        stalls = 0 if ordering.keep_if_better() else stalls + 1


def _layout_transpose_stage(ordering: _LayoutOrdering) -> None:
    ordering.limit = ordering.work + _LAYOUT_TRANSPOSE_WORK_LIMIT
    stalls = 0
    for step in range(_LAYOUT_ORDER_MAX_ITERATIONS):
        if ordering.best_crossings == 0 or stalls >= 2:
            return
        if ordering.work > ordering.limit:
            return
        ordering.transpose(swap_ties=step % 2 == 0)
        stalls = 0 if ordering.keep_if_better() else stalls + 1
        ordering.sweep()
        ordering.keep_if_better()


class _LayoutOrdering:
    """Working state of dag_order_ranks: the layers, each node's position in its
    layer, the best order seen, the work done so far in edge ends visited and the
    work limit of the current stage."""

    def __init__(self, ranks, chains) -> None:
        node_count = len(ranks)
        self.upper: list[list[int]] = [[] for _ in range(node_count)]
        self.lower: list[list[int]] = [[] for _ in range(node_count)]
        for chain in chains:
            for tail, head in _layout_consecutive_pairs(chain):
                self.lower[tail].append(head)
                self.upper[head].append(tail)
        self.layers = _layout_initial_order(ranks, self.upper, self.lower)
        self.position = [0] * node_count
        for layer in self.layers:
            for index, node in enumerate(layer):
                self.position[node] = index
        self.rank_work = [
            sum(len(self.upper[node]) + len(self.lower[node]) for node in layer)
            for layer in self.layers
        ]
        self.total_work = sum(self.rank_work)
        self.work = 0
        self.limit = 0
        self.sweeps = 0
        self.best = [list(layer) for layer in self.layers]
        self.best_crossings = self.count_crossings()

    def count_crossings(self) -> int:
        self.work += self.total_work
        return _layout_count_crossings(self.layers, self.position, self.lower)

    def keep_if_better(self) -> bool:
        crossings = self.count_crossings()
        if crossings >= self.best_crossings:
            return False
        self.best = [list(layer) for layer in self.layers]
        self.best_crossings = crossings
        return True

    def restore_best(self) -> None:
        self.layers = [list(layer) for layer in self.best]
        for layer in self.layers:
            for index, node in enumerate(layer):
                self.position[node] = index

    def sweep(self) -> None:
        """Sweep left to right, or right to left after a sweep left to right."""
        self.work += self.total_work
        self.sweeps += 1
        last = len(self.layers) - 1
        if self.sweeps % 2 == 1:
            _layout_sweep(self.layers, self.position, self.upper, range(1, last + 1))
        else:
            _layout_sweep(
                self.layers, self.position, self.lower, range(last - 1, -1, -1)
            )

    def transpose(self, swap_ties: bool) -> None:
        """Swap adjacent nodes while that lowers the crossing count (the "transpose"
        step of Gansner et al.). With swap_ties, pairs with equal nonzero counts
        swap too, but only strict gains mark a rank for another pass, so the loop
        ends. A pass over a rank changes the crossings of its neighbour ranks, so
        those get another pass as well. Passes stop early at the work limit.

        Each rank keeps its nodes' sorted neighbour positions between passes, in
        step with its own swaps, and rebuilds them only after the neighbour rank
        they come from has changed."""
        layers = self.layers
        pending = [True] * len(layers)
        # changes[r + 1] counts the swaps in rank r. The padding stands for the
        # empty ranks -1 and len(layers), which never change.
        changes = [0] * (len(layers) + 2)
        above: list = [None] * len(layers)  # (changes of rank r - 1, positions)
        below: list = [None] * len(layers)  # (changes of rank r + 1, positions)
        while any(pending):
            for rank, layer in enumerate(layers):
                if not pending[rank]:
                    continue
                if self.work > self.limit:
                    return
                pending[rank] = False
                self.work += self.rank_work[rank]
                if above[rank] is None or above[rank][0] != changes[rank]:
                    above[rank] = (changes[rank], self._positions(layer, self.upper))
                if below[rank] is None or below[rank][0] != changes[rank + 2]:
                    below[rank] = (
                        changes[rank + 2],
                        self._positions(layer, self.lower),
                    )
                swaps, gains = _layout_transpose_rank(
                    layer, self.position, above[rank][1], below[rank][1], swap_ties
                )
                changes[rank + 1] += swaps
                if gains:
                    for other in (rank - 1, rank, rank + 1):
                        if 0 <= other < len(layers):
                            pending[other] = True

    def _positions(self, layer, neighbours) -> list[list[int]]:
        position = self.position
        return [
            sorted([position[other] for other in neighbours[node]]) for node in layer
        ]


def _layout_initial_order(ranks, upper, lower) -> list[list[int]]:
    """Place nodes in the order a depth-first search from the sources reaches them,
    which keeps the nodes of a subtree together."""
    layers: list[list[int]] = [[] for _ in range(max(ranks, default=-1) + 1)]
    seen = [False] * len(ranks)
    for root in range(len(ranks)):
        if upper[root] or seen[root]:
            continue
        stack = [root]
        seen[root] = True
        while stack:
            node = stack.pop()
            layers[ranks[node]].append(node)
            for head in sorted(set(lower[node]), reverse=True):
                if not seen[head]:
                    seen[head] = True
                    stack.append(head)
    return layers


def _layout_sweep(layers, position, neighbours, rank_indexes) -> None:
    """Sort each rank by the barycenter of the neighbours' positions. Nodes without
    neighbours keep their slot, and equal barycenters keep their current order."""
    for rank in rank_indexes:
        layer = layers[rank]
        keyed = []
        for index, node in enumerate(layer):
            adjacent = neighbours[node]
            if adjacent:
                total = 0
                for other in adjacent:
                    total += position[other]
                keyed.append((total / len(adjacent), index, node))
        if not keyed:
            continue
        keyed.sort()
        moved = iter(keyed)
        for index, node in enumerate(layer):
            if neighbours[node]:
                layer[index] = next(moved)[2]
        for index, node in enumerate(layer):
            position[node] = index


def _layout_transpose_rank(layer, position, above, below, swap_ties: bool):
    """Make one pass of adjacent swaps over a rank. above[i] and below[i] are the
    sorted neighbour positions of layer[i] and move with it. Return the number of
    swaps and of swaps that removed crossings."""
    bisect_left = bisect.bisect_left
    bisect_right = bisect.bisect_right
    swaps = gains = 0
    for index in range(len(layer) - 1):
        kept = swapped = 0
        right = above[index + 1]
        for mine in above[index]:
            kept += bisect_left(right, mine)
            swapped += len(right) - bisect_right(right, mine)
        right = below[index + 1]
        for mine in below[index]:
            kept += bisect_left(right, mine)
            swapped += len(right) - bisect_right(right, mine)
        if swapped < kept or (swap_ties and swapped == kept > 0):
            left_node = layer[index]
            layer[index] = layer[index + 1]
            layer[index + 1] = left_node
            position[layer[index]] = index
            position[left_node] = index + 1
            above[index], above[index + 1] = above[index + 1], above[index]
            below[index], below[index + 1] = below[index + 1], below[index]
            swaps += 1
            gains += swapped < kept
    return swaps, gains


def _layout_count_crossings(layers, position, lower) -> int:
    """Count crossings between every pair of adjacent ranks. Listing the edges by
    upper end, then lower end, the crossings are the inversions among the lower
    ends (Barth, Juenger and Mutzel). A sorted list with binary search counts them
    in place of their accumulator tree, which is faster in Python."""
    total = 0
    for layer in layers[:-1]:
        ends: list[int] = []
        for node in layer:
            heads = lower[node]
            if len(heads) == 1:
                ends.append(position[heads[0]])
            elif heads:
                ends.extend(sorted([position[head] for head in heads]))
        seen: list[int] = []
        for end in ends:
            index = bisect.bisect_right(seen, end)
            total += len(seen) - index
            seen.insert(index, end)
    return total


# Phase 5: assign coordinates ----------------------------------------------------------


def dag_assign_coordinates(
    layers: Sequence[Sequence[int]],
    chains: Sequence[Sequence[int]],
    sizes: Sequence[tuple[float, float]],
) -> tuple[list[float], list[float], list[float]]:
    """Place ranks as columns along x and stack each rank's nodes along y.

    Each column is as wide as its widest node, and nodes sit at its left edge. Along
    y the phase reduces the weighted sum of squared vertical edge-segment lengths,
    the objective that Sugiyama et al. (1981) set for this step, with the segment
    weights 1, 2 and 8 of Gansner et al. (1993) so that long edges run straight.
    Each of _LAYOUT_COORDINATE_SWEEPS sweeps, alternating in direction, places one
    rank at a time. With its neighbours fixed, the best placement of a rank that
    keeps its order and minimum gaps is a weighted isotonic regression, which the
    pool adjacent violators algorithm solves exactly. The sweeps approach the
    minimum of the whole sum but need not reach it.

    Pre: layers come from dag_order_ranks. Nodes 0 .. len(sizes) - 1 are real
    nodes with sizes[v] = (width, height), and higher indexes are dummy nodes.
    Post: returns (column_left, column_width, center_y). Consecutive nodes in a rank
    are apart by half their heights plus a gap: LAYOUT_NODE_GAP_PX between two
    boxes, LAYOUT_EDGE_GAP_PX between two dummies. The topmost box edge is at y = 0.
    """
    real_count = len(sizes)
    node_count = sum(len(layer) for layer in layers)
    heights = [sizes[v][1] if v < real_count else 0.0 for v in range(node_count)]
    column_width = [
        max((sizes[v][0] for v in layer if v < real_count), default=0.0)
        for layer in layers
    ]
    column_left = []
    x = 0.0
    for width in column_width:
        column_left.append(x)
        x += width + LAYOUT_RANK_GAP_PX
    neighbours = _layout_weighted_neighbours(node_count, chains, real_count)
    center_y = [0.0] * node_count
    gaps = [_layout_rank_gaps(layer, heights, real_count) for layer in layers]
    for layer, layer_gaps in zip(layers, gaps):
        _layout_pack_rank(layer, layer_gaps, center_y)
    for sweep in range(_LAYOUT_COORDINATE_SWEEPS):
        ranks = range(len(layers)) if sweep % 2 == 0 else range(len(layers) - 1, -1, -1)
        for rank in ranks:
            _layout_place_rank(layers[rank], gaps[rank], neighbours, center_y)
    top = min(center_y[v] - heights[v] / 2 for v in range(node_count))
    return column_left, column_width, [y - top for y in center_y]


def _layout_weighted_neighbours(node_count, chains, real_count) -> list[list]:
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(node_count)]
    for chain in chains:
        for tail, head in _layout_consecutive_pairs(chain):
            dummies = (tail >= real_count) + (head >= real_count)
            weight = _LAYOUT_SEGMENT_WEIGHTS[dummies]
            neighbours[tail].append((head, weight))
            neighbours[head].append((tail, weight))
    return neighbours


def _layout_rank_gaps(layer, heights, real_count) -> list[float]:
    """Return the minimum distance between the centers of each consecutive pair."""
    gaps = []
    for upper, lower in _layout_consecutive_pairs(layer):
        margin = 0.0
        for node in (upper, lower):
            real = node < real_count
            margin += (LAYOUT_NODE_GAP_PX if real else LAYOUT_EDGE_GAP_PX) / 2
        gaps.append((heights[upper] + heights[lower]) / 2 + margin)
    return gaps


def _layout_pack_rank(layer, gaps, center_y) -> None:
    y = -sum(gaps) / 2
    for index, node in enumerate(layer):
        center_y[node] = y
        if index < len(gaps):
            y += gaps[index]


def _layout_place_rank(layer, gaps, neighbours, center_y) -> None:
    """Move a rank's nodes to the weighted mean of their neighbours' centers, as
    near as the order and gaps allow, by pool adjacent violators.

    Subtracting the cumulative gap from each target turns the gap constraints into
    plain monotonicity, so blocks of nodes that would overlap are pooled to their
    weighted mean."""
    offset = 0.0
    blocks: list[list[float]] = []  # [weight, weighted sum, node count]
    for index, node in enumerate(layer):
        weight = 0.0
        total = 0.0
        for other, edge_weight in neighbours[node]:
            weight += edge_weight
            total += edge_weight * center_y[other]
        if weight == 0.0:
            weight, total = 1.0, center_y[node]
        total -= weight * offset
        blocks.append([weight, total, 1])
        while len(blocks) > 1 and (
            blocks[-2][1] * blocks[-1][0] >= blocks[-1][1] * blocks[-2][0]
        ):
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][2] += last[2]
        if index < len(gaps):
            offset += gaps[index]
    index = 0
    offset = 0.0
    for weight, total, count in blocks:
        for _ in range(int(count)):
            center_y[layer[index]] = total / weight + offset
            if index < len(gaps):
                offset += gaps[index]
            index += 1


# Phase 6: route edges -----------------------------------------------------------------


def dag_route_edges(
    chains: Sequence[Sequence[int]],
    ranks: Sequence[int],
    columns: tuple[Sequence[float], Sequence[float]],
    center_y: Sequence[float],
    sizes: Sequence[tuple[float, float]],
) -> list[list[tuple[float, float]]]:
    """Route each edge chain as a sequence of cubic Bezier pieces.

    The path leaves the tail's right side, runs horizontally through the column of
    each dummy node at the dummy's y, and ends on the head's left side. Between
    columns each piece is a cubic whose control points share the x midway between
    the columns and keep the end heights, so the curve leaves and enters
    horizontally. All pieces in one gap between columns then share the same x(t),
    and two of them cross exactly when their ends swap order, so the drawing has the
    crossings that dag_order_ranks counted. Edge ends on one side of a node are
    spread LAYOUT_PORT_GAP_PX apart, in the order of the nodes they lead to.

    Pre: chains, ranks and sizes as for dag_assign_coordinates, and columns is its
    (column_left, column_width).
    Post: returns, per chain, the points [start, c1, c2, end, c1, c2, end, ...] of
    consecutive cubic pieces.
    """
    column_left, column_width = columns
    out_port, in_port = _layout_ports(chains, center_y, sizes)
    routes = []
    for index, chain in enumerate(chains):
        tail, head = chain[0], chain[-1]
        x = column_left[ranks[tail]] + sizes[tail][0]
        y = out_port[index]
        points: list[tuple[float, float]] = [(x, y)]
        right = column_left[ranks[tail]] + column_width[ranks[tail]]
        x = _layout_add_line(points, x, right, y)
        for dummy in chain[1:-1]:
            left = column_left[ranks[dummy]]
            _layout_add_curve(points, x, y, left, center_y[dummy])
            y = center_y[dummy]
            x = _layout_add_line(points, left, left + column_width[ranks[dummy]], y)
        _layout_add_curve(points, x, y, column_left[ranks[head]], in_port[index])
        routes.append(points)
    return routes


def _layout_add_line(points, start_x, end_x, y) -> float:
    if end_x > start_x:
        third = (end_x - start_x) / 3
        points.extend([(start_x + third, y), (end_x - third, y), (end_x, y)])
    return end_x


def _layout_add_curve(points, start_x, start_y, end_x, end_y) -> None:
    middle = (start_x + end_x) / 2
    points.extend([(middle, start_y), (middle, end_y), (end_x, end_y)])


def _layout_ports(chains, center_y, sizes) -> tuple[list[float], list[float]]:
    """Return the y of each chain's start on its tail and end on its head."""
    leaving: dict[int, list] = {}
    arriving: dict[int, list] = {}
    for index, chain in enumerate(chains):
        leaving.setdefault(chain[0], []).append((center_y[chain[1]], index))
        arriving.setdefault(chain[-1], []).append((center_y[chain[-2]], index))
    out_port = [0.0] * len(chains)
    in_port = [0.0] * len(chains)
    for ends, ports in ((leaving, out_port), (arriving, in_port)):
        for node, keyed in ends.items():
            keyed.sort()
            height = sizes[node][1]
            room = max(0.0, height - 2 * LAYOUT_PORT_MARGIN_PX)
            step = min(LAYOUT_PORT_GAP_PX, room / max(1, len(keyed) - 1))
            first = center_y[node] - step * (len(keyed) - 1) / 2
            for slot, (_, index) in enumerate(keyed):
                ports[index] = first + slot * step
    return out_port, in_port


# Packing components -------------------------------------------------------------------


def dag_pack_components(
    blocks: Sequence[tuple[float, float]],
) -> tuple[list[tuple[float, float]], float, float]:
    """Place blocks (component drawings) on shelves, in the given order.

    This is first-fit shelf packing: each block goes to the right end of the first
    shelf with room for it within the target width, or else opens a new shelf below
    the last one. A shelf is as tall as its first block, so blocks sorted by
    decreasing height always fit the shelf they join, which makes this the
    first-fit decreasing height method. The target width is that of a
    LAYOUT_ASPECT_RATIO rectangle with the blocks' total area, or the widest block
    if that is wider.

    Pre: blocks are (width, height) pairs in px. Any order packs without overlap,
    and decreasing height packs tightest.
    Post: returns (offsets, width, height). offsets[i] is the top-left corner of
    block i, blocks are at least LAYOUT_COMPONENT_GAP_PX apart, and none overlap.
    """
    gap = LAYOUT_COMPONENT_GAP_PX
    area = sum((width + gap) * (height + gap) for width, height in blocks)
    widest = max((width for width, _ in blocks), default=0.0)
    target = max(widest, math.sqrt(area * LAYOUT_ASPECT_RATIO) - gap)
    shelves: list[list[float]] = []  # [top, height, next free x]
    offsets = []
    for width, height in blocks:
        shelf = next((s for s in shelves if s[2] + width <= target), None)
        if shelf is None or height > shelf[1]:
            top = shelves[-1][0] + shelves[-1][1] + gap if shelves else 0.0
            shelf = [top, height, 0.0]
            shelves.append(shelf)
        offsets.append((shelf[2], shelf[0]))
        shelf[2] += width + gap
    total_width = max((shelf[2] - gap for shelf in shelves), default=0.0)
    total_height = shelves[-1][0] + shelves[-1][1] if shelves else 0.0
    return offsets, total_width, total_height


def _layout_grid(sizes: Sequence[tuple[float, float]]) -> tuple[list, float, float]:
    """Arrange boxes row by row in a grid of about LAYOUT_ASPECT_RATIO, with each
    column as wide as its widest box. Return (top-left corners, width, height)."""
    count = len(sizes)
    cell_width = max(width for width, _ in sizes) + LAYOUT_NODE_GAP_PX
    cell_height = max(height for _, height in sizes) + LAYOUT_NODE_GAP_PX
    columns = round(math.sqrt(count * LAYOUT_ASPECT_RATIO * cell_height / cell_width))
    columns = min(count, max(1, columns))
    column_left = [0.0]
    for column in range(columns):
        widths = [sizes[i][0] for i in range(column, count, columns)]
        column_left.append(column_left[-1] + max(widths) + LAYOUT_NODE_GAP_PX)
    row_top = [0.0]
    for row in range(0, count, columns):
        heights = [height for _, height in sizes[row : row + columns]]
        row_top.append(row_top[-1] + max(heights) + LAYOUT_NODE_GAP_PX)
    corners = [(column_left[i % columns], row_top[i // columns]) for i in range(count)]
    return (
        corners,
        column_left[-1] - LAYOUT_NODE_GAP_PX,
        row_top[-1] - LAYOUT_NODE_GAP_PX,
    )


# Public entry points ------------------------------------------------------------------


def layout_dag(
    nodes: Mapping[str, tuple[float, float]], edges: Iterable[tuple[str, str]]
) -> dict:
    """Lay out a DAG left to right. `nodes` maps name -> (width, height) and
    `edges` are (upstream, downstream) pairs; an edge naming an unknown node
    raises ValueError naming it.

    Runs the layout phases on each connected component, gathers isolated nodes into
    a grid and packs the components with dag_pack_components. Repeated edges are
    drawn once. Self-loops are dropped and listed under "self_loops".

    An edge reversed to break a cycle keeps its direction in the output. Its path
    starts on the left side of its upstream node and ends on the right side of its
    downstream node, and it is flagged "reversed" and listed under
    "reversed_edges".

    Returns {"nodes", "edges", "width", "height", "reversed_edges", "self_loops",
    "crossings"}, with coordinates in px rounded to 0.1. Node x, y is the top-left
    corner of the box, and rank and order are the column and the position in it
    within the node's component. Nodes are sorted by name, edges by (from, to).
    """
    names = sorted(nodes)
    sizes = [_layout_checked_size(name, nodes[name]) for name in names]
    pairs = _layout_checked_edges(names, edges)
    drawings = []
    isolated = []
    for members, member_edges in _layout_components(len(names), pairs):
        if member_edges:
            drawings.append(_layout_draw_component(members, member_edges, pairs, sizes))
        else:
            isolated.append(members[0])
    drawings.sort(key=lambda drawing: (-drawing["height"], drawing["members"][0]))
    if isolated:
        drawings.append(_layout_draw_isolated(isolated, sizes))
    blocks = [(drawing["width"], drawing["height"]) for drawing in drawings]
    offsets, width, height = dag_pack_components(blocks)
    return _layout_assemble(names, sizes, pairs, drawings, offsets, width, height)


def _layout_checked_size(name: str, size: tuple[float, float]) -> tuple[float, float]:
    try:
        width, height = float(size[0]), float(size[1])
    except (TypeError, ValueError, IndexError) as error:
        raise ValueError(
            f"invalid size {size!r} for node {name!r}: expected (width, height) in px"
        ) from error
    if not (0 < width < math.inf and 0 < height < math.inf):
        raise ValueError(
            f"invalid size {size!r} for node {name!r}: "
            "width and height must be positive and finite"
        )
    return width, height


def _layout_checked_edges(names, edges) -> list[tuple[int, int]]:
    """Return the distinct edges as sorted (tail index, head index) pairs."""
    index = {name: i for i, name in enumerate(names)}
    pairs = set()
    unknown = set()
    for edge in edges:
        try:
            tail, head = edge
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"invalid edge {edge!r}: expected an (upstream, downstream) pair"
            ) from error
        for name in (tail, head):
            if name not in index:
                unknown.add(name)
        if not unknown:
            pairs.add((index[tail], index[head]))
    if unknown:
        listed = ", ".join(repr(name) for name in sorted(unknown, key=str))
        raise ValueError(
            f"unknown node names in edges: {listed}. "
            "Add them to nodes or remove those edges."
        )
    return sorted(pairs)


def _layout_components(node_count, pairs) -> list[tuple[list[int], list[int]]]:
    """Split the graph into weakly connected components, ignoring self-loops.
    Return (sorted members, indexes into pairs) per component, by first member."""
    parent = list(range(node_count))

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for tail, head in pairs:
        parent[max(find(tail), find(head))] = min(find(tail), find(head))
    members: dict[int, list[int]] = {}
    for node in range(node_count):
        members.setdefault(find(node), []).append(node)
    edges_of: dict[int, list[int]] = {}
    for index, (tail, head) in enumerate(pairs):
        if tail != head:
            edges_of.setdefault(find(tail), []).append(index)
    return [(members[root], edges_of.get(root, [])) for root in sorted(members)]


def _layout_draw_component(members, edge_indexes, pairs, sizes) -> dict:
    """Run the layout phases on one connected component, in local coordinates."""
    local = {node: i for i, node in enumerate(members)}
    edges = [(local[pairs[k][0]], local[pairs[k][1]]) for k in edge_indexes]
    flipped = set(dag_break_cycles(len(members), edges)[0])
    acyclic = [
        (head, tail) if i in flipped else (tail, head)
        for i, (tail, head) in enumerate(edges)
    ]

    ranks = dag_assign_ranks(len(members), acyclic)
    all_ranks, chains = dag_insert_dummies(ranks, acyclic)
    layers, crossings = dag_order_ranks(all_ranks, chains)
    local_sizes = [sizes[node] for node in members]
    column_left, column_width, center_y = dag_assign_coordinates(
        layers, chains, local_sizes
    )
    columns = (column_left, column_width)
    routes = dag_route_edges(chains, all_ranks, columns, center_y, local_sizes)

    heights = [height for _, height in local_sizes]
    heights += [0.0] * (len(center_y) - len(members))
    return {
        "members": members,
        "edges": edge_indexes,
        "ranks": ranks,
        "order": _layout_real_order(layers, len(members)),
        "x": [column_left[rank] for rank in ranks],
        "y": [center_y[i] - heights[i] / 2 for i in range(len(members))],
        "routes": [
            route[::-1] if i in flipped else route for i, route in enumerate(routes)
        ],
        "flipped": [i in flipped for i in range(len(edges))],
        "width": column_left[-1] + column_width[-1],
        "height": max(y + heights[i] / 2 for i, y in enumerate(center_y)),
        "crossings": crossings,
    }


def _layout_real_order(layers, real_count) -> list[int]:
    """Return each real node's position among the real nodes of its rank."""
    order = [0] * real_count
    for layer in layers:
        real = [node for node in layer if node < real_count]
        for index, node in enumerate(real):
            order[node] = index
    return order


def _layout_draw_isolated(isolated, sizes) -> dict:
    corners, width, height = _layout_grid([sizes[node] for node in isolated])
    return {
        "members": isolated,
        "edges": [],
        "ranks": [0] * len(isolated),
        "order": [0] * len(isolated),
        "x": [x for x, _ in corners],
        "y": [y for _, y in corners],
        "routes": [],
        "flipped": [],
        "width": width,
        "height": height,
        "crossings": 0,
    }


def _layout_assemble(names, sizes, pairs, drawings, offsets, width, height) -> dict:
    node_rows = []
    edge_rows = []
    crossings = 0
    for drawing, (left, top) in zip(drawings, offsets):
        crossings += drawing["crossings"]
        for i, node in enumerate(drawing["members"]):
            node_rows.append(
                {
                    "name": names[node],
                    "x": _layout_round(left + drawing["x"][i]),
                    "y": _layout_round(top + drawing["y"][i]),
                    "width": sizes[node][0],
                    "height": sizes[node][1],
                    "rank": drawing["ranks"][i],
                    "order": drawing["order"][i],
                }
            )
        for i, edge in enumerate(drawing["edges"]):
            tail, head = pairs[edge]
            edge_rows.append(
                {
                    "from": names[tail],
                    "to": names[head],
                    "path": _layout_format_path(drawing["routes"][i], left, top),
                    "reversed": drawing["flipped"][i],
                }
            )
    node_rows.sort(key=lambda row: row["name"])
    # Bound the rounded boxes as a reader adds them up in floating point.
    width = max([width] + [row["x"] + row["width"] for row in node_rows])
    height = max([height] + [row["y"] + row["height"] for row in node_rows])
    edge_rows.sort(key=lambda row: (row["from"], row["to"]))
    return {
        "nodes": node_rows,
        "edges": edge_rows,
        "width": _layout_round_up(width),
        "height": _layout_round_up(height),
        "reversed_edges": [
            [row["from"], row["to"]] for row in edge_rows if row["reversed"]
        ],
        "self_loops": [[names[t], names[h]] for t, h in pairs if t == h],
        "crossings": crossings,
    }


def _layout_round_up(value: float) -> float:
    """Return the smallest multiple of 0.1 that is at least value in floating
    point."""
    tenths = math.floor(value * 10)
    while tenths / 10 < value:
        tenths += 1
    return tenths / 10


def _layout_round(value: float) -> float:
    rounded = round(value, 1)
    return rounded + 0.0  # turns -0.0 into 0.0


def _layout_format_path(points, left: float, top: float) -> str:
    words = ["M"]
    for index, (x, y) in enumerate(points):
        if index % 3 == 1:
            words.append("C")
        words.append(f"{left + x:.1f} {top + y:.1f}")
    text = " ".join(words).replace(" -0.0", " 0.0")
    return _LAYOUT_TRAILING_ZERO.sub("", text)


# Crossing count of a drawing ----------------------------------------------------------


def crossing_count(layout: dict) -> int:
    """Count the points where the paths of two different edges cross.

    Reads the "path" of each entry in layout["edges"] (SVG path data with absolute
    M, L and C commands), samples each cubic piece at _LAYOUT_BEZIER_SAMPLES equal
    steps of its parameter, and counts the proper intersections between segments
    of different edges' polylines. Two edges that cross twice count twice, and
    edges that only touch at a shared end count zero. A point lying exactly on the
    other polyline counts as if moved slightly to one fixed side, so a crossing
    through a sample point counts once.
    """
    polylines = [_layout_sample_path(edge["path"]) for edge in layout["edges"]]
    segments = []
    for owner, polyline in enumerate(polylines):
        for start, end in _layout_consecutive_pairs(polyline):
            segments.append((owner, start, end))
    if not segments:
        return 0
    extent = sum(abs(b[0] - a[0]) + abs(b[1] - a[1]) for _, a, b in segments)
    cell = max(1.0, 2 * extent / len(segments))
    grid: dict[tuple[int, int], list[int]] = {}
    for index, (_, (x1, y1), (x2, y2)) in enumerate(segments):
        for column in range(int(min(x1, x2) // cell), int(max(x1, x2) // cell) + 1):
            for row in range(int(min(y1, y2) // cell), int(max(y1, y2) // cell) + 1):
                grid.setdefault((column, row), []).append(index)
    found = set()
    for indexes in grid.values():
        for i, first in enumerate(indexes):
            for second in indexes[i + 1 :]:
                if segments[first][0] != segments[second][0] and _layout_segments_cross(
                    segments[first], segments[second]
                ):
                    found.add((first, second))
    return len(found)


def _layout_segments_cross(first, second) -> bool:
    _, a, b = first
    _, c, d = second
    side = _layout_side
    return side(a, b, c) != side(a, b, d) and side(c, d, a) != side(c, d, b)


def _layout_side(a, b, c) -> bool:
    """Return which side of the line a -> b point c is on; points on the
    line count as left."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) >= 0


def _layout_sample_path(path: str) -> list[tuple[float, float]]:
    tokens = _LAYOUT_PATH_TOKEN.findall(path)
    points: list[tuple[float, float]] = []
    index = 0
    command = ""
    while index < len(tokens):
        if tokens[index].isalpha():
            command = tokens[index]
            if command not in ("M", "L", "C"):
                raise ValueError(
                    f"unsupported command {command!r} in path {path!r}: "
                    "crossing_count reads only absolute M, L and C"
                )
            index += 1
            continue
        count = 6 if command == "C" else 2
        values = [float(token) for token in tokens[index : index + count]]
        index += count
        if command == "C" and points:
            points.extend(_layout_sample_cubic(points[-1], values))
        else:
            points.append((values[0], values[1]))
    return points


def _layout_sample_cubic(start, values) -> list[tuple[float, float]]:
    x0, y0 = start
    x1, y1, x2, y2, x3, y3 = values
    samples = []
    for step in range(1, _LAYOUT_BEZIER_SAMPLES + 1):
        t = step / _LAYOUT_BEZIER_SAMPLES
        u = 1 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        samples.append(
            (a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3)
        )
    return samples


# ------------------------------------------------------------------------------------
# API views
# ------------------------------------------------------------------------------------

STREAMING_STATS_KEYS = (
    "snapshot_at",
    "rows_consumed_total",
    "rows_written_total",
    "batches_total",
    "errors_total",
    "stats_1m",
    "stats_5m",
)
DOCUMENT_TIME_BUCKET_S = 5
# How often a page of run_records rows is rebuilt for its `stale` warnings.
RUN_PAGE_TIME_BUCKET_S = 60
# A running stream whose newest throughput snapshot is older than this looks
# dead: ematix-flow's recorder writes one every 30 s.
STREAM_SNAPSHOT_STALE_S = 300
# A running batch run without a claim looks dead after this many times its
# job's median duration, and never sooner than STALE_RUN_MIN_S.
STALE_RUN_MEDIANS = 10
STALE_RUN_MIN_S = 3600
# Graph nodes show at most this many characters a line, so that one very long
# job or step name does not stretch its box, and the whole drawing, across
# thousands of pixels. The node's `name` keeps the whole name.
NODE_LABEL_MAX_CHARS = 60
# Rendered documents kept, by the size of their bodies. On the 200-job
# benchmark project the layouts of every workflow and job, the first pages
# of the runs list and the job list take about 5 MB, so that clients moving
# between views find them built.
DOCUMENT_CACHE_MAX_BYTES = 16 * 1024 * 1024
# The oldest previous version of a document served while another request
# waits for it to be rebuilt; with an older one, requests wait too.
STALE_DOCUMENT_MAX_AGE_S = 30.0
# A focused DAG with more nodes than this shows the job's neighbourhood to the
# largest depth that fits, with stub nodes counting what is hidden.
MAX_FOCUS_NODES = 60
STUB_PREFIX = "\u2026stub:"


def api_time(text: Optional[str]) -> Optional[str]:
    """A stored timestamp as the API emits it; text that does not parse is
    passed through unchanged so nothing is hidden from the operator."""
    if text is None:
        return None
    moment = parse_timestamp(text)
    return text if moment is None else format_api_time(moment)


def run_summary(record: RunRecord) -> dict:
    return {
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "status": record.status,
        "started_at": api_time(record.started_at),
        "finished_at": api_time(record.finished_at),
        "duration_ms": record.duration_ms,
        "attempt": record.attempt,
        "failed_step": record.failed_step,
        "kind": record.kind,
    }


def run_actions(record: RunRecord) -> dict:
    """Which actions the run detail page offers for a run, by its status; a
    pause or resume already asked for is not offered again."""
    failed = record.status == "failed"
    streaming = record.kind == "streaming"
    offers_step = failed and not streaming and bool(record.failed_step)
    pause_requested = record.extras().get("pause_requested")
    return {
        "pause": record.status == "running" and pause_requested is not True,
        "resume": record.status == "paused" and pause_requested is not False,
        "restart_from_step": [record.failed_step] if offers_step else [],
        "rerun_full": record.status in TERMINAL_STATUSES,
        "resume_from_watermark": failed and streaming,
        "cancel": record.status == "requested",
    }


def attempt_entry(record: RunRecord) -> dict:
    return {
        "attempt": record.attempt,
        "started_at": api_time(record.started_at),
        "finished_at": api_time(record.finished_at),
        "status": record.status,
        "failed_step": record.failed_step,
        "error_summary": record.error_summary,
        "error_stack": None,
        "run_id": record.run_id,
    }


def median_ms(values: Sequence[int]) -> Optional[int]:
    """Integer median; for an even count the floor of the two middle values'
    mean, as ematix-flow computes it."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def format_duration(millis: Optional[float]) -> str:
    """A duration as operators read it: `850 ms`, `12.3 s`, `4m 05s`, `1h 02m`."""
    if millis is None:
        return "—"
    if millis < 1000:
        return f"{int(millis)} ms"
    seconds = millis / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


_DOTTED_IDENTIFIER_RE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
)


def _qualified_name_parts(name: str) -> tuple:
    """Split a job name such as `sales.load_orders` into its prefix and leaf
    name, for a graph node's label. A name whose part before the last dot is
    not a dotted identifier, such as `a/b/../c`, stays whole, so that the
    label hides no part of it."""
    prefix, _, leaf = name.rpartition(".")
    if leaf and _DOTTED_IDENTIFIER_RE.fullmatch(prefix):
        return prefix, leaf
    return "", name


def node_labels(lines: Sequence[str]) -> list:
    """Cut each line of a graph node to NODE_LABEL_MAX_CHARS, ending a cut
    one with an ellipsis."""
    return [
        line
        if len(line) <= NODE_LABEL_MAX_CHARS
        else line[: NODE_LABEL_MAX_CHARS - 1] + "\u2026"
        for line in lines
    ]


def focus_neighbourhood(
    focus: str, edges: Sequence[tuple], depth: Optional[int], cap: int
) -> tuple:
    """Pick the nodes of a focused view: the job with its ancestors and
    descendants, or, when they are more than `cap`, those within `depth` hops
    (the largest depth that fits when None). Returns the names and, per
    (job, "up"|"down") at the edge of the view, how many nodes it hides."""
    upstream = _hop_layers(focus, edges, 0)
    downstream = _hop_layers(focus, edges, 1)
    if depth is None:
        # At least 1, so a job without neighbours does not index layer -1.
        depth = max(len(upstream), len(downstream), 1)
        while (
            depth > 1
            and 1 + _count_within(upstream, depth) + _count_within(downstream, depth)
            > cap
        ):
            depth -= 1
    names = {focus}
    for layers in (upstream, downstream):
        for layer in layers[:depth]:
            names |= layer
    stubs = {}
    for side, layers in ((0, upstream), (1, downstream)):
        for name in sorted(layers[depth - 1] if len(layers) >= depth else []):
            hidden = related(name, edges, side) - names
            if hidden:
                stubs[(name, "up" if side == 0 else "down")] = len(hidden)
    return names, stubs


def _hop_layers(start: str, edges: Sequence[tuple], side: int) -> list:
    """Nodes 1, 2, ... hops from `start` against (side 0) or along (side 1)
    the edges, each node in the nearest layer only."""
    neighbours: dict = {}
    for edge in edges:
        neighbours.setdefault(edge[1 - side], []).append(edge[side])
    seen, layers, frontier = {start}, [], [start]
    while frontier:
        layer = {n for name in frontier for n in neighbours.get(name, [])} - seen
        if not layer:
            break
        layers.append(layer)
        seen |= layer
        frontier = sorted(layer)
    return layers


def _count_within(layers: list, depth: int) -> int:
    return sum(len(layer) for layer in layers[:depth])


def related(name: str, edges: Sequence[tuple], side: int) -> set:
    """Every ancestor (side 0) or descendant (side 1) of `name` along edges."""
    neighbours: dict = {}
    for edge in edges:
        neighbours.setdefault(edge[1 - side], []).append(edge[side])
    found: set = set()
    pending = [name]
    while pending:
        for other in neighbours.get(pending.pop(), []):
            if other not in found:
                found.add(other)
                pending.append(other)
    found.discard(name)
    return found


def streaming_stats(record: RunRecord, extras: Mapping[str, Any]) -> Optional[dict]:
    if record.kind != "streaming":
        return None
    if not any(
        key in extras
        for key in ("snapshot_at", "stats_1m", "stats_5m", "rows_consumed_total")
    ):
        return None
    return {key: extras.get(key) for key in STREAMING_STATS_KEYS}


def stale_run(
    record: Optional[RunRecord],
    claim: Optional[Mapping[str, Any]],
    median: Optional[int],
    now: dt.datetime,
) -> Optional[dict]:
    """Say why a run that is recorded as running looks dead, or None: a
    stream whose throughput snapshot is old, a batch run whose claim expired,
    or one with no claim that runs far longer than usual."""
    if record is None or record.status != "running" or record.synthetic:
        return None
    if record.kind == "streaming":
        return _stale_stream(record, now)
    if claim is not None:
        expires = parse_timestamp(claim.get("expires_at"))
        if expires is None or expires >= now:
            return None
        worker = claim.get("worker_id") or "a worker"
        return {
            "reason": f"its claim by {worker} expired at {format_api_time(expires)}",
            "since": format_api_time(expires),
        }
    if record.started is None:
        return None
    limit_s = max(STALE_RUN_MIN_S, STALE_RUN_MEDIANS * (median or 0) / 1000)
    if (now - record.started).total_seconds() <= limit_s:
        return None
    return {
        "reason": f"running for {format_duration((now - record.started) / _MS)}"
        f" with no claim, longer than {format_duration(limit_s * 1000)}",
        "since": format_api_time(record.started + dt.timedelta(seconds=limit_s)),
    }


def _stale_stream(record: RunRecord, now: dt.datetime) -> Optional[dict]:
    snapshot = parse_timestamp(record.extras().get("snapshot_at"))
    last = snapshot or record.started
    if last is None or (now - last).total_seconds() <= STREAM_SNAPSHOT_STALE_S:
        return None
    age = format_duration((now - last) / _MS)
    if snapshot:
        cause = f"its last throughput snapshot was {age} ago"
    else:
        cause = f"it started {age} ago and has recorded no throughput snapshot"
    return {
        "reason": f"{cause}; a live stream records one every 30 s",
        "since": format_api_time(last),
    }


_MS = dt.timedelta(milliseconds=1)


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A JSON document serialised once, with its ETag, for reuse."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, document: Any) -> Rendered:
        body = encode_json(document)
        return cls(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def encode_json(document: Any) -> bytes:
    """Encode compact JSON as UTF-8. A lone surrogate, which a JSON request
    body or catalog file can carry as a \\u escape but UTF-8 cannot encode,
    becomes U+FFFD."""
    text = json.dumps(
        document, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", text).encode("utf-8")


@dataclasses.dataclass(frozen=True)
class _CachedDocument:
    rendered: Rendered
    version: Any
    writes: int
    built_at: float


class DocumentCache:
    """Rendered documents by key, each with the version (RunLog state and
    time bucket) it was built for. The least recently used go when their
    bodies add up to more than `max_bytes`.

    Out-of-date documents are built by a few threads of their own, so that
    requests never hold a worker thread while a document is built. How a
    request waits for a build depends on what made its document out of date:

    - This process wrote to the RunLog (an action): the first request starts
      the build and waits for it, so an operator who acts and reads again
      gets the change.
    - Another process wrote (the scheduler), or the time bucket passed: the
      request gets the previous version and the build runs in the
      background, because no client of this process made that change.
    - A build already runs: the request gets the previous version.

    A previous version built more than STALE_DOCUMENT_MAX_AGE_S ago is not
    served; the request waits for the build instead."""

    def __init__(self, max_bytes: int = DOCUMENT_CACHE_MAX_BYTES):
        self.max_bytes = max_bytes
        self._bytes = 0
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._builds: dict = {}
        self._executors: dict = {}
        self._lock = threading.Lock()

    def get(
        self,
        key: Any,
        version: Any,
        writes: int,
        build: Callable[[], Rendered],
        inline: bool = False,
    ) -> Any:
        """Return the document for `key` at `version`, a previous version,
        or a Future of a build this call started. `writes` counts the
        transactions this process has committed so far. With `inline`, a
        build that the request must wait for runs in the calling thread
        instead, for documents too quick to queue behind slow builds."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                if entry.version == version:
                    return entry.rendered
            recent = entry is not None and (
                time.monotonic() - entry.built_at <= STALE_DOCUMENT_MAX_AGE_S
            )
            running = self._builds.get(key)
            if running is not None and running[2] == writes:
                return entry.rendered if recent else running[1]
            if recent and entry.writes == writes:
                if running is None:
                    self._start_build(key, version, writes, build, background=True)
                return entry.rendered
            if not inline:
                return self._start_build(key, version, writes, build, background=False)
        # Not registered in self._builds, so no other request waits for it.
        return self._build(key, version, writes, build, token=object())

    def _start_build(
        self,
        key: Any,
        version: Any,
        writes: int,
        build: Callable[[], Rendered],
        background: bool,
    ) -> concurrent.futures.Future:
        # Called with self._lock held. Builds that requests wait for have
        # threads of their own, so they never queue behind background ones.
        if not self._executors:
            self._executors = {
                False: concurrent.futures.ThreadPoolExecutor(
                    DOCUMENT_BUILD_THREADS, thread_name_prefix="flow-web-build"
                ),
                True: concurrent.futures.ThreadPoolExecutor(
                    DOCUMENT_REFRESH_THREADS, thread_name_prefix="flow-web-refresh"
                ),
            }
        token = object()
        future = self._executors[background].submit(
            self._build, key, version, writes, build, token
        )
        self._builds[key] = (token, future, writes)
        return future

    def _build(
        self,
        key: Any,
        version: Any,
        writes: int,
        build: Callable[[], Rendered],
        token: object,
    ) -> Rendered:
        started = time.monotonic()
        try:
            rendered = build()
        except FlowWebError:
            raise
        except Exception:
            # No request may wait for a background build, so it is logged here.
            log.exception("building the document %r failed", key)
            raise
        finally:
            with self._lock:
                if self._builds.get(key, (None,))[0] is token:
                    del self._builds[key]
        with self._lock:
            newest = self._entries.get(key)
            # A build that began before another one finished is older than
            # that one's result, so it does not replace it.
            if newest is None or newest.built_at <= started:
                entry = _CachedDocument(rendered, version, writes, started)
                self._store(key, entry)
        return rendered

    def _store(self, key: Any, entry: _CachedDocument) -> None:
        # Called with self._lock held.
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.rendered.body)
        self._entries[key] = entry
        self._bytes += len(entry.rendered.body)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.rendered.body)


class RunLogApi:
    """Builds the JSON documents of the read API from the store and catalog."""

    def __init__(self, store: RunLogStore, catalog: Catalog, config: Config):
        self.store = store
        self.catalog = catalog
        self.config = config
        self.forecaster = Forecaster()
        self.documents = DocumentCache()
        self._warned_no_history = False
        self._layouts: dict = {}
        self._layout_lock = threading.Lock()

    def cached_document(
        self,
        key: Any,
        build: Callable[[], Any],
        changes_with_time: bool = True,
        bucket_s: float = DOCUMENT_TIME_BUCKET_S,
        inline: bool = False,
    ) -> Any:
        """Return the rendered document for `key`, or a Future while it is
        being built (see DocumentCache, also for `inline`). It is rebuilt
        when the RunLog changes, and every `bucket_s` seconds when its fields
        depend on the time."""
        bucket = None
        if changes_with_time:
            bucket = int(self.config.clock().timestamp() // bucket_s)
        # Read before the fingerprint, so a write that commits in between
        # makes this request wait rather than get the previous version.
        writes = self.store.committed_writes()
        version = (self.store.fingerprint(), bucket)
        return self.documents.get(
            key, version, writes, lambda: Rendered.of(build()), inline=inline
        )

    # -- runs -------------------------------------------------------------------------

    def runs_document(self, query: Mapping[str, Any]) -> Any:
        """Return the rendered `runs()` page for validated query parameters.
        Pages of run_records rows follow the clock only through their `stale`
        warnings, whose thresholds are minutes long. They are rebuilt once a
        minute, because a sorted page of a large RunLog can take a second.
        Pages made up from claims follow the clock like other documents."""
        key = ("runs", tuple(sorted(query.items())))
        if self._has_history():
            return self.cached_document(
                key, lambda: self.runs(**query), bucket_s=RUN_PAGE_TIME_BUCKET_S
            )
        return self.cached_document(key, lambda: self.runs(**query))

    def runs(
        self,
        pipeline: Optional[str],
        status: Optional[str],
        limit: int,
        offset: int,
        sort: str,
        descending: bool,
    ) -> dict:
        if self._has_history():
            records, total = self.store.list_runs(
                pipeline, status, limit, offset, sort, descending
            )
        else:
            records, total = self._synthetic_page(
                pipeline, status, limit, offset, sort, descending
            )
        following = offset + limit
        return {
            "runs": [
                {**run_summary(record), "stale": self._page_stale(record)}
                for record in records
            ],
            "total": total,
            "next_offset": following if following < total else None,
        }

    def _synthetic_page(
        self, pipeline, status, limit, offset, sort, descending
    ) -> tuple:
        records = [
            record
            for record in self.store.synthetic_runs(self.config.clock())
            if (pipeline is None or record.pipeline == pipeline)
            and (status is None or record.status == status)
        ]
        records.sort(key=lambda r: (r.started_at or "", r.run_id), reverse=True)
        if sort != "started" or not descending:
            records.sort(key=_synthetic_sort_key(sort), reverse=descending)
        return records[offset : offset + limit], len(records)

    def run_document(self, run_id: str) -> Any:
        """Return the rendered `run()` document. One run is a few indexed
        reads, so it is built in the calling thread rather than queued
        behind slow pages. It follows the clock for its stale warning."""
        return self.cached_document(
            ("run", run_id), lambda: self.run(run_id), inline=True
        )

    def run(self, run_id: str) -> dict:
        record = self._find_run(run_id)
        extras = record.extras()
        steps = extras.get("steps")
        document = run_summary(record)
        document.update(
            {
                "failed_watermark": record.failed_watermark,
                "error_summary": record.error_summary,
                "extras": extras,
                "attempts": self._attempts(record),
                "steps": steps if isinstance(steps, list) else [],
                "actions": run_actions(record),
            }
        )
        if self.config.read_only or record.synthetic:
            document["actions"] = dict.fromkeys(document["actions"], False)
            document["actions"]["restart_from_step"] = []
        document["stale"] = self._stale(record)
        return document

    def _page_stale(self, record: RunRecord) -> Optional[dict]:
        """Return `_stale()` of a runs page row. Page rows lack the extras,
        which a stream's warning reads, so each running stream on the page
        is read whole with one more query."""
        if record.status != "running" or record.synthetic:
            return None
        if record.kind == "streaming":
            record = self.store.get_run(record.run_id) or record
        return self._stale(record)

    def _stale(self, record: RunRecord) -> Optional[dict]:
        if record.status != "running" or record.synthetic:
            return None
        history = self.store.cached("job-history", self._job_history)
        entry = history["entries"].get(record.pipeline, {})
        return stale_run(
            record,
            history["claims"].get(record.pipeline),
            entry.get("median_duration_ms"),
            self.config.clock(),
        )

    def run_exists(self, run_id: str) -> bool:
        try:
            self._find_run(run_id)
        except NotFound:
            return False
        return True

    def _find_run(self, run_id: str) -> RunRecord:
        synthetic = run_id.startswith(
            (SYNTHETIC_RUN_LOG_PREFIX, SYNTHETIC_CLAIM_PREFIX)
        )
        if self._has_history() and not synthetic:
            record = self.store.get_run(run_id)
        else:
            found = [
                r
                for r in self.store.synthetic_runs(self.config.clock())
                if r.run_id == run_id
            ]
            record = found[0] if found else None
        if record is None:
            raise NotFound(f"run {run_id} not found")
        return record

    def _attempts(self, record: RunRecord) -> list:
        """The retry chain that ends in this run: the pipeline's earlier runs
        whose attempt numbers count down to 1, each of which failed."""
        chain = [record]
        if record.attempt > 1 and record.started_at and not record.synthetic:
            earlier = self.store.query(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM run_records WHERE pipeline = ?"
                " AND started_at < ? ORDER BY started_at DESC LIMIT ?",
                (record.pipeline, record.started_at, min(record.attempt - 1, 50)),
            )
            for row in earlier:
                previous = _record_from_row(RUN_COLUMNS, row)
                if (
                    previous.attempt != chain[-1].attempt - 1
                    or previous.status != "failed"
                ):
                    break
                chain.append(previous)
        return [attempt_entry(item) for item in reversed(chain)]

    def _has_history(self) -> bool:
        present = self.store.has_history()
        if not present and not self._warned_no_history:
            self._warned_no_history = True
            log.warning(
                "RunLog %s has no run_records table (older ematix-flow or a"
                " server RunLog); showing each job's last run, retry state and"
                " claims from run_log, attempt_state and pipeline_claims",
                self.store.connector.describe(),
            )
        return present

    # -- pipelines ----------------------------------------------------------------

    def pipelines(self) -> dict:
        now = self.config.clock()
        history = self.store.cached("job-history", self._job_history)
        since = (now - dt.timedelta(days=FAILURE_WINDOW_DAYS)).replace(
            second=0, microsecond=0
        )
        counts = self.store.cached(
            ("failure-counts", since),
            lambda: self._window_counts(history["names"], since),
        )
        names = sorted_by_newest_run(history["names"], history["latest"])
        return {
            "pipelines": [
                self._pipeline_entry(name, history, counts, now) for name in names
            ]
        }

    def _job_history(self) -> dict:
        """Everything /api/pipelines reads from the database, per pipeline."""
        synthetic = self.store.synthetic_runs(self.config.clock())
        if self._has_history():
            names = self.store.pipeline_names()
            recent = self.store.newest_runs(names, RECENT_RUNS_PER_JOB)
            latest = self.store.newest_runs(names, 1, columns=RUN_COLUMNS)
            durations = self.store.recent_durations(names, MEDIAN_WINDOW_RUNS)
        else:
            recent, latest, durations = {}, {}, {}
        recent = merge_synthetic_runs(recent, synthetic, RECENT_RUNS_PER_JOB)
        names = sorted(recent)
        for name, runs in recent.items():
            # A made-up run_log or claim row is the newest when it was merged
            # in first place.
            if runs and (runs[0].synthetic or not latest.get(name)):
                latest[name] = runs[:1]
        catalog_names = [
            job.name for job in self.catalog.jobs if job.name not in recent
        ]
        newest = {name: runs[0] for name, runs in latest.items() if runs}
        all_names = sorted(set(names) | set(catalog_names))
        entries = {
            name: self._static_entry(
                name, recent.get(name, []), newest.get(name), durations.get(name, [])
            )
            for name in all_names
        }
        return {
            "names": all_names,
            "recent": recent,
            "latest": newest,
            "entries": entries,
            "retry": self.store.attempt_states(),
            "claims": self.store.claims(),
        }

    def _window_counts(self, names: Sequence[str], since: dt.datetime) -> dict:
        if not self._has_history():
            return {}
        return self.store.status_counts_since(names, since)

    def _pipeline_entry(
        self, name: str, history: dict, counts: dict, now: dt.datetime
    ) -> dict:
        static = history["entries"][name]
        job = self.catalog.job(name)
        total, finished, failed = counts.get(name, (0, 0, 0))
        late = None
        if job is not None:
            late = late_since(
                job,
                static["newest_start"],
                now,
                self.config.late_grace_s,
                self.forecaster,
            )
        return {
            "name": name,
            "kind": static["kind"],
            "latest_run": static["latest_run"],
            "failure_rate_7d": failed / finished if finished else 0.0,
            "median_duration_ms": static["median_duration_ms"],
            "recent_runs": static["recent_runs"],
            "next_run_at": self._next_run_at(job, static, now),
            "timezone": static["timezone"],
            "streaming_stats": static["streaming_stats"],
            "schedule": job.schedule if job else None,
            "workflow": self.catalog.workflow_of(name),
            "in_catalog": job is not None,
            "is_workflow": self.catalog.workflow(name) is not None,
            "runs_7d": total,
            "late": late is not None,
            "late_since": format_api_time(late),
            "stale": stale_run(
                static["running"],
                history["claims"].get(name),
                static["median_duration_ms"],
                now,
            ),
            "retry_state": history["retry"].get(name),
            "claim": history["claims"].get(name),
        }

    def _static_entry(self, name: str, recent: list, latest, durations: list) -> dict:
        """The parts of a /api/pipelines entry that change only with the RunLog."""
        job = self.catalog.job(name)
        extras = latest.extras() if latest is not None else {}
        kind = _pipeline_kind(job, recent, latest)
        timezone = None
        if kind != "streaming":
            timezone = _text_or_none(extras.get("timezone")) or (
                job.timezone if job else None
            )
        return {
            "kind": kind,
            "latest_run": run_summary(latest) if latest is not None else None,
            "median_duration_ms": median_ms(durations),
            "recent_runs": [run_summary(r) for r in reversed(recent)],
            "timezone": timezone,
            "streaming_stats": streaming_stats(latest, extras) if latest else None,
            "stored_next_run": parse_timestamp(extras.get("next_run_at")),
            "newest_start": next(
                (r.started for r in recent if r.status != "requested"), None
            ),
            # The newest running run, with its extras when it is the latest.
            "running": latest
            if latest is not None and latest.status == "running"
            else next((r for r in recent if r.status == "running"), None),
        }

    def _next_run_at(
        self, job: Optional[Job], static: dict, now: dt.datetime
    ) -> Optional[str]:
        if static["kind"] == "streaming":
            return None
        stored = static["stored_next_run"]
        if stored is not None and stored > now:
            return format_forecast_time(stored)
        if job is None or not job.schedule:
            return None
        return format_forecast_time(
            self.forecaster.next_run(job.schedule, job.timezone, now)
        )

    # -- workflows and the DAG -----------------------------------------------------

    def workflows(self) -> dict:
        now = self.config.clock()
        views = workflow_views(
            self.catalog, self._history_names(), self._history_streams()
        )
        wanted = TriggerEvaluator.names_needed(self.catalog, views)
        histories = self.store.cached(
            ("name-histories", tuple(wanted)),
            lambda: read_name_histories(self.store, wanted, now),
        )
        evaluator = TriggerEvaluator(self.catalog, histories, now, self.forecaster)
        return {"workflows": [self._workflow_entry(view, evaluator) for view in views]}

    def _history_names(self) -> list:
        if not self.catalog.is_empty():
            return []
        return self.store.cached("history-names", self._all_names)

    def _history_streams(self) -> frozenset:
        """Return the pipelines of the run history whose runs are streaming.
        The set is empty when a catalog is loaded, because it gives the kinds."""
        if not self.catalog.is_empty():
            return frozenset()
        entries = self.store.cached("job-history", self._job_history)["entries"]
        return frozenset(
            name for name, entry in entries.items() if entry["kind"] == "streaming"
        )

    def _all_names(self) -> list:
        if self._has_history():
            return self.store.pipeline_names()
        return sorted(
            {r.pipeline for r in self.store.synthetic_runs(self.config.clock())}
        )

    def _workflow_entry(self, view: WorkflowView, evaluator: TriggerEvaluator) -> dict:
        return {
            "name": view.name,
            "kind": view.kind,
            "jobs": list(view.jobs),
            "edges": [{"from": up, "to": down} for up, down in view.edges],
            "triggered_by": view.triggered_by.leaves() if view.triggered_by else [],
            "schedule": view.schedule,
            "timezone": view.timezone,
            "on_message": view.on_message,
            "triggers": evaluator.triggers(view),
        }

    def dag(self) -> dict:
        """Every job and streaming pipeline with its `depends_on` edges; from the
        run history alone when there is no catalog."""
        if self.catalog.is_empty():
            names = self._history_names()
            nodes = [
                {
                    "name": n,
                    "schedule": None,
                    "timezone": None,
                    "kind": "batch",
                    "workflow": None,
                }
                for n in names
            ]
            return {"nodes": nodes, "edges": []}
        nodes = [
            {
                "name": job.name,
                "schedule": job.schedule,
                "timezone": job.timezone,
                "kind": job.kind,
                "workflow": self.catalog.workflow_of(job.name),
            }
            for job in sorted(self.catalog.jobs, key=_name)
        ]
        edges = [{"from": up, "to": down} for up, down in self.catalog.edges()]
        return {"nodes": nodes, "edges": edges}

    # -- laid-out graphs ---------------------------------------------------------

    def graph_layout(
        self,
        focus: Optional[str] = None,
        workflow: Optional[str] = None,
        run_id: Optional[str] = None,
        depth: Optional[int] = None,
    ) -> dict:
        """A laid-out graph for the UI: the whole job DAG, one job's ancestors
        and descendants (`focus`), a workflow's members, or a run's steps."""
        if run_id is not None:
            graph, nodes, edges = "run", *self._step_graph(run_id)
        else:
            graph, nodes, edges = self._job_graph(focus, workflow, depth)
        sizes = {name: measure_node(info["lines"]) for name, info in nodes.items()}
        layout = self._laid_out(sizes, edges)
        for node in layout["nodes"]:
            node.update(nodes[node["name"]])
        layout["graph"] = graph
        layout["hidden_nodes"] = sum(
            node.get("hidden", 0)
            for node in layout["nodes"]
            if node.get("kind") == "stub"
        )
        return layout

    def _laid_out(self, sizes: dict, edges: list) -> dict:
        key = json.dumps([sorted(sizes.items()), sorted(edges)])
        with self._layout_lock:
            cached = self._layouts.get(key)
        if cached is None:
            cached = layout_dag(sizes, edges)
            with self._layout_lock:
                if len(self._layouts) >= 64:
                    self._layouts.clear()
                self._layouts[key] = cached
        return copy.deepcopy(cached)

    def _job_graph(
        self, focus: Optional[str], workflow: Optional[str], depth: Optional[int]
    ) -> tuple:
        dag = self.dag()
        edges = [(edge["from"], edge["to"]) for edge in dag["edges"]]
        names = {node["name"] for node in dag["nodes"]}
        graph, stubs = "full", {}
        if focus is not None:
            if focus not in names:
                raise NotFound(f"job {focus} is not in the DAG")
            names, stubs = focus_neighbourhood(focus, edges, depth, MAX_FOCUS_NODES)
            graph = "focus"
        elif workflow is not None:
            views = workflow_views(
                self.catalog, self._history_names(), self._history_streams()
            )
            view = next((v for v in views if v.name == workflow), None)
            if view is None:
                raise NotFound(f"workflow {workflow} not found")
            names = set(view.jobs)
            graph = "workflow"
        edges = [(up, down) for up, down in edges if up in names and down in names]
        info = self._job_node_info(dag, names)
        for (job, side), hidden in sorted(stubs.items()):
            stub = f"{STUB_PREFIX}{side}:{job}"
            direction = "upstream" if side == "up" else "downstream"
            info[stub] = {
                "lines": [f"+{hidden} more", direction],
                "kind": "stub",
                "hidden": hidden,
                "direction": direction,
                "job": job,
            }
            edges.append((stub, job) if side == "up" else (job, stub))
        return graph, info, edges

    def _job_node_info(self, dag: dict, names: set) -> dict:
        history = self.store.cached("job-history", self._job_history)
        info = {}
        for node in dag["nodes"]:
            name = node["name"]
            if name not in names:
                continue
            recent = history["recent"].get(name, [])
            # A queued request does not hide how the job last ran.
            latest = next((r for r in recent if r.status != "requested"), None)
            status = latest.status if latest else "never run"
            duration = latest.duration_ms if latest else None
            prefix, leaf = _qualified_name_parts(name)
            subtitle = node["workflow"] or prefix or node["schedule"]
            lines = [
                leaf,
                status
                + (f" · {format_duration(duration)}" if duration is not None else ""),
            ]
            info[name] = {
                "lines": node_labels(lines + ([subtitle] if subtitle else [])),
                "status": latest.status if latest else None,
                "duration_ms": duration,
                "run_id": latest.run_id if latest else None,
                "requested": bool(recent) and recent[0].status == "requested",
                "kind": node["kind"],
                "workflow": node["workflow"],
                "schedule": node["schedule"],
                "timezone": node["timezone"],
            }
        return info

    def _step_graph(self, run_id: str) -> tuple:
        document = self.run(run_id)
        steps = [step for step in document["steps"] if isinstance(step, dict)]
        info: dict = {}
        for step in steps:
            name = str(step.get("name"))
            duration = step.get("duration_ms")
            duration = duration if isinstance(duration, (int, float)) else None
            status = str(step.get("status") or "pending")
            label = status + (
                f" · {format_duration(duration)}" if duration is not None else ""
            )
            info[name] = {
                "lines": node_labels([name, label]),
                "status": status,
                "duration_ms": duration,
                "error": step.get("error"),
            }
        edges = []
        for step in steps:
            depends_on = step.get("depends_on")
            for upstream in depends_on if isinstance(depends_on, list) else []:
                if str(upstream) in info:
                    edges.append((str(upstream), str(step.get("name"))))
        return info, edges

    def me(self, authenticated: bool) -> dict:
        token_set = self.config.token is not None
        signed_in = token_set and authenticated
        return {
            "authenticated": signed_in,
            "identity": "operator" if signed_in else None,
            "role": "admin" if signed_in else None,
            "permissions": (["read"] if self.config.read_only else ["read", "write"])
            if signed_in
            else [],
            "rbac_enabled": False,
            "token_required": token_set,
            "read_only": self.config.read_only,
            "version": __version__,
            "run_log": self.store.connector.describe(),
            "catalog": list(self.catalog.sources),
            "now": format_api_time(self.config.clock()),
        }


def _text_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _pipeline_kind(
    job: Optional[Job], recent: Sequence[RunRecord], latest: Optional[RunRecord]
) -> str:
    # A run-now request is always written as batch and a DLQ replay as replay,
    # so neither says what the pipeline is; the catalog or an ordinary run does.
    if job is not None:
        return job.kind
    ordinary = next(
        (r.kind for r in recent if r.status != "requested" and r.kind != "replay"), None
    )
    return ordinary or (latest.kind if latest else "batch")


def sorted_by_newest_run(names: Sequence[str], latest: Mapping[str, RunRecord]) -> list:
    """Pipelines by their newest run, newest first, ties in database order as
    /api/runs lists them; pipelines that never ran come last, by name."""
    ordered = sorted(names)
    ordered.sort(key=lambda name: _tiebreak_key(latest.get(name)))
    ordered.sort(
        key=lambda name: (name in latest, _started_text(latest.get(name))), reverse=True
    )
    return ordered


def _started_text(record: Optional[RunRecord]) -> str:
    return "" if record is None else record.started_at or ""


def _tiebreak_key(record: Optional[RunRecord]) -> tuple:
    if record is None or record.tiebreak is None:
        return (0, "")
    return (
        (1, record.tiebreak)
        if isinstance(record.tiebreak, str)
        else (1, f"{record.tiebreak:020d}")
    )


def _synthetic_sort_key(sort: str) -> Callable[[RunRecord], Any]:
    if sort == "duration":
        return lambda record: record.duration_ms or -1
    if sort == "started":
        return lambda record: record.started_at or ""
    return lambda record: getattr(record, RUN_SORT_COLUMNS[sort])


# -- actions ---------------------------------------------------------------------------

READ_ONLY_DETAIL = (
    "flow-web was started with --read-only, so restart, rerun, pause, resume and"
    " run-now are turned off; restart flow-web without --read-only to use them"
)


def restart_request(
    prior: RunRecord, from_step: Optional[str], now: dt.datetime
) -> RunRecord:
    """Build the `requested` row through which the scheduler restarts `prior`
    from `from_step`, or from its last watermark when `from_step` is None."""
    extras = {"restart_from_step": from_step, "prior_run_id": prior.run_id}
    return _request_after(prior, extras, now)


def rerun_request(prior: RunRecord, now: dt.datetime) -> RunRecord:
    """Build the `requested` row through which the scheduler runs `prior`'s
    pipeline again from the beginning."""
    return _request_after(
        prior, {"rerun_full": True, "prior_run_id": prior.run_id}, now
    )


def _request_after(prior: RunRecord, extras: dict, now: dt.datetime) -> RunRecord:
    # The shape of ematix-flow 1.0.0's enqueue_restart and enqueue_rerun
    # (InMemoryRunHistory): a new req-<uuid4 hex> id, the prior run's pipeline
    # and kind, attempt 1 and no finish time.
    return RunRecord(
        run_id="req-" + uuid.uuid4().hex,
        pipeline=prior.pipeline,
        status="requested",
        started_at=format_db_time(now),
        attempt=1,
        kind=prior.kind,
        extras_json=json.dumps(extras),
    )


def run_now_request(pipeline: str, extras: dict, now: dt.datetime) -> RunRecord:
    """Build the `requested` row of a manual run of a workflow or job. Its kind
    is always batch, as ematix-flow writes it, even for a streaming pipeline."""
    return RunRecord(
        run_id=f"run-now-{pipeline}-{uuid.uuid4().hex[:12]}",
        pipeline=pipeline,
        status="requested",
        started_at=format_db_time(now),
        attempt=1,
        kind="batch",
        extras_json=json.dumps({"source": "run_now", **extras}),
    )


def step_names(record: RunRecord) -> list:
    steps = record.extras().get("steps")
    if not isinstance(steps, list):
        return []
    return [str(step.get("name")) for step in steps if isinstance(step, dict)]


def restart_conflict(record: RunRecord, from_step: Optional[str]) -> Optional[str]:
    """Return why `run_actions` does not offer this restart, or None when it
    does. A None `from_step` means resume from the watermark."""
    offered = run_actions(record)
    if from_step is None:
        if offered["resume_from_watermark"]:
            return None
        return _watermark_conflict(record)
    if from_step in offered["restart_from_step"]:
        return None

    run = f"run {record.run_id}"
    if record.status != "failed":
        return (
            f"{run} is {record.status}; only a failed run can be restarted from a step"
        )
    if record.kind == "streaming":
        return (
            f"{run} is a streaming run, which restarts from its last watermark;"
            " send from_step null"
        )
    steps = step_names(record)
    if steps and from_step not in steps:
        return f"{run} has no step {from_step!r}; its steps are {', '.join(steps)}"
    if not record.failed_step:
        return f"{run} has no failed step recorded, so rerun it instead"
    return (
        f"{run} can be restarted only from its failed step"
        f" {record.failed_step!r}, not from {from_step!r}"
    )


def _watermark_conflict(record: RunRecord) -> str:
    if record.kind != "streaming":
        return (
            f"run {record.run_id} is a {record.kind} run; resuming from the"
            " watermark (from_step null) is only for failed streaming runs, so name"
            " a step in from_step or rerun the run"
        )
    return (
        f"run {record.run_id} is {record.status}; only a failed streaming run can"
        " resume from its watermark"
    )


def rerun_conflict(record: RunRecord) -> Optional[str]:
    if run_actions(record)["rerun_full"]:
        return None
    return (
        f"run {record.run_id} is {record.status}; only a finished run (succeeded,"
        " failed or cancelled) can be rerun"
    )


def pause_conflict(record: RunRecord) -> Optional[str]:
    if record.status == "running":
        return None
    return f"run {record.run_id} is {record.status}; only a running run can be paused"


def resume_conflict(record: RunRecord) -> Optional[str]:
    if record.status == "paused":
        return None
    return f"run {record.run_id} is {record.status}; only a paused run can be resumed"


def cancel_conflict(record: RunRecord) -> Optional[str]:
    if record.status == "requested":
        return None
    return (
        f"run {record.run_id} is {record.status}; only a requested run that no"
        " worker has picked up can be cancelled"
    )


def select_jobs(workflow: str, members: Sequence[str], jobs: Any) -> list:
    """Return the jobs a workflow run-now runs, in the workflow's order: every
    member when `jobs` is None, otherwise the named ones."""
    if jobs is None:
        return list(members)
    if not isinstance(jobs, list) or not all(isinstance(j, str) for j in jobs):
        raise BadRequest(
            f'jobs must be a list of job names, e.g. {{"jobs": ["{members[0]}"]}}'
        )
    if not jobs:
        raise BadRequest(
            f"jobs is empty; name at least one job of workflow {workflow}"
            f" ({', '.join(members)}) or leave jobs out to run them all"
        )
    unknown = [name for name in jobs if name not in members]
    if len(unknown) == 1:
        raise BadRequest(
            f"job {unknown[0]} is not in workflow {workflow}; its jobs are"
            f" {', '.join(members)}"
        )
    if unknown:
        raise BadRequest(
            f"jobs {', '.join(unknown)} are not in workflow {workflow}; its jobs are"
            f" {', '.join(members)}"
        )
    return [name for name in members if name in jobs]


def _extras_object(record: RunRecord) -> dict:
    try:
        value = json.loads(record.extras_json or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Conflict(
            f"run {record.run_id} has extras_json that is not a JSON object, so"
            " flow-web does not rewrite it to set pause_requested"
        )
    return value


class RunActions:
    """The POST actions. Each one is a single write transaction that re-reads
    the run under lock, checks it against `run_actions` and writes at most one
    row, so that identical concurrent requests, from this or another flow-web
    process, leave a single `requested` row."""

    def __init__(self, store: RunLogStore, catalog: Catalog, config: Config):
        self.store = store
        self.catalog = catalog
        self.config = config

    def restart(self, run_id: str, from_step: Optional[str]) -> dict:
        new_id, inserted = self._request_after_run(
            run_id,
            lambda prior: restart_conflict(prior, from_step),
            lambda prior, now: restart_request(prior, from_step, now),
        )
        return {"new_run_id": new_id, "already_requested": not inserted}

    def rerun(self, run_id: str) -> dict:
        new_id, inserted = self._request_after_run(
            run_id, rerun_conflict, rerun_request
        )
        return {"new_run_id": new_id, "already_requested": not inserted}

    def pause(self, run_id: str) -> dict:
        self._set_pause_requested(run_id, True, pause_conflict)
        return {"status": "pause_requested"}

    def resume(self, run_id: str) -> dict:
        self._set_pause_requested(run_id, False, resume_conflict)
        return {"status": "resume_requested"}

    def cancel(self, run_id: str) -> dict:
        """Mark a requested run cancelled, so that the scheduler skips it."""
        self._check_writable(run_id)
        with self.store.transaction() as execute:
            record = self._locked_run(execute, run_id, cancel_conflict)
            extras = _extras_object(record)
            now = self.config.clock()
            extras["cancelled_by"] = "flow-web"
            self.store.finish_request(execute, run_id, "cancelled", now, extras)
        return {"status": "cancelled"}

    def run_workflow_now(self, name: str, jobs: Any) -> dict:
        """Request a manual run of a declared workflow, or of one job or
        streaming pipeline as a workflow of its own."""
        workflow = self.catalog.workflow(name)
        if workflow is not None:
            members: Sequence[str] = workflow.jobs
        elif self.catalog.job(name) is not None:
            members = (name,)
        else:
            raise NotFound(f"unknown workflow {name!r}{self._catalog_hint()}")
        selected = select_jobs(name, members, jobs)
        new_id, inserted = self._request_run_now(name, {"selected_jobs": selected})
        return {
            "new_run_id": new_id,
            "selected_jobs": selected,
            "already_requested": not inserted,
        }

    def run_job_now(self, name: str, cascade_downstream: bool) -> dict:
        job = self.catalog.job(name)
        if job is None:
            raise NotFound(f"unknown job {name!r}{self._catalog_hint()}")
        if job.kind != "batch":
            raise NotFound(
                f"unknown job {name!r}: it is a streaming pipeline; start it with"
                f" POST /api/workflows/{name}/run-now"
            )
        new_id, inserted = self._request_run_now(
            name, {"cascade_downstream": cascade_downstream}
        )
        return {
            "new_run_id": new_id,
            "cascade_downstream": cascade_downstream,
            "already_requested": not inserted,
        }

    # -- steps shared by the actions ---------------------------------------------

    def _request_after_run(
        self,
        run_id: str,
        conflict: Callable[[RunRecord], Optional[str]],
        build: Callable[[RunRecord, dt.datetime], RunRecord],
    ) -> tuple:
        self._check_writable(run_id)
        with self.store.transaction() as execute:
            prior = self._locked_run(execute, run_id, conflict)
            return self.store.insert_request(execute, build(prior, self.config.clock()))

    def _set_pause_requested(
        self,
        run_id: str,
        pause: bool,
        conflict: Callable[[RunRecord], Optional[str]],
    ) -> None:
        # Writes only when the flag changes, so a repeated pause or resume is
        # a no-op that returns the same response as the first one.
        self._check_writable(run_id)
        with self.store.transaction() as execute:
            record = self._locked_run(execute, run_id, conflict)
            extras = _extras_object(record)
            if extras.get("pause_requested") is pause:
                return
            extras["pause_requested"] = pause
            self.store.update_extras(execute, run_id, extras)

    def _request_run_now(self, pipeline: str, extras: dict) -> tuple:
        self._check_writable(None)
        with self.store.transaction() as execute:
            self.store.lock_pipeline(execute, pipeline)
            record = run_now_request(pipeline, extras, self.config.clock())
            return self.store.insert_request(execute, record)

    def _locked_run(
        self,
        execute: Callable[..., Any],
        run_id: str,
        conflict: Callable[[RunRecord], Optional[str]],
    ) -> RunRecord:
        record = self.store.lock_run(execute, run_id)
        if record is None:
            raise NotFound(f"run {run_id} not found")
        reason = conflict(record)
        if reason is not None:
            raise Conflict(reason)
        return record

    def _check_writable(self, run_id: Optional[str]) -> None:
        """Raise unless this process may write and the RunLog has a
        run_records table; an unknown run id is still a 404."""
        if self.config.read_only:
            raise Forbidden(READ_ONLY_DETAIL)
        if self.store.has_history():
            return
        now = self.config.clock()
        if run_id is not None and all(
            record.run_id != run_id for record in self.store.synthetic_runs(now)
        ):
            raise NotFound(f"run {run_id} not found")
        raise Conflict(
            f"RunLog {self.store.connector.describe()} has no run_records table, so"
            " it cannot hold action requests; the runs shown come from its run_log"
            " and pipeline_claims tables (on PostgreSQL or MySQL, `flow-web.pyz"
            " init-history` creates the table)"
        )

    def _catalog_hint(self) -> str:
        if not self.catalog.is_empty():
            return ""
        return (
            "; flow-web has no job catalog, so start it with --module or --catalog"
            " to run workflows and jobs on demand"
        )


# ------------------------------------------------------------------------------------
# HTTP application
# ------------------------------------------------------------------------------------

# Routes of ematix-flow's `flow web` that flow-web does not serve, because
# they need ematix-flow's own runtime or its analytics database.
NOT_SERVED_PREFIXES = (
    "/api/datasources",
    "/api/saved-queries",
    "/api/charts",
    "/api/dashboards",
    "/api/alerts",
    "/api/quality",
    "/api/freshness",
    "/api/query",
    "/api/cache",
    "/api/streams",
    "/api/docs",
)
RUN_SORTS = tuple(RUN_SORT_COLUMNS)
# Routes that respond without the bearer token: the health check, and the
# description of the API, which contains no data from the RunLog.
PUBLIC_API_PATHS = ("/api/health", "/api/openapi.json")
# The largest integer that SQLite and the servers' BIGINT take as a parameter.
MAX_QUERY_INTEGER = 2**63 - 1


class AuthGate:
    """ASGI middleware: with a token configured, every /api/ route except
    /api/health needs `Authorization: Bearer <token>`, compared in constant
    time."""

    def __init__(self, app: Any, token: Optional[str]):
        self.app = app
        self.token = None if token is None else token.strip().encode("utf-8")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._needs_token(scope["path"]):
            problem = self._check(Headers(scope=scope).get("authorization"))
            if problem is not None:
                response = JSONResponse(
                    {"detail": problem},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _needs_token(self, path: str) -> bool:
        return (
            self.token is not None
            and path.startswith("/api/")
            and path not in PUBLIC_API_PATHS
        )

    def _check(self, header: Optional[str]) -> Optional[str]:
        scheme, _, value = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "missing Authorization: Bearer <token> header"
        offered = value.strip().encode("utf-8", "replace")
        if not hmac.compare_digest(offered, self.token):
            return "invalid bearer token"
        return None


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
REJECTION_LOG_INTERVAL_S = 60.0


def parse_host(text: str) -> Optional[tuple]:
    """Split a Host header value (`name`, `name:port`, `[v6]:port`) into a
    lowercase name without a trailing dot and the port or None; None when it
    is not a plain host."""
    if not text or any(c in text for c in "/?#@\\ \t"):
        return None
    try:
        parts = urllib.parse.urlsplit("//" + text)
        name, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not name:
        return None
    return name.rstrip("."), port


def is_loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_address(name: str, address: Any) -> bool:
    try:
        return ipaddress.ip_address(name) == ipaddress.ip_address(str(address))
    except ValueError:
        return False


def host_is_allowed(
    host: tuple, local: Optional[tuple], bind: str, allowed: Sequence[tuple]
) -> bool:
    """Return whether a parsed Host header names this server. Accepted are the
    loopback names on any port (SSH tunnels forward to other ports), the
    address and port the connection arrived on (`local`), the --bind name on
    that port, and the --allowed-host entries (any port when an entry has
    none). A DNS-rebinding page always sends its own, foreign name."""
    name, port = host
    if is_loopback_name(name):
        return True
    if local is not None:
        on_port = (80 if port is None else port) == local[1]
        if on_port and (_same_address(name, local[0]) or name == bind.lower()):
            return True
    return any(
        name == entry_name and entry_port in (None, 80 if port is None else port)
        for entry_name, entry_port in allowed
    )


def origin_problem(method: str, headers: Headers) -> Optional[str]:
    """Return why a state-changing request may come from another site's page,
    or None when it cannot.

    The Origin's host and port must equal the Host header (the scheme may
    differ behind a TLS proxy). Without an Origin, the request must carry
    X-Requested-By: flow-web, which a cross-site page cannot send."""
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is None:
        if headers.get(REQUESTED_BY_HEADER, "").strip() == REQUESTED_BY_VALUE:
            return None
        return (
            f"{method} request without an Origin header rejected: send the header"
            f" {REQUESTED_BY_HEADER}: {REQUESTED_BY_VALUE} (flow-web's page does) to"
            " show that it does not come from another site"
        )
    parts = urllib.parse.urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower():
        return None
    return (
        f"cross-origin {method} request rejected: Origin {origin} is not this"
        f" server ({host}); actions are accepted only from flow-web's own page"
    )


class RejectionLog:
    """Logs rejected requests at WARNING, at most one line per kind of
    rejection every REJECTION_LOG_INTERVAL_S, with the number skipped since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_logged: dict = {}
        self._skipped: dict = {}

    def warn(self, kind: str, message: str, client: Any) -> None:
        skipped = self.due(kind)
        if skipped is None:
            return
        address = f"{client[0]}:{client[1]}" if client else "unknown client"
        suffix = f" ({skipped} more rejected since the last report)" if skipped else ""
        log.warning("rejected request from %s: %s%s", address, message, suffix)

    def due(self, kind: str) -> Optional[int]:
        """Return how many lines of this kind were skipped since the last one
        when a line is due now, else None (and count this one as skipped)."""
        now = time.monotonic()
        with self._lock:
            last = self._last_logged.get(kind)
            if last is not None and now - last < REJECTION_LOG_INTERVAL_S:
                self._skipped[kind] = self._skipped.get(kind, 0) + 1
                return None
            self._last_logged[kind] = now
            return self._skipped.pop(kind, 0)


# Requests that get 503 while the RunLog is unavailable, logged like
# rejections because a locked database under load fails hundreds a second.
UNAVAILABLE_LOG = RejectionLog()


class BrowserGuard:
    """ASGI middleware against attacks that go through the operator's browser.

    DNS rebinding: a request whose Host header is not a name of this server
    (see `host_is_allowed`) gets 403, so a foreign page whose name resolves
    to this host can neither read nor change anything. Cross-site request
    forgery: a state-changing request needs a same-origin Origin header or
    the X-Requested-By header (see `origin_problem`), else 403."""

    def __init__(self, app: Any, bind: str, allowed_hosts: Sequence[str]):
        self.app = app
        self.bind = bind.strip("[]").lower().rstrip(".")
        self.allowed = [parse_host(entry) for entry in allowed_hosts]
        self.rejections = RejectionLog()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._host_problem(headers.get("host"), scope.get("server"))
        kind = "host"
        if problem is None:
            problem = origin_problem(scope["method"], headers)
            kind = "origin"
        if problem is None:
            await self.app(scope, receive, send)
            return
        self.rejections.warn(kind, problem, scope.get("client"))
        response = JSONResponse(
            {"detail": problem},
            status_code=403,
            headers={"Cache-Control": "no-store"},
        )
        await response(scope, receive, send)

    def _host_problem(self, host: Optional[str], local: Any) -> Optional[str]:
        # Browsers always send Host, so a request without one (HTTP/1.0
        # health checks) cannot come from a rebinding page.
        if host is None:
            return None
        parsed = parse_host(host)
        local = tuple(local) if isinstance(local, (list, tuple)) else None
        if parsed is not None and host_is_allowed(
            parsed, local, self.bind, self.allowed
        ):
            return None
        return (
            f"Host {host} is not a name of this server, so the request was"
            " rejected to stop DNS rebinding; open flow-web by its address or"
            " localhost, or start it with --allowed-host NAME for each DNS name"
            " it is reached by"
        )


def request_has_token(request: Request, token: Optional[str]) -> bool:
    """Whether the request carries the configured token (the gate has already
    rejected wrong ones on /api routes)."""
    if token is None:
        return False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    offered = value.strip().encode("utf-8", "replace")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        offered, token.strip().encode("utf-8")
    )


def json_response(request: Request, document: Any, status: int = 200) -> Response:
    """A compact JSON response with an ETag, answering 304 when the client
    already has this exact document."""
    rendered = document if isinstance(document, Rendered) else Rendered.of(document)
    body, etag = rendered.body, rendered.etag
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if status == 200 and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(
        body, status_code=status, media_type="application/json", headers=headers
    )


def error_response(status: int, detail: str) -> Response:
    return Response(
        encode_json({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


class AnyTextConvertor(Convertor):
    """A path parameter that may contain any character, line breaks included.
    Starlette's `path` parameter stops at a line break, but job names, and so
    run ids, can contain one."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", AnyTextConvertor())


def api_endpoint(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Wrap a handler that returns a JSON document, a Rendered one or a
    Future of one (see DocumentCache). The handler runs in a worker thread,
    and waiting for the Future takes no thread. FlowWebError becomes its
    status and message, anything else a logged 500."""

    def render(request: Request) -> Any:
        result = handler(request)
        if isinstance(result, (Rendered, concurrent.futures.Future)):
            return result
        return Rendered.of(result)

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            rendered = await run_in_threadpool(render, request)
            if isinstance(rendered, concurrent.futures.Future):
                rendered = await asyncio.wrap_future(rendered)
            return json_response(request, rendered)
        except FlowWebError as error:
            return _error_from(request, error)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "internal error in flow-web; see its log")

    return endpoint


def loop_api_endpoint(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Wrap a handler like api_endpoint, but run it in the event loop, so it
    responds while every worker thread waits on a locked RunLog. Use it only
    for handlers that never touch the database or the disk."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return json_response(request, handler(request))
        except FlowWebError as error:
            return _error_from(request, error)

    return endpoint


def _error_from(request: Request, error: FlowWebError) -> Response:
    if error.status >= 500:
        skipped = UNAVAILABLE_LOG.due("unavailable")
        if skipped is not None:
            suffix = f" ({skipped} more since the last report)" if skipped else ""
            log.warning("%s %s: %s%s", request.method, request.url.path, error, suffix)
    return error_response(error.status, str(error))


async def read_action_body(request: Request) -> dict:
    """Read the JSON object sent with a POST action. An empty body reads as {}."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ACTION_BODY_BYTES:
            raise PayloadTooLarge(
                f"request body is larger than {MAX_ACTION_BODY_BYTES} bytes; actions"
                " take a small JSON object"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type.lower() != "application/json":
        raise UnsupportedMediaType(
            f"request body has Content-Type {media_type or '(none)'}; send a JSON"
            " object with Content-Type: application/json"
        )
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply to parse") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object, such as {}")
    return document


def body_fields(body: Mapping[str, Any], expected: Mapping[str, tuple]) -> dict:
    """Validate a POST body against `expected` (field name to allowed types
    and their description); a missing field or null reads as None."""
    unknown = sorted(set(body) - set(expected))
    if unknown:
        raise BadRequest(
            f"unknown field {', '.join(unknown)} in the request body; expected"
            f" {', '.join(expected) or 'an empty object'}"
        )
    values = {}
    for name, (types, description) in expected.items():
        value = body.get(name)
        if value is not None and not isinstance(value, types):
            raise BadRequest(f"{name} must be {description}, not {json.dumps(value)}")
        values[name] = value
    return values


def audit_action(request: Request, action: str, outcome: Mapping[str, Any]) -> None:
    """Log one action for the audit trail: what, on which run or name, from
    which client address, and the result. Headers, and so the token, are
    never logged."""
    client = request.client
    fields = {"action": action, **request.path_params, **outcome}
    fields["client"] = f"{client.host}:{client.port}" if client else None
    text = " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}"
        for key, value in fields.items()
    )
    log.info("audit: %s", text)


def action_endpoint(
    action: str,
    actions: RunActions,
    handler: Callable[[Request, dict], tuple],
) -> Callable[[Request], Any]:
    """Wrap a POST action: reject it in --read-only mode, read its JSON body,
    run `handler(request, body)` in a worker thread and log the outcome. The
    handler returns (response document, request fields for the audit log).
    FlowWebError becomes its status and message, anything else a logged 500."""

    async def endpoint(request: Request) -> Response:
        try:
            if actions.config.read_only:
                raise Forbidden(READ_ONLY_DETAIL)
            body = await read_action_body(request)
            document, details = await run_in_threadpool(handler, request, body)
        except FlowWebError as error:
            audit_action(
                request, action, {"rejected": error.status, "reason": str(error)}
            )
            return error_response(error.status, str(error))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "internal error in flow-web; see its log")
        audit_action(request, action, {**details, **document})
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    return endpoint


def build_action_routes(actions: RunActions) -> list:
    """Build the POST routes that restart, rerun, pause, resume and run on
    demand."""
    run_step = {
        "from_step": ((str,), "a step name, or null to resume from the watermark")
    }
    job_list = {"jobs": ((list,), "a list of job names")}
    cascade = {"cascade_downstream": ((bool,), "true or false")}

    def restart(request: Request, body: dict) -> tuple:
        fields = body_fields(body, run_step)
        run_id = request.path_params["run_id"]
        return actions.restart(run_id, fields["from_step"]), fields

    def rerun(request: Request, body: dict) -> tuple:
        body_fields(body, {})
        return actions.rerun(request.path_params["run_id"]), {}

    def pause(request: Request, body: dict) -> tuple:
        body_fields(body, {})
        return actions.pause(request.path_params["run_id"]), {}

    def resume(request: Request, body: dict) -> tuple:
        body_fields(body, {})
        return actions.resume(request.path_params["run_id"]), {}

    def cancel(request: Request, body: dict) -> tuple:
        body_fields(body, {})
        return actions.cancel(request.path_params["run_id"]), {}

    def workflow_run_now(request: Request, body: dict) -> tuple:
        fields = body_fields(body, job_list)
        name = request.path_params["workflow"]
        return actions.run_workflow_now(name, fields["jobs"]), {}

    def job_run_now(request: Request, body: dict) -> tuple:
        fields = body_fields(body, cascade)
        name = request.path_params["job"]
        return actions.run_job_now(name, bool(fields["cascade_downstream"])), {}

    def post(path: str, action: str, handler: Callable) -> Route:
        endpoint = action_endpoint(action, actions, handler)
        return Route(path, endpoint, methods=["POST"])

    return [
        post("/api/runs/{run_id:anytext}/restart", "restart", restart),
        post("/api/runs/{run_id:anytext}/rerun", "rerun", rerun),
        post("/api/runs/{run_id:anytext}/pause", "pause", pause),
        post("/api/runs/{run_id:anytext}/resume", "resume", resume),
        post("/api/runs/{run_id:anytext}/cancel", "cancel", cancel),
        post("/api/workflows/{workflow:anytext}/run-now", "run-now", workflow_run_now),
        post("/api/jobs/{job:anytext}/run-now", "run-now", job_run_now),
    ]


def query_int(
    request: Request,
    name: str,
    default: int,
    minimum: int,
    cap: Optional[int] = None,
) -> int:
    """Return the whole-number query parameter `name`, or `default`. Values
    above `cap`, when given, become `cap`."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not re.fullmatch(r"-?[0-9]+", text):
        raise BadRequest(
            f"{name}={text!r} is not a whole number; use e.g. {name}={default}"
        )
    value = int(text)
    if value < minimum:
        raise BadRequest(f"{name}={value} is below the minimum {minimum}")
    if cap is not None and value > cap:
        return cap
    if value > MAX_QUERY_INTEGER:
        raise BadRequest(f"{name}={value} is above the maximum {MAX_QUERY_INTEGER}")
    return value


def query_choice(
    request: Request, name: str, choices: Sequence[str], default: Optional[str]
) -> Optional[str]:
    value = request.query_params.get(name) or default
    if value is not None and value not in choices:
        raise BadRequest(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def runs_query(request: Request) -> dict:
    """Validated parameters of GET /api/runs."""
    # Very large pages, however large the number, are cut to the maximum.
    limit = query_int(
        request, "limit", RUNS_DEFAULT_LIMIT, minimum=0, cap=RUNS_MAX_LIMIT
    )
    return {
        "pipeline": request.query_params.get("pipeline") or None,
        "status": query_choice(request, "status", RUN_STATUSES, None),
        # ematix-flow reads limit=0 as 1.
        "limit": max(limit, 1),
        "offset": query_int(request, "offset", 0, minimum=0),
        "sort": query_choice(request, "sort", RUN_SORTS, "started"),
        "descending": query_choice(request, "order", ("asc", "desc"), "desc") == "desc",
    }


def load_ui_html() -> str:
    """The page, read once from ui.html next to this module (inside the pyz
    too); a short placeholder when it is missing."""
    path = Path(__file__).with_name("ui.html")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning(
            "ui.html not found next to %s; serving a placeholder page", __file__
        )
        return (
            "<!doctype html><title>flow-web</title><p>The page is missing from"
            " this build; the API is at <a href=/api/runs>/api/runs</a>."
        )


def content_security_policy(page: str) -> str:
    """A policy that lets the page run only its own inline script and style
    and talk only to this server."""
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    hashes = " ".join(
        "'sha256-"
        + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        + "'"
        for s in scripts
    )
    return (
        f"default-src 'none'; script-src {hashes or chr(39) + 'none' + chr(39)};"
        " style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


# -- the OpenAPI description -------------------------------------------------------


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed_object(properties: dict, optional: Sequence[str] = ()) -> dict:
    """Return a JSON object schema with exactly these properties, all of
    them required except `optional`."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


_TEXT = {"type": "string"}
_INTEGER = {"type": "integer"}
_NUMBER = {"type": "number"}
_BOOLEAN = {"type": "boolean"}
_TEXTS = {"type": "array", "items": _TEXT}
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_EDGE = _closed_object({"from": _TEXT, "to": _TEXT})


def _run_summary_properties() -> dict:
    # Stored text that does not parse as a time is passed through as is.
    return {
        "run_id": _TEXT,
        "pipeline": _TEXT,
        "status": _TEXT,
        "started_at": _nullable(_TEXT),
        "finished_at": _nullable(_TEXT),
        "duration_ms": _nullable(_INTEGER),
        "attempt": _INTEGER,
        "failed_step": _nullable(_TEXT),
        "kind": _TEXT,
    }


_STALE = _closed_object({"reason": _TEXT, "since": _nullable(_TEXT)})


def _run_schemas() -> dict:
    attempt = _closed_object(
        {
            "attempt": _INTEGER,
            "started_at": _nullable(_TEXT),
            "finished_at": _nullable(_TEXT),
            "status": _TEXT,
            "failed_step": _nullable(_TEXT),
            "error_summary": _nullable(_TEXT),
            "error_stack": {"type": "null"},
            "run_id": _TEXT,
        }
    )
    actions = _closed_object(
        {
            "pause": _BOOLEAN,
            "resume": _BOOLEAN,
            "restart_from_step": _TEXTS,
            "rerun_full": _BOOLEAN,
            "resume_from_watermark": _BOOLEAN,
            "cancel": _BOOLEAN,
        }
    )
    detail = {
        **_run_summary_properties(),
        "failed_watermark": _nullable(_TEXT),
        "error_summary": _nullable(_TEXT),
        "extras": _ANY_OBJECT,
        "attempts": {"type": "array", "items": attempt},
        # The run's extras.steps as stored, whatever their items are.
        "steps": {"type": "array"},
        "actions": actions,
        "stale": _nullable(_STALE),
    }
    return {
        "RunSummary": _closed_object(_run_summary_properties()),
        "RunPageItem": _closed_object(
            {**_run_summary_properties(), "stale": _nullable(_STALE)}
        ),
        "RunPage": _closed_object(
            {
                "runs": {"type": "array", "items": _ref("RunPageItem")},
                "total": _INTEGER,
                "next_offset": _nullable(_INTEGER),
            }
        ),
        "Run": _closed_object(detail),
    }


def _pipeline_schema() -> dict:
    retry_state = _closed_object(
        {
            "attempt_count": _INTEGER,
            "last_attempt_at": _nullable(_TEXT),
            "gave_up": _BOOLEAN,
        }
    )
    claim = _closed_object(
        {
            "worker_id": _nullable(_TEXT),
            "claimed_at": _nullable(_TEXT),
            "expires_at": _nullable(_TEXT),
        }
    )
    pipeline = _closed_object(
        {
            "name": _TEXT,
            "kind": _TEXT,
            "latest_run": _nullable(_ref("RunSummary")),
            "failure_rate_7d": _NUMBER,
            "median_duration_ms": _nullable(_INTEGER),
            "recent_runs": {"type": "array", "items": _ref("RunSummary")},
            "next_run_at": _nullable(_TEXT),
            "timezone": _nullable(_TEXT),
            "streaming_stats": _nullable(_ANY_OBJECT),
            "schedule": _nullable(_TEXT),
            "workflow": _nullable(_TEXT),
            "in_catalog": _BOOLEAN,
            "is_workflow": _BOOLEAN,
            "runs_7d": _INTEGER,
            "late": _BOOLEAN,
            "late_since": _nullable(_TEXT),
            "retry_state": _nullable(retry_state),
            "claim": _nullable(claim),
            "stale": _nullable(_STALE),
        }
    )
    return {
        "Pipelines": _closed_object({"pipelines": {"type": "array", "items": pipeline}})
    }


def _workflow_schemas() -> dict:
    state = {"type": "string", "enum": list(TRIGGER_STATES)}
    leaf = _closed_object({"kind": {"const": "leaf"}, "name": _TEXT, "state": state})
    group = _closed_object(
        {
            "kind": {"type": "string", "enum": ["all", "any"]},
            "members": {"type": "array", "items": _ref("TriggerNode")},
            "state": state,
        }
    )
    trigger = {
        "oneOf": [
            _closed_object(
                {
                    "kind": {"const": "schedule"},
                    "cron": _TEXT,
                    "timezone": _nullable(_TEXT),
                    "next_at": _nullable(_TEXT),
                    "state": state,
                    "label": _TEXT,
                }
            ),
            _closed_object(
                {
                    "kind": {"const": "after_expr"},
                    "state": state,
                    "expr": _ref("TriggerNode"),
                }
            ),
            _closed_object(
                {
                    "kind": {"const": "on_message"},
                    "source": _TEXT,
                    "state": state,
                    "label": _TEXT,
                }
            ),
        ]
    }
    workflow = _closed_object(
        {
            "name": _TEXT,
            "kind": {"type": "string", "enum": ["declared", "single", "streaming"]},
            "jobs": _TEXTS,
            "edges": {"type": "array", "items": _EDGE},
            "triggered_by": _TEXTS,
            "schedule": _nullable(_TEXT),
            "timezone": _nullable(_TEXT),
            "on_message": _nullable(_TEXT),
            "triggers": {"type": "array", "items": trigger},
        }
    )
    return {
        "TriggerNode": {"oneOf": [leaf, group]},
        "Workflows": _closed_object(
            {"workflows": {"type": "array", "items": workflow}}
        ),
    }


def _dag_schemas() -> dict:
    job = _closed_object(
        {
            "name": _TEXT,
            "schedule": _nullable(_TEXT),
            "timezone": _nullable(_TEXT),
            "kind": _TEXT,
            "workflow": _nullable(_TEXT),
        }
    )
    # A node of a job graph carries the job's fields, and a node of a run's
    # step graph the step's (`error` is the step's error as stored). A stub
    # node of a focused graph counts the jobs it hides beyond `job`.
    box = {
        "name": _TEXT,
        "x": _NUMBER,
        "y": _NUMBER,
        "width": _NUMBER,
        "height": _NUMBER,
        "rank": _INTEGER,
        "order": _INTEGER,
        "lines": _TEXTS,
    }
    job = {
        "status": _nullable(_TEXT),
        "duration_ms": _nullable(_NUMBER),
        "run_id": _nullable(_TEXT),
        "requested": _BOOLEAN,
        "kind": _TEXT,
        "workflow": _nullable(_TEXT),
        "schedule": _nullable(_TEXT),
        "timezone": _nullable(_TEXT),
    }
    step = {"status": _TEXT, "duration_ms": _nullable(_NUMBER), "error": {}}
    stub = {
        "kind": {"const": "stub"},
        "hidden": _INTEGER,
        "direction": {"type": "string", "enum": ["upstream", "downstream"]},
        "job": _TEXT,
    }
    node = {
        "oneOf": [
            _closed_object({**box, **job}),
            _closed_object({**box, **step}),
            _closed_object({**box, **stub}),
        ]
    }
    edge = _closed_object(
        {"from": _TEXT, "to": _TEXT, "path": _TEXT, "reversed": _BOOLEAN}
    )
    pairs = {
        "type": "array",
        "items": {"type": "array", "items": _TEXT, "minItems": 2, "maxItems": 2},
    }
    layout = _closed_object(
        {
            "nodes": {"type": "array", "items": node},
            "edges": {"type": "array", "items": edge},
            "width": _NUMBER,
            "height": _NUMBER,
            "reversed_edges": pairs,
            "self_loops": pairs,
            "crossings": _INTEGER,
            "graph": {"type": "string", "enum": ["full", "focus", "workflow", "run"]},
            "hidden_nodes": _INTEGER,
        },
    )
    return {
        "Dag": _closed_object(
            {
                "nodes": {"type": "array", "items": job},
                "edges": {"type": "array", "items": _EDGE},
            }
        ),
        "Layout": layout,
    }


def _other_schemas() -> dict:
    me = _closed_object(
        {
            "authenticated": _BOOLEAN,
            "identity": _nullable(_TEXT),
            "role": _nullable(_TEXT),
            "permissions": _TEXTS,
            "rbac_enabled": _BOOLEAN,
            "token_required": _BOOLEAN,
            "read_only": _BOOLEAN,
            "version": _TEXT,
            "run_log": _TEXT,
            "catalog": _TEXTS,
            "now": _TEXT,
        }
    )
    requested = {"new_run_id": _TEXT, "already_requested": _BOOLEAN}
    return {
        "Error": _closed_object({"detail": _TEXT}),
        "Health": _closed_object({"status": {"const": "ok"}, "version": _TEXT}),
        "Me": me,
        "Requested": _closed_object(requested),
        "WorkflowRequested": _closed_object({**requested, "selected_jobs": _TEXTS}),
        "JobRequested": _closed_object({**requested, "cascade_downstream": _BOOLEAN}),
        "PauseRequested": _closed_object({"status": {"const": "pause_requested"}}),
        "ResumeRequested": _closed_object({"status": {"const": "resume_requested"}}),
        "Cancelled": _closed_object({"status": {"const": "cancelled"}}),
    }


_ERROR_REASONS = {
    "304": "Not modified: the If-None-Match header names the current ETag",
    "400": "Invalid parameter or request body",
    "401": "Missing or invalid bearer token (only with --token)",
    "403": "Host header of another site, cross-origin or unmarked POST, or --read-only",
    "404": "Not found",
    "409": "The run's state does not allow this action",
    "413": "Request body larger than 64 KiB",
    "415": "Request body that is not application/json",
    "503": "RunLog unavailable: locked, missing, unreachable or read-only",
}


def _error_response(status: str) -> dict:
    return {
        "description": _ERROR_REASONS[status],
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _document_responses(schema: str, *errors: str) -> dict:
    """Responses of a GET that returns a JSON document with an ETag."""
    return {
        "200": {
            "description": "The document",
            "headers": {"ETag": {"schema": _TEXT}},
            "content": {"application/json": {"schema": _ref(schema)}},
        },
        "304": {"description": _ERROR_REASONS["304"]},
        **{status: _error_response(status) for status in ("403", *errors)},
    }


def _get(summary: str, schema: str, errors: Sequence[str], parameters=()) -> dict:
    condition = {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "schema": _TEXT,
        "description": "The ETag of a copy the client has; a match returns 304",
    }
    return {
        "get": {
            "summary": summary,
            "parameters": [*parameters, condition],
            "responses": _document_responses(schema, "401", *errors),
        }
    }


def _post(summary: str, body: dict, schema: str, errors: Sequence[str]) -> dict:
    statuses = ("400", "401", "403", "404", *errors, "413", "415", "503")
    return {
        "post": {
            "summary": summary,
            "description": "Needs an Origin header of this server or the header"
            f" {REQUESTED_BY_HEADER}: {REQUESTED_BY_VALUE}. An empty body reads"
            " as {}.",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": {
                    "description": "The request row was written or already pending",
                    "content": {"application/json": {"schema": _ref(schema)}},
                },
                **{status: _error_response(status) for status in statuses},
            },
        }
    }


def _path_parameter(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": _TEXT,
        "description": description,
    }


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _runs_parameters() -> list:
    return [
        _query("pipeline", _TEXT, "Only runs of this job or workflow"),
        _query(
            "status",
            {"type": "string", "enum": list(RUN_STATUSES)},
            "Only runs with this status",
        ),
        _query(
            "limit",
            {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INTEGER},
            f"Runs per page, default {RUNS_DEFAULT_LIMIT}; 0 reads as 1 and"
            f" more than {RUNS_MAX_LIMIT} as {RUNS_MAX_LIMIT}",
        ),
        _query(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INTEGER},
            "Runs to skip",
        ),
        _query("sort", {"type": "string", "enum": list(RUN_SORTS)}, "Sort column"),
        _query("order", {"type": "string", "enum": ["asc", "desc"]}, "Sort order"),
    ]


def _layout_parameters() -> list:
    return [
        _query("focus", _TEXT, "A job: lay out it, its ancestors and descendants"),
        _query("workflow", _TEXT, "A workflow: lay out its jobs"),
        _query("run", _TEXT, "A run: lay out its steps"),
        _query(
            "depth",
            {"type": "integer", "minimum": 1, "maximum": MAX_QUERY_INTEGER},
            "With focus, the most hops to show; by default all that fit"
            f" {MAX_FOCUS_NODES} nodes",
        ),
    ]


def _read_paths() -> dict:
    run_id = _path_parameter("run_id", "The run's id")
    return {
        "/api/health": {
            "get": {
                "summary": "Whether flow-web is up; never needs the token",
                "responses": {
                    "200": {
                        "description": "flow-web is up",
                        "content": {"application/json": {"schema": _ref("Health")}},
                    },
                    "403": _error_response("403"),
                },
            }
        },
        "/api/me": _get("The caller and this server's settings", "Me", ()),
        "/api/runs": _get(
            "Runs, newest first", "RunPage", ("400", "503"), _runs_parameters()
        ),
        "/api/runs/{run_id}": _get(
            "One run with its extras, attempts, steps and allowed actions",
            "Run",
            ("404", "503"),
            [run_id],
        ),
        "/api/pipelines": _get(
            "One entry per job with its latest runs and schedule",
            "Pipelines",
            ("503",),
        ),
        "/api/workflows": _get(
            "Workflows with their jobs, edges and trigger states",
            "Workflows",
            ("503",),
        ),
        "/api/dag": _get("Every job and its depends_on edges", "Dag", ("503",)),
        "/api/dag/layout": _get(
            "A laid-out graph: the whole DAG, or one of focus, workflow or run",
            "Layout",
            ("400", "404", "503"),
            _layout_parameters(),
        ),
    }


def _action_paths() -> dict:
    empty = _closed_object({})
    restart = _closed_object({"from_step": _nullable(_TEXT)}, optional=("from_step",))
    workflow_body = _closed_object({"jobs": _nullable(_TEXTS)}, optional=("jobs",))
    job_body = _closed_object(
        {"cascade_downstream": _nullable(_BOOLEAN)}, optional=("cascade_downstream",)
    )
    run_id = [_path_parameter("run_id", "The run's id")]
    paths = {
        "/api/runs/{run_id}/restart": _post(
            "Restart a failed run from a step, or a stream from its watermark",
            restart,
            "Requested",
            ("409",),
        ),
        "/api/runs/{run_id}/rerun": _post(
            "Run a finished run again in full", empty, "Requested", ("409",)
        ),
        "/api/runs/{run_id}/pause": _post(
            "Ask a running run to pause", empty, "PauseRequested", ("409",)
        ),
        "/api/runs/{run_id}/resume": _post(
            "Ask a paused run to resume", empty, "ResumeRequested", ("409",)
        ),
        "/api/runs/{run_id}/cancel": _post(
            "Cancel a requested run that no worker has picked up",
            empty,
            "Cancelled",
            ("409",),
        ),
        "/api/workflows/{workflow}/run-now": _post(
            "Run a workflow, or some of its jobs, now",
            workflow_body,
            "WorkflowRequested",
            (),
        ),
        "/api/jobs/{job}/run-now": _post(
            "Run a batch job now", job_body, "JobRequested", ()
        ),
    }
    for path, item in paths.items():
        if "{run_id}" in path:
            item["post"]["parameters"] = run_id
    paths["/api/workflows/{workflow}/run-now"]["post"]["parameters"] = [
        _path_parameter("workflow", "A workflow, or a job run as a workflow")
    ]
    paths["/api/jobs/{job}/run-now"]["post"]["parameters"] = [
        _path_parameter("job", "A batch job")
    ]
    return paths


def openapi_document() -> dict:
    """Build the OpenAPI 3.1 description of flow-web's API, served at
    /api/openapi.json. Every route but PUBLIC_API_PATHS needs the bearer
    token when flow-web runs with one, and every route returns 403 when the
    Host header names another site."""
    schemas = {
        **_run_schemas(),
        **_pipeline_schema(),
        **_workflow_schemas(),
        **_dag_schemas(),
        **_other_schemas(),
    }
    paths = {**_read_paths(), **_action_paths()}
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This description; never needs the token",
            "responses": {
                "200": {
                    "description": "The OpenAPI description",
                    "content": {"application/json": {"schema": _ANY_OBJECT}},
                },
                "403": _error_response("403"),
            },
        }
    }
    for path, item in paths.items():
        if path not in PUBLIC_API_PATHS:
            for operation in item.values():
                operation["security"] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flow-web",
            "version": __version__,
            "description": "The JSON API of flow-web, an operator UI over an"
            ' ematix-flow RunLog. Errors are {"detail": message}.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def build_routes(api: RunLogApi, config: Config) -> list:
    page = load_ui_html()
    page_headers = {
        "Content-Security-Policy": content_security_policy(page),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }

    async def index(request: Request) -> Response:
        return Response(
            page, media_type="text/html; charset=utf-8", headers=page_headers
        )

    @loop_api_endpoint
    def health(request: Request) -> dict:
        return {"status": "ok", "version": __version__}

    @loop_api_endpoint
    def me(request: Request) -> dict:
        return api.me(request_has_token(request, config.token))

    @api_endpoint
    def runs(request: Request) -> Any:
        return api.runs_document(runs_query(request))

    @api_endpoint
    def run(request: Request) -> Any:
        run_id = request.path_params["run_id"]
        # GET /api/runs/<id>/rerun matches this route, not the POST one.
        action = re.fullmatch(r"(.+)/(restart|rerun|pause|resume|cancel)", run_id)
        if action and not api.run_exists(run_id):
            raise MethodNotAllowed(
                f"method {request.method} is not allowed on {request.url.path};"
                f" the {action.group(2)} action needs POST"
            )
        return api.run_document(run_id)

    @api_endpoint
    def pipelines(request: Request) -> Any:
        return api.cached_document("pipelines", api.pipelines)

    @api_endpoint
    def workflows(request: Request) -> Any:
        return api.cached_document("workflows", api.workflows)

    @api_endpoint
    def dag(request: Request) -> Any:
        return api.cached_document("dag", api.dag, changes_with_time=False)

    @api_endpoint
    def dag_layout(request: Request) -> Any:
        params = {
            key: request.query_params.get(key) for key in ("focus", "workflow", "run")
        }
        given = [key for key, value in params.items() if value]
        if len(given) > 1:
            raise BadRequest(
                f"give at most one of focus, workflow and run, not {given}"
            )
        depth = None
        if request.query_params.get("depth"):
            depth = query_int(request, "depth", 1, minimum=1)
        key = ("layout", params["focus"], params["workflow"], params["run"], depth)
        return api.cached_document(
            key,
            lambda: api.graph_layout(
                params["focus"] or None,
                params["workflow"] or None,
                params["run"] or None,
                depth,
            ),
            changes_with_time=False,
        )

    description = Rendered.of(openapi_document())

    @loop_api_endpoint
    def openapi(request: Request) -> Rendered:
        return description

    return [
        Route("/", index),
        Route("/api/health", health),
        Route("/api/openapi.json", openapi),
        Route("/api/me", me),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id:anytext}", run),
        Route("/api/pipelines", pipelines),
        Route("/api/workflows", workflows),
        Route("/api/dag", dag),
        Route("/api/dag/layout", dag_layout),
    ]


async def not_found(request: Request, error: Exception) -> Response:
    path = request.url.path
    if path.startswith(NOT_SERVED_PREFIXES):
        return error_response(
            404,
            f"{path} is part of ematix-flow's own `flow web` (SQL Lab, charts,"
            " dashboards, quality, freshness, stream DLQ) and is not served by"
            " flow-web",
        )
    return error_response(404, "Not Found")


async def method_not_allowed(request: Request, error: Exception) -> Response:
    return error_response(
        405, f"method {request.method} is not allowed on {request.url.path}"
    )


@contextlib.asynccontextmanager
async def size_worker_threads(app: Any) -> Any:
    """Set the number of worker threads when the app starts, because anyio
    keeps that number per event loop."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def build_app(config: Config, store: RunLogStore, catalog: Catalog) -> Any:
    """Build the ASGI application: the routes behind the browser guard (Host
    and Origin checks) and then the auth gate."""
    api = RunLogApi(store, catalog, config)
    actions = RunActions(store, catalog, config)
    app = Starlette(
        routes=build_action_routes(actions) + build_routes(api, config),
        exception_handlers={404: not_found, 405: method_not_allowed},
        lifespan=size_worker_threads,
    )
    app.state.api = api
    return BrowserGuard(AuthGate(app, config.token), config.bind, config.allowed_hosts)


# ------------------------------------------------------------------------------------
# Demo RunLog
# ------------------------------------------------------------------------------------

# The tables as ematix-flow 1.0.0 creates them in SQLite; the demo writes a
# fresh file with them so that the real scheduler could take it over.
SQLITE_RUNLOG_DDL = (
    "CREATE TABLE run_log (pipeline_name TEXT PRIMARY KEY, last_run_at TEXT NOT NULL,"
    " success INTEGER NOT NULL)",
    "CREATE TABLE attempt_state (pipeline_name TEXT PRIMARY KEY,"
    " attempt_count INTEGER NOT NULL, last_attempt_at TEXT NOT NULL,"
    " gave_up INTEGER NOT NULL)",
    "CREATE TABLE pipeline_claims (pipeline_name TEXT PRIMARY KEY,"
    " claim_token TEXT NOT NULL, worker_id TEXT NOT NULL, claimed_at TEXT NOT NULL,"
    " expires_at TEXT NOT NULL)",
    "CREATE TABLE run_records (run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL,"
    " status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,"
    " attempt INTEGER NOT NULL, failed_step TEXT, failed_watermark TEXT,"
    " error_summary TEXT, kind TEXT NOT NULL, extras_json TEXT NOT NULL)",
    "CREATE INDEX idx_run_records_started_at ON run_records(started_at DESC)",
    "CREATE INDEX idx_run_records_pipeline ON run_records(pipeline, started_at DESC)",
    "CREATE INDEX idx_run_records_status ON run_records(status, started_at DESC)",
)

DEMO_DAYS = 14
DEMO_STEPS = (
    ("discover_inputs", ()),
    ("fetch_source", ("discover_inputs",)),
    ("transform_partition_0", ("fetch_source",)),
    ("transform_partition_1", ("fetch_source",)),
    ("merge_partitions", ("transform_partition_0", "transform_partition_1")),
    ("write_destination", ("merge_partitions",)),
)
DEMO_ERROR = (
    "ConnectionResetError: [Errno 104] Connection reset by peer during shuffle read"
    " of partition 1"
)


def demo_catalog() -> Catalog:
    """The demo project: a nightly warehouse diamond, a data-quality workflow
    with an ALL/ANY trigger, a */15 job, a Berlin job and a streaming job."""
    nightly, new_york = "10 2 * * *", "America/New_York"
    jobs = (
        Job("ingest_orders", schedule=nightly, timezone=new_york),
        Job("load_dim_customer", schedule=nightly, timezone=new_york),
        Job(
            "build_sales_mart",
            schedule=nightly,
            timezone=new_york,
            depends_on=("ingest_orders", "load_dim_customer"),
        ),
        Job(
            "publish_metrics",
            schedule=nightly,
            timezone=new_york,
            depends_on=("build_sales_mart",),
        ),
        Job("feature_views_ready", schedule="5 6 * * *", timezone="UTC"),
        Job("backfill_complete"),
        Job("dq_check_orders"),
        Job("dq_publish_report", depends_on=("dq_check_orders",)),
        Job(
            "feature_store_sync",
            schedule="*/15 * * * *",
            timezone="UTC",
            retry={"max_attempts": 3, "backoff": "fixed", "base_secs": 60},
        ),
        Job("eu_gdpr_export", schedule="35 6 * * 1-5", timezone="Europe/Berlin"),
        Job("adhoc_vacuum"),
        Job("live_orders", kind="streaming"),
    )
    gate = TriggerOp(
        "all",
        (
            "ingest_orders",
            TriggerOp("any", ("feature_views_ready", "backfill_complete")),
        ),
    )
    workflows = (
        Workflow(
            "warehouse_etl",
            (
                "ingest_orders",
                "load_dim_customer",
                "build_sales_mart",
                "publish_metrics",
            ),
            schedule=nightly,
            timezone=new_york,
        ),
        Workflow(
            "data_quality_gate",
            ("dq_check_orders", "dq_publish_report"),
            triggered_by=gate,
        ),
        Workflow("realtime_orders", ("live_orders",)),
    )
    return Catalog(jobs, workflows, ("demo",))


class DemoWriter:
    """Collects the demo's rows, then writes them in one transaction."""

    def __init__(self, now: dt.datetime, seed: int = 7):
        import random

        self.now = now.replace(microsecond=0)
        self.random = random.Random(seed)
        self.runs: list = []
        self.last_run: dict = {}

    def add(
        self,
        pipeline: str,
        started: dt.datetime,
        seconds: float,
        status: str = "succeeded",
        **fields: Any,
    ) -> RunRecord:
        finished = started + dt.timedelta(seconds=round(seconds))
        is_open = status in OPEN_STATUSES
        extras = fields.pop("extras", {})
        attempt = fields.pop("attempt", 1)
        run_id = fields.pop("run_id", f"{pipeline}-{started:%Y%m%dT%H%M%S}-{attempt}")
        record = RunRecord(
            run_id=run_id,
            pipeline=pipeline,
            status=status,
            started_at=format_db_time(started),
            finished_at=None if is_open else format_db_time(finished),
            attempt=attempt,
            extras_json=json.dumps(extras, default=str),
            **fields,
        )
        self.runs.append(record)
        if not is_open and pipeline not in ("warehouse_etl", "data_quality_gate"):
            self.last_run[pipeline] = (finished, status == "succeeded")
        return record

    def minutes(self, low: float, high: float) -> float:
        return self.random.uniform(low, high) * 60


def _demo_ticks(
    expression: str, zone: Optional[str], start: dt.datetime, end: dt.datetime
) -> list:
    ticks, tick = [], next_tick(expression, zone, start)
    while tick is not None and tick <= end:
        ticks.append(tick)
        tick = next_tick(expression, zone, tick)
    return ticks


def _demo_nightly(writer: DemoWriter, tick: dt.datetime, last: bool) -> None:
    ingest = writer.add(
        "ingest_orders",
        tick,
        writer.minutes(3.5, 5.5),
        extras={"workflow": "warehouse_etl"},
    )
    customers = writer.add(
        "load_dim_customer",
        tick,
        writer.minutes(0.7, 1.1),
        extras={"workflow": "warehouse_etl"},
    )
    mart_start = max(ingest.finished, customers.finished) + dt.timedelta(seconds=2)
    steps = "failed" if last else "succeeded"
    mart = writer.add(
        "build_sales_mart",
        mart_start,
        writer.minutes(2.5, 3.5),
        status=steps,
        failed_step="transform_partition_1" if last else None,
        error_summary=f"transform_partition_1: {DEMO_ERROR}" if last else None,
        extras={
            "workflow": "warehouse_etl",
            "timezone": "America/New_York",
            "steps": _demo_steps(writer, mart_start, fail=last),
        },
    )
    members = [ingest, customers, mart]
    if not last:
        members.append(
            writer.add(
                "publish_metrics",
                mart.finished,
                writer.minutes(0.1, 0.3),
                extras={"workflow": "warehouse_etl"},
            )
        )
    writer.add(
        "warehouse_etl",
        tick,
        (members[-1].finished - tick).total_seconds(),
        status=steps,
        failed_step="build_sales_mart" if last else None,
        extras={
            "steps": [
                {
                    "name": r.pipeline,
                    "status": r.status,
                    "run_id": r.run_id,
                    "duration_ms": r.duration_ms,
                }
                for r in members
            ]
        },
    )
    if last:
        writer.add(
            "build_sales_mart",
            writer.now - dt.timedelta(minutes=2),
            0,
            status="requested",
            run_id="req-" + uuid.UUID(int=writer.random.getrandbits(128)).hex,
            extras={
                "restart_from_step": "transform_partition_1",
                "prior_run_id": mart.run_id,
            },
        )


def _demo_steps(writer: DemoWriter, start: dt.datetime, fail: bool) -> list:
    steps, clock = [], start
    for name, depends_on in DEMO_STEPS:
        failed_here = fail and name == "transform_partition_1"
        pending = fail and name in ("merge_partitions", "write_destination")
        millis = None if pending else int(writer.minutes(0.05, 0.9) * 1000)
        steps.append(
            {
                "name": name,
                "depends_on": list(depends_on),
                "status": "pending"
                if pending
                else ("failed" if failed_here else "succeeded"),
                "started_at": None if pending else format_db_time(clock),
                "duration_ms": millis,
                **({"error": DEMO_ERROR} if failed_here else {}),
            }
        )
        clock += dt.timedelta(milliseconds=millis or 0)
    return steps


def _demo_history(writer: DemoWriter, catalog: Catalog) -> None:
    start = writer.now - dt.timedelta(days=DEMO_DAYS)
    nightly = _demo_ticks("10 2 * * *", "America/New_York", start, writer.now)
    for index, tick in enumerate(nightly):
        _demo_nightly(writer, tick, last=index == len(nightly) - 1)
    views = _demo_ticks("5 6 * * *", "UTC", start, writer.now)
    for index, tick in enumerate(views):
        failed = index == len(views) - 1
        writer.add(
            "feature_views_ready",
            tick,
            writer.minutes(0.05, 0.1),
            status="failed" if failed else "succeeded",
            error_summary="upstream feature table is empty" if failed else None,
        )
    for tick in nightly[:-1]:
        ingest_done = tick + dt.timedelta(minutes=6)
        check = writer.add("dq_check_orders", ingest_done, writer.minutes(0.2, 0.4))
        writer.add("dq_publish_report", check.finished, writer.minutes(0.03, 0.08))
        writer.add("data_quality_gate", ingest_done, writer.minutes(0.3, 0.5))
    for days_ago in (12, 9):
        writer.add("backfill_complete", writer.now - dt.timedelta(days=days_ago), 12)
    _demo_sync(writer, start)
    _demo_misc(writer)
    _demo_stream(writer)


def _demo_sync(writer: DemoWriter, start: dt.datetime) -> None:
    ticks = _demo_ticks(
        "*/15 * * * *", "UTC", writer.now - dt.timedelta(days=2), writer.now
    )
    for index, tick in enumerate(ticks):
        if index == len(ticks) - 1:
            writer.add("feature_store_sync", tick, 0, status="running")
        elif index == len(ticks) - 20:
            writer.add(
                "feature_store_sync",
                tick,
                45,
                status="failed",
                error_summary="TimeoutError: feature store did not answer in 30 s",
            )
        elif index == len(ticks) - 19:
            writer.add("feature_store_sync", tick, writer.minutes(0.5, 0.8), attempt=2)
        else:
            writer.add("feature_store_sync", tick, writer.minutes(0.5, 0.8))


def _demo_misc(writer: DemoWriter) -> None:
    berlin = _demo_ticks(
        "35 6 * * 1-5",
        "Europe/Berlin",
        writer.now - dt.timedelta(days=DEMO_DAYS),
        writer.now,
    )
    for index, tick in enumerate(berlin):
        last = index == len(berlin) - 1
        writer.add(
            "eu_gdpr_export",
            tick,
            writer.minutes(2.5, 3.5),
            status="paused" if last else "succeeded",
            extras={
                "timezone": "Europe/Berlin",
                **(
                    {
                        "pause_requested": True,
                        "paused_at": format_api_time(tick + dt.timedelta(minutes=1)),
                    }
                    if last
                    else {}
                ),
            },
        )
    writer.add("adhoc_vacuum", writer.now - dt.timedelta(days=6, hours=3), 90)
    writer.add(
        "load_dim_customer",
        writer.now - dt.timedelta(days=5, hours=1),
        20,
        status="cancelled",
        extras={"cancelled_by": "operator"},
    )


def _demo_stream(writer: DemoWriter) -> None:
    started = writer.now - dt.timedelta(hours=3)
    writer.add(
        "live_orders",
        started,
        40,
        status="failed",
        kind="streaming",
        run_id=f"live_orders-stream-{started:%Y%m%dT%H%M%SZ}-0badc0de",
        error_summary="target table main.live_orders does not exist",
        extras={"error": "target table main.live_orders does not exist"},
    )
    started += dt.timedelta(minutes=5)
    writer.add(
        "live_orders",
        started,
        3600,
        kind="streaming",
        run_id=f"live_orders-stream-{started:%Y%m%dT%H%M%SZ}-5eed5eed",
        extras=_demo_stream_stats(writer.now - dt.timedelta(hours=1), 280.0, 1.0),
    )
    started = writer.now - dt.timedelta(minutes=40)
    writer.add(
        "live_orders",
        started,
        0,
        status="running",
        kind="streaming",
        run_id=f"live_orders-stream-{started:%Y%m%dT%H%M%SZ}-a11ce5ed",
        extras=_demo_stream_stats(writer.now - dt.timedelta(seconds=20), 284.9, 1.0),
    )


def _demo_stream_stats(snapshot: dt.datetime, rate: float, batches: float) -> dict:
    window = {
        "rows_consumed_per_sec": rate,
        "rows_written_per_sec": rate,
        "batches_per_sec": batches,
        "errors_per_sec": 0.0,
        "avg_batch_cycle_ms": round(1000 / batches, 2),
        "span_seconds": 30.0,
    }
    return {
        "snapshot_at": snapshot.isoformat(),
        "rows_consumed_total": int(rate * 2400),
        "rows_written_total": int(rate * 2400),
        "batches_total": int(batches * 2400),
        "errors_total": 0,
        "stats_1m": window,
        "stats_5m": dict(
            window, rows_consumed_per_sec=round(rate * 0.99, 2), span_seconds=60.0
        ),
    }


def write_demo_runlog(path: str, now: dt.datetime) -> Catalog:
    """Create a new SQLite RunLog at `path` with two weeks of demo history
    ending at `now`, and return the demo's catalog."""
    catalog = demo_catalog()
    writer = DemoWriter(now)
    _demo_history(writer, catalog)
    connection = sqlite3.connect(path)
    for statement in SQLITE_RUNLOG_DDL:
        connection.execute(statement)
    connection.close()
    store = RunLogStore(SQLiteConnector(path))
    with store.transaction() as execute:
        for record in writer.runs:
            store.insert_run(execute, record)
        _demo_runlog_tables(execute, writer)
    store.close()
    return catalog


def _demo_runlog_tables(execute: Callable[..., Any], writer: DemoWriter) -> None:
    for pipeline, (finished, success) in sorted(writer.last_run.items()):
        execute(
            "INSERT INTO run_log VALUES (?, ?, ?)",
            (pipeline, format_db_time(finished), int(success)),
        )
    failures = sorted(p for p, (_, ok) in writer.last_run.items() if not ok)
    for pipeline in failures:
        execute(
            "INSERT INTO attempt_state VALUES (?, 1, ?, 0)",
            (pipeline, format_db_time(writer.last_run[pipeline][0])),
        )
    running = [r for r in writer.runs if r.status == "running" and r.kind == "batch"]
    for record in running:
        execute(
            "INSERT INTO pipeline_claims VALUES (?, ?, ?, ?, ?)",
            (
                record.pipeline,
                uuid.UUID(int=writer.random.getrandbits(128)).hex,
                "scheduler-demo-1",
                record.started_at,
                format_db_time(writer.now + dt.timedelta(minutes=5)),
            ),
        )


# ------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error")
SUBCOMMANDS = ("catalog", "init-history")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flow-web.pyz",
        description="Operator web UI over an ematix-flow RunLog. Subcommands:"
        " `catalog` writes a catalog file, `init-history` creates the run history"
        " table on a database server (run `SUBCOMMAND --help`).",
    )
    add = parser.add_argument
    add(
        "--bind",
        "--host",
        dest="bind",
        default=DEFAULT_BIND,
        metavar="ADDRESS",
        help="address to listen on (default %(default)s); without --token, any"
        " other address logs a warning",
    )
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="TCP port to listen on, 0 for any free port (default %(default)s)",
    )
    add("--log-level", choices=LOG_LEVELS, default="info", help="default %(default)s")
    add("--access-log", action="store_true", help="log every HTTP request")
    add("--token", help=f"bearer token required on /api/* (env {ENV_TOKEN})")
    add(
        "--run-log-url",
        metavar="URL",
        help="RunLog location: sqlite:////path/run_log.db, postgresql://... or"
        f" mysql://... (env {ENV_RUN_LOG_URL}, then {ENV_RUN_LOG_PATH}, then"
        f" {DEFAULT_RUN_LOG_PATH})",
    )
    add(
        "--module",
        action="append",
        default=[],
        metavar="MODULE",
        help="pipeline module to import for schedules, workflows and the DAG;"
        " repeatable; needs ematix-flow installed",
    )
    add(
        "--catalog",
        dest="catalog_path",
        metavar="FILE",
        help="catalog file written by the catalog subcommand (for hosts without"
        " ematix-flow)",
    )
    add(
        "--demo",
        action="store_true",
        help="create a demo RunLog in a temporary folder and serve it",
    )
    add(
        "--read-only",
        action="store_true",
        help="never write to the RunLog: actions are off and their buttons hidden",
    )
    add(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a DNS name (with a port, only on that port) that browsers use to reach"
        " flow-web, e.g. behind a reverse proxy; repeatable. Requests naming"
        " another host are rejected, except this server's own addresses and"
        " localhost",
    )
    add(
        "--late-after",
        dest="late_grace_s",
        type=int,
        default=LATE_GRACE_S,
        metavar="SECONDS",
        help="mark a scheduled job late when its cron tick is"
        " this many seconds old with no run started (default %(default)s)",
    )
    add("--now", metavar="ISO_TIME", help=argparse.SUPPRESS)
    add("--version", action="version", version=f"flow-web {__version__}")
    return parser


def build_catalog_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flow-web.pyz catalog",
        description="Import pipeline modules with ematix-flow and write their jobs,"
        " workflows and triggers as a catalog file for --catalog.",
    )
    parser.add_argument(
        "--module",
        action="append",
        required=True,
        metavar="MODULE",
        help="pipeline module to import; repeatable",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write (default: standard output)",
    )
    return parser


def build_init_history_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flow-web.pyz init-history",
        description="Create the run_records table and its three indexes in a"
        " RunLog where they are missing, with the layout ematix-flow uses in"
        " SQLite, so that run history and actions work on PostgreSQL and MySQL."
        " Safe to run again; it never changes or drops anything.",
    )
    parser.add_argument(
        "--run-log-url",
        metavar="URL",
        help=f"the RunLog: postgresql://..., mysql://... or sqlite:////path (env"
        f" {ENV_RUN_LOG_URL}, then {ENV_RUN_LOG_PATH})",
    )
    return parser


def resolve_run_log_url(flag: Optional[str], environ: Mapping[str, str]) -> str:
    """The RunLog URL from the flag, the environment or the default path."""
    for candidate in (
        flag,
        environ.get(ENV_RUN_LOG_URL),
        environ.get(ENV_RUN_LOG_PATH),
    ):
        if candidate:
            return candidate
    default = os.path.expanduser(DEFAULT_RUN_LOG_PATH)
    if os.path.exists(default):
        return default
    raise ConfigError(
        f"no RunLog given and {default} does not exist; pass --run-log-url"
        f" sqlite:////path/to/run_log.db (or set {ENV_RUN_LOG_URL} or"
        f" {ENV_RUN_LOG_PATH}), or run with --demo to try flow-web"
    )


def config_from_args(
    args: argparse.Namespace, environ: Mapping[str, str], run_log_url: str
) -> Config:
    now = None
    if args.now:
        now = parse_timestamp(args.now)
        if now is None:
            raise ConfigError(f"--now {args.now!r} is not an ISO 8601 time")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.late_grace_s < 0:
        raise ConfigError(
            f"--late-after {args.late_grace_s} is negative; give the grace period"
            f" in seconds, e.g. --late-after {LATE_GRACE_S}"
        )
    token = args.token if args.token is not None else environ.get(ENV_TOKEN)
    if token is not None and not token.strip():
        raise ConfigError(
            f"the token from --token or {ENV_TOKEN} is empty; give a"
            " non-empty token or leave it unset"
        )
    for entry in args.allowed_hosts:
        if parse_host(entry) is None:
            raise ConfigError(
                f"--allowed-host {entry!r} is not a host name; give NAME or"
                " NAME:PORT, e.g. --allowed-host flow.example.com"
            )
    return Config(
        run_log_url=run_log_url,
        bind=args.bind,
        port=args.port,
        log_level=args.log_level,
        token=token,
        modules=tuple(args.module),
        catalog_path=args.catalog_path,
        read_only=args.read_only,
        now=now,
        late_grace_s=args.late_grace_s,
        access_log=args.access_log,
        allowed_hosts=tuple(args.allowed_hosts),
    )


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn repeats our start-up line and its own version; keep its warnings.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    logging.getLogger("uvicorn.error").setLevel(quiet)


def open_run_log(config: Config) -> RunLogStore:
    connector = parse_run_log_url(config.run_log_url)
    connector.check_startup()
    if not config.read_only and isinstance(connector, SQLiteConnector):
        _warn_if_not_writable(connector.path)
    return RunLogStore(connector)


def _warn_if_not_writable(path: str) -> None:
    # A write also creates a journal file next to the database.
    folder = os.path.dirname(path) or "."
    if os.access(path, os.W_OK) and os.access(folder, os.W_OK):
        return
    log.warning(
        "RunLog %s or its folder is not writable by this user, so actions will"
        " fail with 503; pages work, and --read-only hides the action buttons",
        path,
    )


def listen_socket(bind: str, port: int) -> Any:
    """Bind the listening socket before serving, so an address in use is a
    start-up error with a hint rather than a traceback."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {bind}:{port}: {error.strerror or error}; pass --port"
            " with a free port or --bind with an address of this host"
        ) from None
    sock.setblocking(False)
    return sock


def header_timeout_protocol() -> type:
    """uvicorn's h11 protocol with a deadline for request headers: a
    connection that has not sent a request's complete headers
    HEADER_TIMEOUT_S after it opened, or after the first byte of a request
    that follows another one, is closed."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        header_timer: Optional[asyncio.TimerHandle] = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_header_timer()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before:
                self._stop_header_timer()
            elif self.header_timer is None and self._awaiting_headers():
                self._start_header_timer()

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _start_header_timer(self) -> None:
            self.header_timer = self.loop.call_later(
                HEADER_TIMEOUT_S, self._header_timeout
            )

        def _stop_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _header_timeout(self) -> None:
            self.header_timer = None
            if self._awaiting_headers() and not self.transport.is_closing():
                HEADER_TIMEOUT_LOG.warn(
                    "header-timeout",
                    f"no complete request headers within {HEADER_TIMEOUT_S:g} s;"
                    " connection closed",
                    self.client,
                )
                self.transport.close()

    return HeaderTimeoutProtocol


HEADER_TIMEOUT_LOG = RejectionLog()


def serve(config: Config, store: RunLogStore, catalog: Catalog) -> None:
    sock = listen_socket(config.bind, config.port)
    try:
        _serve_on(sock, config, store, catalog)
    finally:
        store.close()
        log.info("flow-web stopped")


def _serve_on(sock: Any, config: Config, store: RunLogStore, catalog: Catalog) -> None:
    import uvicorn

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "flow-web %s listening on http://%s:%d/ (RunLog %s; jobs from %s; auth %s%s)",
        __version__,
        shown,
        port,
        store.connector.describe(),
        ", ".join(catalog.sources) or "the run history",
        "bearer token required" if config.token else "off",
        "; read-only" if config.read_only else "",
    )
    if config.token is None and config.bind not in LOOPBACK_HOSTS:
        log.warning(
            "listening on %s without a token: anyone who can reach this port can"
            " restart, rerun or pause runs; pass --token or set %s",
            config.bind,
            ENV_TOKEN,
        )
    if config.allowed_hosts:
        log.info(
            "accepting the Host names %s besides localhost and this server's addresses",
            ", ".join(config.allowed_hosts),
        )
    elif config.bind not in LOOPBACK_HOSTS:
        log.info(
            "browsers must reach flow-web by IP address or localhost; pass"
            " --allowed-host NAME for each DNS name they use"
        )
    app = build_app(config, store, catalog)
    # One process, because the document cache and the connection pool are
    # per process: more processes would each rebuild every document after
    # each write. uvicorn's limit_concurrency stays unset because it counts
    # idle connections too, so clients that open connections and send
    # nothing would make it turn real requests away with 503; the header
    # timeout closes those connections instead.
    server_config = uvicorn.Config(
        app,
        http=header_timeout_protocol(),
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        log_config=None,
        access_log=config.access_log,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
    uvicorn.Server(server_config).run(sockets=[sock])


def install_stop_handlers() -> None:
    """Make SIGTERM and SIGHUP end the program like Ctrl-C, so that clean-up
    (the --demo folder) runs. uvicorn handles SIGTERM itself while serving,
    then raises it again with the handler it found, which is this one."""
    import signal

    def stop(number: int, frame: Any) -> None:
        raise SystemExit(0)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def catalog_command(argv: Sequence[str]) -> int:
    args = build_catalog_parser().parse_args(argv)
    catalog = load_module_catalog(args.module, serving=False)
    text = json.dumps(catalog_to_json(catalog), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    temporary = args.output + ".tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, args.output)
    except OSError as error:
        raise ConfigError(
            f"cannot write catalog file {args.output}: {error.strerror or error};"
            " choose a writable path with -o"
        ) from None
    log.info(
        "wrote %d jobs and %d workflows to %s",
        len(catalog.jobs),
        len(catalog.workflows),
        args.output,
    )
    return 0


def init_history_command(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = build_init_history_parser().parse_args(argv)
    connector = parse_run_log_url(resolve_run_log_url(args.run_log_url, environ))
    connector.check_startup()
    if isinstance(connector, ServerConnector):
        # Building indexes on a large existing table may take minutes.
        connector.statement_timeout_s = None
    store = RunLogStore(connector)
    try:
        created = store.init_history()
    finally:
        store.close()
    if created:
        log.info("created %s in %s", ", ".join(created), connector.describe())
    else:
        log.info(
            "run_records and its indexes already exist in %s; nothing to do",
            connector.describe(),
        )
    return 0


def serve_command(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    install_stop_handlers()
    with contextlib.ExitStack() as cleanup:
        run_log_url, demo = _run_log_source(args, environ, cleanup)
        config = config_from_args(args, environ, run_log_url)
        store = open_run_log(config)
        catalog = merge_catalogs([load_catalog(config)] + ([demo] if demo else []))
        serve(config, store, catalog)
    return 0


def _run_log_source(
    args: argparse.Namespace, environ: Mapping[str, str], cleanup: contextlib.ExitStack
) -> tuple:
    if not args.demo:
        return resolve_run_log_url(args.run_log_url, environ), None
    if args.run_log_url:
        raise ConfigError(
            "--demo writes and serves its own RunLog; drop --run-log-url or --demo"
        )
    folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="flow-web-demo-"))
    path = os.path.join(folder, "run_log.db")
    now = parse_timestamp(args.now) if args.now else dt.datetime.now(dt.timezone.utc)
    catalog = write_demo_runlog(path, now or dt.datetime.now(dt.timezone.utc))
    log.info("demo RunLog written to %s (removed when flow-web stops)", path)
    return path, catalog


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of `python3 flow-web.pyz`; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments and arguments[0] == "catalog":
            configure_logging("info")
            return catalog_command(arguments[1:])
        if arguments and arguments[0] == "init-history":
            configure_logging("info")
            return init_history_command(arguments[1:], os.environ)
        return serve_command(arguments, os.environ)
    except ConfigError as error:
        print(f"flow-web: error: {error}", file=sys.stderr)
        return 2
    except FlowWebError as error:
        print(f"flow-web: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
