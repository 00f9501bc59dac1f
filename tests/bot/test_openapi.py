"""openapi.yaml against the gateway: every route the router serves is documented with its method, every
documented operation is served, the document is well-formed OpenAPI 3.0, and real answers have the
documented shapes."""
from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import jsonschema
import pytest
import yaml
from aiohttp import web

import bot
from bot.app import create_app
from bot.keys import SIGNER
from bot.settings import Settings
from bot.wechat.settings import WeChatSettings

SPEC_PATH = Path(bot.__file__).resolve().parent / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
URL = "/webhooks/rest/webhook"
PATIENT = {"connect_timeout": 2.0, "reply_timeout": 5.0}  # the fake Rasa must not lose a race with a busy machine
PASSWORD = "agent-password-1"  # what tests/bot/conftest.py's add_account gives every account
Operation = Tuple[str, str]  # (METHOD, path)


@pytest.fixture(scope="module")
def spec() -> Dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text("utf-8"))


def documented(spec: Dict[str, Any]) -> Set[Operation]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in METHODS}


def served(app: web.Application) -> Set[Operation]:
    """(method, canonical path) of every route; HEAD twins of GET and static file directories left out."""
    out = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None or isinstance(resource, web.StaticResource):
            continue
        out.add((route.method, resource.canonical))
    return out


def gateway(monkeypatch: pytest.MonkeyPatch, wechat: bool = False,
            static_dir: Optional[Path] = None) -> web.Application:
    """The app as configured in production (not started: routes exist once it is built)."""
    # /wechat exists only with a token and an AppID
    env = {"WECHAT_TOKEN": "wechat-test-token", "WECHAT_APP_ID": "wx0123456789abcdef"} if wechat else {}
    settings = Settings(session_secret="s" * 32, session_key="openapi-test-session-key",
                        database_url="sqlite+aiosqlite:///:memory:", wechat=WeChatSettings.from_env(env))
    return create_app(replace(settings, static_dir=static_dir) if static_dir else settings)


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dict[str, Set[Operation]]:
    """The routes of each configuration that changes them."""
    return {
        "default": served(gateway(monkeypatch)),
        "wechat": served(gateway(monkeypatch, wechat=True)),
        "no static files": served(gateway(monkeypatch, static_dir=tmp_path / "missing")),  # /static/{tail}: 404
    }


def test_every_served_route_is_documented(routes, spec) -> None:
    for config, ops in routes.items():
        missing = sorted(ops - documented(spec))
        assert not missing, f"served ({config} configuration) but not in bot/openapi.yaml: {missing}"


def test_every_documented_operation_is_served(routes, spec) -> None:
    every = set().union(*routes.values())
    extra = sorted(documented(spec) - every)
    assert not extra, f"in bot/openapi.yaml but served by no configuration: {extra}"
    assert routes["wechat"] - routes["default"] == {("GET", "/wechat"), ("POST", "/wechat")}
    assert routes["no static files"] - routes["default"] == {("GET", "/static/{tail}")}


def test_a_route_added_without_documentation_is_caught(monkeypatch, spec) -> None:
    app = gateway(monkeypatch)

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/agent/api/undocumented/{item_id}", handler)
    app.router.add_delete("/agent/api/tickets/{ticket_id}/close", handler)  # a new method on a documented path
    assert served(app) - documented(spec) == {("GET", "/agent/api/undocumented/{item_id}"),
                                              ("DELETE", "/agent/api/tickets/{ticket_id}/close")}


# --------------------------------------------------------------------------- well-formed


