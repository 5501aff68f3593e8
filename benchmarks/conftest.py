"""The hot-path benchmarks (``benchmarks/test_hot_paths.py``) are timings, not tests: they are
collected only when benchmarks are enabled (``make bench``: ``--benchmark-enable``), so they
stay out of the test suite's count."""

from pathlib import Path

BENCHMARK_MODULES = ("test_hot_paths.py",)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hot_path: hot-path benchmarks tracked against benchmarks/baseline/ "
        "(make bench)")


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Skip the benchmark modules unless ``--benchmark-enable`` was given."""
    if collection_path.name in BENCHMARK_MODULES and not config.getoption("benchmark_enable"):
        return True
    return None
