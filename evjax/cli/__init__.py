"""The ``evjax`` command line: one module per command group, this one assembles them.

=================  =========================================================  ===============
command            what it does                                               module
=================  =========================================================  ===============
solve              equilibrium, costs, ratios, certificate of one game        ``solve``
example-game       a game file of the Figure 2 setting of paper 000           ``solve``
sweep              every coalition of a game (counts, per-size stats, top-k)  ``sweep``
design             the coalition maximising a ratio                           ``design``
sensitivity        d(ratio)/d(parameter), ranked                              ``design``
decks              the deck pricing game of paper 003                         ``decks``
reproduce          a paper's figures and their numbers                        ``reproduce``
scenario           game files of real days (prices, sessions, tariffs)        ``scenario``
stability          stable coalitions, shares of a coalition's saving          ``stability``
=================  =========================================================  ===============

The command modules parse, call evjax's public functions and print; what they share
(the usage error, reading a game, station lists, output folders) is in ``_common``. The
library never imports from here.

Start-up latency: the command modules import the library (and so JAX, equinox, matplotlib)
inside the functions that need it, and a command's arguments are added to its parser only
when that command is chosen, so ``evjax --help`` loads none of them. (Those function-local
imports are there for this alone; there is no import cycle to avoid.) The options whose
choices are library data (``design``, ``sensitivity``: the ratio groups; ``decks``: the
experiments) import the library when their command is parsed, ``--help`` included.

The CLI, unlike the library, enables float64 (``jax_enable_x64``) before running a
command, and keeps compiled programs in a persistent cache between runs
(:func:`compilation_cache_dir`; ``EVJAX_NO_COMPILATION_CACHE=1`` turns it off). Bad input
exits with status 2 and one line on stderr (:class:`UsageError`).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import decks, design, reproduce, scenario, solve, stability, sweep
from ._common import EXIT_BAD_INPUT, UsageError

# name: (one-line help, function adding the command's arguments to its parser), in the order
# of `evjax --help`.
COMMANDS = {
    "solve": (solve.SOLVE_HELP, solve.add_solve),
    "sweep": (sweep.HELP, sweep.add_sweep),
    "example-game": (solve.EXAMPLE_HELP, solve.add_example_game),
    "design": (design.DESIGN_HELP, design.add_design),
    "sensitivity": (design.SENSITIVITY_HELP, design.add_sensitivity),
    "decks": (decks.HELP, decks.add_decks),
    "reproduce": (reproduce.HELP, reproduce.add_reproduce),
    "scenario": (scenario.HELP, scenario.add_scenario),
    "stability": (stability.HELP, stability.add_stability),
}


class _Commands(argparse._SubParsersAction):
    """Subcommands whose arguments are added to their parser when the command is chosen."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending = {}

    def add_command(self, name: str, help: str, add_arguments) -> None:
        self.add_parser(name, help=help)
        self._pending[name] = add_arguments

    def __call__(self, parser, namespace, values, option_string=None):
        add_arguments = self._pending.pop(values[0], None)
        if add_arguments is not None:
            add_arguments(self._name_parser_map[values[0]])
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``evjax`` with its subcommands (their arguments added when chosen)."""
    parser = argparse.ArgumentParser(
        prog="evjax", description="Equilibria of EV-charging games (JAX, float64).",
        epilog="Compiled programs are cached between runs in $XDG_CACHE_HOME/evjax/jax "
               "(default ~/.cache/evjax/jax; JAX_COMPILATION_CACHE_DIR overrides it); "
               "EVJAX_NO_COMPILATION_CACHE=1 turns the cache off.",
    )
    sub = parser.add_subparsers(dest="command", required=True, action=_Commands)
    for name, (help, add_arguments) in COMMANDS.items():
        sub.add_command(name, help, add_arguments)
    return parser


def compilation_cache_dir() -> str | None:
    """Where the CLI keeps compiled programs between runs, or None when that is turned off.

    ``JAX_COMPILATION_CACHE_DIR`` if set (JAX's own variable), else ``evjax/jax`` under
    ``XDG_CACHE_HOME`` (default ``~/.cache``). ``EVJAX_NO_COMPILATION_CACHE=1`` turns it
    off. Entries are keyed by the program, its compile options and the JAX version, so a
    cached program is the one that would be compiled: results cannot change, a repeated
    command only skips the compiling (seconds for a solve, most of its time)."""
    if os.environ.get("EVJAX_NO_COMPILATION_CACHE", "") not in ("", "0"):
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "evjax", "jax")


def _use_compilation_cache(jax) -> None:
    """Point JAX's persistent compilation cache at :func:`compilation_cache_dir` (the CLI
    only: the library never changes JAX's configuration), caching every program."""
    folder = compilation_cache_dir()
    if folder is None:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def main(argv: list[str] | None = None) -> int:
    """Run ``evjax`` with the arguments ``argv`` (default: the command line); exit status."""
    # One thread per XLA op (read when the backend starts, i.e. before the first
    # computation): the CLI's work is many small ops, which intra-op threads only slow down.
    if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    args = build_parser().parse_args(argv)
    import jax  # after parsing: `--help` and argument errors need no JAX

    jax.config.update("jax_enable_x64", True)
    _use_compilation_cache(jax)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"evjax: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


__all__ = ["COMMANDS", "UsageError", "build_parser", "compilation_cache_dir", "main"]
