"""What bench/fn_report.py and bench/py_report.py share: the command line,
the raw JSON lines, and the Markdown table, target table and JSON lines
they print (and keep in OUT.md / OUT.jsonl)."""
import argparse
import datetime
import json
import statistics


def med(xs):
    return statistics.median(xs) if xs else None


def args():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--machine", default="")
    ap.add_argument("--mode", default="")
    ap.add_argument("--commit", default="")
    ap.add_argument("--out", default=None)
    return ap.parse_args()


def read_raw(path):
    """The raw file's JSON objects, one per non-empty line."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def num(v, nd=1):
    return "n/a" if v is None else "{:,.{}f}".format(v, nd)


def publish(a, figures, targets, conc_column=True, baseline_title="baseline"):
    """Prints the figures' table, the targets' (name, met, text) and one
    JSON line per figure; keeps them in a.out + .md / .jsonl if given."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["Run %s at %s; %s; %s." % (now, a.commit, a.machine, a.mode), ""]
    conc_head, conc_rule = ("concurrency | ", "---: | ") if conc_column else ("", "")
    out.append("| figure | %svalue | %s | baseline value | ratio |" % (conc_head, baseline_title))
    out.append("| --- | %s---: | --- | ---: | ---: |" % conc_rule)
    for f in figures:
        unit = f["unit"]
        nd = 0 if unit == "/s" else (2 if unit == "ms" else 1)
        conc = "%s | " % f["conc"] if conc_column else ""
        out.append("| %s | %s%s %s | %s | %s | %s |" % (
            f["figure"], conc, num(f["value"], nd), unit, f["baseline"] or "",
            num(f["baseline_value"], nd),
            num(f["ratio"], 2) + "x" if f["ratio"] is not None else "n/a"))
    out += ["", "| target | met | figure |", "| --- | :---: | --- |"]
    for name, met, text in targets:
        out.append("| %s | %s | %s |" % (name, "yes" if met else "**no**", text))
    md = "\n".join(out) + "\n"
    jl = "".join(json.dumps(f) + "\n" for f in figures)
    print(md)
    print(jl, end="")
    if a.out:
        with open(a.out + ".md", "w") as fh:
            fh.write(md)
        with open(a.out + ".jsonl", "w") as fh:
            fh.write(jl)
