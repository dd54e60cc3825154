"""``evjax scenario``: game files of real days (Dutch day-ahead prices, ElaadNL sessions).

``evjax scenario charging --date D --stations public:10,workplace:4 > game.json`` writes a
game file (:mod:`evjax.io`) that ``evjax solve``, ``sweep`` and ``design`` read;
``evjax scenario decks --date D | --tariff NAME > day.json`` a deck scenario for
``evjax decks``; ``evjax scenario year --year Y --stations ... --out DIR`` sweeps every
coalition on every day of a year (DIR/year.parquet, DIR/year.png); ``evjax scenario --list``
prints the dates, kinds and tariffs there are.
"""

from __future__ import annotations

import argparse

from ._common import UsageError, bad_input, positive_number, print_json, writable_folder

HELP = "game files of real days (NL day-ahead prices, ElaadNL sessions, US tariffs)"


def add_scenario(p) -> None:
    """The arguments of ``evjax scenario`` on its parser ``p``."""
    p.description = ("Write a game of a real day as JSON on stdout: 'charging' for evjax "
                     "solve/sweep/design (paper 000), 'decks' for evjax decks (paper 003). "
                     "The data ships with evjax (evjax/data/real/PROVENANCE.md).")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("examples:\n  evjax scenario charging --date 2023-07-15 "
                "--stations public:10,workplace:4,private:6 > game.json\n"
                "  evjax scenario decks --tariff sce-tou-ev-4 > day.json\n"
                "  evjax scenario --list")
    p.add_argument("game", nargs="?", choices=("charging", "decks", "year"),
                   help="which game to write, or 'year': the year study")
    p.add_argument("--list", action="store_true",
                   help="print the available dates, station kinds and tariffs")
    p.add_argument("--date", help="local day YYYY-MM-DD (Europe/Amsterdam)")
    p.add_argument("--stations", help="charging: comma-separated kind:evs[:port_kw], e.g. "
                   "public:10,workplace:4,private:6 (kinds: public, workplace, private)")
    p.add_argument("--steps", type=int, default=24, choices=(24, 96),
                   help="charging: hourly (24, default) or quarter-hour (96) steps; 23/25 "
                        "(92/100) on clock-change days")
    p.add_argument("--b", type=float, help="charging: the price slope b (EUR/kWh per kWh "
                   "of load in a step; default: evjax.scenarios.default_b)")
    p.add_argument("--seed", type=int, default=0, help="charging: seed of the sessions' draw")
    p.add_argument("--year", type=int, help="year: the year of the study")
    p.add_argument("--out", metavar="DIR", help="year: write DIR/year.parquet and "
                   "DIR/year.png")
    p.add_argument("--tariff", help="decks: buy-in price from a tariff (see --list) instead "
                   "of the day-ahead prices")
    p.set_defaults(func=cmd_scenario)


def _listing() -> int:
    from ..scenarios import KINDS, PORT_KW, TARIFFS, available_dates, excluded_dates
    from ..scenarios.real_data import tariff_info

    dates = available_dates()
    print(f"dates: {dates[0]} to {dates[-1]} ({len(dates)} local days); excluded "
          f"(incomplete in the source): {', '.join(map(str, excluded_dates()))}")
    print("kinds: " + ", ".join(f"{k} (default port {PORT_KW[k]:g} kW)" for k in KINDS))
    for name in TARIFFS:
        info = tariff_info(name)
        print(f"tariff {name}: {info['name']}, effective {info['effective']}")
    return 0


def cmd_scenario(args) -> int:
    """``evjax scenario``: print a game file, a deck scenario or the listing."""
    if args.list:
        return _listing()
    if args.game is None:
        raise UsageError("give 'charging' or 'decks' (or --list)")
    if args.game == "decks":
        if args.stations is not None or args.b is not None:
            raise UsageError("--stations and --b are options of 'charging', not 'decks'")
        from ..scenarios import deck_day

        with bad_input():
            return print_json(deck_day(args.date, args.tariff), indent=1)
    if args.tariff is not None:
        raise UsageError("--tariff is an option of 'decks'; 'charging' and 'year' use "
                         "day-ahead prices")
    if args.game == "year":
        return _year(args)
    if args.date is None or args.stations is None:
        raise UsageError("charging needs --date and --stations (see --list)")
    b = None if args.b is None else positive_number(args.b, "--b")
    from ..io import game_to_dict
    from ..scenarios import charging_day

    with bad_input():
        game = charging_day(args.date, args.stations, steps=args.steps, b=b, seed=args.seed)
    text = (f"evjax scenario charging --date {args.date} --stations {args.stations} "
            f"--steps {args.steps} --seed {args.seed}: NL day-ahead prices (EUR/kWh), "
            f"ElaadNL sessions; b = {float(game.b):.6g}")
    return print_json(game_to_dict(game, description=text))


def _year(args) -> int:
    if args.year is None or args.stations is None or args.out is None:
        raise UsageError("year needs --year, --stations and --out")
    folder = writable_folder(args.out)
    b = None if args.b is None else positive_number(args.b, "--b")
    from ..scenarios import write_year_study, year_study

    with bad_input():
        rows = year_study(args.year, args.stations, steps=args.steps, b=b, seed=args.seed)
        table, figure = write_year_study(rows, folder)
    share = rows["share_below_outside"]
    print(f"{len(share)} days of {args.year}, {int(rows['n_coalitions'][0])} coalitions a day, "
          f"swept in {rows['seconds'][0]:.1f} s; share with M_[N]\\C < 1: mean "
          f"{share.mean():.4f}, max {share.max():.4f}")
    print(f"wrote {table} and {figure}")
    return 0
