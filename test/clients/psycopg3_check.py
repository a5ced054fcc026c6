"""psycopg 3 (extended protocol: server-side parameter binding, prepared statements) against Sluice.

Usage: /usr/bin/python3 psycopg3_check.py HOST PORT

Prints one JSON line per check, {"check": name, ...}; a failing check prints its error and SQLSTATE and
the others still run. test/clients.test.ts asserts on the lines.
"""
import datetime
import json
import sys
import time

import psycopg


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}, default=str), flush=True)


def run(check, conn, fn):
    try:
        emit(check, **fn())
    except Exception as e:  # one failing check must not hide the others
        emit(check, error=str(e).strip(), sqlstate=getattr(e, "sqlstate", None), exception=type(e).__name__)
        if conn is not None and not conn.closed:
            conn.rollback()


def connect(host, port, autocommit=False):
    return psycopg.connect(host=host, port=port, user="analyst", dbname="sluice", connect_timeout=10, application_name="psycopg3-check", autocommit=autocommit)


def params(conn):
    ts = datetime.datetime(2026, 11, 23, 10, 0, 1, 250000, tzinfo=datetime.timezone.utc)
    cur = conn.execute(
        "SELECT %s::int AS i, %s::bigint AS b, %s::text AS t, %s::float8 AS d, %s::boolean AS z, %s::timestamptz AS ts",
        (7, 10_000_000_001, "it's é", 2.5, True, ts),
    )
    row = cur.fetchone()
    view = conn.execute("SELECT player_id, games, best FROM client_players WHERE player_id = %s", (2,)).fetchall()
    conn.commit()
    return {"row": [row[0], row[1], row[2], row[3], row[4], row[5].isoformat()], "ts_ok": row[5] == ts, "view": [list(r) for r in view]}


def prepared(conn):
    # prepare=True makes psycopg Parse a named statement once and Bind/Execute it each time.
    got = []
    for pid in [1, 2, 3, 1, 2, 3]:
        got.append([list(r) for r in conn.execute("SELECT player_id, games FROM client_players WHERE player_id = %s", (pid,), prepare=True).fetchall()])
    conn.commit()
    return {"results": got}


def named_cursor(conn):
    # A named cursor is a server-side cursor: DECLARE ... CURSOR FOR, then FETCH FORWARD itersize.
    with conn.cursor(name="client_players_cur") as cur:
        cur.itersize = 2
        cur.execute("SELECT player_id, games FROM client_players ORDER BY player_id")
        ids = [r[0] for r in cur]
    conn.commit()
    return {"ids": ids}


def listen(host, port):
    listener = connect(host, port, autocommit=True)
    sender = connect(host, port, autocommit=True)
    try:
        got = []
        listener.add_notify_handler(lambda n: got.append({"channel": n.channel, "payload": n.payload, "pid": n.pid}))
        listener.execute("LISTEN client_channel")
        sender.execute("NOTIFY client_channel, 'hello from psycopg 3'")
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            # Any round trip reads what the server queued; the handler receives it.
            listener.execute("SELECT 1")
            time.sleep(0.05)
        return {"notifications": got, "sender_pid": sender.info.backend_pid}
    finally:
        listener.close()
        sender.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    conn = connect(host, port)
    emit("connect", server_version=conn.info.server_version, driver=psycopg.__version__)
    run("params", conn, lambda: params(conn))
    run("prepared", conn, lambda: prepared(conn))
    run("named_cursor", conn, lambda: named_cursor(conn))
    run("listen", None, lambda: listen(host, port))
    conn.close()
    emit("done")


if __name__ == "__main__":
    main()
