"""SQLAlchemy reflection (what Superset and other BI tools do on connect) and pandas against a server.

Usage: /usr/bin/python3 sqlalchemy_check.py URL TABLE [VIEW ...]

Runs the inspector (get_table_names, get_view_names, get_materialized_view_names, and per relation
get_columns, get_pk_constraint, get_foreign_keys, get_indexes, get_unique_constraints), MetaData.reflect
with views, and pandas.read_sql_table of each view. Prints one JSON line per check, {"check": name, ...};
a failing check prints its error and SQLSTATE and the others still run. test/bi-clients.test.ts runs it
against Sluice and against PostgreSQL and compares.
"""
import json
import sys

import pandas
from sqlalchemy import MetaData, create_engine, inspect


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}, default=str), flush=True)


def run(check, fn):
    try:
        emit(check, value=fn())
    except Exception as e:  # one failing check must not hide the others
        orig = getattr(e, "orig", e)
        emit(check, error=str(e).strip().split("\n")[0], sqlstate=getattr(orig, "pgcode", None), exception=type(e).__name__)


def main():
    url, table, views = sys.argv[1], sys.argv[2], sys.argv[3:]
    engine = create_engine(url)
    insp = inspect(engine)
    run("table_names", lambda: sorted(insp.get_table_names()))
    run("view_names", lambda: sorted(insp.get_view_names()))
    if hasattr(insp, "get_materialized_view_names"):
        run("materialized_view_names", lambda: sorted(insp.get_materialized_view_names()))
    for rel in [table, *views]:
        run(f"columns:{rel}", lambda: [[c["name"], str(c["type"]), c["nullable"], c.get("default")] for c in insp.get_columns(rel)])
        run(f"pk:{rel}", lambda: insp.get_pk_constraint(rel))
        run(f"fks:{rel}", lambda: insp.get_foreign_keys(rel))
        run(f"indexes:{rel}", lambda: [[i["name"], i["column_names"], i["unique"]] for i in insp.get_indexes(rel)])
        run(f"uniques:{rel}", lambda: insp.get_unique_constraints(rel))

    def reflect():
        meta = MetaData()
        meta.reflect(bind=engine, views=True)
        return sorted([t.name, [[c.name, str(c.type), c.nullable] for c in t.columns], [c.name for c in t.primary_key.columns]] for t in meta.tables.values())

    run("reflect", reflect)
    for view in views:
        run(f"read_sql_table:{view}", lambda: json.loads(pandas.read_sql_table(view, engine).to_json(orient="records", date_format="iso")))
    emit("done")


if __name__ == "__main__":
    main()
