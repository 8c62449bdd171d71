"""A small mutation-testing tool for the engine and design modules (``benchmarks/mutation.py``).

:mod:`.operators` enumerates and applies mutants with :mod:`ast`; :mod:`.loader` puts one
mutated module into a process's imports without touching the tree; :mod:`.checks` runs the
suite and compares it with the unmutated baseline; :mod:`.worker` evaluates each mutant in a
fresh forked process with a time limit; :mod:`.pool` drives the workers and summarises.
"""
