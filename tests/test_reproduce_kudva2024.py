"""``evjax reproduce kudva2024``: the files written and their numbers (paper 000, Figs 2-5).

One quick CLI run (module fixture) is checked against independent numpy computations: every
plotted mean and standard error recomputed draw by draw and coalition by coalition through the
dense KKT solve of ``helpers``; Figure 2 (nothing random) from type strings alone, which also
shows that the published variant types one station more; Figure 5 against the paper's grids
of ``test_figure5``.
"""

from __future__ import annotations

import csv

import helpers as H
import numpy as np
import pytest
from test_figure5 import EXPECTED

from evjax.cli import main
from evjax.reproduce import kudva2024 as K

SEED = 3
QUICK_DRAWS = K.DRAWS[True]
FIG2 = dict(t=10, a=0.5, b=0.5, alpha=H.shares("paper", 10),
            type_table={"H": (5.0, 1.0), "L": (1.0, 0.1)})  # Section 4.3 types


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kudva2024")
    assert main(["reproduce", "kudva2024", "--out", str(out), "--quick", "--seed", str(SEED)]) == 0
    return out


def read(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def plotted(rows, stat):
    """(K, 3) array of the CSV's ``stat`` ("mean" or "se") per size and group."""
    return np.array([[float(r[f"{stat}_{g}"]) for g in K.GROUPS] for r in rows])


def test_cli_writes_every_figure_as_png_and_csv(run, capsys):
    names = [f"fig{f}_{v}" for f in (2, 3, 4) for v in ("caption", "published")] + ["fig5"]
    expected = {f"{n}.{ext}" for n in names for ext in ("csv", "png")}
    assert {p.name for p in run.iterdir()} == expected
    for name in expected:
        data = (run / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else data.count(b"\n") > 4


def test_size_statistics_equal_a_dense_recomputation_per_draw(run):
    for name, setting in K.SETTINGS.items():
        rows = read(run / f"{name}.csv")
        draws = K.draw(setting, QUICK_DRAWS, SEED)
        n_draws = QUICK_DRAWS if setting.random else 1
        assert [int(r["n_draws"]) for r in rows] == [n_draws] * (setting.n_stations - 1)
        assert [int(r["size"]) for r in rows] == list(range(1, setting.n_stations))
        ratios = np.array([[H.ratios(H.Problem(draws.a[j, i], np.asarray(K.PRICE_SLOPE),
                                               draws.mu[j, i], draws.d[j, i],
                                               np.outer(draws.d[j, i], draws.alpha)),
                                     list(range(k)))
                            for i in range(n_draws)] for j, k in enumerate(draws.sizes)])
        np.testing.assert_allclose(plotted(rows, "mean"), ratios.mean(axis=1), rtol=1e-10)
        se = (ratios.std(axis=1, ddof=1) / np.sqrt(n_draws) if n_draws > 1
              else np.zeros_like(ratios[:, 0]))
        np.testing.assert_allclose(plotted(rows, "se"), se, rtol=1e-6, atol=1e-15)
        if setting.random:  # real draws: the error bars are not all zero
            assert plotted(rows, "se")[1:].min() > 0


@pytest.mark.parametrize("variant, extra", [("caption", 0), ("published", 1)])
def test_figure2_is_its_type_string_and_published_types_one_more_station(run, variant, extra):
    """Figure 2 has nothing random: size k is the game with types L^(k+extra) H^rest."""
    rows = read(run / f"fig2_{variant}.csv")
    for row in rows:
        k = int(row["size"])
        assert int(row["typed_stations"]) == k + extra
        types = "L" * (k + extra) + "H" * (5 - k - extra)
        reference = H.ratios(H.typed_problem(types, [range(k)], **FIG2), list(range(k)))
        np.testing.assert_allclose(plotted([row], "mean")[0], reference, rtol=1e-10)


@pytest.mark.parametrize("figure", [2, 3, 4])
def test_published_variant_has_one_more_coalition_type_station(run, figure):
    caption = read(run / f"fig{figure}_caption.csv")
    published = read(run / f"fig{figure}_published.csv")
    sizes = [int(r["size"]) for r in caption]
    assert [int(r["typed_stations"]) for r in caption] == sizes
    assert [int(r["typed_stations"]) for r in published] == [k + 1 for k in sizes]


def test_draws_follow_the_settings():
    d_h, mu_h = K.TYPES["H"]
    d_l, mu_l = K.TYPES["L"]
    for name, setting in K.SETTINGS.items():
        draws = K.draw(setting, 50, SEED)
        for j, typed in enumerate(draws.typed):
            rest = slice(typed, None)
            d_out, mu_out = K.TYPES[setting.outside]
            assert (draws.d[j][:, rest] == d_out).all() and (draws.mu[j][:, rest] == mu_out).all()
            d_in, mu_in = draws.d[j][:, :typed], draws.mu[j][:, :typed]
            assert np.isin(d_in, (d_h, d_l)).all() and np.isin(mu_in, (mu_h, mu_l)).all()
            paired = (d_in == d_h) == (mu_in == mu_h)
            assert paired.all() != setting.independent or setting.p_high == 0, name
        assert np.ptp(draws.a) == 0 if setting.delta == 0 else 0.5 <= draws.a.min()
        assert draws.a.max() <= 0.5 + setting.delta
    fig4 = K.draw(K.SETTINGS["fig4_caption"], 200, SEED)
    coalition_type = np.broadcast_to((np.arange(14) < fig4.typed[:, None])[:, None], fig4.d.shape)
    share_high = (fig4.d == d_h)[coalition_type].mean()
    assert 0.17 < share_high < 0.23  # type H with probability 0.2
    # the same seed repeats the draws; another seed does not; both variants share them
    again, other = K.draw(K.SETTINGS["fig4_caption"], 200, SEED), K.draw(
        K.SETTINGS["fig4_caption"], 200, SEED + 1)
    assert (again.d == fig4.d).all() and (again.a == fig4.a).all()
    assert (other.a != fig4.a).any()
    assert (K.draw(K.SETTINGS["fig4_published"], 200, SEED).a == fig4.a).all()


def test_figure5_verdicts_are_the_papers_grids(run):
    rows = read(run / "fig5.csv")
    assert len(rows) == 18
    for row in rows:
        assert row["verdict"] == EXPECTED[row["group"]][row["outside"]][row["inside"]]
        problem = H.typed_problem(row["inside"] + row["outside"], [[0, 1]], t=10, a=10.0,
                                  b=1.0, alpha=H.shares("paper", 10))
        reference = H.ratios(problem, [0, 1])[K.GROUPS.index(row["group"])]
        np.testing.assert_allclose(float(row["ratio"]), reference, rtol=1e-10)


def test_bad_input_exits_with_status_2(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert main(["reproduce", "kudva2024", "--out", str(a_file), "--quick"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["reproduce", "kudva2024", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "kudva2025", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seed"):
        K.reproduce(tmp_path, quick=True, seed=-1)
    assert list(tmp_path.iterdir()) == [a_file]  # nothing was written
