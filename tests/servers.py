"""Database servers for tests and benchmarks.

- fresh databases on the local PostgreSQL and MariaDB servers;
- a private PostgreSQL cluster with password auth and TLS, and a private
  MariaDB server with TLS;
- a loader that copies a SQLite RunLog into a server database, with the
  tables ematix-flow creates there and flow-web's run_records.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import flow_web

PG_HOST, PG_PORT = "127.0.0.1", 5432
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
MYSQL_ADMIN_URL = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/mysql"
SERVER_HINTS = {
    "postgresql": "start it with: pg_ctlcluster --skip-systemctl-redirect 15 main"
    " start",
    "mysql": "start it with: start-stop-daemon --start --oknodo --background"
    " --exec /usr/sbin/mariadbd",
}

# The tables ematix-flow 1.0.0 creates on each server (PostgresRunLog and
# MySQLRunLog); run_records comes from flow-web's init-history.
EMATIX_FLOW_TABLES = {
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS run_log (pipeline_name TEXT PRIMARY KEY,"
        " last_run_at TEXT NOT NULL, success BOOLEAN NOT NULL)",
        "CREATE TABLE IF NOT EXISTS attempt_state (pipeline_name TEXT PRIMARY KEY,"
        " attempt_count INTEGER NOT NULL, last_attempt_at TEXT NOT NULL,"
        " gave_up BOOLEAN NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pipeline_claims (pipeline_name TEXT PRIMARY KEY,"
        " claim_token TEXT NOT NULL, worker_id TEXT NOT NULL,"
        " claimed_at TEXT NOT NULL, expires_at TEXT NOT NULL)",
    ),
    "mysql": (
        "CREATE TABLE IF NOT EXISTS run_log (pipeline_name VARCHAR(255) NOT NULL,"
        " last_run_at VARCHAR(64) NOT NULL, success TINYINT(1) NOT NULL,"
        " PRIMARY KEY (pipeline_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS attempt_state"
        " (pipeline_name VARCHAR(255) NOT NULL, attempt_count INT NOT NULL,"
        " last_attempt_at VARCHAR(64) NOT NULL, gave_up TINYINT(1) NOT NULL,"
        " PRIMARY KEY (pipeline_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS pipeline_claims"
        " (pipeline_name VARCHAR(255) NOT NULL, claim_token VARCHAR(64) NOT NULL,"
        " worker_id VARCHAR(255) NOT NULL, claimed_at VARCHAR(64) NOT NULL,"
        " expires_at VARCHAR(64) NOT NULL, PRIMARY KEY (pipeline_name))"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    ),
}
TABLE_COLUMNS = {
    "run_log": ("pipeline_name", "last_run_at", "success"),
    "attempt_state": ("pipeline_name", "attempt_count", "last_attempt_at", "gave_up"),
    "pipeline_claims": (
        "pipeline_name",
        "claim_token",
        "worker_id",
        "claimed_at",
        "expires_at",
    ),
    "run_records": flow_web.RUN_COLUMNS,
}
# 0/1 integers in SQLite, BOOLEAN in PostgreSQL.
BOOLEAN_COLUMNS = ("success", "gave_up")


def unique_name(prefix: str = "fwtest") -> str:
    """A database name no other test run uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def connect(url: str):
    """A write connection (autocommit on) through flow-web's own connector."""
    return flow_web.parse_run_log_url(url).connect(write=True)


def execute(url_or_connection, sql: str, params: tuple = ()) -> list:
    """Run one statement and return its rows (empty for statements without)."""
    if isinstance(url_or_connection, str):
        with contextlib.closing(connect(url_or_connection)) as connection:
            return execute(connection, sql, params)
    cursor = url_or_connection.cursor()
    cursor.execute(sql, params)
    try:
        return list(cursor.fetchall())
    except Exception:  # statements without a result set
        return []


def check_server(kind: str) -> None:
    """Fail with a hint when a local database server is not running; these
    tests are never skipped."""
    url = PG_ADMIN_URL if kind == "postgresql" else MYSQL_ADMIN_URL
    connector = flow_web.parse_run_log_url(url)
    try:
        connector.connect().close()
    except Exception as error:
        problem = connector.translate_error(error, write=False) or error
        raise AssertionError(f"{problem}; {SERVER_HINTS[kind]}") from None


