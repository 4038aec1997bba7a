"""Vectorized NumPy as JAX and PyTorch users write it (issue 15): broadcasting with
``np.newaxis``/``None``, reductions with ``axis``/``keepdims``, normalisation layers, n-d
transposes. Each function returns a float; ``CASES`` gives its arguments."""

import sys
from pathlib import Path

import numpy as np

W34 = np.sin(np.arange(12.0)).reshape(3, 4)
W32 = np.cos(np.arange(6.0)).reshape(3, 2)


def rbf_kernel_newaxis(x, y):
    d = x[:, np.newaxis] - y[np.newaxis, :]
    return np.sum(np.exp(-d * d) * W32)


def rbf_kernel_none(x, y):
    d = x[:, None] - y[None, :]
    return np.sum(np.exp(-0.5 * d * d) * W32)


def column_minus_row(x, y):
    # (3, 1) - (2,): broadcasting stretches the size-1 axis of the higher-rank operand
    d = x[:, None] - y
    return np.sum(d * d * W32)


def layer_norm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * gamma + beta
    return np.sum(y * W34)


def batch_norm(x, gamma, beta):
    mu = np.mean(x, axis=0)
    sd = np.std(x, axis=0, ddof=1)
    y = (x - mu) / (sd + 1e-3) * gamma + beta
    return np.sum(y * y * W34)


def log_softmax_xent(z, onehot):
    m = np.max(z, axis=1, keepdims=True)
    s = z - m
    lse = np.log(np.sum(np.exp(s), axis=1, keepdims=True))
    return -np.sum(onehot * (s - lse)) / z.shape[0]


def transpose_3d(t, c):
    return np.sum(np.transpose(t, (2, 0, 1)) * c) + np.sum(t.transpose(1, 0, 2) ** 2)


_R = np.random.default_rng(11)
X34 = _R.normal(size=(3, 4))
CASES = {
    rbf_kernel_newaxis: (np.array([0.3, 0.5, 0.9]), np.array([0.1, 0.7])),
    rbf_kernel_none: (np.array([0.3, -0.5, 0.9]), np.array([0.2, 0.6])),
    column_minus_row: (np.array([0.3, 0.5, 0.9]), np.array([0.1, 0.7])),
    layer_norm: (X34, 1.0 + 0.1 * _R.normal(size=4), 0.1 * _R.normal(size=4)),
    batch_norm: (X34, 1.0 + 0.1 * _R.normal(size=4), 0.1 * _R.normal(size=4)),
    log_softmax_xent: (_R.normal(size=(3, 4)), np.eye(4)[[1, 3, 0]]),
    transpose_3d: (_R.normal(size=(2, 3, 4)), _R.normal(size=(4, 2, 3))),
}


W235 = np.sin(np.arange(30.0)).reshape(2, 3, 5)


def matmul_stacks(a, b):
    return np.sum(np.matmul(a, b) * W235)


def matmul_stack_by_matrix(a, w):
    return np.sum((a @ w) * W235)


def matmul_matrix_by_stack(m, b):
    return np.sum(np.matmul(m, b) ** 2)


def matmul_broadcast_stack(a, b):
    # a (1, 3, 4) against b (2, 4, 5): the size-1 stack axis of a is broadcast
    return np.sum(np.matmul(a, b) * W235)


def attention(q, k, v):
    s = q @ k.T / np.sqrt(q.shape[1])
    s = s - np.max(s, axis=-1, keepdims=True)
    p = np.exp(s)
    p = p / np.sum(p, axis=-1, keepdims=True)
    return np.sum((p @ v) * W34)


def multi_head_scores(x, wq, wk):
    q = np.matmul(x[None], wq)                       # (h, n, dh)
    k = np.matmul(x[None], wk)
    s = np.matmul(q, np.transpose(k, (0, 2, 1)))     # (h, n, n)
    return np.sum(np.tanh(s))


