"""psycopg2 (libpq, simple query protocol with client-side parameters) against Sluice.

Usage: /usr/bin/python3 psycopg2_check.py HOST PORT

Prints one JSON line per check, {"check": name, ...}; a failing check prints its error and SQLSTATE and
the others still run. test/clients.test.ts asserts on the lines.
"""
import datetime
import json
import select
import sys
import time

import psycopg2
import psycopg2.extensions


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}, default=str), flush=True)


def run(check, fn):
    try:
        emit(check, **fn())
    except Exception as e:  # one failing check must not hide the others
        emit(check, error=str(e).strip(), sqlstate=getattr(e, "pgcode", None), exception=type(e).__name__)


def connect(host, port):
    return psycopg2.connect(host=host, port=port, user="analyst", dbname="sluice", connect_timeout=10, application_name="psycopg2-check")


def params(conn):
    ts = datetime.datetime(2026, 11, 23, 10, 0, 1, 250000, tzinfo=datetime.timezone.utc)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT %s::int AS i, %s::bigint AS b, %s::text AS t, %s::float8 AS d, %s::boolean AS z, %s::timestamptz AS ts",
            (7, 10_000_000_001, "it's é", 2.5, True, ts),
        )
        row = cur.fetchone()
        cur.execute("SELECT player_id, games, best FROM client_players WHERE player_id = %s", (2,))
        view = cur.fetchall()
    conn.commit()
    return {"row": [row[0], row[1], row[2], row[3], row[4], row[5].isoformat()], "ts_ok": row[5] == ts, "view": [list(r) for r in view]}


def named_cursor(conn):
    # A named cursor is a server-side cursor: DECLARE ... CURSOR WITHOUT HOLD FOR, then FETCH FORWARD itersize.
    with conn.cursor(name="client_players_cur") as cur:
        cur.itersize = 2
        cur.execute("SELECT player_id, games FROM client_players ORDER BY player_id")
        ids = [r[0] for r in cur]
    conn.commit()
    return {"ids": ids}


def listen(host, port):
    listener = connect(host, port)
    sender = connect(host, port)
    try:
        listener.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        sender.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        listener.cursor().execute("LISTEN client_channel")
        sender.cursor().execute("NOTIFY client_channel, 'hello from psycopg2'")
        got = []
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            select.select([listener], [], [], 0.5)
            listener.poll()
            while listener.notifies:
                n = listener.notifies.pop(0)
                got.append({"channel": n.channel, "payload": n.payload, "pid": n.pid})
        return {"notifications": got, "sender_pid": sender.get_backend_pid()}
    finally:
        listener.close()
        sender.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    conn = connect(host, port)
    emit("connect", server_version=conn.server_version, driver=psycopg2.__version__)
    run("params", lambda: params(conn))
    if conn.status != psycopg2.extensions.STATUS_READY:
        conn.rollback()
    run("named_cursor", lambda: named_cursor(conn))
    try:
        conn.rollback()
    except Exception:
        pass
    run("listen", lambda: listen(host, port))
    conn.close()
    emit("done")


if __name__ == "__main__":
    main()
