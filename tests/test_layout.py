"""The planes import downward only (docs/DESIGN.md): the data plane (`trainables/`) knows
nothing of studies, Tune or reports; `dashboards/` reads MLflow through the data plane's
tracking schema and uses only the control plane's error type; of the control plane only
the CLI reaches the dashboards. Every command the README's quick reference documents is run
by some test."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_packages(path: Path) -> set[str]:
    """Every maskray module `path` imports (at any depth: lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("orchestrator", "trainables", "dashboards")}


def upward_imports(package: str, allowed) -> list[str]:
    return [f"{path.relative_to(REPO)} imports {name}"
            for path in sorted((REPO / package).rglob("*.py"))
            for name in sorted(imported_packages(path)) if not allowed(path, name)]


def test_data_plane_imports_neither_control_plane_nor_dashboards():
    assert upward_imports("trainables", lambda path, name: name.startswith("trainables")) == []


def test_dashboards_use_only_the_control_planes_error_type():
    assert upward_imports("dashboards", lambda path, name: not name.startswith("orchestrator")
                          or name.startswith("orchestrator.errors")) == []


def test_only_the_cli_reaches_the_dashboards():
    assert upward_imports("orchestrator", lambda path, name: not name.startswith("dashboards")
                          or path.name == "cli.py") == []


def subcommands() -> dict[str, str]:
    """Every `maskray` command (`data check` for the data group) → its name (aliases → the command)."""
    import argparse

    from orchestrator.cli import build_parser
    out = {}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    if nested:
                        walk(sub, f"{prefix}{name} ")
                    else:
                        out[f"{prefix}{name}"] = f"{prefix}{sub.prog.split()[-1]}"
    walk(build_parser(), "")
    return out


def test_every_documented_command_is_run_by_a_test():
    commands = subcommands()
    readme = (REPO / "README.md").read_text()
    documented = {commands[c] for c in commands if re.search(rf"maskray {c}\b", readme)}
    tests = "\n".join(p.read_text() for p in (REPO / "tests").glob("*.py") if p.name != "test_layout.py")
    calls = re.findall(r'(?:maskray\(|\[str\(exe\), )"([a-z]+)"(?:, "([a-z]+)")?', tests)
    run = {commands[name] for call in calls for name in (" ".join(call).strip(), call[0]) if name in commands}
    assert len(documented) >= 10 and documented <= run, f"documented but run by no test: {sorted(documented - run)}"
