"""`envmon bench chaos`: faults at random moments on a private stack, judged against `envmon replay`."""


def main(argv: list[str] | None = None) -> int:
    """`envmon bench chaos` runs `benchmarks.chaos`'s main: the run itself lives in benchmarks/chaos/bench.py."""
    # Imported here so the harness's parts (district, faults, ledger) load without the whole run.
    from benchmarks.chaos.bench import main as run

    return run(argv)
