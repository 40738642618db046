"""Small rendering helpers: the product card, the query banner, tables with a CSV download, the app's CSS."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from core.safe_csv import to_csv

# Images are remote URLs and the server may be offline: the server never fetches them. The browser
# draws the image over a placeholder layer (CSS multiple backgrounds), so an unreachable image simply
# leaves the placeholder, without blocking anything.
_PLACEHOLDER = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='120' height='120' "
                "viewBox='0 0 24 24'><rect width='24' height='24' fill='%23f0f2f6'/><path fill='%23a3a8b8' "
                "d='M5 5h14v14H5z M7 15l3-4 2 3 2-2 3 3z' fill-rule='evenodd'/></svg>")
_SAFE_URL = re.compile(r"^https?://[^\s\"'()<>\\]{1,2000}$")

CSS = """
<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.2rem;}
.rs-query {font-size: 1.6rem; font-weight: 600; line-height: 1.3; margin: 0 0 .2rem 0;}
.rs-lang {display: inline-block; font-size: .8rem; padding: .05rem .45rem; border-radius: .6rem;
          background: #e8eefc; color: #2b4aa0; margin-left: .5rem; vertical-align: middle; font-weight: 500;}
.rs-card {display: flex; gap: 1rem; border: 1px solid #e3e5ea; border-radius: .6rem; padding: .9rem;
          background: #fff;}
.rs-img {flex: 0 0 120px; height: 120px; border-radius: .4rem; background-size: contain, cover;
         background-repeat: no-repeat; background-position: center;}
.rs-img.small {flex-basis: 34px; height: 34px; border-radius: .25rem;}
.rs-title {font-size: 1.1rem; font-weight: 600; margin-bottom: .2rem;}
.rs-meta {color: #5f6470; font-size: .9rem;}
.rs-bullets {margin: .4rem 0 0 1.1rem; padding: 0; font-size: .92rem;}
.rs-rank {font-weight: 700; color: #8a8f9c; width: 1.6rem; flex: 0 0 1.6rem;}
.rs-row {display: flex; gap: .5rem; align-items: center; padding: .15rem 0; border-bottom: 1px solid #f0f1f4;}
.rs-row > div:last-child {min-width: 0;}
.rs-row .rs-title {font-size: .86rem; font-weight: 500; line-height: 1.2; margin: 0; overflow: hidden;
                   white-space: nowrap; text-overflow: ellipsis;}
.rs-row .rs-meta {font-size: .74rem; line-height: 1.15;}
.rs-row .rs-rank {width: 1.2rem; flex-basis: 1.2rem;}
[data-testid="stMarkdownContainer"] h4 {padding: 0 0 .2rem 0;}
.rs-note {background: #e8f1fb; color: #1d3f6e; border-radius: .5rem; padding: .6rem .9rem; margin: .3rem 0 .6rem 0;}
.rs-details {margin: .5rem 0; border: 1px solid #e3e5ea; border-radius: .5rem; padding: .4rem .8rem;}
.rs-details summary {cursor: pointer;}
.rs-desc {font-size: .92rem; margin-top: .4rem;}
.rs-task {font-size: .875rem; color: #6b7080; margin: .5rem 0 .1rem 0;}
</style>
"""


def inject_css() -> None:
    st.markdown(CSS, unsafe_allow_html=True)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


# Characters that start Markdown (or Streamlit's directives: :icon:, :color[...], $math$) or HTML. Item text
# is data from import files: written as numeric character references it shows as itself and is never parsed,
# whether it lands in an HTML block or in inline Markdown.
_MARKUP = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$:="})


def as_text(value, *, newlines: str = " ") -> str:
    """Item text (a title, a query, a description) made safe to put into ``st.markdown``: no Markdown image,
    link, emphasis or HTML survives, so an imported ``![x](http://…)`` cannot make a browser fetch anything.
    Line breaks become ``newlines`` (a space, or ``<br>`` inside HTML), so a blank line cannot end an HTML block."""
    text = _text(value).translate(_MARKUP)
    return re.sub(r"\s*\n\s*", newlines, text)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


def image_style(url) -> str:
    """``background-image`` for an image box: the picture (if it is a plain http(s) URL) over a placeholder."""
    url = _text(url)
    layers = ([f"url('{url}')"] if _SAFE_URL.match(url) else []) + [f'url("{_PLACEHOLDER}")']
    return "background-image: " + ", ".join(layers) + ";"


def query_html(query: str, language: str | None) -> str:
    lang = f'<span class="rs-lang">{html.escape(language)}</span>' if language else ""
    return f'<div class="rs-query">{as_text(query)}{lang}</div>'


def query_banner(query: str, language: str | None) -> None:
    st.markdown(query_html(query, language), unsafe_allow_html=True)


def _meta(product: Mapping) -> str:
    parts = [_text(product.get("brand")), _text(product.get("color"))]
    if _text(product.get("rating")):
        count = product.get("rating_count")
        parts.append(f"★ {float(product['rating']):.1f}" + (f" ({int(count):,})" if count == count and count else ""))
    return " · ".join(as_text(p) for p in parts if p)


def card_html(product: Mapping, *, max_bullets: int = 6) -> str:
    """The product card's HTML: title, brand, image (or placeholder) and bullet points (item text as text)."""
    bullets = [b.strip() for b in _text(product.get("bullet_points")).split("\n") if b.strip()]
    items = "".join(f"<li>{as_text(_short(b, 300))}</li>" for b in bullets[:max_bullets])
    more = f"<li><i>… {len(bullets) - max_bullets} more</i></li>" if len(bullets) > max_bullets else ""
    return (f'<div class="rs-card"><div class="rs-img" style="{html.escape(image_style(product.get("image")))}"></div>'
            f'<div><div class="rs-title">{as_text(product.get("title"))}</div>'
            f'<div class="rs-meta">{_meta(product)}</div>'
            f'{f"<ul class=rs-bullets>{items}{more}</ul>" if items else ""}</div></div>')


def description_html(product: Mapping) -> str:
    """The product's description (its first 4,000 characters) as HTML, or "" when it has none."""
    description = _text(product.get("description"))
    return f'<div class="rs-desc">{as_text(description[:4000], newlines="<br>")}</div>' if description else ""


def product_card(product: Mapping, *, max_bullets: int = 6) -> None:
    """Title, brand, image (or placeholder) and bullet points; the description in a collapsed expander."""
    st.markdown(card_html(product, max_bullets=max_bullets), unsafe_allow_html=True)
    description = description_html(product)
    if description:
        with st.expander("Description"):
            st.markdown(description, unsafe_allow_html=True)


def item_html(query: str, language: str | None, note: str | None, product: Mapping, caption: str) -> str:
    """One item to grade as a single HTML block (the rating keypad draws it in the browser, ui/keypad.py): the
    query, the researcher's note on it, the product card, its description (a closed ``<details>``) and
    ``caption``. Everything imported is escaped here, as for ``st.markdown``."""
    note_block = (f'<div class="rs-note"><b>What this query means:</b> {as_text(note, newlines="<br>")}</div>'
                  if note else "")
    description = description_html(product)
    details = f"<details class=rs-details><summary>Description</summary>{description}</details>" if description else ""
    return (f"{query_html(query, language)}{note_block}{card_html(product)}{details}"
            f'<p class="rs-task">{html.escape(caption)}</p>')


def product_list(products, *, start: int = 1) -> None:
    """A compact ranked list (side-by-side): rank, small image, title, brand."""
    rows = []
    for i, p in enumerate(products, start):
        rows.append(f'<div class="rs-row"><div class="rs-rank">{i}</div>'
                    f'<div class="rs-img small" style="{html.escape(image_style(p.get("image")))}"></div>'
                    f'<div><div class="rs-title">{as_text(_short(_text(p.get("title")), 160))}</div>'
                    f'<div class="rs-meta">{_meta(p)}</div></div></div>')
    st.markdown("".join(rows) or "<i>(empty list)</i>", unsafe_allow_html=True)


def table(df: pd.DataFrame, key: str, file_name: str, **kwargs) -> None:
    """A dataframe with a CSV download of exactly what it shows."""
    st.dataframe(df, hide_index=True, width="stretch", **kwargs)
    st.download_button("Download CSV", to_csv(df), file_name=file_name,
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")