CASES.update({
    matmul_stacks: (_R.normal(size=(2, 3, 4)), _R.normal(size=(2, 4, 5))),
    matmul_stack_by_matrix: (_R.normal(size=(2, 3, 4)), _R.normal(size=(4, 5))),
    matmul_matrix_by_stack: (_R.normal(size=(3, 4)), _R.normal(size=(2, 4, 5))),
    matmul_broadcast_stack: (_R.normal(size=(1, 3, 4)), _R.normal(size=(2, 4, 5))),
    attention: (_R.normal(size=(3, 2)), _R.normal(size=(5, 2)), _R.normal(size=(5, 4))),
    multi_head_scores: (_R.normal(size=(4, 3)) * 0.5, _R.normal(size=(2, 3, 2)) * 0.5, _R.normal(size=(2, 3, 2)) * 0.5),
})


W2345 = np.sin(np.arange(120.0)).reshape(2, 3, 4, 5)


def broadcast_4d(a, b):
    # a (2, 1, 4, 1) stretched along two axes by b (2, 3, 4, 5): summed back in 4 axes
    return np.sum(a * b * W2345)


CASES[broadcast_4d] = (_R.normal(size=(2, 1, 4, 1)), _R.normal(size=(2, 3, 4, 5)))


# ---------------------------------------------------------------- gathers (integer and boolean indexing)

TOKENS = np.array([3, 1, 4, 1, 5, 1, 2, 0])  # token 1 three times: its embedding row's adjoint sums three
TOKENS_2D = np.array([[3, 1, 1], [0, 1, 5]])
W43 = np.cos(np.arange(12.0)).reshape(4, 3)


def embedding_softmax(table, w):
    # a bag of embeddings, then a softmax cross-entropy over 3 classes (target class 2)
    h = np.sum(table[TOKENS], axis=0)
    z = h @ w
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m))) - z[2]


def embedding_2d_index(table, v):
    e = table[TOKENS_2D]                       # (2, 3, 4): a batch of sequences
    z = np.tanh(e) * v                         # (2, 3, 4) * (4,)
    return np.sum(z * z)


def gather_repeated(x):
    idx = np.array([0, 2, 2, 2, -1, 0])
    y = x[idx]
    return np.sum(y * y * np.arange(1.0, 7.0)) + np.sum(np.sin(x[idx]))


def gather_columns(m, v):
    cols = np.array([2, 0, 2])
    y = m[:, cols] * v                          # (3, 3) * (3,)
    return np.sum(y * y) + np.sum(m[cols, 1] ** 3)


def masked_reduction(x, y):
    keep = x > 0.0
    return np.sum(x[keep] ** 2) + np.sum(np.exp(y[y < 0.5])) + np.sum(np.where(keep, x * y, 0.0))


CASES.update({
    embedding_softmax: (_R.normal(size=(6, 4)), _R.normal(size=(4, 3))),
    embedding_2d_index: (_R.normal(size=(6, 4)) * 0.5, _R.normal(size=4)),
    gather_repeated: (_R.normal(size=5),),
    gather_columns: (_R.normal(size=(3, 4)), _R.normal(size=3)),
    masked_reduction: (_R.normal(size=(3, 4)), _R.normal(size=(3, 4))),
})


# ---------------------------------------------------------------- np.linalg.slogdet, np.linalg.cholesky


def slogdet_spd(x):
    a = x.T @ x + np.eye(3)                     # symmetric positive definite
    sign, logdet = np.linalg.slogdet(a)
    return sign * logdet + 0.5 * np.linalg.slogdet(a * W33)[1]


def gaussian_loglik_cholesky(x, mu, f):
    # log N(x; mu, f f^T + I/2) by its Cholesky factor: a whitened residual and log det
    cov = f @ f.T + 0.5 * np.eye(4)
    L = np.linalg.cholesky(cov)
    r = np.linalg.solve(L, x - mu)
    return -0.5 * np.sum(r * r) - np.sum(np.log(np.diag(L))) - 2.0 * np.log(2.0 * np.pi)


W33 = np.array([[1.5, 0.2, -0.1], [0.3, 1.2, 0.4], [-0.2, 0.1, 0.9]])
CASES.update({
    slogdet_spd: (_R.normal(size=(5, 3)),),
    gaussian_loglik_cholesky: (_R.normal(size=4), 0.1 * _R.normal(size=4), _R.normal(size=(4, 2))),
})


# ---------------------------------------------------------------- writes through index arrays
# NumPy: x[idx] = v and x[idx] += v keep the value written last to a repeated index;
# np.add.at(x, idx, v) adds every one.