@contextlib.contextmanager
def pg_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its URL and drops it after."""
    name = unique_name()
    execute(admin_url, f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def mysql_database(admin_url: str = MYSQL_ADMIN_URL) -> Iterator[str]:
    """A new, empty MariaDB/MySQL database; yields its URL and drops it after."""
    name = unique_name()
    execute(
        admin_url,
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
    )
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        execute(admin_url, f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def server_database(kind: str) -> Iterator[str]:
    check_server(kind)
    with pg_database() if kind == "postgresql" else mysql_database() as url:
        yield url


# -- loading a SQLite RunLog -------------------------------------------------------


def load_sqlite_runlog(
    sqlite_path: Path,
    url: str,
    batch_rows: int = 10_000,
    progress: Optional[Callable[[str, int], None]] = None,
) -> dict:
    """Copy the RunLog tables of a SQLite file into the server database at
    `url`, in rowid order: ematix-flow's three tables with its own server
    layout, and run_records created as `init-history` creates it (indexes
    after the rows, which loads faster). Returns the row count per table."""
    connector = flow_web.parse_run_log_url(url)
    connector.statement_timeout_s = None
    dialect = connector.dialect
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    source.text_factory = lambda raw: raw.decode("utf-8", "replace")
    present = {
        row[0]
        for row in source.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    counts = {}
    with contextlib.closing(connector.connect(write=True)) as connection:
        for statement in EMATIX_FLOW_TABLES[dialect.name]:
            execute(connection, statement)
        if "run_records" in present:
            execute(connection, dialect.run_records_ddl)

        for table, columns in TABLE_COLUMNS.items():
            if table not in present:
                continue
            rows = source.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"
            )
            copy = _copy_postgres if dialect.name == "postgresql" else _copy_mysql
            counts[table] = copy(connection, table, columns, rows, batch_rows, progress)
    source.close()

    store = flow_web.RunLogStore(connector)
    if "run_records" in present:
        store.init_history()
    store.close()
    analyze(url)
    return counts


def _copy_postgres(connection, table, columns, rows, batch_rows, progress) -> int:
    booleans = [column in BOOLEAN_COLUMNS for column in columns]
    count = 0

    def chunks() -> Iterator[str]:
        nonlocal count
        while True:
            batch = rows.fetchmany(batch_rows)
            if not batch:
                return
            buffer = io.StringIO()
            for row in batch:
                fields = [
                    _copy_field(bool(value) if flag else value)
                    for value, flag in zip(row, booleans)
                ]
                buffer.write("\t".join(fields) + "\n")
            count += len(batch)
            if progress:
                progress(table, count)
            yield buffer.getvalue()

    cursor = connection.cursor()
    cursor.execute(f"COPY {table} ({', '.join(columns)}) FROM STDIN", stream=chunks())
    return count


def _copy_field(value) -> str:
    # PostgreSQL's COPY text format: \N is NULL, backslash escapes.
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = str(value)
    for plain, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(plain, escaped)
    return text


def _copy_mysql(connection, table, columns, rows, batch_rows, progress) -> int:
    # PyMySQL turns executemany of one INSERT ... VALUES into multi-row
    # INSERT statements of up to about 1 MB each.
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join('%s' for _ in columns)})"
    )
    count = 0
    cursor = connection.cursor()
    execute(connection, "START TRANSACTION")
    while True:
        batch = rows.fetchmany(batch_rows)
        if not batch:
            break
        cursor.executemany(statement, batch)
        count += len(batch)
        if progress:
            progress(table, count)
    execute(connection, "COMMIT")
    return count


def analyze(url: str) -> None:
    """Refresh the planner statistics (and, on PostgreSQL, the visibility
    map that index-only scans need) after a bulk load."""
    connector = flow_web.parse_run_log_url(url)
    connector.statement_timeout_s = None
    with contextlib.closing(connector.connect(write=True)) as connection:
        tables = [
            row[0] for row in execute(connection, connector.dialect.table_names_sql)
        ]
        for table in sorted(set(tables) & set(TABLE_COLUMNS)):
            if connector.dialect.name == "postgresql":
                execute(connection, f"VACUUM (ANALYZE) {table}")
            else:
                execute(connection, f"ANALYZE TABLE {table}")


def load_postgres_dump(dump: Path, url: str) -> None:
    """Restore a plain-text pg_dump file with psql."""
    address = flow_web.parse_run_log_url(url).address
    subprocess.run(
        [
            "psql",
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            address.host,
            "-p",
            str(address.port),
            "-U",
            address.user,
            "-d",
            address.database,
            "-f",
            str(dump),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PGPASSWORD": address.password or ""},
    )


# -- a private PostgreSQL cluster ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released)."""
    return free_port()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise AssertionError(
            f"{name} not found under /usr/lib/postgresql/*/bin; install the"
            " PostgreSQL server package"
        )
    return found[-1]


