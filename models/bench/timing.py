"""The timing every Python peer of `cargo xtask bench` uses, so that peers
and zoo are timed alike: one warm-up call, then the median of the runs."""
import time


def median_seconds(runs, f):
    """Median wall-clock seconds of `runs` calls of `f`, after one warm-up
    call (allocator, kernels, lazy initialisation)."""
    f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
