#!/usr/bin/env python3
"""Draws the throughput-vs-depth chart of docs/performance.md from the CSV
that `uvredis-bench --csv FILE` writes (the medians over the rounds). The
tables, with ratios paired within each round, are what uvredis-bench prints.

    /usr/bin/python3 tests/bench/plot.py docs/data/commands.csv docs/img/throughput.svg

Needs python3-matplotlib (Debian). The SVG is written without a date and
with fixed element ids, so the same CSV gives the same file.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

CONTENDERS = [  # CSV column, legend, colour, marker
    ("uvredis_ops", "uvredis (typed set/get)", "#1f77b4", "o"),
    ("uvredis_command_ops", "uvredis command()", "#2ca02c", "v"),
    ("hiredis_ops", "raw hiredis (stock libuv adapter)", "#ff7f0e", "s"),
    ("redis_benchmark_ops", "redis-benchmark -P depth", "#7f7f7f", "^"),
]


def number(text):
    return float(text) if text else None


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no data rows")
    return rows


def depths_in_order(rows):
    seen = []
    for r in rows:
        if r["depth"] not in seen:
            seen.append(r["depth"])
    return seen


def plot(rows, out):
    plt.rcParams["svg.hashsalt"] = "uvredis"  # stable ids in the SVG
    depths = depths_in_order(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, op in zip(axes, ("SET", "GET")):
        by_depth = {r["depth"]: r for r in rows if r["op"] == op}
        xs = range(len(depths))
        for column, label, colour, marker in CONTENDERS:
            ys = [number(by_depth[d].get(column) or "") if d in by_depth else None for d in depths]
            if all(y is None for y in ys):
                continue
            ax.plot(xs, [y / 1000 if y else float("nan") for y in ys], marker=marker, color=colour, label=label)
        ax.set_xticks(list(xs), [f"depth {d}" if d != "burst" else "one burst" for d in depths])
        ax.set_title(f"{op}, 16-byte values, one connection")
        # Depth 1 is some 30 times slower than depth 1024: a log scale keeps
        # both ends readable.
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.set_yticks([t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if low <= t <= high])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("thousand commands per second (log scale)")
    axes[0].legend(loc="upper left", fontsize="small")
    n, rounds = max(int(r["n"]) for r in rows), rows[0]["rounds"]
    fig.suptitle(f"Throughput by commands in flight (medians of {rounds} round(s), N = {n:,} per run)")
    fig.tight_layout()
    fig.savefig(out, metadata={"Date": None})


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py COMMANDS.csv OUT.svg|OUT.png")
    rows = read_rows(sys.argv[1])
    plot(rows, sys.argv[2])


if __name__ == "__main__":
    main()
