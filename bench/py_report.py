#!/usr/bin/env python3
"""Turns bench/python's raw JSON lines into the figures: a Markdown table
and one JSON line per figure, on stdout and in OUT.md / OUT.jsonl.

Rates are compared per round (the Python run against the C run just after
it, same connection count) and the median of the rounds' ratios is
reported, so that a slow spell of the machine hits both sides. Round trips
and cold starts come from runs interleaved in fn_bench itself."""
from report_common import args, med, publish, read_raw


def main():
    a = args()

    runs, rtt, cold = [], {}, {}
    for o in read_raw(a.raw):
        if o["kind"] == "run":
            runs.append(o)
        elif o["kind"] == "py_rtt":
            rtt[o["target"]] = o
        elif o["kind"] == "py_cold":
            cold[o["what"]] = o

    figures = []

    def add(**kw):
        figures.append(kw)

    by_round = {}
    for o in runs:
        by_round.setdefault(o["round"], {})[o["result"]["target"]] = o
    ratios, py, c, cpu_py, cpu_c, cpu_ratios, errors = [], [], [], [], [], [], 0
    for rnd in sorted(by_round):
        d = by_round[rnd]
        if "py" not in d or "c" not in d:
            continue
        p, q = d["py"]["result"], d["c"]["result"]
        errors += p["errors"] + q["errors"]
        py.append(p["per_s"])
        c.append(q["per_s"])
        ratios.append(p["per_s"] / q["per_s"])
        if p["requests"] and q["requests"]:
            cp = d["py"]["server_cpu_ns"] / p["requests"] / 1000
            cc = d["c"]["server_cpu_ns"] / q["requests"] / 1000
            cpu_py.append(cp)
            cpu_c.append(cc)
            cpu_ratios.append(cp / cc)
    if ratios:
        add(figure="warm_invocations_per_s", value=med(py), unit="/s",
            baseline="c_runtime_invocations_per_s", baseline_value=med(c), ratio=med(ratios),
            rounds=len(ratios), errors=errors)
    if cpu_ratios:
        add(figure="cpu_per_invocation", value=med(cpu_py), unit="us",
            baseline="c_runtime_cpu_per_invocation", baseline_value=med(cpu_c),
            ratio=med(cpu_ratios))

    if "py" in rtt and "c" in rtt:
        p, q = rtt["py"], rtt["c"]
        for k in ("p50", "p90", "p99"):
            add(figure="warm_round_trip_" + k, value=p[k + "_us"], unit="us",
                baseline="c_runtime_round_trip_" + k, baseline_value=q[k + "_us"],
                ratio=p[k + "_us"] / q[k + "_us"], samples=p["samples"],
                errors=p["errors"])
        add(figure="warm_invocations_per_s_from_round_trips", value=p["per_s"], unit="/s",
            baseline="c_runtime_from_round_trips", baseline_value=q["per_s"],
            ratio=p["per_s"] / q["per_s"], samples=p["samples"])

    if "first_invocation" in cold:
        f = cold["first_invocation"]
        for k in ("p50", "p99"):
            for base in ("python_import_handler", "python_pass"):
                if base in cold:
                    add(figure="cold_start_" + k, value=f[k + "_us"] / 1000, unit="ms",
                        baseline=base + "_" + k, baseline_value=cold[base][k + "_us"] / 1000,
                        ratio=f[k + "_us"] / cold[base][k + "_us"], samples=f["samples"])
        for what in ("init_duration", "runtime_version", "metatokend_ready"):
            if what in cold:
                for k in ("p50", "p99"):
                    r = None
                    if what != "metatokend_ready" and "python_import_handler" in cold:
                        r = cold[what][k + "_us"] / cold["python_import_handler"][k + "_us"]
                    add(figure=what + "_" + k, value=cold[what][k + "_us"] / 1000,
                        unit="ms", baseline="python_import_handler_" + k if r else None,
                        baseline_value=(cold["python_import_handler"][k + "_us"] / 1000
                                        if r else None), ratio=r)

    def get(name, baseline=None):
        for f in figures:
            if f["figure"] == name and (baseline is None or f["baseline"] == baseline):
                return f
        return None

    targets = []
    for k in ("p50", "p99"):
        r = get("warm_round_trip_" + k)
        if r:
            targets.append(("warm round trip %s <= 2x the C runtime's" % k, r["ratio"] <= 2,
                            "%.2fx (%.0f vs %.0f us)" % (r["ratio"], r["value"],
                                                        r["baseline_value"])))
    for k in ("p50", "p99"):
        r = get("cold_start_" + k, "python_import_handler_" + k)
        if r:
            targets.append(("cold start %s <= 1.5x `python3 -c 'import fn_echo'`" % k,
                            r["ratio"] <= 1.5, "%.2fx (%.1f vs %.1f ms)" % (
                                r["ratio"], r["value"], r["baseline_value"])))
    publish(a, figures, targets, conc_column=False, baseline_title='baseline (same run)')

if __name__ == "__main__":
    main()
