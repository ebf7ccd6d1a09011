#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns a bench/run.sh result directory (results.jsonl, machine.txt, micro.txt) into Markdown.

Ratios are paired: computed per run between measurements taken back to back, then the median of
those ratios is reported, so that load from other processes moves both sides of a ratio together.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def med(values):
    return statistics.median(values) if values else float("nan")


def main(out_dir):
    out = Path(out_dir)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    print("# pgrestify benchmark results\n")
    machine = out / "machine.txt"
    if machine.exists():
        print("```\n" + machine.read_text().strip() + "\n```\n")

    # ---- insert comparisons ----
    for section in sorted({r["section"] for r in rows if r["section"].startswith("insert-")},
                          key=lambda s: int(s.split("-")[1])):
        sec = [r for r in rows if r["section"] == section]
        n = sec[0]["rows"]
        print(f"## Insert {n:,} rows (median of {max(r['run'] for r in sec)} runs)\n")
        print("| client | batch | conc. | wall s | rows/s | client CPU s | CPU s per 100k rows | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        by = defaultdict(list)
        for r in sec:
            by[r["client"]].append(r)
        order = ["ceiling", "pgrestify-defaults", "pgrestify", "pgrestify-json-defaults", "postgrest-js", "psql-copy"]
        for c in order:
            if c not in by:
                continue
            rs = by[c]
            batch = rs[0]["batch_size"] or "-"
            conc = rs[0]["concurrency"]
            cpu = med([r["cpu_s"] for r in rs])
            print(f"| {c} | {batch} | {conc} | {med([r['wall_s'] for r in rs]):.3f} | "
                  f"{med([r['rows_per_s'] for r in rs]):,.0f} | {cpu:.3f} | {cpu * 100000 / n:.3f} | "
                  f"{med([r['maxrss_kb'] for r in rs]) / 1024:.1f} |")
        runs = defaultdict(dict)
        for r in sec:
            runs[r["run"]][r["client"]] = r

        def paired(a, b, key="wall_s"):
            return med([x[a][key] / x[b][key] for x in runs.values() if a in x and b in x])

        print()
        print(f"- pgrestify defaults / ceiling, wall time: **{paired('pgrestify-defaults', 'ceiling'):.3f}x**")
        print(f"- pgrestify (batch {by['pgrestify'][0]['batch_size']}, conc. {by['pgrestify'][0]['concurrency']})"
              f" / ceiling, wall time: **{paired('pgrestify', 'ceiling'):.3f}x**")
        print(f"- pgrestify / postgrest-js, throughput at equal batch size and concurrency: "
              f"**{paired('postgrest-js', 'pgrestify'):.2f}x**")
        print(f"- pgrestify / postgrest-js, client CPU: **{paired('pgrestify', 'postgrest-js', 'cpu_s'):.3f}x**")
        if "pgrestify-json-defaults" in by:
            print(f"- pgrestify defaults, nlohmann::json rows / PGRESTIFY_ROW structs, client CPU: "
                  f"{paired('pgrestify-json-defaults', 'pgrestify-defaults', 'cpu_s'):.2f}x; wall time: "
                  f"{paired('pgrestify-json-defaults', 'pgrestify-defaults'):.3f}x")
        print(f"- psql \\copy / ceiling, wall time: {paired('psql-copy', 'ceiling'):.3f}x")
        print()

    # ---- update / delete ----
    ops = [r for r in rows if r["section"] == "ops"]
    if ops:
        print(f"## bulkUpdate / bulkDelete (pgrestify defaults, median of {max(r['run'] for r in ops)} runs)\n")
        print("| operation | rows | requests | wall s | rows/s | client CPU s |")
        print("|---|---:|---:|---:|---:|---:|")
        for op in ["update-grouped", "update-distinct", "delete"]:
            rs = [r for r in ops if r["op"] == op]
            if rs:
                print(f"| {op} | {rs[0]['rows']:,} | {rs[0]['requests']} | {med([r['wall_s'] for r in rs]):.3f} | "
                      f"{med([r['rows_per_s'] for r in rs]):,.0f} | {med([r['cpu_s'] for r in rs]):.3f} |")
        print()

    # ---- all-different bulkUpdate through pgrestify_bulk_update (issue #16) ----
    fn = [r for r in rows if r["section"] == "function"]
    if fn:
        print(f"## All-different bulkUpdate: function vs per-row PATCH vs insert (median of {max(r['run'] for r in fn)} runs)\n")
        print("| operation | rows | requests | wall s | rows/s | client CPU s |")
        print("|---|---:|---:|---:|---:|---:|")
        for op in ["insert", "update-function", "update-distinct", "update-function-sql", "update-plain-sql"]:
            rs = [r for r in fn if r["op"] == op]
            if rs:
                requests = rs[0].get("requests", "- (psql, 1 connection)")
                print(f"| {op} | {rs[0]['rows']:,} | {requests} | {med([r['wall_s'] for r in rs]):.3f} | "
                      f"{med([r['rows_per_s'] for r in rs]):,.0f} | {med([r['cpu_s'] for r in rs]):.3f} |")
        by_run = defaultdict(dict)
        for r in fn:
            by_run[r["run"]][r["op"]] = r
        speedups = [v["update-function"]["rows_per_s"] / v["update-distinct"]["rows_per_s"]
                    for v in by_run.values() if "update-function" in v and "update-distinct" in v]
        vs_insert = [v["update-function"]["rows_per_s"] / v["insert"]["rows_per_s"]
                     for v in by_run.values() if "update-function" in v and "insert" in v]
        if speedups:
            print(f"\n- function / per-row PATCH, rows/s (paired): **{med(speedups):.1f}x**")
        if vs_insert:
            print(f"- function / insert, rows/s (paired): {med(vs_insert):.2f}x")
        print()

    # ---- contention: two writers of the same rows at once (issue #20) ----
    cont = [r for r in rows if r["section"] == "contention"]
    if cont:
        n = cont[0]["rows"]
        runs = defaultdict(dict)
        for r in cont:
            runs[r["run"]][r["client"]] = r
        print(f"## Two writers of the same {n:,} rows at once (bulkUpsert, defaults; median of {len(runs)} runs)\n")
        print("| case | wall s | failed rows | total / one writer (paired) | slowest bulk call / one writer (paired) |")
        print("|---|---:|---:|---:|---:|")
        for c in ["one-writer", "two-writers-opposite", "two-writers-shuffled"]:
            rs = [v[c] for v in runs.values() if c in v]
            if not rs:
                continue
            ratio = med([v[c]["wall_s"] / v["one-writer"]["wall_s"] for v in runs.values() if c in v and "one-writer" in v])
            calls = [max(v[c + "-A"]["wall_s"], v[c + "-B"]["wall_s"]) / v["one-writer"]["wall_s"]
                     for v in runs.values() if c + "-A" in v and c + "-B" in v and "one-writer" in v]
            slowest = f"{med(calls):.2f}x" if calls else "-"
            print(f"| {c} | {med([r['wall_s'] for r in rs]):.3f} | {max(r.get('failed', 0) for r in rs)} | "
                  f"{ratio:.2f}x | {slowest} |")
        print()

    # ---- BulkWriter: producers adding single rows vs bulkInsert of the same rows (paired) ----
    wr = [r for r in rows if r["section"] == "writer"]
    if wr:
        runs = defaultdict(dict)
        for r in wr:
            runs[r["run"]][r["client"]] = r
        for v in runs.values():  # bulkInsert with the writer's settings (1000 rows, 4 in flight)
            if "pgrestify" in v:
                v["pgrestify-defaults"] = v["pgrestify"]
        pairs = [v for v in runs.values() if "pgrestify-writer" in v and "pgrestify-defaults" in v]
        if pairs:
            w = [v["pgrestify-writer"] for v in pairs]
            b = [v["pgrestify-defaults"] for v in pairs]
            print(f"## BulkWriter: {w[0]['producers']} producers adding {w[0]['rows']:,} single rows "
                  f"vs bulkInsert of the same rows (median of {len(pairs)} paired runs)\n")
            print("| client | rows/s | client CPU s | add() p50 us | add() p99 us |")
            print("|---|---:|---:|---:|---:|")
            print(f"| bulkInsert (1000 rows, 4 in flight) | {med([r['rows_per_s'] for r in b]):,.0f} | "
                  f"{med([r['cpu_s'] for r in b]):.2f} | - | - |")
            print(f"| BulkWriter (1000 rows, 4 in flight, linger 20 ms) | {med([r['rows_per_s'] for r in w]):,.0f} | "
                  f"{med([r['cpu_s'] for r in w]):.2f} | {med([r['add_p50_us'] for r in w]):.1f} | "
                  f"{med([r['add_p99_us'] for r in w]):.1f} |")
            ratio = med([v["pgrestify-writer"]["rows_per_s"] / v["pgrestify-defaults"]["rows_per_s"] for v in pairs])
            print(f"\n- writer / bulkInsert, rows/s (paired): **{ratio:.2f}x**")
    for r in (r for r in rows if r["section"] == "writer-latency"):
        print(f"- {r['rows']} single rows at {r['rate_per_s']:.0f}/s into an idle writer (linger {r['linger_ms']} ms): "
              f"add() to outcome p50 **{r['latency_p50_ms']:.1f} ms**, p99 {r['latency_p99_ms']:.1f} ms\n")

    # ---- adaptive concurrency (issue #19): defaults vs fixed settings, per profile ----
    order = ["rtt0", "rtt5", "rtt20", "rtt50", "trigger", "wide", "two", "overload"]
    labels = {"rtt0": "loopback", "rtt5": "+5 ms round trip", "rtt20": "+20 ms round trip",
              "rtt50": "+50 ms round trip", "trigger": "heavy trigger", "wide": "~4 KB rows",
              "two": "two clients at once", "overload": "overload (statement timeouts)"}
    profiles = sorted({r["section"][len("adaptive-"):] for r in rows if r["section"].startswith("adaptive-")},
                      key=lambda p: (order.index(p) if p in order else len(order), p))
    if profiles:
        print("## Adaptive concurrency: bulkInsert, defaults vs fixed settings (median of paired runs)\n")
        print("| profile | rows | defaults rows/s | concurrency reached (max / mean) | best fixed | "
              "best fixed rows/s | defaults / best fixed (paired) | fixed 1000 x 4 / best fixed | "
              "extra requests (retries + splits), defaults / best fixed | failed rows, defaults / best fixed |")
        print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
        for p in profiles:
            runs = defaultdict(dict)
            for r in rows:
                if r["section"] == "adaptive-" + p:
                    runs[r["run"]]["defaults" if r["adaptive"] else r["concurrency"]] = r
            fixed = sorted({k for v in runs.values() for k in v if k != "defaults"})
            best = max(fixed, key=lambda k: med([v[k]["rows_per_s"] for v in runs.values() if k in v]))
            d = [v["defaults"] for v in runs.values() if "defaults" in v]
            b = [v[best] for v in runs.values() if best in v]
            ratio = med([v["defaults"]["rows_per_s"] / v[best]["rows_per_s"] for v in runs.values()
                         if "defaults" in v and best in v])
            four = med([v[4]["rows_per_s"] / v[best]["rows_per_s"] for v in runs.values() if 4 in v and best in v]) \
                if 4 in fixed else float("nan")
            print(f"| {labels.get(p, p)} | {d[0]['rows']:,} | {med([r['rows_per_s'] for r in d]):,.0f} | "
                  f"{med([r['concurrency_max'] for r in d]):.0f} / {med([r['concurrency_mean'] for r in d]):.1f} | "
                  f"1000 x {best} | {med([r['rows_per_s'] for r in b]):,.0f} | "
                  f"**{ratio:.2f}x** | {four:.2f}x | "
                  f"{sum(r.get('extra_requests', r.get('retries', 0)) for r in d)} / "
                  f"{sum(r.get('extra_requests', r.get('retries', 0)) for r in b)} | "
                  f"{sum(r['failed'] for r in d)} / {sum(r['failed'] for r in b)} |")
        print("\n(extra requests: sent beyond one per batch, retries and the splits of batches that failed "
              "(a statement timeout is split, not retried); with failed rows summed over the runs; \"two clients\": both clients' rows "
              "over the wall time of both, the setting given to each)\n")

    # ---- issue #18: through HAProxy to one and three replicas, next to the direct connection ----
    lb = [r for r in rows if r["section"] == "lb"]
    if lb:
        runs = defaultdict(dict)
        for r in lb:
            runs[r["run"]][r["client"]] = r
        n = lb[0]["rows"]
        print(f"## Through a load balancer: bulkInsert of {n:,} rows (median of {len(runs)} paired runs)\n")
        print("| path | conc. | wall s | rows/s | / direct (paired) | PostgreSQL CPU s | PostgREST CPU s | "
              "HAProxy CPU s | client CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c, label in [("direct", "direct to one PostgREST"), ("haproxy-1-replica", "HAProxy, 1 replica"),
                         ("haproxy-3-replicas", "HAProxy, 3 replicas"),
                         ("haproxy-3-replicas-conc", "HAProxy, 3 replicas")]:
            rs = [v[c] for v in runs.values() if c in v]
            if not rs:
                continue
            ratio = med([v[c]["rows_per_s"] / v["direct"]["rows_per_s"] for v in runs.values()
                         if c in v and "direct" in v])
            print(f"| {label} | {rs[0]['concurrency']} | {med([r['wall_s'] for r in rs]):.3f} | "
                  f"{med([r['rows_per_s'] for r in rs]):,.0f} | {ratio:.2f}x | "
                  f"{med([r['pg_cpu_s'] for r in rs]):.2f} | {med([r['pgrst_cpu_s'] for r in rs]):.2f} | "
                  f"{med([r['haproxy_cpu_s'] for r in rs]):.2f} | {med([r['cpu_s'] for r in rs]):.2f} |")
        print()

    # ---- streaming ----
    for r in (r for r in rows if r["section"] == "stream"):
        print(f"## Streaming insert\n\n{r['rows']:,} rows from a single-pass generator, returning=false, defaults: "
              f"peak RSS **{r['maxrss_kb'] / 1024:.1f} MiB**, {r['wall_s']:.2f} s, {r['rows_per_s']:,.0f} rows/s, "
              f"client CPU {r['cpu_s']:.2f} s.\n")

    # ---- wide rows: maxBatchBytes ----
    wide = [r for r in rows if r["section"] == "wide"]
    if wide:
        caps = sorted({r["max_batch_bytes"] for r in wide})
        print(f"## Wide rows: maxBatchBytes (median of {max(r['run'] for r in wide)} runs)\n")
        print(f"{wide[0]['rows']:,} rows with {wide[0]['name_bytes']:,}-byte names, batch "
              f"{wide[0]['batch_size']}, concurrency {wide[0]['concurrency']}.\n")
        print("| maxBatchBytes | requests | wall s | rows/s | client CPU s | peak RSS MiB |")
        print("|---:|---:|---:|---:|---:|---:|")
        for cap in caps:
            rs = [r for r in wide if r["max_batch_bytes"] == cap]
            print(f"| {cap:,} | {rs[0]['requests']} | {med([r['wall_s'] for r in rs]):.3f} | "
                  f"{med([r['rows_per_s'] for r in rs]):,.0f} | {med([r['cpu_s'] for r in rs]):.3f} | "
                  f"{med([r['maxrss_kb'] for r in rs]) / 1024:.1f} |")
        if len(caps) == 2:
            by_run = defaultdict(dict)
            for r in wide:
                by_run[r["run"]][r["max_batch_bytes"]] = r
            ratio = med([v[caps[0]]["wall_s"] / v[caps[1]]["wall_s"] for v in by_run.values() if len(v) == 2])
            print(f"\n- {caps[0]:,} / {caps[1]:,} bytes, wall time (paired): **{ratio:.3f}x**")
        print()

    # ---- sweep ----
    sweep = [r for r in rows if r["section"] == "sweep"]
    if sweep:
        batches = sorted({r["batch_size"] for r in sweep})
        concs = sorted({r["concurrency"] for r in sweep})
        nruns = max(r["run"] for r in sweep)
        pairs = defaultdict(dict)
        for r in sweep:
            pairs[(r["batch_size"], r["concurrency"], r["run"])][r["client"]] = r

        def cell(b, k, what):
            ps = [v for (bb, kk, _), v in pairs.items() if bb == b and kk == k and "ceiling" in v and "pgrestify" in v]
            if what == "ratio":
                return med([p["pgrestify"]["wall_s"] / p["ceiling"]["wall_s"] for p in ps])
            return med([p[what]["rows_per_s"] for p in ps])

        n = sweep[0]["rows"]
        for title, what, fmt in [
            ("pgrestify rows/s", "pgrestify", "{:,.0f}"),
            ("ceiling rows/s", "ceiling", "{:,.0f}"),
            ("pgrestify / ceiling wall time (paired)", "ratio", "{:.2f}x"),
        ]:
            print(f"## Sweep, {n:,} rows: {title} (median of {nruns} runs)\n")
            print("| batchSize \\ concurrency | " + " | ".join(str(k) for k in concs) + " |")
            print("|---:|" + "---:|" * len(concs))
            for b in batches:
                print(f"| {b} | " + " | ".join(fmt.format(cell(b, k, what)) for k in concs) + " |")
            print()

    micro = out / "micro.txt"
    if micro.exists():
        print("## Micro-benchmarks (one core, no network)\n\n```\n" + micro.read_text().strip() + "\n```")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
