"""The notebooks run top to bottom, and the quickstart notebook is the README's example."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, capsys, monkeypatch):
    monkeypatch.setenv("EVJAX_QUICK", "1")  # every notebook reads it: fewer draws, smaller games
    namespace: dict = {"__name__": "__main__"}
    for source in code_cells(path):
        exec(compile(source, f"{path.name}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "nan" not in out.lower().replace("n/a", "")


def test_quickstart_is_the_readme_example():
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    cells = code_cells(ROOT / "notebooks" / "quickstart.ipynb")
    assert "\n\n".join(cells).split() == example.split()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"# 2\. install and run the tests\n(.+)\n", readme).group(1).strip()
    assert command in ci.splitlines()
