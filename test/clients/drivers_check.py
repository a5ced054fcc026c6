"""Type conformance of psycopg 3 and psycopg2, run the same way against Sluice and against PostgreSQL.

Usage: /usr/bin/python3 drivers_check.py HOST PORT USER DBNAME

Expects a relation drv_nums (id int, b bigint, i int, s smallint, n numeric, f double precision) holding
nothing yet, and drv_items (id bigint, name text, tags text[], ids bigint[], ts timestamptz) with the rows
test/drivers.test.ts writes: a stream in Sluice, a table in PostgreSQL. Prints one JSON line per check; the
test compares Sluice's lines with PostgreSQL's.
"""
import datetime
import decimal
import io
import json
import sys

import psycopg
import psycopg2

EVERY_TYPE = """SELECT 7::int2 AS i2, (-70000)::int4 AS i4, 1099511627776::int8 AS i8, 1.5::float4 AS f4, 0.1::float8 AS f8,
  12.5::numeric AS n, true AS b, 'hé'::text AS t, '2026-03-29 01:00:00.25+00'::timestamptz AS tz,
  '2026-01-02'::date AS d, '1 day 02:00:03'::interval AS iv, '\\x00ff'::bytea AS by,
  '{a,NULL,"b c",""}'::text[] AS at, '{1,NULL,1099511627776}'::int8[] AS ai8, '{1,2}'::int4[] AS ai4, '{7}'::int2[] AS ai2,
  '{0.5,NULL}'::float8[] AS af8, '{1.5}'::float4[] AS af4, '{12.5,0}'::numeric[] AS an, '{t,f,NULL}'::bool[] AS ab,
  '{2026-01-02 03:04:05+00}'::timestamptz[] AS atz, '{2026-01-02}'::date[] AS ad, '{1 day}'::interval[] AS aiv,
  '{}'::int8[] AS empty_i8, '{}'::text[] AS empty_t, NULL::text[] AS null_arr"""


def plain(v):
    """A JSON-able, comparable form of what the driver returned."""
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, (datetime.date, datetime.timedelta)):
        return {type(v).__name__: str(v)}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, float):
        return {"float": repr(v)}
    return v


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}, default=str), flush=True)


def run(check, conn, fn):
    try:
        emit(check, **fn())
    except Exception as e:  # one failing check must not hide the others
        emit(check, error=str(e).strip().split("\n")[0], sqlstate=getattr(e, "sqlstate", None) or getattr(e, "pgcode", None), exception=type(e).__name__)
        if conn is not None and not conn.closed:
            conn.rollback()


def error_of(fn):
    try:
        fn()
        return None
    except (psycopg.Error, psycopg2.Error) as e:
        return {"sqlstate": getattr(e, "sqlstate", None) or getattr(e, "pgcode", None), "message": str(e).strip().split("\n")[0]}


# ---- psycopg 3 ----

def p3_every_type(conn, binary):
    cur = conn.cursor(binary=binary)
    cur.execute(EVERY_TYPE)
    row = cur.fetchone()
    conn.commit()
    return {"columns": [d.name for d in cur.description], "types": [d.type_code for d in cur.description], "row": plain(list(row))}


def p3_prepared_every_type(conn):
    # prepare=True: a named server-side statement, executed again and again with binary results.
    got = []
    for _ in range(6):
        got.append(plain(list(conn.cursor(binary=True).execute(EVERY_TYPE, prepare=True).fetchone())))
    conn.commit()
    return {"same": all(g == got[0] for g in got), "row": got[-1]}


def p3_binary_int_params(conn):
    # Python ints are sent in binary as int2, int4, int8 or numeric, by their size, whatever the column is.
    values = [(1, 1, 1, 1, 1, 1), (2, 300, 70000, -5, 2**40, 7), (3, 2**40, -(2**31), 32767, 10**20, 2**31), (4, -(2**53) + 1, 5, -32768, 3, -1)]
    cur = conn.cursor(binary=True)
    for v in values:
        cur.execute("INSERT INTO drv_nums (id, b, i, s, n, f) VALUES (%s, %s, %s, %s, %s, %s)", v)
    conn.commit()
    rows = cur.execute("SELECT id, b, i, s, n, f FROM drv_nums ORDER BY id").fetchall()
    conn.commit()
    echoed = conn.cursor(binary=True).execute("SELECT %s::bigint AS a, %s::int AS b, %s::numeric AS c, %s::float8 AS d, %s + 1 AS e", (5, 70000, 2**40, 3, 2**40)).fetchone()
    conn.commit()
    return {"rows": plain([list(r) for r in rows]), "echoed": plain(list(echoed))}


def p3_int_range_errors(conn):
    out = {}
    for name, sql, value in [
        ("smallint", "INSERT INTO drv_nums (id, s) VALUES (9, %s)", 70000),
        ("integer", "INSERT INTO drv_nums (id, i) VALUES (9, %s)", 2**40),
        ("bigint", "INSERT INTO drv_nums (id, b) VALUES (9, %s)", 2**63),
    ]:
        out[name] = error_of(lambda: conn.cursor(binary=True).execute(sql, (value,)))
        conn.rollback()
    return out


