"""scripts/derive_real_data.py on a small wheel built here: the source's two date spellings,
its duplicate rows and blank row, a missing hour, the interleaved mean tables, the licences;
and the shipped copy holds exactly what the script derives from such rows."""

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("derive_real_data",
                                              ROOT / "scripts" / "derive_real_data.py")
derive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(derive)

PRICES = """\ufeffCountry,Datetime (UTC),Datetime (Local),Price (EUR/MWhe)
Netherlands,2022-12-31 21:00:00,2022-12-31 22:00:00,10.5
Netherlands,2022-12-31 22:00:00,2022-12-31 23:00:00,11.25
Netherlands,,,0.0
Netherlands,31/12/2022 22:00,31/12/2022 23:00,11.25
Netherlands,01/01/2023 00:00,01/01/2023 01:00,-1.46
"""
MEAN = '\ufeff"Arrival Time","home","public","work"\n"00:00",30.8,20.8\n"05:00",22.0,20.2,10.8\n'


def _wheels(tmp_path):
    ev = tmp_path / "ev2gym-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(ev, "w") as z:
        z.writestr(derive.PRICES, PRICES)
        for name, file in derive.ELAAD.items():
            text = MEAN if name.startswith("mean") else (
                '\ufeff"Arrival time","private","public"\n"00:00",1.5,2.5\n')
            z.writestr("ev2gym/data/" + file, text)
        z.writestr("ev2gym-2.0.0.dist-info/licenses/LICENSE", "MIT License\n")
    acn = tmp_path / "acnportal-0.3.3-py3-none-any.whl"
    with zipfile.ZipFile(acn, "w") as z:
        for file in derive.TARIFFS.values():
            z.writestr(derive.TARIFF_DIR + file, json.dumps({"name": file}))
        z.writestr("acnportal-0.3.3.dist-info/LICENSE.txt", "BSD\n")
    return ev, acn


def test_derive_reads_the_sources_quirks(tmp_path):
    ev, acn = _wheels(tmp_path)
    derive.derive(ev, acn, tmp_path / "out")
    with np.load(tmp_path / "out" / "prices.npz") as z:
        # 4 consecutive UTC hours 21:00 to 00:00; 23:00 has no row (NaN, offset 0)
        np.testing.assert_array_equal(z["offset"], [1, 1, 0, 1])
        np.testing.assert_array_equal(z["price"], [10.5, 11.25, np.nan, -1.46])
        assert np.diff(z["utc_hour"]).tolist() == [1, 1, 1]
    with np.load(tmp_path / "out" / "elaad.npz") as z:
        assert z["mean_demand_index"].tolist() == ["00:00", "05:00"]
        assert z["mean_demand_private"].tolist() == [30.8, 22.0]  # home -> private
        assert np.isnan(z["mean_demand_workplace"][0]) and z["mean_demand_workplace"][1] == 10.8
    assert set(json.loads((tmp_path / "out" / "tariffs.json").read_text())) == set(derive.TARIFFS)
    assert (tmp_path / "out" / "LICENSE-acnportal.txt").read_text() == "BSD\n"


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the wheel rewritten in place
def test_derive_refuses_a_conflicting_duplicate(tmp_path):
    ev, acn = _wheels(tmp_path)
    with zipfile.ZipFile(ev, "a") as z:
        z.writestr(derive.PRICES, PRICES + "Netherlands,01/01/2023 00:00,01/01/2023 01:00,9\n")
    with pytest.raises(ValueError, match="listed twice with different values"):
        derive.derive(ev, acn, tmp_path / "out")


def test_shipped_copy_is_the_derived_form():
    data = ROOT / "evjax" / "data" / "real"
    with np.load(data / "prices.npz") as z:
        assert z["utc_hour"].dtype == np.int64 and z["offset"].dtype == np.int8
        assert (np.diff(z["utc_hour"]) == 1).all() and np.isnan(z["price"]).sum() == 2
    assert sum(p.stat().st_size for p in data.iterdir()) < 500_000
    assert "BSD 3-Clause" in (data / "PROVENANCE.md").read_text()
