/* The engine's loops that numpy does in several passes, done in one: the spectrum's band
 * power and its log10, peak pairing and the index lookup (fine-key narrowing + gathering
 * postings).
 *
 * Each function computes exactly what its numpy reference computes (landmarks.band_power,
 * landmarks.pair_peaks, Index.lookup): the same float32 operations and comparisons, the
 * same order of output; the log10 is the correctly rounded one, which the platform's
 * log10f through np.log10 is not everywhere (log10_floats).
 * tests/unit/test_native.py checks that on random input.  Arrays come in through the buffer
 * protocol (C-contiguous, the dtype the caller guarantees; checked by item size), results go
 * into arrays the caller allocated; no numpy C API, so the module builds with a C compiler
 * and Python's headers alone.  Built with -ffp-contract=off: no fused multiply-add may change
 * a rounding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static int get_buf(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable,
                   const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected, got %zd", what,
                     itemsize, view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define N_OF(v) ((v).len / (v).itemsize)

/* pair_peaks(t int64[n], f float32[n], n_anchor, scan, fanout, dt_max, df_max,
 *            out_t int64[], out_lnf1 float32[], out_df float32[], out_dt int64[],
 *            out_fdf float32[], out_fdt int64[]) -> pairs written
 * Outputs hold at least n_anchor * fanout items. */
static PyObject *pair_peaks(PyObject *self, PyObject *args) {
    PyObject *o[8];
    Py_ssize_t n_anchor, scan, fanout;
    long long dt_max;
    float df_max;
    if (!PyArg_ParseTuple(args, "OOnnnLfOOOOOO", &o[0], &o[1], &n_anchor, &scan, &fanout,
                          &dt_max, &df_max, &o[2], &o[3], &o[4], &o[5], &o[6], &o[7]))
        return NULL;
    static const Py_ssize_t size[8] = {8, 4, 8, 4, 4, 8, 4, 8};
    static const char *name[8] = {"t", "f", "out_t", "out_lnf1", "out_df", "out_dt",
                                  "out_fdf", "out_fdt"};
    Py_buffer b[8];
    int got = 0;
    for (; got < 8; got++)
        if (get_buf(o[got], &b[got], size[got], got >= 2, name[got]) < 0) goto fail;
    Py_ssize_t n = N_OF(b[0]);
    if (N_OF(b[1]) != n || n_anchor > n || n_anchor < 0 || fanout < 1 || fanout > 64) {
        PyErr_SetString(PyExc_ValueError, "pair_peaks: inconsistent sizes");
        goto fail;
    }
    for (int i = 2; i < 8; i++)
        if (N_OF(b[i]) < n_anchor * fanout) {
            PyErr_SetString(PyExc_ValueError, "pair_peaks: output too small");
            goto fail;
        }
    const int64_t *t = b[0].buf;
    const float *f = b[1].buf;
    int64_t *ot = b[2].buf, *odt = b[5].buf, *ofdt = b[7].buf;
    float *olnf = b[3].buf, *odf = b[4].buf, *ofdf = b[6].buf;
    Py_ssize_t w = 0;
    int64_t tdt[64];
    float tdf[64];
    for (Py_ssize_t a = 0; a < n_anchor; a++) {
        int m = 0;
        for (Py_ssize_t j = 1; j <= scan && a + j < n && m < fanout; j++) {
            int64_t dt = t[a + j] - t[a];
            float df = f[a + j] - f[a];
            if (dt >= 1 && dt <= dt_max && fabsf(df) <= df_max) {
                tdt[m] = dt;
                tdf[m] = df;
                m++;
            }
        }
        /* sibling: the first target's is the second (itself when alone), the others' the
         * first */
        for (int i = 0; i < m; i++) {
            int s = i == 0 ? (m > 1 ? 1 : 0) : 0;
            ot[w] = t[a];
            olnf[w] = f[a];
            odf[w] = tdf[i];
            odt[w] = tdt[i];
            ofdf[w] = tdf[s];
            ofdt[w] = tdt[s];
            w++;
        }
    }
    for (int i = 0; i < 8; i++) PyBuffer_Release(&b[i]);
    return PyLong_FromSsize_t(w);
fail:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return NULL;
}