def make_certificates(folder: Path) -> None:
    """Write ca.crt, other-ca.crt (an unrelated CA) and server.crt/server.key
    for the IP address 127.0.0.1, signed by ca.crt, into `folder`."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    for name in ("ca", "other-ca"):
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN=flow-web test {name}",
            "-keyout", str(folder / f"{name}.key"),
            "-out", str(folder / f"{name}.crt"),
        )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(folder / "server.key"), "-out", str(folder / "server.csr"),
    )  # fmt: skip
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", str(folder / "server.csr"), "-days", "2",
        "-CA", str(folder / "ca.crt"), "-CAkey", str(folder / "ca.key"),
        "-CAcreateserial", "-extfile", str(extensions),
        "-out", str(folder / "server.crt"),
    )  # fmt: skip
    os.chmod(folder / "server.key", 0o600)
    for path in folder.iterdir():
        if path.suffix == ".crt":
            os.chmod(path, 0o644)


def _chown_tree(folder: Path, user: str) -> None:
    # The server refuses to run as root, so its files belong to its own user.
    if os.geteuid() != 0:
        return
    shutil.chown(folder, user, user)
    for path in folder.rglob("*"):
        shutil.chown(path, user, user)


class PrivateCluster:
    """A PostgreSQL cluster of its own on 127.0.0.1 that a test may stop and
    start without disturbing other users of the shared server. Connections
    over TCP need the password (scram-sha-256) and TLS is available with a
    certificate for 127.0.0.1 signed by `ca_file`."""

    password = "Pw-private-7c1e"

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="flow-web-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.ca_file = self.folder / "ca.crt"
        self.other_ca_file = self.folder / "other-ca.crt"

    def url(self, database: str = "postgres", password: bool = True, **options):
        secret = f":{self.password}" if password else ""
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, cwd=self.folder
        )

    def create(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        make_certificates(self.folder)
        _chown_tree(self.folder, "postgres")
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--pwfile",
            str(password_file),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        settings = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
            f"ssl = on\nssl_cert_file = '{self.folder}/server.crt'\n"
            f"ssl_key_file = '{self.folder}/server.key'\n"
        )
        with open(self.data / "postgresql.conf", "a") as handle:
            handle.write(settings)
        self.start()

    def start(self) -> None:
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l",
            str(self.folder / "server.log"), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


class PrivateMariaDB:
    """A MariaDB server of its own on 127.0.0.1 with TLS, whose certificate
    for 127.0.0.1 is signed by `ca_file`; `root` logs in without password."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="flow-web-mariadb-"))
        self.port = free_port()
        self.ca_file = self.folder / "ca.crt"
        self.other_ca_file = self.folder / "other-ca.crt"
        self.process: Optional[subprocess.Popen] = None
        self.log: Optional[io.TextIOBase] = None

    def url(self, database: str = "mysql", **options) -> str:
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"mysql://root@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def create(self) -> None:
        make_certificates(self.folder)
        _chown_tree(self.folder, "mysql")
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.folder / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ],
            check=True,
            capture_output=True,
        )
        folder = self.folder
        self.log = open(folder / "server.log", "w")
        # Started as root, mariadbd switches to the --user itself.
        self.process = subprocess.Popen(
            [
                "/usr/sbin/mariadbd",
                "--no-defaults",
                *user,
                f"--datadir={folder / 'data'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={folder / 'mariadb.sock'}",
                f"--pid-file={folder / 'mariadb.pid'}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                f"--ssl-ca={folder / 'ca.crt'}",
                f"--ssl-cert={folder / 'server.crt'}",
                f"--ssl-key={folder / 'server.key'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        if not wait_for(self._accepts_connections, timeout_s=60):
            raise AssertionError(
                "the private MariaDB server did not start:\n"
                + (folder / "server.log").read_text()
            )

    def _accepts_connections(self) -> bool:
        try:
            connect(self.url()).close()
        except Exception:
            return False
        return True

    def destroy(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_mariadb() -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB()
    try:
        server.create()
        yield server
    finally:
        server.destroy()


def wait_for(condition: Callable[[], object], timeout_s: float = 20.0) -> object:
    """Poll `condition` until it returns a true value or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
