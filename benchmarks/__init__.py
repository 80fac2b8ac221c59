"""wsgikit against its peers, same apps, same run, ratios out (``python -m benchmarks``).

The server under test is pinned to core 0 and wrk to core 1 (``taskset``); every cell first checks
a sample response, so a server that answers with errors cannot "win". See docs/benchmarks.rst.
"""
