"""Charts drawn on the server as inline SVG.

No charting library: the dashboard's charts are a handful of bar series, which SVG draws in a
few elements each; the page then needs no JavaScript, nothing to download or serve, and cannot
fail in the browser. Colours come from the admin's CSS variables (``currentColor`` and
``var(--...)``), so the same markup reads in the light and the dark theme.
"""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, TOP, BOTTOM = 420, 140, 16, 22


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def bar_chart(series: list[tuple[str, float]], *, label: str) -> SafeString:
    """One bar per ``(x label, value)``; the largest value and the first and last x labels are
    written on the chart, and every bar carries its exact value in a tooltip."""
    largest = max((value for _, value in series), default=0)
    peak = largest or 1  # all-zero series: flat bars, not a division by zero
    slot = WIDTH / max(len(series), 1)
    plot = HEIGHT - TOP - BOTTOM
    bars = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (
                f"{index * slot + slot * 0.15:.1f}",
                f"{TOP + plot - plot * value / peak:.1f}",
                f"{slot * 0.7:.1f}",
                f"{max(plot * value / peak, 0.5):.1f}",
                x,
                _number(value),
            )
            for index, (x, value) in enumerate(series)
        ),
    )
    first, last = (series[0][0], series[-1][0]) if series else ("", "")
    return format_html(
        '<figure class="chart"><figcaption>{label}</figcaption>'
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        "<title>{label}</title>"
        '<line class="axis" x1="0" y1="{base}" x2="{w}" y2="{base}"/>{bars}'
        '<text class="tick" x="0" y="11">max {peak}</text>'
        '<text class="tick" x="0" y="{h_text}">{first}</text>'
        '<text class="tick" x="{w}" y="{h_text}" text-anchor="end">{last}</text></svg></figure>',
        w=WIDTH,
        h=HEIGHT,
        label=label,
        base=TOP + plot,
        bars=bars,
        peak=_number(largest),
        h_text=HEIGHT - 6,
        first=first,
        last=last,
    )