SLOTS = np.array([1, 3, 1, 0, -2])  # slot 1 twice, and -2 is slot 3 of 5 again


def scatter_assign_repeated(x, v):
    y = x * 1.0
    y[SLOTS] = v * v
    return np.sum(y * np.arange(1.0, 6.0)) + np.sum(np.sin(y))


def scatter_add_inplace_repeated(x, v):
    y = np.cos(x)
    y[SLOTS] += v
    y[SLOTS] -= 0.5 * v * v
    return np.sum(y * y * np.arange(1.0, 6.0))


def add_at_repeated(x, v):
    y = x * 2.0
    np.add.at(y, SLOTS, v * v)
    return np.sum(y * np.arange(1.0, 6.0)) + np.sum(y ** 3)


def add_at_rows(table, v):
    # the adjoint of an embedding lookup, written out: rows accumulated, row 0 three times
    acc = np.zeros_like(table)
    rows = np.array([0, 2, 0, 0])
    np.add.at(acc, rows, v)
    acc[rows] *= 2.0
    return np.sum(np.tanh(acc + table) * W43)


CASES.update({
    scatter_assign_repeated: (_R.normal(size=5), _R.normal(size=5)),
    scatter_add_inplace_repeated: (_R.normal(size=5), _R.normal(size=5)),
    add_at_repeated: (_R.normal(size=5), _R.normal(size=5)),
    add_at_rows: (_R.normal(size=(4, 3)), _R.normal(size=(4, 3))),
})


def scalar_written_to_many(x, s):
    # one scalar written to several entries (a slice, an index array, np.add.at): its tangent
    # in vector forward mode broadcasts over them
    y = x * 1.0
    y[1:3] = s
    y[SLOTS] += s * s
    np.add.at(y, SLOTS, np.sin(s))
    return np.sum(y * np.arange(1.0, 6.0) ** 2)


def masked_writes(m, v):
    # masks over the rows (1-d) and over every entry (2-d, as Numba does it: flattened)
    y = m * 1.0
    rows = m[:, 0] > 0.0
    y[rows] = v * 2.0
    y[m > 0.5] = 0.5 * v[0]
    y[y < 0.0] *= y[y < 0.0]
    return np.sum(y * y * W34) + np.sum(m[rows] ** 3)


PERMS = np.random.default_rng(5).integers(0, 40, size=(200, 8))  # repeats within and across rows


def _pick(x, idx):
    return x[idx] * x[idx]


def gathers_in_a_loop(x, w):
    # 200 steps each gathering (through a helper) and writing back through 8 indices with
    # repeats: the indices and the overwritten entries are recorded for the reverse sweep
    z = x * 1.0
    y = np.zeros(8)
    s = 0.0
    for k in range(PERMS.shape[0]):
        idx = PERMS[k]
        y = 0.5 * y + _pick(z, idx) * w[k % 4]
        z[idx] += 0.01 * y
        np.add.at(z, idx, -0.005 * y)
        s += np.sum(np.sin(y))
    return s + np.sum(z * z)


LABELS = np.array([2, 0, 1, 2, 2, 0])


def softmax_xent_pairs(z):
    # the cross-entropy as PyTorch users write it: log-probabilities picked by (row, label)
    m = np.max(z)
    e = np.exp(z - m)
    logp = np.log(e / np.sum(e, axis=1)[:, None])
    return -np.mean(logp[np.arange(z.shape[0]), LABELS])


def pairs_written(z, v):
    # one integer array per axis, written (entry (1, 0) twice: the last wins) and read back
    rows, cols = np.array([0, 1, 1, -1]), np.array([2, 0, 0, 1])
    y = z * 1.0
    y[rows, cols] = v
    y[rows, cols] += v * v
    return np.sum(y * y * W63) + np.sum(y[rows[:, None], cols[None, :]] ** 3)


W63 = np.sin(np.arange(18.0)).reshape(6, 3)
CASES[scalar_written_to_many] = (_R.normal(size=5), 0.7)
CASES[softmax_xent_pairs] = (_R.normal(size=(6, 3)),)
CASES[pairs_written] = (_R.normal(size=(6, 3)), _R.normal(size=4))
CASES[gathers_in_a_loop] = (0.3 * _R.normal(size=40), np.array([0.4, -0.3, 0.2, 0.35]))
CASES[masked_writes] = (np.array([[0.3, -0.2, 0.7, -0.9], [-0.7, 0.9, 0.1, 0.6], [0.2, 0.4, -0.3, 0.8]]),
                        _R.normal(size=4))
