"""Games of real days (issue 20): the shipped data against values read by hand from the
sources, the built games' shapes, units and demands, clock changes, bad input, and a real
day through the equilibrium, the ratios (against a dense numpy KKT solve) and a sweep."""

import datetime as dt
import itertools

import numpy as np
import pytest

import evjax
from evjax.scenarios import charging_day, deck_day, real_data

# ---------------------------------------------------------------- the shipped copy vs sources
# Each value was read by hand from the file named in the wheel (ev2gym-2.0.0 or
# acnportal-0.3.3), with the row (1 = the header line) and column given.


def test_prices_match_the_source_rows():
    # ev2gym/data/Netherlands_day-ahead-2015-2024.csv, column "Price (EUR/MWhe)":
    # row 2: UTC 2015-01-01 00:00, local 01:00 -> 34.94 (the first local hour of the data,
    # whose day has no 00:00 and so is not offered; its next hours are rows 3, 4: 32.19, 28.05)
    local, clock, price, _ = real_data._prices()
    assert price[0] == 34.94 and price[1] == 32.19 and price[2] == 28.05
    assert dt.date(2015, 1, 1) not in real_data.available_dates()
    # last row 94393: UTC 07/01/2025 23:00, local 08/01/2025 00:00 -> 66.19 (alone on its
    # local day); row 94392: local 07/01/2025 23:00 -> 80.01, the last hour of the last day
    assert price[-1] == 66.19
    p, c = real_data.day_prices("2025-01-07")
    assert p[-1] == 80.01 and c[-1] == 23
    # row 76683 (the first in the dd/mm/yyyy spelling): UTC 31/12/2022 23:00, local
    # 01/01/2023 00:00 -> -3.61; row 76684: local 01:00 -> -1.46
    p, c = real_data.day_prices("2023-01-01")
    assert p[0] == -3.61 and p[1] == -1.46 and c[0] == 0
    assert real_data.available_dates()[0] == dt.date(2015, 1, 2)
    assert real_data.excluded_dates() == [dt.date(2023, 12, 31), dt.date(2024, 12, 31)]


def test_elaad_tables_match_the_source_rows():
    arr = real_data.elaad_table("arrival_weekday")  # distribution-of-arrival.csv
    assert arr["index"][0] == "00:00"  # row 2: "00:00",0.868451025056948,0.347536332587053,...
    assert arr["private"][0] == 0.868451025056948 and arr["public"][0] == 0.347536332587053
    assert arr["workplace"][0] == 0.00942113834268718
    assert arr["workplace"][-1] == 0.00538350762439267  # row 97 ("23:45"), column workplace
    wk = real_data.elaad_table("arrival_weekend")  # distribution-of-arrival-weekend.csv
    assert set(wk) == {"index", "private", "public"}  # the source has no workplace column
    assert wk["public"][1] == 0.565242657402615  # row 3 ("00:15"), column public
    e_p, e_q = real_data.quantiles("energy_demand", "public")  # distribution-of-energy-demand
    assert e_q[0] == 99.8 and e_q[1] == 63.6 and e_q[50] == 7.2  # rows 2, 3, 52, col public
    c_p, c_q = real_data.quantiles("connection_time", "private")  # ...-connection-time.csv
    assert c_q[0] == 72 and c_q[1] == 56.5 and c_q[50] == 11  # rows 2, 3, 52, col private
    assert list(e_p[:3]) == [0, 1, 2]
    md = real_data.elaad_table("mean_demand")  # mean-demand-per-arrival.csv, sorted by time
    assert md["index"][10] == "05:00"  # row 3: "05:00",22.0435135135135,20.2595417709451,10.8...
    assert md["private"][10] == 22.0435135135135 and md["workplace"][10] == 10.8555097087379
    assert np.isnan(md["workplace"][0])  # row 2 ("00:00") has no work value
    ms = real_data.elaad_table("mean_session")  # mean-session-length-per.csv
    assert ms["index"][30] == "15:00" and ms["private"][30] == 14.3  # the row "15:00",14.3,...


