"""Compiled kernel vs segeval's numpy run-length counting: CPU time per mask pair.

A one-off experiment for issue 17 (is a compiled dependency worth proposing?), kept
with its results (results.md) so the numbers in the note can be reproduced; it is
not part of segeval or of ``make bench``. In a venv of its own with numpy,
imagecodecs, numba and Cython (build: ``cythonize -i -3 cyhist.pyx`` here), from
the repository root after ``make bench`` has made the sets:

    NUMBA_NUM_THREADS=1 PYTHONPATH=.:benchmarks/compiled_kernel REPEATS=7 \
        venv/bin/python benchmarks/compiled_kernel/measure.py
"""

import glob
import json
import os
import sys
import time

import imagecodecs
import kernels_nb as nb
import numpy as np

from segeval.core.histogram import RawPairCounts, pair_histogram

try:
    import cyhist
except ImportError:  # Cython build optional
    cyhist = None

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache")
SETS = {"ADE20K (512x512)": ("ade20k-2000", 200), "Cityscapes (2048x1024)": ("cityscapes-200", 50)}
REPEATS = int(os.environ.get("REPEATS", 5))
NBINS = 1 << 16


def load(name, count):
    gts = sorted(glob.glob(f"{CACHE}/{name}/gt/*.png"))[:count]
    raw = []
    for g in gts:
        p = g.replace("/gt/", "/pred/")
        with open(g, "rb") as f1, open(p, "rb") as f2:
            raw.append((f1.read(), f2.read()))
    return raw


