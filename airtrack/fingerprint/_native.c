/* The engine's loops that numpy does in several passes, done in one: the spectrum's band
 * power and its log10, peak pairing, the hashes at every speed, the index lookup
 * (fine-key narrowing + gathering postings) and the boundary reach's reading of a track's
 * template (standing_at).
 *
 * Each function computes exactly what its numpy reference computes (landmarks.band_power,
 * landmarks.pair_peaks, evidence.hash_all_speeds and _probes, Index.lookup,
 * standing.standing_at_reference): the same float32 operations and comparisons, the
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

/* The lookup: postings of hash buckets, a big bucket narrowed to the postings of the
 * query's fine keys (a bucket is sorted by fine key, then track).
 *
 * A search for the first row of a fine key in a big bucket is a chain of dependent random
 * reads in the mapped postings (and, at 100,000 tracks, of page-table walks): each read
 * waits for the one before.  The searches of different probes are independent, so they
 * run BATCH at a time, in lockstep: one step of every search per round, each step's next
 * read prefetched, so the batch's cache misses overlap instead of following each other.
 * The index's fine-key fences (every step-th posting's fine key, coarse then fine) first
 * narrow a search to at most a fine step of postings, in small arrays. */
#define BATCH 32

/* first row in [lo[i], lo[i] + n[i]) whose value (fine key of ``keys``, or a fence's
 * sample) is >= want[i], for every i < k at once, written to lo[i]: branch-free (the
 * comparison picks the half, no jump to mispredict), one step of every search per round,
 * each search's next read prefetched */
#define BISECT(NAME, T, VALUE)                                                                \
    static void NAME(const T *arr, uint32_t mask, int64_t *lo, int64_t *n,                  \
                     const int64_t *want, int k) {                                          \
        (void)mask;                                                                          \
        int act[BATCH], na = 0;                                                              \
        int64_t rounds = 0;                                                                  \
        for (int i = 0; i < k; i++) {                                                        \
            if (n[i] <= 0) continue; /* nothing to read: lo[i] is the answer */             \
            act[na++] = i;                                                                   \
            if (n[i] > rounds) rounds = n[i];                                                \
        }                                                                                    \
        /* the answer is in [lo, lo + n]: each round keeps the half that holds it */        \
        for (; rounds > 1; rounds -= rounds >> 1) {                                          \
            for (int j = 0; j < na; j++) {                                                   \
                int i = act[j];                                                              \
                int64_t half = n[i] >> 1, base = lo[i];                                      \
                int64_t below = (int64_t)(VALUE(arr[base + half])) < want[i];                \
                base += half & -below;                                                       \
                n[i] -= half;                                                                \
                lo[i] = base;                                                                \
                __builtin_prefetch(arr + base + (n[i] >> 1));                                \
            }                                                                                \
        }                                                                                    \
        for (int j = 0; j < na; j++) {                                                       \
            int i = act[j];                                                                  \
            lo[i] += (int64_t)(VALUE(arr[lo[i]])) < want[i];                                 \
        }                                                                                    \
    }
#define FINE_OF(v) ((v) & mask)
BISECT(bisect_keys, uint32_t, FINE_OF)

/* how many of n sorted values are below want: the index of the first that is not (a
 * sorted run of a few dozen values: one or two cache lines, compared all at once (the
 * loop vectorises), no chain of dependent reads) */
#define SHORT 64
static inline int64_t count_below_u16(const uint16_t *v, int64_t n, int64_t want) {
    int32_t c = 0, w = (int32_t)want;
    for (int64_t j = 0; j < n; j++) c += (int32_t)v[j] < w;
    return c;
}
static inline int64_t count_below_keys(const uint32_t *v, int64_t n, uint32_t mask,
                                       int64_t want) {
    int32_t c = 0, w = (int32_t)want;
    for (int64_t j = 0; j < n; j++) c += (int32_t)(v[j] & mask) < w;
    return c;
}

/* The index's fine-key fences: fence[l] holds the fine key of row i * step[l] (rows 0,
 * step, 2 step, ...), coarse then fine; a level without a fence is skipped. */
