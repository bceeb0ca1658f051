"""Runs that answer a question: lambda sweeps, the claims the pages quote, speed and robustness benchmarks."""