def walk(node: Any, where: str = "#") -> Iterator[Tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def resolve(spec: Dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations(spec: Dict[str, Any]) -> Iterator[Tuple[str, str, Dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def schemas(spec: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every schema object: components, parameters, bodies, responses and their headers."""
    for name, schema in spec["components"]["schemas"].items():
        yield f"components/schemas/{name}", schema
    for where, node in walk(spec):
        if isinstance(node, dict) and isinstance(node.get("schema"), dict) and "components/schemas" not in where:
            yield where, node["schema"]


def test_the_spec_is_well_formed(spec) -> None:
    try:  # the reference validator, when the environment has it (it is not a dependency)
        from openapi_spec_validator import validate
    except ImportError:
        pass
    else:
        validate(copy.deepcopy(spec))
    assert str(spec["openapi"]).startswith("3.0.")
    assert spec["info"]["title"] and spec["info"]["version"]
    for where, node in walk(spec):
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert isinstance(ref, str) and ref.startswith("#/"), f"{where}: only local $refs ({ref!r})"
            try:
                resolve(spec, node)
            except (KeyError, TypeError):
                pytest.fail(f"{where}: $ref {ref!r} does not resolve")
    schemes = set(spec["components"]["securitySchemes"])
    tags = {t["name"] for t in spec.get("tags", [])}
    operation_ids: List[str] = []
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        assert path.startswith("/"), where
        assert operation.get("summary"), f"{where}: no summary"
        assert operation.get("responses"), f"{where}: no responses"
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d|default", str(status)), f"{where}: response {status!r}"
            assert resolve(spec, response).get("description"), f"{where} {status}: no description"
        operation_ids.append(operation["operationId"])
        assert set(operation.get("tags", [])) <= tags, f"{where}: undeclared tag"
        for requirement in operation.get("security", []):
            assert set(requirement) <= schemes, f"{where}: unknown security scheme {set(requirement) - schemes}"
        params = [resolve(spec, p) for p in spec["paths"][path].get("parameters", []) + operation.get("parameters", [])]
        for p in params:
            assert p["in"] in ("path", "query", "header", "cookie") and "schema" in p, f"{where}: parameter {p}"
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"{([^}]+)}", path)), f"{where}: path parameters {in_path}"
        assert all(p["required"] for p in params if p["in"] == "path"), f"{where}: a path parameter is optional"
        if "requestBody" in operation:
            assert resolve(spec, operation["requestBody"])["content"], f"{where}: request body without content"
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_every_schema_is_a_valid_json_schema(spec) -> None:
    """OpenAPI 3.0 schema objects are JSON Schema draft 4 with a few extra keywords."""
    for where, schema in schemas(spec):
        try:
            jsonschema.Draft4Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            pytest.fail(f"{where}: {exc.message}")


def test_examples_fit_their_schemas(spec) -> None:
    examples = [(where, node) for where, node in walk(spec) if isinstance(node, dict) and "example" in node
                and isinstance(node.get("schema"), dict)]
    assert examples
    for where, node in examples:
        errors = [e.message for e in json_schema(spec, node["schema"]).iter_errors(node["example"])]
        assert not errors, f"{where}: {errors}"


# --------------------------------------------------------------------------- real answers


def _plain(spec: Dict[str, Any], schema: Any) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: $refs inlined, ``nullable`` as a null type."""
    schema = resolve(spec, schema)
    if isinstance(schema, list):
        return [_plain(spec, s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_plain(spec, v) if k not in ("enum", "required", "example", "description") else v)
           for k, v in schema.items() if k != "nullable"}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _plain(spec, v) for k, v in schema["properties"].items()}
    if schema.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def json_schema(spec: Dict[str, Any], schema: Any) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_plain(spec, schema))


def documented_body(spec: Dict[str, Any], method: str, path: str, status: int) -> Any:
    response = resolve(spec, spec["paths"][path][method.lower()]["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


async def test_answers_have_the_documented_shapes(spec, aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app = make_handoff_app(**PATIENT)
    client = await aiohttp_client(app)
    for name, role in (("wang", "agent"), ("zhao", "analyst"), ("root", "admin")):
        await handoff_helpers["add_account"](app, name, role)

    async def check(method: str, path: str, url: str, status: int, **kw: Any) -> Any:
        resp = await client.request(method, url, **kw)
        assert resp.status == status, await resp.text()
        body = await resp.json()
        errors = [e.message for e in json_schema(spec, documented_body(spec, method, path, status)).iter_errors(body)]
        assert not errors, f"{method} {url} {status}: {errors}"
        return body

    conv = "/agent/api/conversations/{conversation_id}"
    await check("GET", "/agent/api/me", "/agent/api/me", 200)
    await check("POST", "/agent/api/login", "/agent/api/login", 400, json={"username": "wang"})
    csrf = (await check("POST", "/agent/api/login", "/agent/api/login", 200,
                        json={"username": "wang", "password": PASSWORD}))["csrf_token"]
    h = {"X-CSRF-Token": csrf}
    await check("GET", "/agent/api/me", "/agent/api/me", 200)
    await check("POST", "/agent/api/presence", "/agent/api/presence", 200, json={"status": "online"}, headers=h)
    await check("POST", "/agent/api/presence", "/agent/api/presence", 400, json={"status": "busy"}, headers=h)
    sid = (await (await client.post("/sessions")).json())["session_id"]
    bearer = {"Authorization": f"Bearer {sid}"}
    ref = app[SIGNER].conversation_id(sid)  # the console's reference of that conversation
    await client.post(URL, json={"sender": sid, "message": "How do I file my annual return?"})
    await client.post(URL, json={"sender": sid, "message": "agent please"})
    await check("GET", "/conversations/{conversation_id}/handoff", f"/conversations/{sid}/handoff", 200, headers=bearer)
    await check("GET", "/agent/api/queue", "/agent/api/queue", 200)
    await check("GET", conv, f"/agent/api/conversations/{ref}", 200)
    await check("POST", conv + "/claim", f"/agent/api/conversations/{ref}/claim", 200, headers=h)
    await check("POST", conv + "/claim", f"/agent/api/conversations/{ref}/claim", 409, headers=h)
    await check("POST", conv + "/messages", f"/agent/api/conversations/{ref}/messages", 201,
                json={"text": "Hello, call me at 13812345678"}, headers=h)
    await check("POST", conv + "/notes", f"/agent/api/conversations/{ref}/notes", 201, json={"text": "refund"},
                headers=h)
    await check("GET", conv, f"/agent/api/conversations/{ref}", 200)
    await check("GET", "/conversations/{conversation_id}/messages", f"/conversations/{sid}/messages", 200,
                headers=bearer)
    await check("POST", conv + "/close", f"/agent/api/conversations/{ref}/close", 200, json={"outcome": "resolved"},
                headers=h)
    await check("GET", "/conversations/{conversation_id}/history", f"/conversations/{sid}/history", 200, headers=bearer)
    await check("GET", "/agent/api/knowledge", "/agent/api/knowledge?q=audit", 200)
    other = (await (await client.post("/sessions")).json())["session_id"]
    ticket = await check("POST", "/conversations/{conversation_id}/handoff/ticket",
                         f"/conversations/{other}/handoff/ticket", 201,
                         json={"message": "Please call", "contact_method": "phone", "contact": "13800138000"},
                         headers={"Authorization": f"Bearer {other}"})
    await check("GET", "/agent/api/tickets", "/agent/api/tickets?status=all", 200)
    await check("POST", "/agent/api/tickets/{ticket_id}/contact", f"/agent/api/tickets/{ticket['ticket_id']}/contact",
                200, headers=h)
    await check("POST", "/agent/api/tickets/{ticket_id}/contact", "/agent/api/tickets/999/contact", 404, headers=h)
    await check("POST", "/agent/api/tickets/{ticket_id}/close", f"/agent/api/tickets/{ticket['ticket_id']}/close", 200,
                headers=h)
    await check("POST", "/agent/api/logout", "/agent/api/logout", 200, headers=h)
    await handoff_helpers["login"](client, "zhao")
    await check("GET", "/agent/api/stats", "/agent/api/stats", 200)
    await check("GET", "/agent/analytics/api/dashboard", "/agent/analytics/api/dashboard", 200)
    await check("GET", "/agent/analytics/api/conversations/{conversation_id}",
                f"/agent/analytics/api/conversations/{ref}", 200)
    await check("GET", "/agent/analytics/api/dashboard", "/agent/analytics/api/dashboard?from=2026-13-01", 400)
    await handoff_helpers["login"](client, "root")
    await check("GET", "/agent/api/audit", "/agent/api/audit", 200)
    await check("GET", "/agent/api/audit", "/agent/api/audit?limit=0", 400)
