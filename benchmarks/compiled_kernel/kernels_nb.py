"""numba kernels: 65536-bin joint histogram of uint8 (gt, pred), key = gt << 8 | pred."""

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def hist_pixels(gt, pred, hist):
    """Plain per-pixel loop: hist[gt << 8 | pred] += 1 for every pixel."""
    g = gt.ravel()
    p = pred.ravel()
    for i in range(g.size):
        hist[(np.intp(g[i]) << 8) | np.intp(p[i])] += 1


@njit(nogil=True, cache=True)
def hist_pixels4(gt, pred, hist4):
    """Per-pixel loop into 4 interleaved sub-histograms (breaks store->load chains).
    hist4 has shape (4, 65536); caller sums axis 0."""
    g = gt.ravel()
    p = pred.ravel()
    n = g.size
    m = n - n % 4
    for i in range(0, m, 4):
        hist4[0, (np.intp(g[i]) << 8) | np.intp(p[i])] += 1
        hist4[1, (np.intp(g[i + 1]) << 8) | np.intp(p[i + 1])] += 1
        hist4[2, (np.intp(g[i + 2]) << 8) | np.intp(p[i + 2])] += 1
        hist4[3, (np.intp(g[i + 3]) << 8) | np.intp(p[i + 3])] += 1
    for i in range(m, n):
        hist4[0, (np.intp(g[i]) << 8) | np.intp(p[i])] += 1


@njit(nogil=True, cache=True)
def hist_runs(gt, pred, hist):
    """Run-length loop: only touches hist when the (gt, pred) pair changes."""
    g = gt.ravel()
    p = pred.ravel()
    n = g.size
    if n == 0:
        return
    key = (np.intp(g[0]) << 8) | np.intp(p[0])
    start = 0
    for i in range(1, n):
        k = (np.intp(g[i]) << 8) | np.intp(p[i])
        if k != key:
            hist[key] += i - start
            key = k
            start = i
    hist[key] += n - start


@njit(nogil=True, cache=True)
def hist_runs_words(gt, pred, hist):
    """Run-length loop that skips 8 pixels at a time: a uint64 word of gt (and of pred)
    is compared with itself shifted by one byte (carrying the previous word's last byte);
    only words holding a change are walked pixel by pixel. Little-endian (x86/ARM)."""
    g = gt.ravel()
    p = pred.ravel()
    n = g.size
    if n == 0:
        return
    m = n - n % 8
    gw = g[:m].view(np.uint64)
    pw = p[:m].view(np.uint64)
    eight = np.uint64(8)
    top = np.uint64(56)
    key = (np.intp(g[0]) << 8) | np.intp(p[0])
    start = 0
    prev_g = np.uint64(g[0])
    prev_p = np.uint64(p[0])
    for w in range(m // 8):
        a = gw[w]
        b = pw[w]
        diff = (a ^ ((a << eight) | prev_g)) | (b ^ ((b << eight) | prev_p))
        prev_g = a >> top
        prev_p = b >> top
        if diff == 0:
            continue
        base = w * 8
        for j in range(8):
            i = base + j
            k = (np.intp(g[i]) << 8) | np.intp(p[i])
            if k != key:
                hist[key] += i - start
                key = k
                start = i
    for i in range(m, n):
        k = (np.intp(g[i]) << 8) | np.intp(p[i])
        if k != key:
            hist[key] += i - start
            key = k
            start = i
    hist[key] += n - start


from numba.cpython.unsafe.numbers import trailing_zeros  # LLVM cttz intrinsic


@njit(nogil=True, cache=True)
def hist_runs_ctz(gt, pred, hist):
    """Like hist_runs_words, but a busy word is not walked pixel by pixel: its changed
    bytes are folded to one bit each and visited with count-trailing-zeros, so the
    only branches are per word and per change (no per-pixel compare)."""
    g = gt.ravel()
    p = pred.ravel()
    n = g.size
    if n == 0:
        return
    m = n - n % 8
    gw = g[:m].view(np.uint64)
    pw = p[:m].view(np.uint64)
    eight = np.uint64(8)
    top = np.uint64(56)
    ones = np.uint64(0x0101010101010101)
    one = np.uint64(1)
    key = (np.intp(g[0]) << 8) | np.intp(p[0])
    start = 0
    prev_g = np.uint64(g[0])
    prev_p = np.uint64(p[0])
    for w in range(m // 8):
        a = gw[w]
        b = pw[w]
        d = (a ^ ((a << eight) | prev_g)) | (b ^ ((b << eight) | prev_p))
        prev_g = a >> top
        prev_p = b >> top
        if d == 0:
            continue
        d |= d >> np.uint64(4)
        d |= d >> np.uint64(2)
        d |= d >> one
        d &= ones
        base = w * 8
        while d != 0:
            i = base + np.intp(trailing_zeros(d) >> np.uint64(3))
            hist[key] += i - start
            key = (np.intp(g[i]) << 8) | np.intp(p[i])
            start = i
            d &= d - one
    for i in range(m, n):
        k = (np.intp(g[i]) << 8) | np.intp(p[i])
        if k != key:
            hist[key] += i - start
            key = k
            start = i
    hist[key] += n - start
