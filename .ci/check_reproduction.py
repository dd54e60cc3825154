"""CI: check a full ``evjax reproduce all --out DIR`` run: every figure and table written, every
equilibrium certified.

Usage: ``python .ci/check_reproduction.py DIR``. Exits 1 with one line per problem, else
prints what it checked. It reads only the files (PNG signature and size, CSV rows), so it
checks what a user gets, not what the library says about itself.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"

# paper -> figures (a PNG and its CSV each) and tables (CSV only) that a full run writes
EXPECTED = {
    "kudva2024": {
        "figures": [f"fig{n}_{v}" for n in (2, 3, 4) for v in ("caption", "published")]
                   + ["fig5"],
        "tables": [],
    },
    "jiang2023": {
        "figures": [f"fig{n}" for n in range(3, 11)],
        "tables": ["certificates", "parameters", "findings"],
    },
}


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def check(root: Path) -> list[str]:
    problems = []
    for paper, want in EXPECTED.items():
        folder = root / paper
        for name in want["figures"]:
            png = folder / f"{name}.png"
            if not png.is_file() or png.stat().st_size < 1000 or png.read_bytes()[:8] != PNG:
                problems.append(f"{paper}: {png.name} missing or not a PNG image")
        for name in want["figures"] + want["tables"]:
            path = folder / f"{name}.csv"
            if not path.is_file():
                problems.append(f"{paper}: {path.name} missing")
            elif not rows(path):
                problems.append(f"{paper}: {path.name} has no rows")
    certificates = root / "jiang2023" / "certificates.csv"
    if certificates.is_file():
        table = rows(certificates)
        for row in table:
            if not (truthy(row.get("converged", "")) and truthy(row.get("certified", ""))):
                problems.append(f"jiang2023: experiment {row.get('experiment')!r} is not "
                                f"certified: {row}")
            # the certificate's numbers themselves, not only the library's verdict
            gain = float(row.get("max_relative_best_response_gain", "nan"))
            worst = float(row.get("max_violation", "nan"))
            if not (gain < 1e-6 and worst < 1e-8):
                problems.append(f"jiang2023: experiment {row.get('experiment')!r}: relative "
                                f"best-response gain {gain:g}, violation {worst:g}")
        if len(table) < 7:
            problems.append(f"jiang2023: certificates.csv has {len(table)} experiments, not 7")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python .ci/check_reproduction.py DIR", file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    problems = check(root)
    for p in problems:
        print(f"reproduction check: {p}", file=sys.stderr)
    if problems:
        return 1
    n = sum(len(w["figures"]) * 2 + len(w["tables"]) for w in EXPECTED.values())
    print(f"reproduction check: {n} files of {len(EXPECTED)} papers written, every deck "
          f"equilibrium converged and certified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
