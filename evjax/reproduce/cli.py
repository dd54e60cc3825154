"""``evjax reproduce``: regenerate a paper's figures (PNG) and their numbers (CSV).

``add_parser(sub)`` registers the subcommand on the parser of :mod:`evjax.cli`.
"""

from __future__ import annotations

from . import PAPERS


def add_parser(sub) -> None:
    """Register the ``reproduce`` subcommand on an argparse subparsers object."""
    p = sub.add_parser(
        "reproduce", help="regenerate a paper's figures and their numbers (PNG + CSV)",
        description="Regenerate the figures of a paper as PNG files, with the plotted numbers "
                    "as CSV files, under --out (with 'all': each paper under OUT/NAME/).",
    )
    p.add_argument("paper", choices=[*PAPERS, "all"], help="which paper, or all of them")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the files")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long run with few random draws (for tests)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (>= 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import UsageError, writable_folder
    from . import load

    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    out = writable_folder(args.out)  # created and checked before any work
    names = list(PAPERS) if args.paper == "all" else [args.paper]
    modules = {}
    for name in names:  # import every module first: fail before any work is done
        try:
            modules[name] = load(name)
        except ModuleNotFoundError as exc:
            if exc.name != PAPERS[name]:
                raise
            raise UsageError(f"paper {name!r} is registered but {PAPERS[name]} is not "
                             f"installed") from None
    for name, module in modules.items():
        folder = out / name if args.paper == "all" else out
        written = module.reproduce(folder, quick=args.quick, seed=args.seed, progress=True)
        print(f"{name}: wrote {len(written)} files under {folder}")
        for path in written:
            print(f"  {path}")
    return 0