def p3_any(conn):
    out = {}
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        key = "binary" if binary else "text"
        out[key] = {
            "ids": [r[0] for r in cur.execute("SELECT id FROM drv_items WHERE id = ANY(%s) ORDER BY id", ([1, 3, 99],)).fetchall()],
            "names": [r[0] for r in cur.execute("SELECT name FROM drv_items WHERE name = ANY(%s) ORDER BY name", (["a", "c"],)).fetchall()],
            "not_all": [r[0] for r in cur.execute("SELECT id FROM drv_items WHERE id <> ALL(%s) ORDER BY id", ([1, 2],)).fetchall()],
            "empty": [r[0] for r in cur.execute("SELECT id FROM drv_items WHERE id = ANY(%s) ORDER BY id", ([],)).fetchall()],
            "echo": plain(cur.execute("SELECT %s::bigint[] AS a, %s::text[] AS b", ([1, None, 2**40], ["x", None, "y z"])).fetchone()),
        }
        conn.commit()
    return out


def p3_copy_rows(conn):
    out = {}
    cur = conn.cursor()
    with cur.copy("COPY (SELECT id, name, tags, ts FROM drv_items ORDER BY id) TO STDOUT") as copy:
        out["text"] = plain([list(r) for r in copy.rows()])
    with cur.copy("COPY (SELECT id, name, tags, ts FROM drv_items ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        out["csv"] = [bytes(b).decode() for b in copy]
    with cur.copy("COPY (SELECT id, name, ids, ts FROM drv_items ORDER BY id) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "text", "int8[]", "timestamptz"])
        out["binary"] = plain([list(r) for r in copy.rows()])
    with cur.copy("COPY (SELECT id, name FROM drv_items ORDER BY id) TO STDOUT") as copy:
        # read_row until None: leaving the block early leaves the COPY unfinished (psycopg 3.1 does not drain it).
        out["read_row"] = []
        while (row := copy.read_row()) is not None:
            out["read_row"].append(list(row))
    conn.commit()
    return out


def p3_savepoints(conn):
    # Nested transaction blocks are savepoints; a failure inside one leaves the outer one usable.
    with conn.transaction():
        first = conn.execute("SELECT 1").fetchone()[0]
        try:
            with conn.transaction():
                conn.execute("SELECT 1/0")
        except psycopg.errors.DivisionByZero:
            pass
        after = conn.execute("SELECT 2").fetchone()[0]
    return {"first": first, "after": after, "status": conn.info.transaction_status.name}


def p3_timezone(conn):
    out = {"initial": conn.info.parameter_status("TimeZone")}
    conn.execute("SET TimeZone = 'Asia/Kolkata'")
    out["reported"] = conn.info.parameter_status("TimeZone")
    v = conn.execute("SELECT '2026-06-01 00:00:00+00'::timestamptz AS t, '2026-06-01 00:00:00+00'::timestamptz::text AS s").fetchone()[0]
    out["utcoffset"] = str(v.utcoffset())
    out["value"] = v.isoformat()
    conn.execute("RESET TimeZone")
    conn.commit()
    return out


# ---- psycopg2 ----

def p2_checks(host, port, user, dbname):
    conn = psycopg2.connect(host=host, port=port, user=user, dbname=dbname, connect_timeout=10)
    try:
        cur = conn.cursor()
        cur.execute(EVERY_TYPE)
        every = plain(list(cur.fetchone()))
        cur.execute("SELECT id FROM drv_items WHERE id = ANY(%s) ORDER BY id", ([1, 3],))
        any_ids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT tags, ids FROM drv_items ORDER BY id")
        arrays = plain([list(r) for r in cur.fetchall()])
        buf = io.StringIO()
        cur.copy_expert("COPY (SELECT id, name, tags FROM drv_items ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", buf)
        cur.execute("SAVEPOINT sp")
        err = error_of(lambda: cur.execute("SELECT 1/0"))
        cur.execute("ROLLBACK TO SAVEPOINT sp")
        cur.execute("SELECT 5")
        after = cur.fetchone()[0]
        cur.execute("RELEASE SAVEPOINT sp")
        conn.commit()
        return {"every": every, "any": any_ids, "arrays": arrays, "csv": buf.getvalue(), "savepoint_error": err, "after_rollback_to": after}
    finally:
        conn.close()


def main():
    host, port, user, dbname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    conn = psycopg.connect(host=host, port=port, user=user, dbname=dbname, connect_timeout=10, application_name="drivers-check")
    emit("connect", driver=psycopg.__version__)
    run("p3_every_type_text", conn, lambda: p3_every_type(conn, False))
    run("p3_every_type_binary", conn, lambda: p3_every_type(conn, True))
    run("p3_prepared_every_type", conn, lambda: p3_prepared_every_type(conn))
    run("p3_binary_int_params", conn, lambda: p3_binary_int_params(conn))
    run("p3_int_range_errors", conn, lambda: p3_int_range_errors(conn))
    run("p3_any", conn, lambda: p3_any(conn))
    run("p3_copy_rows", conn, lambda: p3_copy_rows(conn))
    run("p3_savepoints", conn, lambda: p3_savepoints(conn))
    run("p3_timezone", conn, lambda: p3_timezone(conn))
    conn.close()
    run("p2", None, lambda: p2_checks(host, port, user, dbname))
    emit("done")


if __name__ == "__main__":
    main()
