"""The ``hot_path`` marker of ``benchmarks/test_hot_paths.py`` (``make bench``)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hot_path: hot-path benchmarks tracked against benchmarks/baseline/ "
        "(make bench); with benchmarks disabled each body runs once")