GATHERS_AND_LINALG = [embedding_softmax, embedding_2d_index, gather_repeated, gather_columns, masked_reduction,
                      slogdet_spd, gaussian_loglik_cholesky, scatter_assign_repeated, scatter_add_inplace_repeated,
                      add_at_repeated, add_at_rows, scalar_written_to_many, masked_writes,
                      gathers_in_a_loop, softmax_xent_pairs, pairs_written]


# ---------------------------------------------------------------- layers end to end, einsum, GMM
# (issue 15's corpus; the attention and GMM objectives are the benchmark's own, bench/problems.py)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is at the repository root
from bench.problems import gmm_vec, make_inputs, multi_head_attention, tril_scatter


def mlp_softmax_head(x, w1, b1, w2, b2, onehot):
    # two dense layers, a log-softmax head over the classes, mean cross-entropy
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(onehot * logp, axis=1))


def einsum_forms(x, a, y, t):
    quad = np.einsum("i,ij,j->", x, a, y)                  # x^T A y
    gram = np.einsum("ij,kj->ik", a, a)                    # A A^T
    stack = np.einsum("bij,bjk->bik", t, t)                # a stack of products
    implicit = np.einsum("ij,j", a, y)                     # the output NumPy infers: "i"
    outer = np.einsum("i,j->ij", x, y)
    traced = np.einsum("bij,jk->bik", t, a.T)             # a stack times a matrix
    return (quad + np.sum(gram * gram) + np.sum(np.tanh(stack)) + np.sum(implicit * implicit)
            + np.sum(outer * a) + np.sum(np.sin(traced)))


def tensordot_forms(t, b, a):
    one = np.tensordot(t, b, axes=1)                       # (2, 4, 4) . (4, 3) -> (2, 4, 3)
    two = np.tensordot(t, t, axes=([1, 2], [2, 1]))        # (2, 2)
    return np.sum(one * one) + np.sum(two) + np.sum(np.tensordot(a, b, axes=2) * 0.5)


def _gmm_case(n=7, d=3, K=4):
    rng = np.random.default_rng(5)
    icf = 0.3 * rng.normal(size=(K, d + d * (d - 1) // 2))
    return (rng.normal(size=K), rng.normal(size=(K, d)), icf, rng.normal(size=(n, d)), tril_scatter(d),
            1.3, 1.0)


_HOT = np.eye(5)[[1, 4, 0, 2, 3, 3]]
CASES.update({
    multi_head_attention: make_inputs("attention", small=True),
    mlp_softmax_head: (_R.normal(size=(6, 3)), _R.normal(size=(3, 4)) * 0.5, 0.1 * _R.normal(size=4),
                       _R.normal(size=(4, 5)) * 0.5, 0.1 * _R.normal(size=5), _HOT),
    einsum_forms: (_R.normal(size=3), _R.normal(size=(3, 4)), _R.normal(size=4), _R.normal(size=(2, 4, 4)) * 0.5),
    tensordot_forms: (_R.normal(size=(2, 4, 4)), _R.normal(size=(4, 3)), _R.normal(size=(4, 3))),
    gmm_vec: _gmm_case(),
})


def axis_reductions(t):
    # every reduction over axes of a 3-d array that Numba lacks, each one stand-in kernel
    a = np.sum(np.mean(t, axis=1, keepdims=True) * np.max(t, axis=0, keepdims=True))
    b = np.sum(np.min(t, axis=-1) ** 2) + np.sum(np.prod(t, axis=0)) + np.sum(np.sum(t, axis=(0, 2)) ** 2)
    c = np.sum(np.var(t, axis=2, ddof=1)) + np.sum(np.std(t, axis=1, keepdims=True) ** 3) + np.var(t, ddof=1)
    d = np.sum(t.mean(axis=0) * t.sum(axis=(0, 1), keepdims=True)) + np.std(t, keepdims=True)[0, 0, 0]
    return a + b + c + d


CASES[axis_reductions] = (_R.normal(size=(2, 3, 4)) + 2.0,)