typedef struct {
    const uint16_t *fence[2];
    int shift[2]; /* step = 1 << shift */
} Fences;

/* For every i < k: the first row of [lo[i], hi[i]) whose fine key is >= want[i] (hi[i] if
 * none), written to lo[i].  A level of the fences narrows a range longer than its step to
 * the rows between two of its samples where that row lies: sample a - 1 below want (so
 * every row before it), sample a not (the row is at most there). */
static void first_at_least(const uint32_t *keys, uint32_t mask, const Fences *fz, int64_t *lo,
                           int64_t *hi, const int64_t *want, int k) {
    int64_t n[BATCH];
    for (int l = 0; l < 2; l++) {
        if (!fz->fence[l]) continue;
        int sh = fz->shift[l];
        int64_t step = (int64_t)1 << sh;
        for (int i = 0; i < k; i++)
            if (hi[i] - lo[i] > step) __builtin_prefetch(fz->fence[l] + ((lo[i] + step - 1) >> sh));
        for (int i = 0; i < k; i++) {
            if (hi[i] - lo[i] <= step) continue; /* not narrowed at this level */
            int64_t i0 = (lo[i] + step - 1) >> sh, i1 = (hi[i] + step - 1) >> sh;
            int64_t a = i0 + count_below_u16(fz->fence[l] + i0, i1 - i0, want[i]);
            if (a > i0) lo[i] = ((a - 1) << sh) + 1;
            if (a < i1) hi[i] = a << sh;
        }
    }
    int narrow = 1;
    for (int i = 0; i < k; i++) {
        n[i] = hi[i] - lo[i];
        if (n[i] > SHORT) narrow = 0;
        if (n[i] > 0) __builtin_prefetch(keys + lo[i] + (n[i] >> 1));
    }
    if (narrow) {
        for (int i = 0; i < k; i++) lo[i] += count_below_keys(keys + lo[i], n[i], mask, want[i]);
    } else {
        bisect_keys(keys, mask, lo, n, want, k);
    }
}

/* The output of a gather call: postings written while they fit (``w`` counts them all). */
typedef struct {
    const uint32_t *keys;
    const uint16_t *t16;
    const uint32_t *t32;
    int64_t *oq;
    uint32_t *otr, *oti;
    Py_ssize_t w, cap;
    int fine_bits;
} Out;

static inline void emit(Out *out, int64_t q, int64_t a, int64_t z) {
    for (int64_t k = a; k < z; k++, out->w++) {
        if (out->w < out->cap) {
            out->oq[out->w] = q;
            out->otr[out->w] = out->keys[k] >> out->fine_bits;
            out->oti[out->w] = out->t16 ? (uint32_t)out->t16[k] : out->t32[k];
        }
    }
}

/* A batch of probes: query row, its bucket [lo, hi), fine key */
typedef struct {
    int64_t q[BATCH], lo[BATCH], hi[BATCH], want[BATCH];
    int k;
} Batch;

/* The batch's postings, in batch order: each probe's run of its fine key, unless longer
 * than max_postings (>= 0) */
static void run_batch(Batch *b, Out *out, const Fences *fz, uint32_t mask,
                      long long max_postings) {
    int k = b->k;
    int64_t a[BATCH], z[BATCH], end[BATCH], scratch[BATCH], next[BATCH] = {0};
    for (int i = 0; i < k; i++) {
        a[i] = b->lo[i];
        scratch[i] = b->hi[i];
    }
    first_at_least(out->keys, mask, fz, a, scratch, b->want, k);
    for (int i = 0; i < k; i++) {
        /* with a cap, the run's end is looked for among the cap + 1 rows after its start
         * only: reaching the last of them means a run too long to give */
        end[i] = b->hi[i];
        if (max_postings >= 0 && end[i] - a[i] > max_postings + 1) end[i] = a[i] + max_postings + 1;
        z[i] = a[i];
        scratch[i] = end[i];
        next[i] = b->want[i] + 1;
    }
    first_at_least(out->keys, mask, fz, z, scratch, next, k);
    for (int i = 0; i < k; i++) {
        if ((z[i] == end[i] && end[i] < b->hi[i]) || (max_postings >= 0 && z[i] - a[i] > max_postings))
            z[i] = a[i];
        if (z[i] > a[i])
            __builtin_prefetch(out->t16 ? (const void *)(out->t16 + a[i]) : (const void *)(out->t32 + a[i]));
    }
    for (int i = 0; i < k; i++) emit(out, b->q[i], a[i], z[i]);
    b->k = 0;
}

