"""pgcli against a server, through pgcli's own code: what it runs when it starts (the completion
refreshers: schemata, tables with their columns and foreign keys, views, types, databases, functions) and
its special commands (\\dt, \\dv, \\d NAME) as its prompt runs them.

Usage: /usr/bin/python3 pgcli_check.py HOST PORT USER DBNAME

Prints one JSON line per check, {"check": name, ...}; a failing check prints its error and SQLSTATE and
the others still run. test/bi-clients.test.ts asserts on the lines.
"""
import json
import sys

from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}, default=str), flush=True)


def run(check, fn):
    try:
        emit(check, value=fn())
    except Exception as e:  # one failing check must not hide the others
        emit(check, error=str(e).strip().split("\n")[0], sqlstate=getattr(getattr(e, "diag", None), "sqlstate", None), exception=type(e).__name__)


def main():
    host, port, user, dbname = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    executor = PGExecute(dbname, user, None, host, port, None, application_name="pgcli")
    special = PGSpecial()
    completer = PGCompleter(smart_completion=True, pgspecial=special, settings={})
    for name, refresh in CompletionRefresher.refreshers.items():
        run(f"refresh:{name}", lambda: refresh(completer, executor) or True)
    run("completions:tables", lambda: sorted(completer.dbmetadata["tables"].get("public", {}).keys()))
    run("completions:views", lambda: sorted(completer.dbmetadata["views"].get("public", {}).keys()))
    for command in ["\\dt", "\\dv", "\\dm", "\\d game_events", "\\d ends", "\\dn", "\\l"]:

        def special_command(command=command):
            out = []
            for title, rows, headers, status, *_ in executor.run(command, pgspecial=special):
                out.append({"title": title, "headers": list(headers or []), "rows": [list(r) for r in (rows or [])], "status": status})
            return out

        run(f"special:{command}", special_command)
    emit("done")


if __name__ == "__main__":
    main()
