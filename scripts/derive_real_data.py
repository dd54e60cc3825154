"""Regenerate evjax's compact copy of real market and charging data (evjax/data/real/).

Sources (ev2gym: MIT licence; acnportal: BSD 3-Clause licence, as its wheel says (LICENSE.txt,
classifier "BSD License"); both licence texts are copied next to the data):
  ev2gym 2.0.0     ev2gym/data/Netherlands_day-ahead-2015-2024.csv (hourly day-ahead prices,
                   EUR/MWh, UTC and local time) and the ElaadNL session statistics
                   distribution-of-arrival(-weekend).csv, distribution-of-energy-demand.csv,
                   distribution-of-connection-time.csv, mean-demand-per-arrival.csv,
                   mean-session-length-per.csv
  acnportal 0.3.3  acnportal/signals/tariffs/tariff_schedules/*.json (SCE TOU-EV-4,
                   SCE TOU-EV-8, PG&E A-10)

Usage:
  python scripts/derive_real_data.py [EV2GYM_WHEEL ACNPORTAL_WHEEL] [--out DIR]

Without wheel paths, the two wheels are fetched with
``pip download --no-deps ev2gym==2.0.0 acnportal==0.3.3`` into a temporary folder. The wheels
are read as zip files; neither package is imported or installed.

What is kept (everything else of the sources is left out):
  prices.npz   utc_hour (int64, hours since 1970-01-01 UTC, consecutive, one entry per hour
               from the first to the last hour of the source), offset (int8: local time minus
               UTC in hours, 1 or 2; 0 where the source has no row), price (float64 EUR/MWh;
               NaN where the source has no row). Rows the source lists twice (2023-01-01 to
               2023-09-30 appear twice, with equal values) are kept once; its one blank row
               is dropped.
  elaad.npz    the six ElaadNL tables, each as <name>_<column> float64 arrays plus <name>_index
               (the first column: clock times "HH:MM" or percentages), in the source's row
               order except mean-demand/mean-session, whose rows are sorted by clock time
               (the source interleaves two half-tables); an empty cell is NaN.
  tariffs.json the three tariff schedules verbatim, keyed by evjax's names.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

EV2GYM, ACNPORTAL = "ev2gym==2.0.0", "acnportal==0.3.3"
PRICES = "ev2gym/data/Netherlands_day-ahead-2015-2024.csv"
ELAAD = {  # evjax's name: file in ev2gym/data/
    "arrival_weekday": "distribution-of-arrival.csv",
    "arrival_weekend": "distribution-of-arrival-weekend.csv",
    "energy_demand": "distribution-of-energy-demand.csv",
    "connection_time": "distribution-of-connection-time.csv",
    "mean_demand": "mean-demand-per-arrival.csv",
    "mean_session": "mean-session-length-per.csv",
}
TARIFFS = {  # evjax's name: file in acnportal/signals/tariffs/tariff_schedules/
    "sce-tou-ev-4": "sce_tou_ev_4_march_2019.json",
    "sce-tou-ev-8": "sce_tou_ev_8_june_2019.json",
    "pge-a-10": "pge_a10_tou_aug_2019.json",
}
TARIFF_DIR = "acnportal/signals/tariffs/tariff_schedules/"
# the ElaadNL tables' column names, as evjax's kinds (mean-demand/-session say home and work)
KIND_NAMES = {"home": "private", "work": "workplace"}


def _rows(wheel: zipfile.ZipFile, name: str) -> list[list[str]]:
    text = wheel.read(name).decode("utf-8-sig")
    return [r for r in csv.reader(io.StringIO(text)) if r]


def _when(text: str) -> dt.datetime:
    """The source's two date spellings: 2015-01-01 00:00:00 and (from 2023) 31/12/2022 23:00."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise ValueError(f"unknown date spelling {text!r} in {PRICES}")


def prices(wheel: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The day-ahead prices on a consecutive UTC hour axis (see the module docstring)."""
    seen: dict[int, tuple[int, float]] = {}
    epoch = dt.datetime(1970, 1, 1)
    for row in _rows(wheel, PRICES)[1:]:
        if row[1] == "":  # the one blank row (",,,0.0")
            continue
        utc, local = _when(row[1]), _when(row[2])
        hour = int((utc - epoch).total_seconds()) // 3600
        entry = (int((local - utc).total_seconds()) // 3600, float(row[3]))
        if seen.setdefault(hour, entry) != entry:
            raise ValueError(f"{PRICES}: hour {utc} listed twice with different values")
    first, last = min(seen), max(seen)
    utc_hour = np.arange(first, last + 1, dtype=np.int64)
    offset = np.array([seen.get(h, (0, 0.0))[0] for h in utc_hour], dtype=np.int8)
    price = np.array([seen[h][1] if h in seen else np.nan for h in utc_hour])
    return {"utc_hour": utc_hour, "offset": offset, "price": price}


def _clock_key(label: str) -> int:
    h, m = label.split(":")
    return int(h) * 60 + int(m)


def elaad(wheel: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The six ElaadNL tables as named columns (see the module docstring)."""
    out = {}
    for name, file in ELAAD.items():
        header, *rows = _rows(wheel, "ev2gym/data/" + file)
        if name in ("mean_demand", "mean_session"):
            rows.sort(key=lambda r: _clock_key(r[0]))
        out[f"{name}_index"] = np.array([r[0] for r in rows])
        for j, column in enumerate(header[1:], start=1):
            kind = KIND_NAMES.get(column, column)
            out[f"{name}_{kind}"] = np.array(
                [float(r[j]) if j < len(r) and r[j] != "" else np.nan for r in rows])
    return out


def tariffs(wheel: zipfile.ZipFile) -> dict:
    return {name: json.loads(wheel.read(TARIFF_DIR + file)) for name, file in TARIFFS.items()}


def _licence(wheel: zipfile.ZipFile, suffix: str) -> str:
    names = [n for n in wheel.namelist() if n.endswith(suffix)]
    return wheel.read(names[0]).decode("utf-8")


def derive(ev2gym_wheel: Path, acnportal_wheel: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(ev2gym_wheel) as ev, zipfile.ZipFile(acnportal_wheel) as acn:
        np.savez_compressed(out / "prices.npz", **prices(ev))
        np.savez_compressed(out / "elaad.npz", **elaad(ev))
        (out / "tariffs.json").write_text(json.dumps(tariffs(acn), indent=1) + "\n")
        (out / "LICENSE-ev2gym.txt").write_text(_licence(ev, "licenses/LICENSE"))
        (out / "LICENSE-acnportal.txt").write_text(_licence(acn, "LICENSE.txt"))


def _download(folder: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(folder), EV2GYM, ACNPORTAL], check=True)
    return (next(folder.glob("ev2gym-2.0.0-*.whl")), next(folder.glob("acnportal-0.3.3-*.whl")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path,
                        help="the ev2gym 2.0.0 and acnportal 0.3.3 wheels (default: pip download)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "evjax" / "data" / "real")
    args = parser.parse_args()
    if len(args.wheels) not in (0, 2):
        parser.error("give both wheels (ev2gym, acnportal) or neither")
    with tempfile.TemporaryDirectory() as tmp:
        ev, acn = args.wheels if args.wheels else _download(Path(tmp))
        derive(ev, acn, args.out)
    for path in sorted(args.out.iterdir()):
        print(f"{path.stat().st_size:>9,d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
