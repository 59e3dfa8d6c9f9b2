#!/usr/bin/python3
"""Python's baseline for WorkerRoundTripBenchmark: round trips through multiprocessing.Pipe().

Run by Debian's system Python (/usr/bin/python3, with python3-numpy) from scripts/bench, pinned like the
JMH run: the parent is started on cpu 0 (taskset), the child stays there (--child-cpu inherit, "same-core")
or moves itself to another cpu with os.sched_setaffinity (--child-cpu 1, "cross-core").

The pipe is multiprocessing.Pipe() (duplex: a socketpair); the child is a multiprocessing.Process that
echoes every recv_bytes() back with send_bytes(), like panpipe's EchoWorker echoes every frame as it came.
Measurements, each for a fixed time after a warm-up, one timestamp pair per round trip:

  bytes:N      N bytes (--sizes, default 64 B to one 3840x2160 RGB frame): send_bytes + recv_bytes, the
               baseline of WorkerRoundTripBenchmark.bytes with size=N
  framePickle  one 1920x1080 RGB frame as a numpy uint8 array (1080, 1920, 3): send() + recv(), i.e.
               pickled by the parent and unpickled when it comes back (the child echoes the pickle's bytes;
               panpipe's worker likewise echoes the pixel frame's bytes without decoding them)

Start method: fork, set explicitly. It is the default on Linux up to Python 3.13 and what a Linux user of
multiprocessing gets; the child needs nothing but the echo loop. Nothing timed depends on it (the child
starts before the warm-up); spawn would only start slower.

Prints JSON on stdout: per measurement mean, p50, p90, p99, p99.9, min, max (microseconds) and iterations.
A subset: e.g. --sizes 64,6220800 --only bytes,framePickle.
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time

WIDTH, HEIGHT = 1920, 1080
FRAME_BYTES = WIDTH * HEIGHT * 3


def echo(conn, other_end, cpu):
    other_end.close()       # forked with the parent's end open: close it, or the parent's close is no EOF here
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def percentile(sorted_ns, q):
    i = min(len(sorted_ns) - 1, max(0, int(round(q / 100.0 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[i] / 1000.0


def measure(one_trip, warmup_s, time_s, max_samples=2_000_000):
    deadline = time.perf_counter() + warmup_s
    while time.perf_counter() < deadline:
        one_trip()
    samples = []
    clock = time.perf_counter_ns
    end = clock() + int(time_s * 1e9)
    while len(samples) < max_samples:
        t0 = clock()
        one_trip()
        t1 = clock()
        samples.append(t1 - t0)
        if t1 >= end:
            break
    samples.sort()
    n = len(samples)
    return {
        "unit": "us/op",
        "iterations": n,
        "mean": sum(samples) / n / 1000.0,
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "p99.9": percentile(samples, 99.9),
        "min": samples[0] / 1000.0,
        "max": samples[-1] / 1000.0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child-cpu", default="inherit", help="'inherit' or the cpu number the child moves to")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per measurement")
    ap.add_argument("--time", type=float, default=10.0, help="seconds measured per measurement")
    ap.add_argument("--sizes", default="64,4096,65536,1048576,6220800,24883200",
                    help="comma-separated message sizes in bytes for the bytes:N measurements")
    ap.add_argument("--only", default="bytes,framePickle", help="comma-separated kinds: bytes, framePickle")
    args = ap.parse_args()
    child_cpu = None if args.child_cpu == "inherit" else int(args.child_cpu)

    import numpy as np  # the system Python's python3-numpy

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()           # duplex: a socketpair
    proc = ctx.Process(target=echo, args=(child, parent, child_cpu), daemon=True)
    proc.start()
    child.close()

    sizes = [int(x) for x in args.sizes.split(",") if x]
    kinds = args.only.split(",")
    for kind in kinds:
        if kind not in ("bytes", "framePickle"):
            sys.exit("--only: bytes or framePickle, not %s" % kind)
    messages = {n: bytes((i * 31 + 7) & 0xFF for i in range(n)) if n <= 65536 else os.urandom(n) for n in sizes}
    rng = np.random.default_rng(42)
    array = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame = array.tobytes()
    assert len(frame) == FRAME_BYTES

    # Every variant must really echo (and the child must be where it was asked to be).
    for message in messages.values():
        parent.send_bytes(message)
        assert parent.recv_bytes() == message
    parent.send(array)
    back = parent.recv()
    assert back.shape == array.shape and back.dtype == array.dtype and np.array_equal(back, array)
    child_cpus = sorted(os.sched_getaffinity(proc.pid))
    if child_cpu is not None and child_cpus != [child_cpu]:
        sys.exit("child runs on cpus %s, expected %d" % (child_cpus, child_cpu))

    def bytes_trip(message):
        def trip():
            parent.send_bytes(message)
            parent.recv_bytes()
        return trip

    def frame_pickle():
        parent.send(array)
        parent.recv()

    results = {}
    if "bytes" in kinds:
        for n, message in messages.items():
            results["bytes:%d" % n] = measure(bytes_trip(message), args.warmup, args.time)
    if "framePickle" in kinds:
        results["framePickle"] = measure(frame_pickle, args.warmup, args.time)

    parent.close()
    proc.join(10)
    print(json.dumps({
        "python": sys.executable + " " + platform.python_version(),
        "numpy": np.__version__,
        "start_method": "fork",
        "parent_cpus": sorted(os.sched_getaffinity(0)),
        "child_cpus": child_cpus,
        "pickle_protocol": __import__("pickle").DEFAULT_PROTOCOL,
        "warmup_s": args.warmup,
        "time_s": args.time,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
