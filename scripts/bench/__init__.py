"""scripts/benchmark.py's subcommands, one module per family (see its docstring)."""
