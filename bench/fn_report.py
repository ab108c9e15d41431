#!/usr/bin/env python3
"""Turns bench/functions' raw JSON lines into the figures: a Markdown table
and one JSON line per figure, on stdout and in OUT.md / OUT.jsonl.

Rates are compared per round (the invocation run against the GET run just
after it, same connections) and the median of the rounds' ratios is
reported, so that a slow spell of the machine hits both sides."""
from report_common import args, med, publish, read_raw


def main():
    a = args()

    runs, rtt, cold = [], {}, {}
    for o in read_raw(a.raw):
        if o["kind"] == "run":
            runs.append(o)
        elif o["kind"] == "rtt":
            rtt[o["what"]] = o
        elif o["kind"] == "cold":
            cold[o["what"]] = o

    figures = []  # dicts: figure, conc, value, unit, baseline, baseline_value, ratio

    def add(**kw):
        figures.append(kw)

    for t in (1, 2):
        by_round = {}
        for o in runs:
            r = o["result"]
            if r["threads"] != t:
                continue
            by_round.setdefault(o["round"], {})[r["what"]] = o
        ratios, inv, get, inv_cpu, get_cpu, p50, p99, errors = [], [], [], [], [], [], [], 0
        for rnd in sorted(by_round):
            d = by_round[rnd]
            if "invoke" not in d or "get" not in d:
                continue
            i, g = d["invoke"]["result"], d["get"]["result"]
            errors += i["errors"] + g["errors"]
            inv.append(i["per_s"])
            get.append(g["per_s"])
            p50.append(i["p50_us"])
            p99.append(i["p99_us"])
            ratios.append(i["per_s"] / (g["per_s"] / 3))
            if i["requests"]:
                inv_cpu.append(d["invoke"]["server_cpu_ns"] / i["requests"] / 1000)
            if g["requests"]:
                get_cpu.append(d["get"]["server_cpu_ns"] / g["requests"] / 1000)
        add(figure="warm_invocations_per_s", conc=t, value=med(inv), unit="/s",
            baseline="three_get_exchanges_per_s", baseline_value=med(get) / 3 if get else None,
            ratio=med(ratios), p50_us=med(p50), p99_us=med(p99), errors=errors)
        add(figure="cpu_per_invocation", conc=t, value=med(inv_cpu), unit="us",
            baseline="cpu_per_three_gets", baseline_value=3 * med(get_cpu) if get_cpu else None,
            ratio=(med(inv_cpu) / (3 * med(get_cpu))) if inv_cpu and get_cpu else None)

    if "invoke" in rtt and "three_gets" in rtt:
        i, g = rtt["invoke"], rtt["three_gets"]
        for q in ("p50", "p99"):
            add(figure=f"warm_round_trip_{q}", conc=1, value=i[f"{q}_us"], unit="us",
                baseline=f"three_keepalive_gets_{q}", baseline_value=g[f"{q}_us"],
                ratio=i[f"{q}_us"] / g[f"{q}_us"], samples=i["samples"],
                errors=i["errors"] + g["errors"])
        if "one_get" in rtt:
            add(figure="one_keepalive_get_p50", conc=1, value=rtt["one_get"]["p50_us"],
                unit="us", baseline=None, baseline_value=None, ratio=None)

    if "first_invocation" in cold:
        f = cold["first_invocation"]
        for q in ("p50", "p99"):
            for base in ("bootstrap_version_spawn", "echo_spawn"):
                if base in cold:
                    add(figure=f"cold_start_{q}", conc=1, value=f[f"{q}_us"] / 1000, unit="ms",
                        baseline=f"{base}_{q}", baseline_value=cold[base][f"{q}_us"] / 1000,
                        ratio=f[f"{q}_us"] / cold[base][f"{q}_us"], samples=f["samples"])
        for what in ("init_duration", "metatokend_ready"):
            if what in cold:
                for q in ("p50", "p99"):
                    add(figure=f"{what}_{q}", conc=1, value=cold[what][f"{q}_us"] / 1000,
                        unit="ms", baseline=None, baseline_value=None, ratio=None)

    def get(name, conc=1, baseline_prefix=None):
        for f in figures:
            if f["figure"] == name and f["conc"] == conc and (
                    baseline_prefix is None or (f["baseline"] or "").startswith(baseline_prefix)):
                return f
        return None

    targets = []
    w2 = get("warm_invocations_per_s", 2)
    if w2 and w2["value"] is not None:
        targets.append((">= 10,000 invocations/s at concurrency 2", w2["value"] >= 10000,
                        f"{w2['value']:,.0f}/s ({w2['ratio']:.2f}x the 3-GET floor rate)"))
    for q in ("p50", "p99"):
        r = get(f"warm_round_trip_{q}")
        if r:
            targets.append((f"warm round trip {q} <= 2x three keep-alive GETs", r["ratio"] <= 2,
                            f"{r['ratio']:.2f}x ({r['value']:.0f} vs {r['baseline_value']:.0f} us)"))
    c = get("cold_start_p50", baseline_prefix="echo_spawn")
    if c:
        targets.append(("cold start (first invocation) p50 < 20 ms", c["value"] < 20,
                        f"{c['value']:.1f} ms"))
    publish(a, figures, targets, conc_column=True, baseline_title='baseline')

if __name__ == "__main__":
    main()