/* gather(keys uint32[], times uint16[]|uint32[], lo int64[n], hi int64[n],
 *        big int64[m] (ascending rows), probes uint16[m * p], p, no_probe, max_postings
 *        (-1: no cap), fine_bits, out_q int64[], out_track uint32[], out_time uint32[],
 *        coarse uint16[], coarse_step, fine uint16[], fine_step)
 *  -> postings found (written only while they fit the outputs: call again, bigger, if more)
 *
 * Row by row: a row not in ``big`` gives its whole range [lo, hi); a row in ``big`` gives
 * one sub-range per distinct probe (ascending), the postings whose fine key equals it.  A
 * range longer than ``max_postings`` gives nothing.  ``coarse`` and ``fine``: the index's
 * fences (ceil(len(keys) / step) samples each, steps powers of two), or empty arrays: the searches then bisect
 * the postings alone (the same rows). */
static PyObject *gather(PyObject *self, PyObject *args) {
    PyObject *o[11];
    Py_ssize_t p, steps[2];
    long long no_probe, max_postings;
    int fine_bits;
    if (!PyArg_ParseTuple(args, "OOOOOOnLLiOOOOnOn", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &p, &no_probe, &max_postings, &fine_bits, &o[6], &o[7], &o[8],
                          &o[9], &steps[0], &o[10], &steps[1]))
        return NULL;
    Py_buffer b[11];
    int got = 0;
    static const char *name[11] = {"keys",  "times",     "lo",       "hi",     "big",  "probes",
                                   "out_q", "out_track", "out_time", "coarse", "fine"};
    static const Py_ssize_t size[11] = {4, 0, 8, 8, 8, 2, 8, 4, 4, 2, 2};
    for (; got < 11; got++) {
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
        if (get_buf(o[got], &b[got], size[got], got >= 6 && got <= 8, name[got]) < 0) goto fail;
    }
    Py_ssize_t n = N_OF(b[2]), m = N_OF(b[4]);
    Py_ssize_t n_keys = N_OF(b[0]);
    Out out = {b[0].buf, b[1].itemsize == 2 ? b[1].buf : NULL,
               b[1].itemsize == 4 ? b[1].buf : NULL, b[6].buf, b[7].buf, b[8].buf, 0,
               N_OF(b[6]), fine_bits};
    if (N_OF(b[3]) != n || N_OF(b[5]) != m * p || N_OF(b[7]) < out.cap ||
        N_OF(b[8]) < out.cap || p < 0 || p > 64 || N_OF(b[1]) != n_keys || fine_bits < 0 ||
        fine_bits > 16) {
        PyErr_SetString(PyExc_ValueError, "gather: inconsistent sizes");
        goto fail;
    }
    Fences fz;
    for (int l = 0; l < 2; l++) {
        Py_ssize_t len = N_OF(b[9 + l]);
        fz.fence[l] = len ? b[9 + l].buf : NULL;
        fz.shift[l] = 0;
        while (fz.shift[l] < 40 && ((Py_ssize_t)1 << fz.shift[l]) < steps[l]) fz.shift[l]++;
        if (len && (steps[l] != ((Py_ssize_t)1 << fz.shift[l]) ||
                    len != (n_keys + steps[l] - 1) / steps[l])) {
            PyErr_SetString(PyExc_ValueError, "gather: a fence of the wrong size");
            goto fail;
        }
    }
    const int64_t *lo = b[2].buf, *hi = b[3].buf, *big = b[4].buf;
    const uint16_t *probes = b[5].buf;
    uint32_t mask = (1u << fine_bits) - 1u;
    Py_ssize_t bi = 0;
    Batch batch;
    batch.k = 0;
    for (Py_ssize_t q = 0; q < n; q++) {
        if (lo[q] < 0 || hi[q] > n_keys || lo[q] > hi[q]) {
            PyErr_SetString(PyExc_IndexError, "gather: range outside the postings");
            goto fail;
        }
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
                int j = batch.k++;
                batch.q[j] = q;
                batch.lo[j] = lo[q];
                batch.hi[j] = hi[q];
                batch.want[j] = pr[i];
                if (batch.k == BATCH) run_batch(&batch, &out, &fz, mask, max_postings);
            }
            bi++;
        } else {
            run_batch(&batch, &out, &fz, mask, max_postings); /* postings in row order */
            if (max_postings < 0 || hi[q] - lo[q] <= max_postings) emit(&out, q, lo[q], hi[q]);
        }
    }
    run_batch(&batch, &out, &fz, mask, max_postings);
    for (int i = 0; i < 11; i++) PyBuffer_Release(&b[i]);
    return PyLong_FromSsize_t(out.w);
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

