"""Inline SVG for the console: a bar chart needs no script and no CDN."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, BOTTOM = 320, 140, 22


def bar_chart(bars: list[tuple[str, int]], title: str) -> str:
    """Return an SVG bar chart of (label, count) pairs that scales to its container."""
    peak = max((count for _, count in bars), default=0) or 1
    slot = WIDTH / max(len(bars), 1)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, count) in enumerate(bars):
        height = (HEIGHT - BOTTOM - 14) * count / peak
        x = index * slot + slot * 0.15
        y = HEIGHT - BOTTOM - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
            'fill="#3b6fd8"/>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{count}</text>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
