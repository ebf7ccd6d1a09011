#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plots the concurrency an adaptive bulk call chose over time, as an SVG (no plotting library:
Debian's python3 has none by default and a few lines of SVG do).

    plot_trace.py OUT.svg TITLE TRACE...

Each TRACE is a file written by `pgrestify_bench insert --trace FILE`: one line per progress report,
"seconds concurrency rows-done". Each becomes one step line (concurrency, left axis) and one thin
line (rows done, right axis)."""
import sys
from html import escape

W, H = 720, 360
L, R, T, B = 56, 64, 36, 44  # margins
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def read(path):
    pts = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                pts.append((float(parts[0]), int(parts[1]), int(parts[2])))
    return pts


def nice_step(span, ticks=6):
    raw = span / ticks if span > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        step = m * 10 ** (len(str(int(raw))) - 1) if raw >= 1 else m / 10
        if step >= raw:
            return step
    return raw


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, title, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    traces = [(p, read(p)) for p in paths]
    traces = [(p, t) for p, t in traces if t]
    if not traces:
        sys.exit("plot_trace.py: no samples in " + " ".join(paths))
    tmax = max(t[-1][0] for _, t in traces) or 1
    cmax = max(max(c for _, c, _ in t) for _, t in traces)
    cmax = max(4, cmax + (4 - cmax % 4) % 4)
    nmax = max(t[-1][2] for _, t in traces) or 1
    pw, ph = W - L - R, H - T - B

    def x(s):
        return L + pw * s / tmax

    def y(c):
        return T + ph * (1 - c / cmax)

    def yn(n):
        return T + ph * (1 - n / nmax)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
           f'<line x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="black"/>',
           f'<line x1="{L + pw}" y1="{T}" x2="{L + pw}" y2="{T + ph}" stroke="#888"/>']
    step = nice_step(tmax)
    s = 0.0
    while s <= tmax + 1e-9:
        svg.append(f'<line x1="{x(s):.1f}" y1="{T + ph}" x2="{x(s):.1f}" y2="{T + ph + 4}" stroke="black"/>')
        svg.append(f'<text x="{x(s):.1f}" y="{T + ph + 17}" text-anchor="middle">{s:g}</text>')
        s += step
    for c in range(0, cmax + 1, max(1, cmax // 8)):
        svg.append(f'<line x1="{L}" y1="{y(c):.1f}" x2="{L + pw}" y2="{y(c):.1f}" stroke="#eee"/>')
        svg.append(f'<text x="{L - 6}" y="{y(c) + 4:.1f}" text-anchor="end">{c}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        svg.append(f'<text x="{L + pw + 6}" y="{yn(frac * nmax) + 4:.1f}" fill="#888">{frac * nmax:,.0f}</text>')
    svg.append(f'<text x="{L + pw / 2}" y="{H - 8}" text-anchor="middle">seconds since the call started</text>')
    svg.append(f'<text transform="translate(16 {T + ph / 2}) rotate(-90)" text-anchor="middle">'
               'requests in flight (limit)</text>')
    svg.append(f'<text transform="translate({W - 8} {T + ph / 2}) rotate(90)" text-anchor="middle" fill="#888">'
               'rows done (thin lines)</text>')
    for i, (path, t) in enumerate(traces):
        color = COLORS[i % len(COLORS)]
        steps = [(x(0), y(t[0][1]))]
        for k, (sec, c, _) in enumerate(t):
            if k:
                steps.append((x(sec), y(t[k - 1][1])))
            steps.append((x(sec), y(c)))
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                   + " ".join(f"{a:.1f},{b:.1f}" for a, b in steps) + '"/>')
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="0.8" stroke-opacity="0.6" points="'
                   + " ".join(f"{x(sec):.1f},{yn(n):.1f}" for sec, _, n in t) + '"/>')
        name = path.rsplit("/", 1)[-1].removesuffix(".txt")
        svg.append(f'<text x="{L + 8}" y="{T + 14 + 14 * i}" fill="{color}">{escape(name)}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
