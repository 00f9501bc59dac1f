"""GET /i18n.js: the browser pages' texts from the message catalogue, and the pages that read them."""
from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any, Dict, Set

from bot.i18n_view import AREAS

STATIC = Path(__file__).resolve().parents[2] / "bot" / "static"
SCRIPTS = {  # script(s) (a glob under bot/static) -> (area of the catalogue, prefix of its keys inside that area)
    "chat/*.js": ("page", ""),
    "analytics/feedback.js": ("page", "feedback."),
    "agent/agent.js": ("console", ""),
    "analytics/dashboard.js": ("dashboard", ""),
}
PAGES = {"index.html": "page", "agent/index.html": "console", "analytics/index.html": "dashboard"}
PREFIX = "window.TAXGUIDE_I18N = "


def source(pattern: str) -> str:
    """The text of the script(s) matching `pattern` under bot/static."""
    paths = sorted(STATIC.glob(pattern))
    assert paths, pattern
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def fields(text: str) -> Set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


async def fetch_texts(client) -> Dict[str, Any]:
    resp = await client.get("/i18n.js")
    assert resp.status == 200
    body = await resp.text()
    assert body.startswith(PREFIX) and body.rstrip().endswith(";")
    return json.loads(body[len(PREFIX):].rstrip().rstrip(";"))


async def test_i18n_js_serves_both_languages_with_identical_keys(client) -> None:
    resp = await client.get("/i18n.js")
    assert resp.status == 200
    assert resp.content_type == "application/javascript" and resp.charset == "utf-8"
    assert "max-age=" in resp.headers["Cache-Control"] and "no-store" not in resp.headers["Cache-Control"]
    texts = await fetch_texts(client)
    assert sorted(texts) == sorted(AREAS)
    for area, languages in texts.items():
        assert sorted(languages) == ["en", "zh"], area
        en, zh = languages["en"], languages["zh"]
        assert en and set(en) == set(zh), (area, set(en) ^ set(zh))
        assert all(fields(en[k]) == fields(zh[k]) for k in en), area
        assert not any(k.startswith(area + ".") for k in en), "the area prefix is stripped"
    assert texts["page"]["en"]["inputLabel"] == "Your question"
    assert texts["page"]["zh"]["feedback.helpful"] == "这个回答有帮助吗？"
    assert texts["console"]["zh"]["claim"] == "认领" and texts["console"]["zh"]["returnToBot"] == "转回机器人"
    assert texts["dashboard"]["zh"]["kpi.containment"] == "自助解决率"
    assert texts["dashboard"]["zh"]["kpi.handoffRate"] == "转人工率"


async def test_i18n_js_revalidates_with_its_etag(client) -> None:
    resp = await client.get("/i18n.js")
    etag = resp.headers["ETag"]
    again = await client.get("/i18n.js", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag


def test_pages_load_i18n_js_before_their_script() -> None:
    pages = (("index.html", "chat/main.js"), ("agent/index.html", "agent.js"), ("analytics/index.html", "dashboard.js"))
    for page, script in pages:
        html = (STATIC / page).read_text(encoding="utf-8")
        assert '<script src="/i18n.js"></script>' in html, page
        assert html.index("/i18n.js") < html.index(script), page


def test_scripts_have_no_hard_coded_text_tables() -> None:
    for script in [*SCRIPTS, "shared/*.js"]:
        text = source(script)
        assert not re.search(r"\bI18N\s*=\s*\{", text), script
        assert not re.search(r"\b(?:en|zh)\s*:\s*\{\s*[A-Za-z\"']", text), f"{script} has a per-language table"
        assert not re.search(r"\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML", text), script


async def test_every_key_the_pages_use_exists(client) -> None:
    texts = await fetch_texts(client)
    for page, area in PAGES.items():
        html = (STATIC / page).read_text(encoding="utf-8")
        used = set(re.findall(r'data-i18n(?:-placeholder|-aria-label)?="([^"]+)"', html))
        assert used and not used - set(texts[area]["en"]), (page, used - set(texts[area]["en"]))
    for script, (area, prefix) in SCRIPTS.items():
        text = source(script)
        used = {prefix + key for key in re.findall(r'\bt\("([A-Za-z_.]+)"\s*[,)]', text)}
        used |= {"column." + name for name in re.findall(r'\bcol\("\w+", "(\w+)"', text)}  # dashboard columns
        assert used and not used - set(texts[area]["en"]), (script, used - set(texts[area]["en"]))
        groups = set(re.findall(r'\blabel\("([A-Za-z_]+)"', text))
        assert all(any(k.startswith(g + ".") for k in texts[area]["en"]) for g in groups), (script, groups)
