#!/usr/bin/env python3
"""bench/soak's verdict: reads what one soak left in its work folder (wrk's
output with bench/soak.lua's SOAK_ lines, metatokend's /metatoken/v1/stats
and stderr, the RSS samples, meta.json from bench/soak), prints a few lines
and one JSON line (also appended to the build's soak-results.jsonl), and
exits 1 when the run failed: a sanitizer finding, an unexpected status, a
socket error, metatokend dying or exiting non-zero."""

import datetime
import json
import re
import sys


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def wrk_result(path):
    """wrk's figures and bench/soak.lua's kinds, from one wrk run's output."""
    figures, kinds = None, []
    for line in read_lines(path):
        if line.startswith("SOAK_WRK "):
            figures = json.loads(line[len("SOAK_WRK "):])
        elif line.startswith("SOAK_KIND "):
            name, method, key, expected, sent = line.split()[1:]
            kinds.append({"name": name, "method": method, "key": key,
                          "expected": [int(x) for x in expected.split(",")],
                          "sent": int(sent)})
    return figures, kinds


def mib(kib):
    return kib / 1024.0


def sanitizer_findings(log):
    """Counts of ASan errors, UBSan runtime errors and LSan leak records in
    metatokend's stderr, the bytes leaked, and the first report's lines."""
    asan = ubsan = lsan = leaked = 0
    first = None
    for i, line in enumerate(log):
        hit = False
        if re.search(r"ERROR: AddressSanitizer", line):
            asan += 1
            hit = True
        elif "runtime error:" in line:
            ubsan += 1
            hit = True
        elif re.search(r"ERROR: LeakSanitizer|LeakSanitizer has encountered a fatal error", line):
            hit = True
            if "fatal error" in line:  # LSan could not check: a finding too
                lsan += 1
        m = re.match(r"(Direct|Indirect) leak of (\d+) byte", line)
        if m:
            lsan += 1
            leaked += int(m.group(2))
        if hit and first is None:
            first = i
    report = []
    if first is not None:
        for line in log[first:first + 60]:
            report.append(line)
            if line.startswith("SUMMARY:"):
                break
    return asan, ubsan, lsan, leaked, report


