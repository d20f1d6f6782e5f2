"""Load tests and the benchmark: Locust scenario, sweep, summaries, plots and report."""