def best(fn):
    """Best-of-REPEATS CPU time (s) of fn() -- called round-robin from outside."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main():
    out = {"uptime_before": os.popen("uptime").read().strip()}
    for label, (name, count) in SETS.items():
        raw = load(name, count)
        pairs = [(imagecodecs.png_decode(a), imagecodecs.png_decode(b)) for a, b in raw]
        for g, p in pairs:
            assert g.dtype == p.dtype == np.uint8
            assert g.shape == p.shape
            assert g.flags.c_contiguous
        flat = [(g.ravel(), p.ravel()) for g, p in pairs]
        pixels = pairs[0][0].size

        # ---- exactness, pair by pair and over the whole set -------------------------
        exact = dict.fromkeys(
            [
                "pair_histogram",
                "numba_pixels",
                "numba_pixels4",
                "numba_runs",
                "numba_runs_words",
                "numba_runs_ctz",
                "cython_pixels",
                "cython_runs",
                "cython_runs_words",
                "cython_runs_ctz",
            ],
            True,
        )
        total_ref = np.zeros(NBINS, np.int64)
        change_share = []
        for (g, p), (gf, pf) in zip(pairs, flat, strict=False):
            rc = RawPairCounts()
            rc.add(g, p)
            ref = rc.histogram()
            total_ref += ref
            change_share.append(
                np.count_nonzero((gf[1:] != gf[:-1]) | (pf[1:] != pf[:-1])) / gf.size
            )
            exact["pair_histogram"] &= np.array_equal(pair_histogram(g, p), ref)
            h = np.zeros(NBINS, np.int64)
            nb.hist_pixels(g, p, h)
            exact["numba_pixels"] &= np.array_equal(h, ref)
            h4 = np.zeros((4, NBINS), np.int64)
            nb.hist_pixels4(g, p, h4)
            exact["numba_pixels4"] &= np.array_equal(h4.sum(0), ref)
            h = np.zeros(NBINS, np.int64)
            nb.hist_runs(g, p, h)
            exact["numba_runs"] &= np.array_equal(h, ref)
            h = np.zeros(NBINS, np.int64)
            nb.hist_runs_words(g, p, h)
            exact["numba_runs_words"] &= np.array_equal(h, ref)
            h = np.zeros(NBINS, np.int64)
            nb.hist_runs_ctz(g, p, h)
            exact["numba_runs_ctz"] &= np.array_equal(h, ref)
            if cyhist is not None:
                h = np.zeros(NBINS, np.int64)
                cyhist.hist_pixels(gf, pf, h)
                exact["cython_pixels"] &= np.array_equal(h, ref)
                h = np.zeros(NBINS, np.int64)
                cyhist.hist_runs(gf, pf, h)
                exact["cython_runs"] &= np.array_equal(h, ref)
                h = np.zeros(NBINS, np.int64)
                cyhist.hist_runs_words(gf, pf, h)
                exact["cython_runs_words"] &= np.array_equal(h, ref)
                h = np.zeros(NBINS, np.int64)
                cyhist.hist_runs_ctz(gf, pf, h)
                exact["cython_runs_ctz"] &= np.array_equal(h, ref)
        rc = RawPairCounts()
        for g, p in pairs:
            rc.add(g, p)
        assert np.array_equal(rc.histogram(), total_ref)
        assert total_ref.sum() == pixels * len(pairs)
        if cyhist is None:
            del (
                exact["cython_pixels"],
                exact["cython_runs"],
                exact["cython_runs_words"],
                exact["cython_runs_ctz"],
            )

        # ---- timed variants: each processes the whole set once ------------------------
        def decode():
            for a, b in raw:
                imagecodecs.png_decode(a)
                imagecodecs.png_decode(b)

        def rawpaircounts():
            c = RawPairCounts()
            for g, p in pairs:
                c.add(g, p)
            return c.histogram()

        def pairhist():  # per-pair numpy function (one 65536-bin pass per block)
            h = np.zeros(NBINS, np.int64)
            for g, p in pairs:
                h += pair_histogram(g, p)
            return h

        def numba_pixels():
            h = np.zeros(NBINS, np.int64)
            for g, p in pairs:
                nb.hist_pixels(g, p, h)
            return h

        def numba_pixels4():
            h4 = np.zeros((4, NBINS), np.int64)
            for g, p in pairs:
                nb.hist_pixels4(g, p, h4)
            return h4.sum(0)

        def numba_runs():
            h = np.zeros(NBINS, np.int64)
            for g, p in pairs:
                nb.hist_runs(g, p, h)
            return h

        def numba_runs_words():
            h = np.zeros(NBINS, np.int64)
            for g, p in pairs:
                nb.hist_runs_words(g, p, h)
            return h

        def numba_runs_ctz():
            h = np.zeros(NBINS, np.int64)
            for g, p in pairs:
                nb.hist_runs_ctz(g, p, h)
            return h

        variants = {
            "decode (2 PNGs, imagecodecs)": decode,
            "RawPairCounts add+histogram": rawpaircounts,
            "pair_histogram per pair": pairhist,
            "numba per-pixel": numba_pixels,
            "numba per-pixel x4 sub-hists": numba_pixels4,
            "numba runs": numba_runs,
            "numba runs, 8-px word skip": numba_runs_words,
            "numba runs, word skip + ctz": numba_runs_ctz,
        }
        if cyhist is not None:

            def cython_pixels():
                h = np.zeros(NBINS, np.int64)
                for gf, pf in flat:
                    cyhist.hist_pixels(gf, pf, h)
                return h

            def cython_runs():
                h = np.zeros(NBINS, np.int64)
                for gf, pf in flat:
                    cyhist.hist_runs(gf, pf, h)
                return h

            def cython_runs_words():
                h = np.zeros(NBINS, np.int64)
                for gf, pf in flat:
                    cyhist.hist_runs_words(gf, pf, h)
                return h

            def cython_runs_ctz():
                h = np.zeros(NBINS, np.int64)
                for gf, pf in flat:
                    cyhist.hist_runs_ctz(gf, pf, h)
                return h

            variants["Cython per-pixel"] = cython_pixels
            variants["Cython runs"] = cython_runs
            variants["Cython runs, 8-px word skip"] = cython_runs_words
            variants["Cython runs, word skip + ctz"] = cython_runs_ctz

        for fn in variants.values():  # warm-up (JIT / caches), and whole-set exactness
            r = fn()
            if r is not None:
                assert np.array_equal(r, total_ref), fn.__name__
        times = {k: [] for k in variants}
        for _ in range(REPEATS):  # round-robin so load spikes hit all variants alike
            for k, fn in variants.items():
                times[k].append(best(fn))
        res = {
            k: {
                "best_ms_per_pair": min(v) / len(pairs) * 1e3,
                "median_ms_per_pair": sorted(v)[len(v) // 2] / len(pairs) * 1e3,
            }
            for k, v in times.items()
        }
        out[label] = {
            "pairs": len(pairs),
            "pixels_per_pair": pixels,
            "mean_change_share": float(np.mean(change_share)),
            "exact_vs_RawPairCounts": {k: bool(v) for k, v in exact.items()},
            "times": res,
        }
        print(label, json.dumps(out[label], indent=1), flush=True)
    out["uptime_after"] = os.popen("uptime").read().strip()
    print("uptime before:", out["uptime_before"])
    print("uptime after: ", out["uptime_after"])
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"), "w") as f:
        json.dump(out, f, indent=1)


def table(path="results.json"):
    """Markdown table of ms/pair (best, median) from results.json."""
    out = json.load(open(path))
    sets = [k for k in out if isinstance(out[k], dict)]
    names = list(out[sets[0]]["times"])
    exact_key = {
        "RawPairCounts add+histogram": None,
        "decode (2 PNGs, imagecodecs)": None,
        "pair_histogram per pair": "pair_histogram",
        "numba per-pixel": "numba_pixels",
        "numba per-pixel x4 sub-hists": "numba_pixels4",
        "numba runs": "numba_runs",
        "numba runs, 8-px word skip": "numba_runs_words",
        "numba runs, word skip + ctz": "numba_runs_ctz",
        "Cython runs, word skip + ctz": "cython_runs_ctz",
        "Cython per-pixel": "cython_pixels",
        "Cython runs": "cython_runs",
        "Cython runs, 8-px word skip": "cython_runs_words",
    }
    rows = [
        "| variant | "
        + " | ".join(f"{s}: best (median) ms/pair | vs RawPairCounts" for s in sets)
        + " | exact on all pairs |",
        "|---" * (1 + 2 * len(sets) + 1) + "|",
    ]
    for n in names:
        cells = []
        for s in sets:
            t = out[s]["times"][n]
            ref = out[s]["times"]["RawPairCounts add+histogram"]["best_ms_per_pair"]
            cells.append(f"{t['best_ms_per_pair']:.3f} ({t['median_ms_per_pair']:.3f})")
            cells.append(f"{ref / t['best_ms_per_pair']:.2f}x")
        k = exact_key.get(n)
        ex = (
            "reference"
            if n.startswith("RawPair")
            else "n/a"
            if k is None
            else ("yes" if all(out[s]["exact_vs_RawPairCounts"][k] for s in sets) else "NO")
        )
        rows.append(f"| {n} | " + " | ".join(cells) + f" | {ex} |")
    return "\n".join(rows)


JIT_CHILD = r"""
import os, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
import numba
t1, c1 = time.perf_counter(), time.process_time()
sys.path.insert(0, sys.argv[1])
import kernels_nb as nb
fn = getattr(nb, sys.argv[2])
if sys.argv[3] == "nocache":
    fn = numba.njit(nogil=True, cache=False)(fn.py_func)
