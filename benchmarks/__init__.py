"""The evjax benchmark suite: ``python -m benchmarks`` (see ``benchmarks/README.md``).

Each ``bench_*.py`` module here is also a script that runs alone; its ``suite()`` function
returns the structured figures that ``python -m benchmarks`` writes to ``RESULTS.md``.
The modules import each other by bare name (this folder goes on ``sys.path``), so that they
run the same way as scripts and as the suite.
"""