/* hash_speeds(lnf1 float32[n], df float32[n], dt int64[n], speeds float64[s],
 *             f1_offset float64[s], inv_q_f1, inv_q_df (float32), f1_bits, df_bits, dt_bits,
 *             out uint32[n * s])
 * The hash of every pair at every speed, pair-major (out[i * s + k]): what
 * evidence.hash_all_speeds computes in numpy, then transposed.  The same operations in the
 * same precision: q1 = floor((lnf1 - f1_offset[k]) * inv_q_f1) in double (f1_offset =
 * ln speed + ln F_LO); q2 = floor(df * inv_q_df) + 2^(df_bits-1) in float32 (numpy keeps a
 * float32 array times a Python float in float32); q3 = rint(dt * speed) in double; each
 * clipped to its bits (q3 from 1), then packed. */
static inline uint32_t clip_u32(double v, double lo, double hi) {
    return (uint32_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* floor and rint are one instruction in the AVX2 clone (libm calls in the SSE2 one) */
VECTOR_CLONES
static void hash_kernel(const float *lnf1, const float *df, const int64_t *dt, Py_ssize_t n,
                        const double *speeds, const double *f1_offset, Py_ssize_t s,
                        double inv_q_f1, float inv_q_df, int f1_bits, int df_bits,
                        int dt_bits, uint32_t *out) {
    const double f1_max = (double)((1u << f1_bits) - 1), df_max = (double)((1u << df_bits) - 1),
                 dt_max = (double)((1u << dt_bits) - 1);
    const float df_half = (float)(1u << (df_bits - 1));
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t q2 = clip_u32((double)(floorf(df[i] * inv_q_df) + df_half), 0.0, df_max);
        uint32_t mid = q2 << dt_bits;
        double f = (double)lnf1[i], t = (double)dt[i];
        for (Py_ssize_t k = 0; k < s; k++) {
            uint32_t q1 = clip_u32(floor((f - f1_offset[k]) * inv_q_f1), 0.0, f1_max);
            uint32_t q3 = clip_u32(rint(t * speeds[k]), 1.0, dt_max);
            out[i * s + k] = (q1 << (df_bits + dt_bits)) | mid | q3;
        }
    }
}

static PyObject *hash_speeds(PyObject *self, PyObject *args) {
    PyObject *o[6];
    double inv_q_f1;
    float inv_q_df;
    int f1_bits, df_bits, dt_bits;
    if (!PyArg_ParseTuple(args, "OOOOOdfiiiO", &o[0], &o[1], &o[2], &o[3], &o[4], &inv_q_f1,
                          &inv_q_df, &f1_bits, &df_bits, &dt_bits, &o[5]))
        return NULL;
    static const Py_ssize_t size[6] = {4, 4, 8, 8, 8, 4};
    static const char *name[6] = {"lnf1", "df", "dt", "speeds", "f1_offset", "out"};
    Py_buffer b[6];
    int got = 0;
    for (; got < 6; got++)
        if (get_buf(o[got], &b[got], size[got], got == 5, name[got]) < 0) goto fail;
    Py_ssize_t n = N_OF(b[0]), s = N_OF(b[3]);
    if (N_OF(b[1]) != n || N_OF(b[2]) != n || N_OF(b[4]) != s || N_OF(b[5]) != n * s ||
        f1_bits < 1 || df_bits < 1 || dt_bits < 1 || f1_bits + df_bits + dt_bits > 32) {
        PyErr_SetString(PyExc_ValueError, "hash_speeds: inconsistent sizes");
        goto fail;
    }
    const float *lnf1 = b[0].buf, *df = b[1].buf;
    const int64_t *dt = b[2].buf;
    const double *speeds = b[3].buf, *f1_offset = b[4].buf;
    uint32_t *out = b[5].buf;
    hash_kernel(lnf1, df, dt, n, speeds, f1_offset, s, inv_q_f1, inv_q_df, f1_bits, df_bits,
                dt_bits, out);
    for (int i = 0; i < 6; i++) PyBuffer_Release(&b[i]);
    Py_RETURN_NONE;
fail:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return NULL;
}

/* probe_rows(t int64[n], lnf1 float32[n], df float32[n], dt int64[n], rows int64[m],
 *            speeds float64[s], fanout, inv_q_fdf (float32), fdf_bits, fdt_bits, no_probe,
 *            out uint16[m * 3 * fanout])
 * The fine-key probes of query rows (row = pair * s + speed index): what
 * evidence._probes computes in numpy for evidence.probe_fines_rows.  A pair's anchor group
 * is the run of pairs with its t and lnf1; for target j of the group (j < fanout) and dt
 * shift d in -1, 0, +1: the fine key of that target's (df, dt) at the row's speed
 * (qf = floor(df * inv_q_fdf) + 2^(fdf_bits-1) in float32, qt = rint(dt * speed) in
 * double, each clipped to its bits, qt from 1), its dt part shifted by d; no_probe where
 * j is past the group, is the pair itself (unless alone), or the shifted dt leaves
 * [1, 2^fdt_bits - 1]. */
static PyObject *probe_rows(PyObject *self, PyObject *args) {
    PyObject *o[7];
    Py_ssize_t fanout;
    float inv_q_fdf;
    int fdf_bits, fdt_bits, no_probe;
    if (!PyArg_ParseTuple(args, "OOOOOOnfiiiO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &fanout, &inv_q_fdf, &fdf_bits, &fdt_bits, &no_probe, &o[6]))
        return NULL;
    static const Py_ssize_t size[7] = {8, 4, 4, 8, 8, 8, 2};
    static const char *name[7] = {"t", "lnf1", "df", "dt", "rows", "speeds", "out"};
    Py_buffer b[7];
    int got = 0;
    for (; got < 7; got++)
        if (get_buf(o[got], &b[got], size[got], got == 6, name[got]) < 0) goto fail;
    Py_ssize_t n = N_OF(b[0]), m = N_OF(b[4]), s = N_OF(b[5]);
    if (N_OF(b[1]) != n || N_OF(b[2]) != n || N_OF(b[3]) != n || s < 1 || fanout < 1 ||
        N_OF(b[6]) != m * 3 * fanout || fdf_bits < 1 || fdt_bits < 1 ||
        fdf_bits + fdt_bits > 16) {
        PyErr_SetString(PyExc_ValueError, "probe_rows: inconsistent sizes");
        goto fail;
    }
    const int64_t *t = b[0].buf, *dt = b[3].buf, *rows = b[4].buf;
    const float *lnf1 = b[1].buf, *df = b[2].buf;
    const double *speeds = b[5].buf;
    uint16_t *out = b[6].buf;
    const double qf_max = (double)((1 << fdf_bits) - 1), qt_max = (double)((1 << fdt_bits) - 1);
    const float qf_half = (float)(1 << (fdf_bits - 1));
    const int dt_mask = (1 << fdt_bits) - 1;
    for (Py_ssize_t r = 0; r < m; r++) {
        int64_t row = rows[r];
        if (row < 0 || row / s >= n) {
            PyErr_SetString(PyExc_ValueError, "probe_rows: row out of range");
            goto fail;
        }
        Py_ssize_t pair = (Py_ssize_t)(row / s), start = pair, end = pair + 1;
        double speed = speeds[row % s];
        while (start > 0 && t[start - 1] == t[start] && lnf1[start - 1] == lnf1[start]) start--;
        while (end < n && t[end] == t[end - 1] && lnf1[end] == lnf1[end - 1]) end++;
        Py_ssize_t group = end - start;
        uint16_t *o3 = out + r * 3 * fanout;
        for (Py_ssize_t j = 0; j < fanout; j++) {
            Py_ssize_t at = start + j;
            int valid = j < group && (at != pair || group == 1);
            if (at > n - 1) at = n - 1;
            int qf = (int)clip_u32((double)(floorf(df[at] * inv_q_fdf) + qf_half), 0.0, qf_max);
            int qt = (int)clip_u32(rint((double)dt[at] * speed), 1.0, qt_max);
            int key = (qf << fdt_bits) | qt;
            for (int d = -1; d <= 1; d++) {
                int shifted = (key & dt_mask) + d;
                int ok = valid && shifted >= 1 && shifted <= dt_mask;
                o3[3 * j + d + 1] = (uint16_t)(ok ? ((key & ~dt_mask) | shifted) : no_probe);
            }
        }
    }
    for (int i = 0; i < 7; i++) PyBuffer_Release(&b[i]);
    Py_RETURN_NONE;
fail:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return NULL;
}

/* standing_at(s float32[n*m], n, m, ht, hf, rows int64[k], cols int64[k], out float32[k])
 * How far the log spectrum s (n frames x m bins) stands above its surroundings at k cells:
 * its 3 x 3 maximum less the mean of the (2ht+1) x (2hf+1) cells around (edges: the cells
 * there).  What standing.standing_at_reference computes in numpy, rounding for rounding: the
 * box sums are float32 running sums along time from frame 0 (each as a cumsum would add
 * them), differenced, then running sums of those along frequency from bin 0, differenced,
 * over the float32 product of the box's sides.  Only the rows of the cells are summed along
 * frequency; the running sums along time go through every frame up to the last row's box,
 * kept in a ring of 2ht+2 rows. */
static PyObject *standing_at(PyObject *self, PyObject *args) {
    PyObject *o[4];
    Py_ssize_t n, m, ht, hf;
    if (!PyArg_ParseTuple(args, "OnnnnOOO", &o[0], &n, &m, &ht, &hf, &o[1], &o[2], &o[3]))
        return NULL;
    static const Py_ssize_t size[4] = {4, 8, 8, 4};
    static const char *name[4] = {"s", "rows", "cols", "out"};
    Py_buffer b[4];
    int got = 0;
    Py_ssize_t *first = NULL, *order = NULL;
    float *ring = NULL, *run = NULL;
    for (; got < 4; got++)
        if (get_buf(o[got], &b[got], size[got], got == 3, name[got]) < 0) goto fail;
    Py_ssize_t k = N_OF(b[1]);
    if (n < 1 || m < 1 || ht < 0 || hf < 0 || N_OF(b[0]) != n * m || N_OF(b[2]) != k ||
        N_OF(b[3]) != k) {
        PyErr_SetString(PyExc_ValueError, "standing_at: inconsistent sizes");
        goto fail;
    }
    const float *s = b[0].buf;
    const int64_t *rows = b[1].buf, *cols = b[2].buf;
    float *out = b[3].buf;
    for (Py_ssize_t i = 0; i < k; i++)
        if (rows[i] < 0 || rows[i] >= n || cols[i] < 0 || cols[i] >= m) {
            PyErr_SetString(PyExc_ValueError, "standing_at: cell out of range");
            goto fail;
        }
    const Py_ssize_t ring_n = 2 * ht + 2;
    first = calloc((size_t)n + 1, sizeof *first);
    order = malloc(((size_t)k + 1) * sizeof *order);
    ring = calloc((size_t)(ring_n * m), sizeof *ring);
    run = malloc(((size_t)m + 1) * sizeof *run);
    if (!first || !order || !ring || !run) {
        PyErr_NoMemory();
        goto fail;
    }
    /* the cells by row (a counting sort): row r's are order[first[r] .. first[r+1]) */
    for (Py_ssize_t i = 0; i < k; i++) first[rows[i] + 1]++;
    for (Py_ssize_t r = 0; r < n; r++) first[r + 1] += first[r];
    for (Py_ssize_t i = 0; i < k; i++) order[first[rows[i]]++] = i;
    for (Py_ssize_t r = n; r > 0; r--) first[r] = first[r - 1];
    first[0] = 0;
    Py_ssize_t done = 0; /* running sums along time known for frames < done (ring slot done % ring_n) */
    for (Py_ssize_t r = 0; r < n; r++) {
        if (first[r] == first[r + 1]) continue;
        Py_ssize_t hi = r + ht + 1 < n ? r + ht + 1 : n, lo = r - ht > 0 ? r - ht : 0;
        for (; done < hi; done++) {
            const float *x = s + done * m, *prev = ring + (done % ring_n) * m;
            float *next = ring + ((done + 1) % ring_n) * m;
            if (done == 0)
                memcpy(next, x, (size_t)m * sizeof *next);
            else
                for (Py_ssize_t j = 0; j < m; j++) next[j] = prev[j] + x[j];
        }
        const float *ch = ring + (hi % ring_n) * m, *cl = ring + (lo % ring_n) * m;
        Py_ssize_t top = 0;
        for (Py_ssize_t c = first[r]; c < first[r + 1]; c++) {
            Py_ssize_t want = (Py_ssize_t)cols[order[c]] + hf + 1;
            if (want > top) top = want;
        }
        if (top > m) top = m;
        run[0] = 0.0f;
        run[1] = ch[0] - cl[0];
        for (Py_ssize_t j = 1; j < top; j++) run[j + 1] = run[j] + (ch[j] - cl[j]);
        const float dt = (float)(hi - lo);
        const Py_ssize_t r0 = r > 0 ? r - 1 : 0, r1 = r + 1 < n ? r + 1 : n - 1;
        for (Py_ssize_t c = first[r]; c < first[r + 1]; c++) {
            Py_ssize_t i = order[c], col = (Py_ssize_t)cols[i];
            Py_ssize_t fhi = col + hf + 1 < m ? col + hf + 1 : m, flo = col - hf > 0 ? col - hf : 0;
            float mean = (run[fhi] - run[flo]) / (dt * (float)(fhi - flo));
            Py_ssize_t c0 = col > 0 ? col - 1 : 0, c1 = col + 1 < m ? col + 1 : m - 1;
            float top3 = s[r0 * m + c0];
            for (Py_ssize_t rr = r0; rr <= r1; rr++)
                for (Py_ssize_t cc = c0; cc <= c1; cc++)
                    if (s[rr * m + cc] > top3) top3 = s[rr * m + cc];
            out[i] = top3 - mean;
        }
    }
    free(first);
    free(order);
    free(ring);
    free(run);
    for (int i = 0; i < 4; i++) PyBuffer_Release(&b[i]);
    Py_RETURN_NONE;
fail:
    free(first);
    free(order);
    free(ring);
    free(run);
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return NULL;
}

static PyMethodDef methods[] = {
    {"band_power", band_power, METH_VARARGS, "Power (or its log10) of a band of rfft rows, plus eps."},
    {"log10", log10_array, METH_VARARGS, "Correctly rounded log10 of float32."},
    {"pair_peaks", pair_peaks, METH_VARARGS, "Peak pairs into preallocated arrays."},
    {"hash_speeds", hash_speeds, METH_VARARGS, "Hashes of pairs at every speed, pair-major."},
    {"probe_rows", probe_rows, METH_VARARGS, "Fine-key probes of query rows."},
    {"gather", gather, METH_VARARGS, "Index postings of hash ranges, narrowed by fine key."},
    {"standing_at", standing_at, METH_VARARGS, "How far a log spectrum stands out at cells."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native",
                                    "The engine's pairing and lookup loops in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
