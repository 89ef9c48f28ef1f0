"""Small bar charts for the run report, as inline SVG made on the server.

No JavaScript and nothing fetched: the API server may have no internet, and the report must not
need a build step. :func:`bar_chart` draws one group of bars per day (one bar per series), each
bar with a ``<title>`` tooltip and a ``data-day``/``data-series``/``data-value`` so tests and
people can read the numbers; a day with no runs has no bars.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 560, 170
LEFT, BOTTOM, TOP = 34, 26, 24  # room for the axis numbers, the day labels and the legend


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: Mapping[date, int]


def bar_chart(title: str, days: Sequence[date], series: Sequence[Series]) -> str:
    """An SVG of ``series`` over ``days`` (oldest first) titled ``title``; values are whole numbers."""
    peak = max([value for one in series for value in one.values.values()] + [1])
    plot_w, plot_h = WIDTH - LEFT - 6, HEIGHT - TOP - BOTTOM
    group = plot_w / max(1, len(days))
    bar = max(1.0, min(14.0, (group - 4) / max(1, len(series))))
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{LEFT}" y="13" class="chart-title">{html.escape(title)}</text>']
    legend_x = LEFT + 8 + 7.2 * len(title)
    for one in series:
        parts.append(f'<rect x="{legend_x:.0f}" y="4" width="10" height="10" fill="{one.colour}"/>'
                     f'<text x="{legend_x + 14:.0f}" y="13">{html.escape(one.label)}</text>')
        legend_x += 24 + 6.5 * len(one.label)
    base = TOP + plot_h
    for tick in sorted({0, peak // 2, peak}):
        y = base - plot_h * tick / peak
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    label_every = -(-len(days) // 7)  # at most seven day labels: "19 Nov" needs about 40 pixels
    for index, day in enumerate(days):
        x0 = LEFT + index * group + (group - bar * len(series)) / 2
        for number, one in enumerate(series):
            value = one.values.get(day, 0)
            if not value:
                continue
            h = plot_h * value / peak
            parts.append(f'<rect x="{x0 + number * bar:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{one.colour}" data-day="{day.isoformat()}" data-series="{html.escape(one.label)}" '
                         f'data-value="{value}"><title>{day:%d %b}: {value} {html.escape(one.label)}</title></rect>')
        if index % label_every == 0:
            parts.append(f'<text x="{LEFT + (index + 0.5) * group:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                         f'{day:%d %b}</text>')
    parts.append("</svg>")
    return "".join(parts)
