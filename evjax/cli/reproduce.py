"""``evjax reproduce``: regenerate a paper's figures (PNG) and their numbers (CSV) with
:mod:`evjax.reproduce`."""

from __future__ import annotations

from ._common import UsageError, writable_folder

HELP = "regenerate a paper's figures and their numbers (PNG + CSV)"


def add_reproduce(p) -> None:
    """The arguments of ``evjax reproduce`` on its parser ``p``."""
    from ..reproduce import PAPERS  # the choices

    p.description = ("Regenerate the figures of a paper as PNG files, with the plotted "
                     "numbers as CSV files, under --out (with 'all': each paper under "
                     "OUT/NAME/).")
    p.add_argument("paper", choices=[*PAPERS, "all"], help="which paper, or all of them")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the files")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long run with few random draws (for tests)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (>= 0)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    """``evjax reproduce``: write each paper's files, then list them."""
    from ..reproduce import PAPERS, load

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
