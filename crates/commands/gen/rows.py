#!/usr/bin/env python3
"""Prints command-table rows (crates/commands/src/table.rs syntax) for the named commands, read
from a running Redis 7.0 server's COMMAND INFO and COMMAND DOCS.

    python3 crates/commands/gen/rows.py 6379 lpush rpush xinfo ...

Subcommands of a container are included whole. Rows are pasted into table.rs (any order: the
table is keyed by name)."""
import socket
import sys


def resp(sock_file):
    line = sock_file.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = sock_file.read(n + 2)[:-2]
        return data.decode()
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [resp(sock_file) for _ in range(n)]
    raise RuntimeError(f"unexpected reply {line!r}")


def call(sock, f, *args):
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a.encode()
        out += f"${len(a)}\r\n".encode() + a + b"\r\n"
    sock.sendall(out)
    return resp(f)


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strs(v):
    return "&[" + ", ".join(rust_str(x) for x in v) + "]"


def row(info, docs, indent):
    name, arity, flags, first, last, step, acl, tips = info[:8]
    subs = info[9] if len(info) > 9 else []
    d = dict(zip(docs[::2], docs[1::2])) if docs else {}
    p = " " * indent
    out = [f"{p}CommandSpec {{"]
    out.append(f"{p}    name: {rust_str(name)},")
    out.append(f"{p}    arity: {arity},")
    out.append(f"{p}    flags: {strs(flags)},")
    out.append(f"{p}    first_key: {first},")
    out.append(f"{p}    last_key: {last},")
    out.append(f"{p}    step: {step},")
    out.append(f"{p}    acl_categories: {strs(acl)},")
    out.append(f"{p}    tips: {strs(tips)},")
    out.append(f"{p}    summary: {rust_str(d.get('summary', ''))},")
    out.append(f"{p}    since: {rust_str(d.get('since', ''))},")
    out.append(f"{p}    group: {rust_str(d.get('group', ''))},")
    out.append(f"{p}    complexity: {rust_str(d.get('complexity', '') or '')},")
    if subs:
        sub_docs = d.get("subcommands") or []
        sd = dict(zip(sub_docs[::2], sub_docs[1::2]))
        out.append(f"{p}    subcommands: &[")
        for s in sorted(subs, key=lambda s: s[0]):
            out.extend(row(s, sd.get(s[0]), indent + 8))
        out.append(f"{p}    ],")
    else:
        out.append(f"{p}    subcommands: &[],")
    out.append(f"{p}}},")
    return out


def main():
    port = int(sys.argv[1])
    sock = socket.create_connection(("127.0.0.1", port))
    f = sock.makefile("rb")
    for name in sys.argv[2:]:
        info = call(sock, f, "COMMAND", "INFO", name)[0]
        if info is None:
            raise SystemExit(f"no such command: {name}")
        docs = call(sock, f, "COMMAND", "DOCS", name)
        print("\n".join(row(info, docs[1] if docs else None, 4)))


if __name__ == "__main__":
    main()
