"""The codebase keeps the shape the README promises: where things are, how they depend, where settings come from."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from knowledge.env import VARIABLES, markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGES = ("actions", "bot", "knowledge", "nlu", "scripts")
FIRST_PARTY = set(PACKAGES)


def _modules(*packages: str) -> Iterator[Tuple[str, Path]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(node: ast.AST, module: str) -> List[str]:
    """First-party modules an import statement names (relative imports resolved against ``module``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] in FIRST_PARTY]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
        if base.split(".")[0] not in FIRST_PARTY:
            return []
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    return []


# --------------------------------------------------------------------------- configuration


def _readme_section(start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), README, re.S)
    assert match, f"README.md has no section between {start} and {end}"
    return match.group(1).strip()


def test_readme_configuration_table_is_the_settings_registry() -> None:
    """Every variable a process reads is in the README with its default, and nothing else is."""
    assert _readme_section("<!-- env-table:start -->", "<!-- env-table:end -->") == markdown_table(), (
        "README.md's configuration table differs from knowledge/env.py: run `python -m knowledge.env` and paste it"
    )


def test_environment_is_read_only_through_knowledge_env() -> None:
    """No module reads os.environ / os.getenv itself (settings are read in one place)."""
    allowed = {
        ("scripts.stack", "dict"),  # copies the environment for the child processes it starts
        ("knowledge.encoder", "apply_offline_defaults"),  # sets TF/HF defaults before TensorFlow loads
    }
    found: Set[Tuple[str, str]] = set()
    offenders: List[str] = []
    for module, path in _modules(*PACKAGES):
        if module == "knowledge.env":
            continue
        tree = _tree(path)
        parents: Dict[ast.AST, ast.AST] = {
            child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
        }
        for node in ast.walk(tree):
            is_env = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv")
            if not is_env:
                continue
            parent = parents.get(node)
            caller = parent.func.id if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) else ""
            if (module, caller) in allowed:
                found.add((module, caller))
            else:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"read the environment through knowledge.env.Env instead: {offenders}"
    assert found == allowed, f"the allowed exceptions changed: {sorted(allowed - found)} no longer exist"


def test_settings_name_the_variable_of_a_bad_value() -> None:
    from bot.settings import Settings, SettingsError
    from knowledge.settings import KnowledgeSettings

    for name, value, build in [
        ("UPSTREAM_TIMEOUT", "soon", Settings.from_env),
        ("PORT", "70000", Settings.from_env),
        ("TRUST_PROXY", "maybe", Settings.from_env),
        ("TAXGUIDE_DOMAIN_THRESHOLD", "high", KnowledgeSettings.from_env),
        ("TAXGUIDE_ENCODER", "bert", KnowledgeSettings.from_env),
    ]:
        with pytest.raises(SettingsError, match=name):
            build({name: value})


def test_undocumented_variable_cannot_be_read() -> None:
    from knowledge.env import Env

    assert "TAXGUIDE_SECRET_FEATURE" not in VARIABLES
    with pytest.raises(KeyError, match="TAXGUIDE_SECRET_FEATURE"):
        Env({"TAXGUIDE_SECRET_FEATURE": "1"}).text("TAXGUIDE_SECRET_FEATURE")


# --------------------------------------------------------------------------- packaging and dependencies


def test_no_sys_path_edits() -> None:
    offenders = []
    for path in sorted(ROOT.glob("**/*.py")):
        if any(part in (".venv", "node_modules", "var", "models") for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                    and node.value.id == "sys":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"the project is installed editable (pyproject.toml); no sys.path edits: {offenders}"


def test_action_server_never_imports_the_gateway() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for module, path in _modules("actions", "knowledge", "nlu")
        for node in ast.walk(_tree(path))
        for name in _imported(node, module)
        if name.split(".")[0] == "bot"
    ]
    assert offenders == [], f"dependencies point one way (bot -> knowledge, actions -> knowledge): {offenders}"


def _graph(packages: Tuple[str, ...]) -> Dict[str, Set[str]]:
    names = {name for name, _ in _modules(*packages)}
    graph: Dict[str, Set[str]] = {}
    for module, path in _modules(*packages):
        edges: Set[str] = set()
        for node in _tree(path).body:  # module level only: what runs at import time
            if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports do not run
                continue
            for name in _imported(node, module):
                while name and name not in names:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def test_no_import_cycles() -> None:
    graph = _graph(PACKAGES)
    cycles: List[List[str]] = []
    state: Dict[str, int] = {}

    def visit(node: str, stack: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own submodules
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], f"import cycles: {cycles}"


def test_no_lazy_first_party_imports_in_the_gateway() -> None:
    """Imports inside functions hide cycles; the gateway imports its own modules at the top."""
    offenders = []
    for module, path in _modules("bot"):
        for func in ast.walk(_tree(path)):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if _imported(node, module):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"import at module level: {offenders}"


# --------------------------------------------------------------------------- the README's map


def _where_rows() -> List[Tuple[str, str]]:
    section = _readme_section("<!-- where:start -->", "<!-- where:end -->")
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("behaviour", "") or set(cells[0]) <= {"-", " "}:
            continue
        for ref in re.findall(r"`([a-z_.]+(?::[A-Za-z_.]+)?)`", cells[1]):
            rows.append((cells[0], ref))
    return rows


def test_where_is_it_table_names_real_code() -> None:
    """Every module and function the README's "Where is it" table names exists."""
    rows = _where_rows()
    assert len(rows) >= 30, "the README's 'Where is it' table should cover every behaviour the README describes"
    missing = []
    for behaviour, ref in rows:
        module_name, _, attribute = ref.partition(":")
        try:
            target: object = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{behaviour}: {ref} (no module)")
            continue
        for part in filter(None, attribute.split(".")):
            if not hasattr(target, part):
                missing.append(f"{behaviour}: {ref} (no {part})")
                break
            target = getattr(target, part)
    assert missing == [], f"README 'Where is it' names code that does not exist: {missing}"


def test_where_is_it_table_covers_every_package() -> None:
    modules = {ref.partition(":")[0] for _, ref in _where_rows()}
    for package in ("actions", "bot", "bot.handoff", "bot.analytics", "bot.wechat", "knowledge", "nlu", "scripts"):
        assert any(m == package or m.startswith(package + ".") for m in modules), f"nothing in {package} is mapped"