def test_tariffs_match_the_source_files():
    # acnportal/signals/tariffs/tariff_schedules/sce_tou_ev_4_march_2019.json, Summer-Weekday
    # times [0, 8, 12, 18, 23], tariffs [0.05623, 0.0925, 0.26668, 0.0925, 0.05623]
    summer_weekday = real_data.tariff_prices("sce-tou-ev-4", "2023-07-12")
    assert summer_weekday[7] == 0.05623 and summer_weekday[12] == 0.26668
    assert summer_weekday[23] == 0.05623
    # sce_tou_ev_8_june_2019.json, Summer-Weekend: 16-21 h at 0.25563
    assert real_data.tariff_prices("sce-tou-ev-8", "2023-07-15")[16] == 0.25563
    # pge_a10_tou_aug_2019.json, Summer-Weekday: 0.14903 until 8.5 h, then 0.1771
    pge = real_data.tariff_prices("pge-a-10", "2023-07-12")
    assert pge[8] == pytest.approx((0.14903 + 0.1771) / 2) and pge[9] == 0.1771
    assert real_data.tariff_info("pge-a-10")["name"] == "PGE A-10 TOU"


# ------------------------------------------------------------------------------- the games

STATIONS = "public:10,workplace:4,private:6"


def test_charging_day_shapes_units_and_demands():
    game = charging_day("2023-07-15", STATIONS)
    price, clock = real_data.day_prices("2023-07-15")
    assert game.n_stations == 3 and game.n_steps == 24
    np.testing.assert_array_equal(np.asarray(game.a), price / 1000.0)  # EUR/kWh
    xbar, d = np.asarray(game.xbar), np.asarray(game.d)
    np.testing.assert_allclose(xbar.sum(axis=1), d, rtol=1e-12)
    assert (xbar >= 0).all() and (d > 0).all()
    # no step charges more than the station's ports can: EVs x port power x 1 h
    assert (xbar <= np.array([[10 * 11.0], [4 * 11.0], [6 * 7.4]]) + 1e-9).all()
    assert d[0] < 10 * 100 and d[2] < 6 * 100  # each EV needs at most 99.9 kWh
    np.testing.assert_allclose(np.asarray(game.mu), [0.10 / 10, 0.05 / 4, 0.02 / 6])
    assert float(game.b) == pytest.approx(evjax.scenarios.default_b(STATIONS, 24))
    quarter = charging_day("2023-07-15", STATIONS, steps=96)
    assert quarter.n_steps == 96
    np.testing.assert_array_equal(np.asarray(quarter.a)[:4], [price[0] / 1000.0] * 4)
    np.testing.assert_allclose(np.asarray(quarter.xbar).sum(1), np.asarray(quarter.d))
    # the same sessions at the finer resolution deliver the same energy
    np.testing.assert_allclose(np.asarray(quarter.d), d, rtol=1e-12)
    np.testing.assert_allclose(float(quarter.b), 4 * float(game.b))
    other = charging_day("2023-07-15", STATIONS, seed=1, b=0.01)
    assert float(other.b) == 0.01 and not np.allclose(np.asarray(other.d), d)


@pytest.mark.parametrize("date,hours,missing", [("2023-03-26", 23, 2), ("2023-10-29", 25, None)])
def test_clock_change_days_follow_the_real_hours(date, hours, missing):
    price, clock = real_data.day_prices(date)
    assert price.size == hours
    if missing is not None:
        assert missing not in clock
    else:
        assert list(clock).count(2) == 2  # 02:00-03:00 twice, each with its own price
    for steps, per_hour in ((24, 1), (96, 4)):
        game = charging_day(date, STATIONS, steps=steps)
        assert game.n_steps == hours * per_hour
        np.testing.assert_allclose(np.asarray(game.xbar).sum(1), np.asarray(game.d))
    scenario = deck_day(date)
    assert scenario["hours"] == hours and len(scenario["buy_in"]) == hours


