"""GET /i18n.js: the browser pages' texts from the message catalogue (knowledge/messages).

The taxpayer chat (`page.*` keys), the agent console (`console.*`) and the analyst dashboard
(`dashboard.*`) read their texts from one script, loaded before their own:

    window.TAXGUIDE_I18N = {"page": {"en": {...}, "zh": {...}}, "console": {...}, "dashboard": {...}};

Keys lose their area prefix (`page.inputLabel` -> `TAXGUIDE_I18N.page.en.inputLabel`); placeholders stay
`{name}`. The body is built once per process (the catalogue is read once too) and is cacheable briefly.
"""
from __future__ import annotations

import hashlib
import json
from typing import Dict

from aiohttp import web

from bot.keys import I18N_JS
from knowledge import catalogue
from knowledge.text import LANGUAGES

AREAS = ("page", "console", "dashboard")
MAX_AGE_SECONDS = 300


def texts() -> Dict[str, Dict[str, Dict[str, str]]]:
    """{area: {language: {key without the area prefix: text}}} for the browser pages' areas."""
    out: Dict[str, Dict[str, Dict[str, str]]] = {area: {} for area in AREAS}
    for language in LANGUAGES:
        every = catalogue.catalogue(language)
        for area in AREAS:
            prefix = area + "."
            out[area][language] = {
                key[len(prefix):]: text for key, text in sorted(every.items()) if key.startswith(prefix)
            }
    return out


def script() -> bytes:
    """The JavaScript body: one assignment of a JSON object (JSON is valid JavaScript)."""
    body = json.dumps(texts(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("</", "<\\/")
    return f"window.TAXGUIDE_I18N = {body};\n".encode("utf-8")


async def i18n_js(request: web.Request) -> web.Response:
    """Serve the pages' texts as a script, with an ETag."""
    body = request.app[I18N_JS]
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"Cache-Control": f"public, max-age={MAX_AGE_SECONDS}", "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/javascript", charset="utf-8", headers=headers)


def routes(app: web.Application) -> None:
    """Register GET /i18n.js (the script is built now, so a broken catalogue fails at start-up)."""
    app[I18N_JS] = script()
    app.router.add_get("/i18n.js", i18n_js)