g = np.zeros((512, 512), np.uint8); h = np.zeros(1 << 16, np.int64)
t2, c2 = time.perf_counter(), time.process_time()
fn(g, g, h)
t3, c3 = time.perf_counter(), time.process_time()
print(t1 - t0, c1 - c0, t3 - t2, c3 - c2)
"""


def costs(repeats=5):
    """Import time of numba, first-call JIT time (no cache / cold cache / warm cache), sizes."""
    import re
    import resource
    import shutil
    import subprocess
    import tempfile

    py = sys.executable
    here = os.path.dirname(os.path.abspath(__file__))
    res = {"uptime_before": os.popen("uptime").read().strip()}
    env = dict(os.environ, NUMBA_NUM_THREADS="1")

    def child_cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    for label, code in [
        ("pass", "pass"),
        ("import numpy", "import numpy"),
        ("import imagecodecs", "import imagecodecs"),
        ("import numba", "import numba"),
        (
            "import numba + kernels_nb module",
            f"import sys; sys.path.insert(0, {here!r}); import kernels_nb",
        ),
    ]:
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = child_cpu(), time.perf_counter()
            subprocess.run([py, "-c", code], check=True, env=env)
            walls.append(time.perf_counter() - t0)
            cpus.append(child_cpu() - c0)
        res[f"python -c '{label}'"] = {
            "wall_ms_best": min(walls) * 1e3,
            "cpu_ms_best": min(cpus) * 1e3,
        }
    cums = {}
    for _ in range(repeats):
        err = subprocess.run(
            [py, "-X", "importtime", "-c", "import numba"], env=env, capture_output=True, text=True
        ).stderr
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if m and m.group(4) in ("numba", "numpy", "llvmlite"):
                cums.setdefault(m.group(4), []).append(int(m.group(2)))
    res["-X importtime cumulative us (best)"] = {k: min(v) for k, v in cums.items()}
    for kernel in ["hist_runs_ctz", "hist_pixels"]:
        for mode in ["nocache", "cold cache", "warm cache"]:
            rows = []
            for _ in range(repeats):
                cache = tempfile.mkdtemp(prefix="nbcache-")
                e = dict(env, NUMBA_CACHE_DIR=cache)
                if mode == "warm cache":  # populate it in an earlier process
                    subprocess.run(
                        [py, "-c", JIT_CHILD, here, kernel, "cache"],
                        env=e,
                        check=True,
                        capture_output=True,
                    )
                out = subprocess.run(
                    [
                        py,
                        "-c",
                        JIT_CHILD,
                        here,
                        kernel,
                        "nocache" if mode == "nocache" else "cache",
                    ],
                    env=e,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                rows.append([float(x) for x in out.split()])
                shutil.rmtree(cache)
            best = [min(r[i] for r in rows) * 1e3 for i in range(4)]
            res[f"first call {kernel}, {mode}"] = {
                "import_wall_ms": best[0],
                "import_cpu_ms": best[1],
                "first_call_wall_ms": best[2],
                "first_call_cpu_ms": best[3],
            }
    site = os.path.join(os.path.dirname(os.path.dirname(np.__file__)))
    for d in ["numba", "llvmlite", "numpy", "imagecodecs"]:
        res[f"du -sh {d}"] = os.popen(f"du -sh {site}/{d}").read().split()[0]
    res["du -sh numba+llvmlite"] = (
        os.popen(f"du -shc {site}/numba {site}/llvmlite | tail -1").read().split()[0]
    )
    res["uptime_after"] = os.popen("uptime").read().strip()
    with open(os.path.join(here, "costs.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if len(sys.argv) > 1 and sys.argv[1] == "costs":
    costs()
elif len(sys.argv) > 1 and sys.argv[1] == "table":
    print(table(sys.argv[2] if len(sys.argv) > 2 else "results.json"))
elif __name__ == "__main__":
    main()
