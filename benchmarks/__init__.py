"""gkmeans benchmarks: timed side by side with peers, in one run, on the same data."""