@pytest.mark.parametrize("call,match", [
    (lambda: charging_day("2030-01-01", STATIONS), "2030-01-01.*2015-01-02 to 2025-01-07"),
    (lambda: charging_day("2023-12-31", STATIONS), "2023-12-31.*incomplete"),
    (lambda: charging_day("15/07/2023", STATIONS), "YYYY-MM-DD, got '15/07/2023'"),
    (lambda: charging_day("2023-07-15", "bus:3"), "'bus'.*public, workplace, private"),
    (lambda: charging_day("2023-07-15", "public:0"), "integer >= 1, got 0"),
    (lambda: charging_day("2023-07-15", "public:x"), "'public:x'"),
    (lambda: charging_day("2023-07-15", "public:3:-2"), "port power.*-2"),
    (lambda: charging_day("2023-07-15", []), "at least one station"),
    (lambda: charging_day("2023-07-15", STATIONS, steps=48), "steps.*24.*96.*48"),
    (lambda: charging_day("2023-07-15", STATIONS, b=-1.0), "b must be.*-1.0"),
    (lambda: charging_day("2023-07-15", STATIONS, mu_per_ev={"bus": 1.0}), "'bus'"),
    (lambda: charging_day("2023-07-15", STATIONS, mu_per_ev={"public": 0}), "'public'.*0"),
    (lambda: charging_day("2023-07-15", [("public", 2, 0.0)]), "port power.*0.0"),
    (lambda: charging_day("2023-07-15", ["public"]), "'public'"),
    (lambda: deck_day(), "give a date"),
    (lambda: deck_day(tariff="sce-tou-ev-9"), "'sce-tou-ev-9'.*sce-tou-ev-4"),
    (lambda: deck_day("2031-02-01"), "2031-02-01"),
    (lambda: real_data.elaad_table("arrivals"), "'arrivals'.*arrival_weekday"),
])
def test_bad_input_names_the_value_and_what_exists(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_deck_days_build_deck_games():
    scenario = deck_day("2023-07-12")
    base = evjax.default_deck_scenario()
    assert scenario["buy_in"] == list(real_data.day_prices("2023-07-12")[0] / 1000.0)
    for deck, ref in zip(scenario["decks"], base["decks"], strict=True):
        assert sum(deck["lsc"]) == pytest.approx(sum(ref["lsc"]))  # daily totals kept
    tariff = deck_day(tariff="sce-tou-ev-4")  # its effective date, 2019-03-01 (a Friday)
    assert tariff["hours"] == 24 and tariff["buy_in"][12] == 0.0869  # Winter-Weekday noon
    for s in (scenario, tariff):
        assert isinstance(evjax.build_deck_game(s), evjax.DeckGame)


# ---------------------------------------------------------- a real day through the library


def _dense_kkt(game, coalitions):
    """The C-Nash x (N, T) by one dense KKT solve, independent of evjax: for i in coalition
    C, a^t + b S^t + b sum_{j in C} x_j^t + mu_i (x_i^t - xbar_i^t) + lambda_i = 0 and
    sum_t x_i^t = d_i."""
    a, b = np.asarray(game.a), float(game.b)
    mu, d, xbar = np.asarray(game.mu), np.asarray(game.d), np.asarray(game.xbar)
    n, t = xbar.shape
    group = {i: [i] for i in range(n)}
    for c in coalitions:
        for i in c:
            group[i] = list(c)
    k = np.zeros((n * t + n, n * t + n))
    rhs = np.zeros(n * t + n)
    for i, s in itertools.product(range(n), range(t)):
        row = i * t + s
        for j in range(n):
            k[row, j * t + s] += b * (1 + (j in group[i]))
        k[row, row] += mu[i]
        k[row, n * t + i] = 1.0
        rhs[row] = mu[i] * xbar[i, s] - a[s]
    for i in range(n):
        k[n * t + i, i * t:(i + 1) * t] = 1.0
        rhs[n * t + i] = d[i]
    return np.linalg.solve(k, rhs)[: n * t].reshape(n, t)


def _costs(game, x):
    a, b = np.asarray(game.a), float(game.b)
    p = a + b * x.sum(axis=0)
    return x @ p + 0.5 * np.asarray(game.mu) * ((x - np.asarray(game.xbar)) ** 2).sum(axis=1)


def test_real_day_equilibrium_and_ratios_match_a_dense_kkt_solve():
    game = charging_day("2023-07-15", "public:3,workplace:2,private:2,public:2", b=0.004)
    coalition = [0, 2]
    nash, cnash = _dense_kkt(game, []), _dense_kkt(game, [coalition])
    np.testing.assert_allclose(np.asarray(evjax.equilibrium(game)), nash, atol=1e-8)
    np.testing.assert_allclose(np.asarray(evjax.equilibrium(game, [coalition])), cnash,
                               atol=1e-8)
    c0, c1 = _costs(game, nash), _costs(game, cnash)
    out = [i for i in range(4) if i not in coalition]
    expect = [c0.sum() / c1.sum(), c0[coalition].sum() / c1[coalition].sum(),
              c0[out].sum() / c1[out].sum()]
    ratios = evjax.cost_ratios(game, coalition)
    np.testing.assert_allclose([float(r) for r in ratios], expect, rtol=1e-9)


FIVE = "public:3,workplace:2,private:2,public:2,private:1"  # one sweep compilation, shared


def test_real_day_sweep_counts_every_coalition_and_design_finds_its_best():
    from evjax.design import coalition_search

    game = charging_day("2023-07-15", FIVE, b=0.004)
    result = evjax.sweep(game, progress=False, top_k=1, bins=10)  # as year_study sweeps
    assert result.n_evaluated == 2 ** 5 - 1  # every non-empty coalition
    below = result.below_one["outside"]
    # the count of coalitions that hurt their outsiders, checked against cost_ratios
    masks = [np.isin(np.arange(5), c).astype(float)  # masks: one compilation for all
             for k in range(1, 6) for c in itertools.combinations(range(5), k)]
    direct = sum(float(evjax.cost_ratios(game, m).outside) < 1.0 - 1e-9  # the sweep's tol
                 for m in masks)
    assert below == direct
    best = result.top["coalition"][0]
    found = coalition_search(game, "coalition", restarts=1, steps=5, polish=1)
    assert found.value == pytest.approx(best["ratios"][1], rel=1e-12)
    cert = evjax.certify(game, evjax.equilibrium(game, [best["members"]]), [best["members"]])
    assert float(cert.kkt_residual) < 1e-9 and float(cert.max_gain) < 1e-9


def test_year_study_rows_parquet_and_figure(tmp_path):
    import pyarrow.parquet as pq

    days = [dt.date(2023, 3, 25), dt.date(2023, 3, 26), dt.date(2023, 7, 12)]
    rows = evjax.scenarios.year_study(2023, FIVE, b=0.004, dates=days)
    assert list(rows["hours"]) == [24, 23, 24] and list(rows["weekend"]) == [True, True, False]
    assert (rows["n_coalitions"] == 31).all()
    for g in ("all", "coalition", "outside"):
        assert ((0 <= rows[f"share_below_{g}"]) & (rows[f"share_below_{g}"] <= 1)).all()
    spread = real_data.day_prices("2023-07-12")[0]
    assert rows["price_spread"][2] == pytest.approx((spread.max() - spread.min()) / 1000)
    table, figure = evjax.scenarios.write_year_study(rows, tmp_path)
    assert pq.read_table(table).num_rows == 3 and figure.stat().st_size > 0
    assert len(evjax.scenarios.year_dates(2022)) == 365
    with pytest.raises(ValueError, match="year 1999.*2015, 2016"):
        evjax.scenarios.year_dates(1999)

