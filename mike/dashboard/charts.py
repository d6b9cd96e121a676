"""Charts as server-rendered SVG, built here so no script or CDN is needed.

Positions across the chart are percentages of its width and heights are pixels, so a chart fills
a phone's 390 px or a desktop card without scaling its text: labels stay 11–13 px at any width.
Each chart comes with its numbers as rows for a text table (templates/app/_chart.html renders
both), which is what a screen reader reads: the SVG itself is one labelled image.
"""

from dataclasses import dataclass
from datetime import date
from math import ceil, log10

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass
class Chart:
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[list[str]]
    legend: list[tuple[str, str]]  # (css class of the swatch, label)


def _pct(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"


def _number(value: int) -> str:
    return f"{value:,}"


def axis(value: int, most_ticks: int = 4) -> tuple[int, int]:
    """(top, step) of a y axis for counts up to `value`: a step of 1, 2 or 5 × a power of ten,
    at most `most_ticks` steps, the top a whole number of steps at or above `value`."""
    if value <= 0:
        return 1, 1
    raw = max(value / most_ticks, 1)
    power = 10 ** int(log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if raw <= m * power)
    return step * ceil(value / step), step


def funnel_chart(steps: list[tuple[str, int]], *, title: str) -> Chart:
    """Horizontal bars, one per step of the funnel: the label and the share of the step before
    above each bar, the count at its right end."""
    row_height, bar_height, label_height = 38, 12, 18
    height = row_height * len(steps)
    top = max((count for _, count in steps), default=0)
    parts = []
    rows = []
    previous = None
    for index, (label, count) in enumerate(steps):
        y = index * row_height
        share = ""
        if previous is not None:
            share = f"{count / previous:.0%} of {steps[index - 1][0].lower()}" if previous else "—"
        width = count / top * 100 if top else 0
        parts.append(
            format_html(
                '<text class="label" x="0" y="{}">{}</text>'
                '<text class="value" x="100%" y="{}" text-anchor="end">{}{}</text>'
                '<rect class="track" x="0" y="{}" width="100%" height="{}" rx="4"></rect>'
                '<rect class="bar" x="0" y="{}" width="{}" height="{}" rx="4"></rect>',
                y + 13,
                label,
                y + 13,
                _number(count),
                format_html('<tspan class="share" dx="0"> · {}</tspan>', share) if share else "",
                y + label_height,
                bar_height,
                y + label_height,
                _pct(max(width, 0.6 if count else 0)),
                bar_height,
            )
        )
        rows.append([label, _number(count), share or "—"])
        previous = count
    svg = _svg(title, height, mark_safe("".join(parts)), css="funnel-chart")  # noqa: S308 - parts are format_html output
    return Chart(
        title=title,
        svg=svg,
        columns=["Step", "Count", "Share of the step before"],
        rows=rows,
        legend=[],
    )


def daily_bars(days: list[date], series: list[tuple[str, str, list[int]]], *, title: str) -> Chart:
    """Bars per day, one bar per series side by side (`series`: (label, css class, a count for
    each day)), a y axis of round numbers and a few date labels below."""
    plot_top, plot_bottom, height = 16, 168, 196
    plot_height = plot_bottom - plot_top
    top, step = axis(max((max(values, default=0) for _, _, values in series), default=0))
    parts = []
    for n in range(top // step + 1):
        value = step * n
        y = plot_bottom - plot_height * value / top
        parts.append(
            format_html(
                '<line class="{}" x1="0" x2="100%" y1="{}" y2="{}"></line>'
                '<text class="tick" x="0" y="{}">{}</text>',
                "axis" if n == 0 else "grid-line",
                f"{y:.1f}",
                f"{y:.1f}",
                f"{y - 4:.1f}",
                _number(value),
            )
        )
    count = max(len(days), 1)
    slot = 100 / count
    gap = 0.2 if count <= 31 else 0.1
    bar = slot * (1 - gap) / max(len(series), 1)
    for index, _day in enumerate(days):
        for number, (_, css, values) in enumerate(series):
            value = values[index]
            if not value:
                continue
            bar_height = max(plot_height * value / top, 1.5)
            parts.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"></rect>',
                    css,
                    _pct(slot * index + slot * gap / 2 + bar * number),
                    f"{plot_bottom - bar_height:.1f}",
                    _pct(bar),
                    f"{bar_height:.1f}",
                )
            )
    for index in _label_positions(len(days)):
        anchor = "middle"
        x = slot * index + slot / 2
        if index == 0:
            anchor, x = "start", 0
        elif index == len(days) - 1:
            anchor, x = "end", 100
        parts.append(
            format_html(
                '<text class="tick" x="{}" y="{}" text-anchor="{}">{}</text>',
                _pct(x),
                height - 8,
                anchor,
                f"{days[index]:%b} {days[index].day}",
            )
        )
    svg = _svg(title, height, mark_safe("".join(parts)), css="bar-chart")  # noqa: S308 - parts are format_html output
    rows = [
        [f"{day:%a} {day:%b} {day.day}", *(_number(values[i]) for _, _, values in series)]
        for i, day in enumerate(days)
    ]
    return Chart(
        title=title,
        svg=svg,
        columns=["Day", *(label for label, _, _ in series)],
        rows=rows,
        legend=[(css, label) for label, css, _ in series],
    )


def _label_positions(count: int, most: int = 5) -> list[int]:
    """Indexes of the days that get a date label: the first, the last and a few evenly between."""
    if count <= 0:
        return []
    if count <= most:
        return list(range(count))
    step = ceil((count - 1) / (most - 1))
    positions = list(range(0, count - 1, step))
    if count - 1 - positions[-1] < step / 2 and len(positions) > 1:
        positions.pop()
    return [*positions, count - 1]


def _svg(title: str, height: int, body: SafeString, *, css: str) -> SafeString:
    return format_html(
        '<svg class="{}" xmlns="http://www.w3.org/2000/svg" width="100%" height="{}" '
        'role="img" aria-label="{}"><title>{}</title>{}</svg>',
        css,
        height,
        title,
        title,
        body,
    )


def legend_html(chart: Chart) -> SafeString:
    return format_html_join(
        "",
        '<span><span class="swatch {}" aria-hidden="true"></span>{}</span>',
        chart.legend,
    )