/* first row in [lo, hi) whose fine key (key & mask) is >= want; hi if none */
static inline int64_t first_at_least(const uint32_t *keys, int64_t lo, int64_t hi,
                                     uint32_t mask, int64_t want) {
    int64_t n = hi - lo;
    while (n > 0) {
        int64_t half = n >> 1;
        int64_t mid = lo + half;
        if ((int64_t)(keys[mid] & mask) < want) {
            lo = mid + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

/* gather(keys uint32[], times uint16[]|uint32[], lo int64[n], hi int64[n],
 *        big int64[m] (ascending rows), probes uint16[m * p], p, no_probe, max_postings
 *        (-1: no cap), fine_bits, out_q int64[], out_track uint32[], out_time uint32[])
 *  -> postings found (written only while they fit the outputs: call again, bigger, if more)
 *
 * Row by row: a row not in ``big`` gives its whole range [lo, hi); a row in ``big`` gives
 * one sub-range per distinct probe (ascending), the postings whose fine key equals it.  A
 * range longer than ``max_postings`` gives nothing. */
static PyObject *gather(PyObject *self, PyObject *args) {
    PyObject *o[9];
    Py_ssize_t p;
    long long no_probe, max_postings;
    int fine_bits;
    if (!PyArg_ParseTuple(args, "OOOOOOnLLiOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &p, &no_probe, &max_postings, &fine_bits, &o[6], &o[7], &o[8]))
        return NULL;
    Py_buffer b[9];
    int got = 0;
    static const char *name[9] = {"keys", "times", "lo", "hi", "big", "probes",
                                  "out_q", "out_track", "out_time"};
    static const Py_ssize_t size[9] = {4, 0, 8, 8, 8, 2, 8, 4, 4};
    for (; got < 9; got++) {
        Py_ssize_t want = size[got];
        if (got == 1) {
            if (PyObject_GetBuffer(o[1], &b[1], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
                goto fail;
            if (b[1].itemsize != 2 && b[1].itemsize != 4) {
                got++;
                PyErr_SetString(PyExc_TypeError, "times: uint16 or uint32 expected");
                goto fail;
            }
            continue;
        }
        if (get_buf(o[got], &b[got], want, got >= 6, name[got]) < 0) goto fail;
    }
    Py_ssize_t n = N_OF(b[2]), m = N_OF(b[4]), cap = N_OF(b[6]);
    Py_ssize_t n_keys = N_OF(b[0]);
    if (N_OF(b[3]) != n || N_OF(b[5]) != m * p || N_OF(b[7]) < cap || N_OF(b[8]) < cap ||
        p < 0 || p > 64 || N_OF(b[1]) != n_keys) {
        PyErr_SetString(PyExc_ValueError, "gather: inconsistent sizes");
        goto fail;
    }
    const uint32_t *keys = b[0].buf;
    const uint16_t *t16 = b[1].itemsize == 2 ? b[1].buf : NULL;
    const uint32_t *t32 = b[1].itemsize == 4 ? b[1].buf : NULL;
    const int64_t *lo = b[2].buf, *hi = b[3].buf, *big = b[4].buf;
    const uint16_t *probes = b[5].buf;
    int64_t *oq = b[6].buf;
    uint32_t *otr = b[7].buf, *oti = b[8].buf;
    uint32_t mask = (fine_bits >= 32) ? 0xFFFFFFFFu : ((1u << fine_bits) - 1u);
    Py_ssize_t w = 0, bi = 0;
    int64_t sub_lo[64], sub_hi[64];
    for (Py_ssize_t q = 0; q < n; q++) {
        int ranges = 0;
        if (bi < m && big[bi] == q) {
            /* the row's probes, ascending, each once */
            uint16_t pr[64];
            memcpy(pr, probes + bi * p, p * sizeof(uint16_t));
            for (Py_ssize_t i = 1; i < p; i++) {
                uint16_t v = pr[i];
                Py_ssize_t j = i;
                while (j > 0 && pr[j - 1] > v) {
                    pr[j] = pr[j - 1];
                    j--;
                }
                pr[j] = v;
            }
            for (Py_ssize_t i = 0; i < p; i++) {
                if ((long long)pr[i] == no_probe || (i > 0 && pr[i] == pr[i - 1])) continue;
                int64_t a = first_at_least(keys, lo[q], hi[q], mask, (int64_t)pr[i]);
                int64_t z = first_at_least(keys, a, hi[q], mask, (int64_t)pr[i] + 1);
                sub_lo[ranges] = a;
                sub_hi[ranges] = z;
                ranges++;
            }
            bi++;
        } else {
            sub_lo[0] = lo[q];
            sub_hi[0] = hi[q];
            ranges = 1;
        }
        for (int r = 0; r < ranges; r++) {
            int64_t a = sub_lo[r], z = sub_hi[r];
            if (z <= a || (max_postings >= 0 && z - a > max_postings)) continue;
            if (a < 0 || z > n_keys) {
                PyErr_SetString(PyExc_IndexError, "gather: range outside the postings");
                goto fail;
            }
            for (int64_t k = a; k < z; k++, w++) {
                if (w < cap) {
                    oq[w] = q;
                    otr[w] = keys[k] >> fine_bits;
                    oti[w] = t16 ? (uint32_t)t16[k] : t32[k];
                }
            }
        }
    }
    for (int i = 0; i < 9; i++) PyBuffer_Release(&b[i]);
    return PyLong_FromSsize_t(w);
fail:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return NULL;
}

/* log10 of float32, correctly rounded: x = 2^e * m with m in [sqrt(1/2), sqrt(2)),
 * log10 x = e log10(2) + (2 / ln 10) atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716; the
 * atanh series to s^17 (truncation < 1e-15 relative) in double, in Estrin's order (short
 * dependency chains), then one rounding to float.  bench/check_log10.py compares it with
 * libm's log10f and with log10l over every float32 >= 1e-8.  Branch free, so the compiler
 * vectorises the loop (-O3); zero, negative, subnormal, inf and NaN inputs go through
 * libm's log10f in a second pass. */
#define ATANH_C(k) (2.0 / ((2.0 * (k) + 1.0) * 2.302585092994045684017991454684364208))
static const double LOG10_2 = 0.301029995663981195213738894724493027;

#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__) && !defined(__clang__)
/* the same arithmetic in 4-double AVX2 vectors where the CPU has them (no FMA: every
 * rounding as in the SSE2 clone) */
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

VECTOR_CLONES
static void log10_floats(const float *in, float *out, Py_ssize_t n) {
    uint32_t odd = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &in[i], 4);
        odd |= (uint32_t)(u - 0x00800000u >= 0x7f000000u); /* not positive normal finite */
        uint32_t t = u - 0x3f3504f3u;                       /* bits of sqrt(1/2) */
        int32_t e = (int32_t)t >> 23;
        uint32_t mb = u - ((uint32_t)e << 23);
        float m;
        memcpy(&m, &mb, 4);
        double r = (double)m - 1.0;
        double s = r / (2.0 + r);
        double z = s * s, z2 = z * z, z4 = z2 * z2;
        double q01 = ATANH_C(0) + ATANH_C(1) * z, q23 = ATANH_C(2) + ATANH_C(3) * z;
        double q45 = ATANH_C(4) + ATANH_C(5) * z, q67 = ATANH_C(6) + ATANH_C(7) * z;
        double p = (q01 + z2 * q23) + z4 * ((q45 + z2 * q67) + z4 * ATANH_C(8));
        out[i] = (float)((double)e * LOG10_2 + s * p);
    }
    if (odd)
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &in[i], 4);
            if (u - 0x00800000u >= 0x7f000000u) out[i] = log10f(in[i]);
        }
}

/* log10(x float32[n], out float32[n]) -> None; out may be x itself */
static PyObject *log10_array(PyObject *self, PyObject *args) {
    PyObject *ox, *oo;
    if (!PyArg_ParseTuple(args, "OO", &ox, &oo)) return NULL;
    Py_buffer x, o;
    if (get_buf(ox, &x, 4, 0, "x") < 0) return NULL;
    if (get_buf(oo, &o, 4, 1, "out") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (N_OF(x) != N_OF(o)) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&o);
        PyErr_SetString(PyExc_ValueError, "log10: inconsistent sizes");
        return NULL;
    }
    Py_ssize_t n = N_OF(x), step = 1024;
    float tmp[1024];
    const float *in = x.buf;
    float *out = o.buf;
    /* through a copy: log10_floats reads its input twice when some are not normal */
    for (Py_ssize_t i = 0; i < n; i += step) {
        Py_ssize_t k = n - i < step ? n - i : step;
        memcpy(tmp, in + i, k * sizeof(float));
        log10_floats(tmp, out + i, k);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

/* band_power(spectrum float32[n * width] (rfft rows as re, im pairs), width, bin_lo,
 *            bin_hi, eps, take_log, out float32[n * (bin_hi - bin_lo)])
 * out = re * re + im * im + eps over bins [bin_lo, bin_hi): what landmarks._stft does in
 * three numpy passes (square in place, add the pairs, add eps), each rounding to float32;
 * with take_log, log10 of that (log10_floats), in the same pass over the row. */
static PyObject *band_power(PyObject *self, PyObject *args) {
    PyObject *ox, *oo;
    Py_ssize_t width, lo, hi;
    float eps;
    int take_log;
    if (!PyArg_ParseTuple(args, "OnnnfpO", &ox, &width, &lo, &hi, &eps, &take_log, &oo))
        return NULL;
    Py_buffer x, o;
    if (get_buf(ox, &x, 4, 0, "spectrum") < 0) return NULL;
    if (get_buf(oo, &o, 4, 1, "out") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    Py_ssize_t bins = hi - lo;
    if (width <= 0 || N_OF(x) % width || lo < 0 || bins <= 0 || 2 * hi > width ||
        N_OF(o) != (N_OF(x) / width) * bins) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&o);
        PyErr_SetString(PyExc_ValueError, "band_power: inconsistent sizes");
        return NULL;
    }
    Py_ssize_t n = N_OF(x) / width, step = 1024;
    const float *in = x.buf;
    float *out = o.buf;
    float tmp[1024];
    for (Py_ssize_t r = 0; r < n; r++) {
        for (Py_ssize_t b0 = 0; b0 < bins; b0 += step) {
            const float *row = in + r * width + 2 * (lo + b0);
            float *dst = out + r * bins + b0;
            Py_ssize_t k = bins - b0 < step ? bins - b0 : step;
            float *pw = take_log ? tmp : dst;
            for (Py_ssize_t b = 0; b < k; b++) {
                float re = row[2 * b] * row[2 * b], im = row[2 * b + 1] * row[2 * b + 1];
                float sum = re + im;
                pw[b] = sum + eps;
            }
            if (take_log) log10_floats(tmp, dst, k);
        }
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"band_power", band_power, METH_VARARGS, "Power (or its log10) of a band of rfft rows, plus eps."},
    {"log10", log10_array, METH_VARARGS, "Correctly rounded log10 of float32."},
    {"pair_peaks", pair_peaks, METH_VARARGS, "Peak pairs into preallocated arrays."},
    {"gather", gather, METH_VARARGS, "Index postings of hash ranges, narrowed by fine key."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native",
                                    "The engine's pairing and lookup loops in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
