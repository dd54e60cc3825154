"""Game files: JSON with keys a, b, mu, d and either xbar or alpha (optionally coalitions).

    {"a": [T numbers], "b": number or [T numbers], "mu": [N numbers], "d": [N numbers],
     "xbar": [N lists of T numbers]  |  "alpha": [T numbers, >= 0, summing to 1],
     "coalitions": [[0, 1], ...]      (optional: the default structure for `evjax solve`),
     "description": "free text"       (optional)}
"""

from __future__ import annotations

import json
from pathlib import Path

from .charging.coalitions import coalition_lists
from .charging.game import ChargingGame

REQUIRED = ("a", "b", "mu", "d")
OPTIONAL = ("xbar", "alpha", "coalitions", "description")


def game_from_dict(data) -> tuple[ChargingGame, list[list[int]] | None]:
    """Build (game, coalitions or None) from a parsed game file; ``ValueError`` if malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"a game file must hold a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; allowed: {list(REQUIRED + OPTIONAL)}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"missing key(s) {missing}")
    if ("xbar" in data) == ("alpha" in data):
        raise ValueError("give exactly one of 'xbar' (N lists of T numbers) or 'alpha' (T numbers)")
    for key in REQUIRED + ("xbar", "alpha"):
        if key in data and _has_non_number(data[key]):
            raise ValueError(f"{key} must hold numbers only, got {json.dumps(data[key])[:60]}")
    if "xbar" in data:
        game = ChargingGame(data["a"], data["b"], data["mu"], data["d"], _rectangular(data["xbar"]))
    else:
        game = ChargingGame.from_shares(data["a"], data["b"], data["mu"], data["d"], data["alpha"])
    coalitions = data.get("coalitions")
    if coalitions is not None:
        coalitions = coalition_lists(coalitions, game.n_stations)
    return game, coalitions


def _has_non_number(value) -> bool:
    if isinstance(value, list):
        return any(_has_non_number(v) for v in value)
    return isinstance(value, bool) or not isinstance(value, (int, float))


def _rectangular(rows):
    if isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows):
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ValueError(f"xbar rows must all have T entries, got lengths {sorted(lengths)}")
    return rows


def load_game(path: str | Path) -> tuple[ChargingGame, list[list[int]] | None]:
    """Read a game file; ``ValueError`` with a one-line reason if it cannot be used."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return game_from_dict(data)


def game_to_dict(game: ChargingGame, coalitions=None, description: str | None = None) -> dict:
    """The game-file form of a game (with xbar written out)."""
    out = game.to_dict()
    if coalitions is not None:
        out["coalitions"] = [list(c) for c in coalitions]
    if description:
        out["description"] = description
    return out
