"""Brand rows as Pi's extractor writes them: domain, name and colours derived from the URL."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# Second-level labels under a two-letter country code (acme.co.uk is "Acme", not "Co").
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu"}
CDN = "https://cdn.pisim.local"


def iso(ts: float) -> str:
    """Return a timestamp as Postgres/Supabase sends it: ISO 8601 with a +00:00 offset."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def url_host(url: str) -> str:
    """Return a URL's host lower-cased, or "" if it has none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    # JavaScript's URL reports internationalised hosts in punycode, and so does Pi.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return host


def brand_domain(url: str | None, job_id: str) -> str:
    """Return the upsert key: the URL host without a leading www, else brand-<job id[:8]>."""
    host = url_host(url) if url else ""
    if not host:
        return f"brand-{job_id[:8]}"
    return host.removeprefix("www.")


def brand_name(domain: str) -> str:
    """Return a display name from a domain: acme.com -> Acme, my-shop.co.uk -> My Shop."""
    if domain.startswith("brand-"):
        return "Brand " + domain.removeprefix("brand-")
    labels = [label for label in domain.split(".") if label]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        label = labels[-3]
    elif len(labels) >= 2:
        label = labels[-2]
    else:
        label = labels[0] if labels else domain
    return " ".join(part.capitalize() for part in label.replace("_", "-").split("-") if part)


def _colours(domain: str) -> list[str]:
    """Return six stable hex colours for a domain."""
    digest = hashlib.sha256(domain.encode()).hexdigest().upper()
    return ["#" + digest[i : i + 6] for i in range(0, 36, 6)]


def brand_row(
    *,
    brand_id: str,
    org_id: str,
    domain: str,
    job_id: str,
    has_logo: bool,
    image_count: int,
    created_at: str,
    updated_at: str,
) -> dict[str, Any]:
    """Return a full brand row as GET /brands/:id sends it."""
    name = brand_name(domain)
    colours = _colours(domain)
    background, accent = colours[0], colours[1]
    assets = [
        {"type": "image", "url": f"{CDN}/brands/{brand_id}/assets/{i}.png", "source_job": job_id}
        for i in range(image_count)
    ]
    return {
        "id": brand_id,
        "org_id": org_id,
        "domain": domain,
        "name": name,
        "primary_hex": background,
        "secondary_hex": accent,
        # Pi overwrites the row on re-extraction: no logo sent means logo_url goes back to null.
        "logo_url": f"{CDN}/brands/{brand_id}/logo.png" if has_logo else None,
        "font_file_url": f"{CDN}/brands/{brand_id}/font.woff2",
        "layout_rules": {
            "typography_rules": "Headlines in a bold geometric sans; body copy in a humanist sans.",
            "core_slogan": f"{name}, made simple.",
            "imagen_style_conditioning": f"clean product photography, {background} backdrop, "
            f"{accent} accents, soft daylight",
        },
        "brand_dna": {
            "primary_background_hex": background,
            "primary_accent_hex": accent,
            "color_palette": colours[:4],
            "tone_of_voice": "confident, warm, concise",
            "assets": assets,
        },
        "created_at": created_at,
        "updated_at": updated_at,
    }


def asset_count(has_logo: bool, image_count: int) -> int:
    """Return how many assets an extraction stored (logo plus images)."""
    return int(has_logo) + image_count