def main():
    work = sys.argv[1]
    with open(f"{work}/meta.json") as f:
        meta = json.load(f)
    run, kinds = wrk_result(f"{work}/wrk.out")
    warm, _ = wrk_result(f"{work}/wrk-warmup.out")
    failures = []
    out = []

    build = "ASan+UBSan" if meta["build"] == "asan-ubsan" else "Release"
    out.append(f"soak: {meta['seconds']} s at {meta['connections']} connections after a "
               f"{meta['warmup_s']} s warm-up, metatokend {build} (commit {meta['commit']})")

    # wrk: requests and socket errors.
    socket = {}
    if run is None:
        failures.append("wrk gave no result")
        tail = read_lines(f"{work}/wrk.out")[-5:]
        out.append("wrk: no result; its output ends with: " + " | ".join(tail))
    else:
        secs = run["duration_us"] / 1e6
        rps = run["requests"] / secs if secs > 0 else 0
        out.append(f"requests: {run['requests']:,} in {secs:.1f} s = {rps:,.0f} req/s; "
                   f"latency p50 {run['p50_us'] / 1000:.2f} ms, p99 {run['p99_us'] / 1000:.2f} ms, "
                   f"max {run['max_us'] / 1000:.1f} ms")
        for k in ("connect", "read", "write", "timeout"):
            socket[k] = run[k] + (warm[k] if warm else 0)
        n = sum(socket.values())
        out.append("socket errors (warm-up included): " +
                   ", ".join(f"{k} {v}" for k, v in socket.items()))
        if n:
            failures.append(f"{n} socket errors")

    # Statuses: metatokend's own count per path and status, against the one
    # status bench/soak.lua expects on each path.
    expected = {k["key"]: k["expected"] for k in kinds}
    by_status, unexpected, total = {}, [], 0
    try:
        with open(f"{work}/stats.json") as f:
            stats = json.load(f)["requests"]
    except (OSError, ValueError, KeyError):
        stats = None
    if stats is None:
        failures.append("no statistics from metatokend")
        out.append("responses: no statistics from metatokend")
    elif not expected:
        failures.append("no request mix from wrk")
    else:
        total = stats["total"]
        for path, counts in sorted(stats["paths"].items()):
            for status, count in counts.items():
                by_status[status] = by_status.get(status, 0) + count
                if int(status) not in expected.get(path, []):
                    unexpected.append({"path": path, "status": int(status), "count": count,
                                       "expected": expected.get(path)})
        if stats["other"]:
            unexpected.append({"path": "(beyond the stats table)", "status": None,
                               "count": stats["other"], "expected": None})
        n_bad = sum(u["count"] for u in unexpected)
        line = (f"responses (metatokend's count, warm-up included): {total:,}: " +
                ", ".join(f"{s} {c:,}" for s, c in sorted(by_status.items())))
        if n_bad:
            failures.append(f"{n_bad} unexpected statuses")
            out.append(line + f"; {n_bad:,} UNEXPECTED:")
            for u in sorted(unexpected, key=lambda u: -u["count"])[:8]:
                out.append(f"  {u['path']}: {u['status']} x{u['count']:,} "
                           f"(expected {'/'.join(map(str, u['expected'])) if u['expected'] else 'no such path'})")
        else:
            out.append(line + f"; all as expected on each of {len(expected)} paths")

    # Memory: VmRSS once a second during the run, connections open. The
    # idle figures (just after the warm-up and after the run, wrk's
    # connections closed) hold 256 fewer connections' buffers: not compared.
    samples, died_at = [], None
    for line in read_lines(f"{work}/rss.tsv"):
        t, v = line.split()
        if v == "died":
            died_at = int(t) // 1000
        else:
            samples.append((int(t), int(v)))
    idle_warm, idle_end = meta["rss_idle_after_warmup_kib"], meta["rss_idle_end_kib"]
    # From 1 s in, once every connection is up. Start and end are the
    # medians of the run's first and last quarters: ASan's allocator hands
    # memory back to the kernel every 5 s, which moves RSS by up to 10 MiB
    # for a few seconds, and a single sample could land in such a dip.
    rss = [(t, v) for t, v in samples if t >= 1000] or samples or [(0, idle_warm)]
    first, last = rss[0][0], rss[-1][0]
    quarter = (last - first) / 4

    def median(vals):
        vals = sorted(vals)
        return vals[len(vals) // 2]

    start = median([v for t, v in rss if t <= first + quarter])
    end = median([v for t, v in rss if t >= last - quarter])
    peak = max(v for _, v in rss)
    growth = end - start
    pct = 100.0 * growth / start if start else 0.0
    line = (f"RSS under load (medians of the first and last quarter): start {mib(start):.1f} MiB, "
            f"peak {mib(peak):.1f} MiB, end {mib(end):.1f} MiB: growth {mib(growth):+.2f} MiB "
            f"({pct:+.1f}%)")
    if meta["alive"]:
        out.append(line + f"; idle: {mib(idle_warm):.1f} MiB after the warm-up, "
                   f"{mib(idle_end):.1f} MiB after the run")
    else:
        failures.append("metatokend died during the run" +
                        (f" (about {died_at} s in)" if died_at else ""))
        out.append(line + ", before it died")

    # Sanitizers, from metatokend's stderr (its exit after SIGTERM included).
    log = read_lines(f"{work}/metatokend.err")
    asan, ubsan, lsan, leaked, report = sanitizer_findings(log)
    exit_status = meta["exit"]
    line = f"sanitizers: ASan {asan}, UBSan {ubsan}, LSan {lsan} leak records ({leaked:,} bytes)"
    if meta["build"] != "asan-ubsan":
        line = "sanitizers: none (--no-asan)"
    if not meta["alive"]:
        how = f"had exited ({exit_status}) before SIGTERM"
    elif exit_status.isdigit() and int(exit_status) > 128:
        how = f"was killed by signal {int(exit_status) - 128} after SIGTERM"
    else:
        how = f"exited {exit_status} after SIGTERM"
    out.append(line + f"; metatokend {how}")
    if asan or ubsan or lsan:
        failures.append(f"{asan + ubsan + lsan} sanitizer findings")
        out.append("  first report:")
        out.extend("  | " + r for r in report[:14])
        if len(report) > 14:
            out.append(f"  | ... ({len(report) - 14} more lines in metatokend.err)")
    if exit_status != "0":
        failures.append(f"metatokend exited {exit_status}")
    server_msgs = [l for l in log if re.match(r"\d{4}-\d\d-\d\dT\S+ (warn|error) ", l)]
    if server_msgs:
        out.append(f"metatokend logged {len(server_msgs)} warnings or errors; the first: "
                   f"{server_msgs[0]}")

    out.append("soak: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    record = {
        "kind": "soak",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": meta["commit"], "build": meta["build"], "seconds": meta["seconds"],
        "warmup_s": meta["warmup_s"], "connections": meta["connections"],
        "requests": run["requests"] if run else None,
        "req_per_s": round(run["requests"] / (run["duration_us"] / 1e6)) if run and run["duration_us"] else None,
        "p50_us": run["p50_us"] if run else None, "p99_us": run["p99_us"] if run else None,
        "socket_errors": socket, "server_responses": total, "by_status": by_status,
        "unexpected": unexpected,
        "sent": {k["name"]: k["sent"] for k in kinds},
        "rss_start_kib": start, "rss_peak_kib": peak, "rss_end_kib": end,
        "rss_growth_kib": growth, "rss_growth_pct": round(pct, 2),
        "rss_idle_after_warmup_kib": idle_warm, "rss_idle_end_kib": idle_end,
        "hwm_kib": meta["hwm_kib"], "asan": asan, "ubsan": ubsan, "lsan_leaks": lsan,
        "leaked_bytes": leaked, "exit": exit_status, "died": not meta["alive"],
        "pass": not failures,
    }
    line = json.dumps(record, separators=(",", ":"))
    out.append(line)
    print("\n".join(out))
    try:
        with open(meta["results"], "a") as f:
            f.write(line + "\n")
    except OSError:
        pass
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
