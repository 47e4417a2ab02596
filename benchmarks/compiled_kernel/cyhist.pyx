# cython: boundscheck=False, wraparound=False, initializedcheck=False, language_level=3
"""Cython kernels, same semantics as kernels_nb.py (1-D C-contiguous uint8 inputs)."""
from libc.stdint cimport uint8_t, int64_t


def hist_pixels(const uint8_t[::1] g, const uint8_t[::1] p, int64_t[::1] hist):
    cdef Py_ssize_t i, n = g.shape[0]
    with nogil:
        for i in range(n):
            hist[(<Py_ssize_t>g[i] << 8) | p[i]] += 1


def hist_runs(const uint8_t[::1] g, const uint8_t[::1] p, int64_t[::1] hist):
    cdef Py_ssize_t i, start = 0, n = g.shape[0]
    cdef Py_ssize_t key, k
    if n == 0:
        return
    with nogil:
        key = (<Py_ssize_t>g[0] << 8) | p[0]
        for i in range(1, n):
            k = (<Py_ssize_t>g[i] << 8) | p[i]
            if k != key:
                hist[key] += i - start
                key = k
                start = i
        hist[key] += n - start


from libc.stdint cimport uint64_t
from libc.string cimport memcpy


def hist_runs_words(const uint8_t[::1] g, const uint8_t[::1] p, int64_t[::1] hist):
    """Same as kernels_nb.hist_runs_words (8-pixel word skip, little-endian)."""
    cdef Py_ssize_t n = g.shape[0], m, w, j, i, base, start = 0
    cdef Py_ssize_t key, k
    cdef uint64_t a, b, prev_g, prev_p, diff
    if n == 0:
        return
    m = n - n % 8
    with nogil:
        key = (<Py_ssize_t>g[0] << 8) | p[0]
        prev_g = g[0]
        prev_p = p[0]
        for w in range(m // 8):
            memcpy(&a, &g[w * 8], 8)
            memcpy(&b, &p[w * 8], 8)
            diff = (a ^ ((a << 8) | prev_g)) | (b ^ ((b << 8) | prev_p))
            prev_g = a >> 56
            prev_p = b >> 56
            if diff == 0:
                continue
            base = w * 8
            for j in range(8):
                i = base + j
                k = (<Py_ssize_t>g[i] << 8) | p[i]
                if k != key:
                    hist[key] += i - start
                    key = k
                    start = i
        for i in range(m, n):
            k = (<Py_ssize_t>g[i] << 8) | p[i]
            if k != key:
                hist[key] += i - start
                key = k
                start = i
        hist[key] += n - start


cdef extern from *:
    """
    static inline int seg_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    """
    int seg_ctz64(unsigned long long x) nogil


def hist_runs_ctz(const uint8_t[::1] g, const uint8_t[::1] p, int64_t[::1] hist):
    """Same as kernels_nb.hist_runs_ctz."""
    cdef Py_ssize_t n = g.shape[0], m, w, i, base, start = 0
    cdef Py_ssize_t key, k
    cdef uint64_t a, b, prev_g, prev_p, d
    if n == 0:
        return
    m = n - n % 8
    with nogil:
        key = (<Py_ssize_t>g[0] << 8) | p[0]
        prev_g = g[0]
        prev_p = p[0]
        for w in range(m // 8):
            memcpy(&a, &g[w * 8], 8)
            memcpy(&b, &p[w * 8], 8)
            d = (a ^ ((a << 8) | prev_g)) | (b ^ ((b << 8) | prev_p))
            prev_g = a >> 56
            prev_p = b >> 56
            if d == 0:
                continue
            d |= d >> 4
            d |= d >> 2
            d |= d >> 1
            d &= 0x0101010101010101ULL
            base = w * 8
            while d != 0:
                i = base + (seg_ctz64(d) >> 3)
                hist[key] += i - start
                key = (<Py_ssize_t>g[i] << 8) | p[i]
                start = i
                d &= d - 1
        for i in range(m, n):
            k = (<Py_ssize_t>g[i] << 8) | p[i]
            if k != key:
                hist[key] += i - start
                key = k
                start = i
        hist[key] += n - start
