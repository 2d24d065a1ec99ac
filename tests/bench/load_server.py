"""Copy a SQLite RunLog into a PostgreSQL or MySQL/MariaDB database, for
benchmarks of flow-web with --run-log-url on a server.

    python3 tests/bench/load_server.py RUNLOG.sqlite \
        postgresql://postgres@127.0.0.1/bench --create
    python3 tests/bench/load_server.py RUNLOG.sqlite \
        mysql://root@127.0.0.1/bench --create --replace

The four RunLog tables are copied in rowid order: run_log, attempt_state and
pipeline_claims with the layout ematix-flow creates on the server, and
run_records created with `init-history`'s statements (its indexes after the
rows). PostgreSQL gets the rows through COPY, MySQL through multi-row INSERTs;
both finish with ANALYZE. Needs pg8000 or PyMySQL (the test venv has both).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

import servers  # noqa: E402

import flow_web  # noqa: E402

# The maintenance database to connect to when creating the target database.
MAINTENANCE_DATABASE = {"postgresql": "postgres", "mysql": "mysql"}


def create_database(url: str) -> None:
    """Create the URL's database unless it exists, connecting with the same
    credentials to the server's maintenance database."""
    connector = flow_web.parse_run_log_url(url)
    address = connector.address
    kind = connector.dialect.name
    base, _, query = url.partition("?")
    admin_url = base.rsplit("/", 1)[0] + "/" + MAINTENANCE_DATABASE[kind]
    admin_url += f"?{query}" if query else ""
    if kind == "postgresql":
        exists = servers.execute(
            admin_url,
            "SELECT 1 FROM pg_database WHERE datname = %s",
            (address.database,),
        )
        if not exists:
            servers.execute(admin_url, f'CREATE DATABASE "{address.database}"')
    else:
        servers.execute(
            admin_url,
            f"CREATE DATABASE IF NOT EXISTS `{address.database}` CHARACTER SET utf8mb4",
        )


def drop_tables(url: str) -> None:
    with contextlib.closing(servers.connect(url)) as connection:
        for table in servers.TABLE_COLUMNS:
            servers.execute(connection, f"DROP TABLE IF EXISTS {table}")


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sqlite", type=Path, help="SQLite RunLog file to copy")
    parser.add_argument("url", help="postgresql://... or mysql://... target database")
    parser.add_argument(
        "--create", action="store_true", help="create the database if it is missing"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop the four RunLog tables in the target first",
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=10_000,
        help="rows per COPY chunk or INSERT batch (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.sqlite.is_file():
        parser.error(f"{args.sqlite} is not a file")
    started = time.monotonic()
    last_report = [started]

    def report(table: str, rows: int) -> None:
        now = time.monotonic()
        if now - last_report[0] >= 5:
            last_report[0] = now
            rate = rows / max(now - started, 1e-9)
            print(f"  {table}: {rows:,} rows ({rate:,.0f} rows/s)", flush=True)

    try:
        if args.create:
            create_database(args.url)
        if args.replace:
            drop_tables(args.url)
        counts = servers.load_sqlite_runlog(
            args.sqlite, args.url, batch_rows=args.batch_rows, progress=report
        )
    except flow_web.FlowWebError as error:
        print(f"load_server.py: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        connector = flow_web.parse_run_log_url(args.url)
        problem = connector.translate_error(error, write=True)
        if problem is None:
            raise
        print(f"load_server.py: error: {problem}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    where = flow_web.redact_url(args.url)
    summary = ", ".join(f"{table} {rows:,}" for table, rows in counts.items())
    print(f"loaded {summary} rows into {where} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
