"""MinHash LSH near-duplicate detection (datasketch's MinHash, vectorised over batches).

Two functions, usable on lists and inside ``datasets.Dataset.map(batched=True, num_proc=N)``:

- :func:`signatures` -- texts -> an ``(n, num_perm)`` uint32 array: MinHash over the character
  5-grams of each text's :func:`normalise` form (language-agnostic: Chinese
  has no spaces). The values are exactly datasketch's ``MinHash(num_perm, seed)`` (scheme
  ``affine32``) fed the same shingles with :func:`shingle_hash` (tested), computed for the whole
  batch at once in numpy.
- :func:`near_duplicates` -- all signatures (+ ids) -> which to keep and the removed pairs.

Near duplicates are decided greedily in order, as datasketch's ``MinHashLSH`` query-then-insert
loop does: an example is removed when an earlier *kept* example shares an LSH band with it
(candidates; bands and rows from datasketch's optimal parameters for ``threshold``) and their
estimated Jaccard similarity (the share of equal signature values) is at least ``threshold``. Each
removed example is reported with the kept one it duplicates; chains (A~B, B~C, A!~C) keep C.
:class:`MinHashIndex` is the same decision streamed over consecutive batches.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from verticalize.errors import DataError

__all__ = ["NUM_PERM", "THRESHOLD", "NGRAM", "LSH_WEIGHTS", "normalise", "signatures", "shingles", "shingle_hash",
           "lsh_params", "MinHashIndex", "NearDuplicates", "near_duplicates"]

NUM_PERM = 128
THRESHOLD = 0.8
NGRAM = 5
SEED = 1  # datasketch's default seed: its MinHash(num_perm) draws the same permutations
LSH_WEIGHTS = (0.1, 0.9)  # datasketch MinHashLSH weights (false positive, false negative): see lsh_params

_M64 = (1 << 64) - 1
_B = 0x100000001B3  # FNV-1a's 64-bit prime: the polynomial base of the shingle hash
_CHUNK = 1 << 13  # shingles per numpy block in signatures(): (num_perm x 8k) uint32, about the L2 cache


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used for duplicate keys (exact and near).

    >>> normalise("  Hello,\\tＷorld ")
    'hello, world'
    """
    # str.split() splits on the characters the regex \s matches: same as re.sub(r"\s+", " ", t).strip()
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def shingles(text: str, n: int = NGRAM) -> list[str]:
    """The character n-grams of the normalised text (the whole text when it is shorter).

    >>> shingles("Ab  C", 3)
    ['ab ', 'b c']
    """
    t = normalise(text)
    return [t[i: i + n] for i in range(max(1, len(t) - n + 1))]


def shingle_hash(gram: str) -> int:
    """The 32-bit hash of one shingle (its code points as a polynomial mod 2^64, folded): what
    :func:`signatures` computes for all shingles at once; datasketch's ``MinHash(hashfunc=...)``
    fed with it gives the same signatures.

    >>> shingle_hash("abc") == shingle_hash("abc") != shingle_hash("abd")
    True
    """
    h = 0
    for ch in gram:
        h = (h * _B + ord(ch) + 1) & _M64
    return (h ^ (h >> 32)) & 0xFFFFFFFF


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of datasketch's ``MinHash(num_perm, seed)`` affine32 permutations, drawn the way it
    draws them (tested against it) without importing datasketch (a second of scipy per process)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer (datasketch's pre-mix for the affine32 scheme), in place."""
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _shingle_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of the normalised texts, concatenated, and each text's count of them."""
    norm = [normalise(t) for t in texts]
    lens = np.fromiter((len(t) for t in norm), dtype=np.int64, count=len(norm))
    cps = np.frombuffer("".join(norm).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    cps += np.uint64(1)
    cps = np.concatenate((cps, np.zeros(n - 1, dtype=np.uint64)))
    # the polynomial hash of the n code points from every position (texts are contiguous in cps)
    m = len(cps) - n + 1
    h = cps[:m].copy()
    base = np.uint64(_B)
    with np.errstate(over="ignore"):
        for k in range(1, n):
            h *= base
            h += cps[k: k + m]
    h ^= h >> np.uint64(32)
    h = h.astype(np.uint32)
    counts = np.maximum(1, lens - n + 1)
    starts = np.zeros(len(norm), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    offs = np.cumsum(counts) - counts  # index of each text's first shingle
    # shingle j of text i starts at code point starts[i] + j
    first = np.repeat(starts - offs, counts) + np.arange(counts.sum())
    out = h[first] if len(h) else np.zeros(len(first), dtype=np.uint32)
    short = np.flatnonzero(lens < n)  # shorter than one shingle: the whole text is its shingle
    if len(short):
        out[offs[short]] = np.fromiter((shingle_hash(norm[i]) for i in short), dtype=np.uint32, count=len(short))
    return out, counts


def signatures(texts: Sequence[str], num_perm: int = NUM_PERM, ngram: int = NGRAM, seed: int = SEED) -> np.ndarray:
    """MinHash signatures of the texts: an ``(len(texts), num_perm)`` uint32 array.

    Row i equals ``datasketch.MinHash(num_perm, seed=seed, hashfunc=shingle_hash)`` updated with
    ``shingles(texts[i], ngram)``. For ``Dataset.map(batched=True)``::

        ds.map(lambda b: {"minhash": signatures(b["text"])}, batched=True, num_proc=8)

    >>> s = signatures(["the same words here", "The  same words here", "something else"], num_perm=16)
    >>> s.shape, s.dtype.name, bool((s[0] == s[1]).all()), bool((s[0] == s[2]).all())
    ((3, 16), 'uint32', True, False)
    """
    a, b = _permutations(num_perm, seed)
    a, b = a[:, None], b[:, None]  # permutations x shingles: each row's min-reduction runs over contiguous memory
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    if not len(texts):
        return out
    hv, counts = _shingle_hashes(texts, ngram)
    hv = _fmix32(hv)
    ends = np.cumsum(counts)
    starts = ends - counts
    # blocks of whole texts holding about _CHUNK shingles; a longer text is one block, reduced in slices
    lo = 0
    with np.errstate(over="ignore"):
        while lo < len(texts):
            hi = max(lo + 1, int(np.searchsorted(ends, starts[lo] + _CHUNK, side="right")))
            s, e = int(starts[lo]), int(ends[hi - 1])
            if hi - lo == 1 and e - s > _CHUNK:
                acc = np.full(num_perm, np.uint32(0xFFFFFFFF))
                for p in range(s, e, _CHUNK):
                    np.minimum(acc, (a * hv[None, p: min(e, p + _CHUNK)] + b).min(axis=1), out=acc)
                out[lo] = acc
            else:
                phv = a * hv[None, s:e] + b
                out[lo:hi] = np.minimum.reduceat(phv, starts[lo:hi] - s, axis=1).T
            lo = hi
    return out


@lru_cache(maxsize=32)
def lsh_params(threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) for ``threshold``: datasketch ``MinHashLSH``'s choice with ``weights=(0.1,
    0.9)`` -- missed duplicates weigh 9 times false candidates, which the signature check rejects
    anyway (at 0.8: a pair with Jaccard 0.85 is a candidate 97% of the time, against 69% with the
    even weights).

    >>> lsh_params(0.8, 128)
    (14, 9)
    """
    from datasketch.lsh import _optimal_param

    b, r = _optimal_param(threshold, num_perm, *LSH_WEIGHTS)
    return int(b), int(r)


def _band_multipliers(rows: int) -> np.ndarray:
    return np.random.RandomState(rows).randint(0, 1 << 62, rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per (example, band): a hash of the band's ``rows`` signature values (equal
    bands always share a key; a rare collision only adds a candidate, checked by Jaccard)."""
    mult = _band_multipliers(rows)
    keys = np.empty((len(sigs), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, len(sigs), 1 << 15):  # in blocks: the uint64 copy is twice the signatures' size
            v = sigs[lo: lo + (1 << 15), : bands * rows].reshape(-1, bands, rows).astype(np.uint64)
            k = (v * mult).sum(axis=2, dtype=np.uint64)
            k ^= k >> np.uint64(29)
            k *= np.uint64(0xBF58476D1CE4E5B9)
            k ^= k >> np.uint64(32)
            keys[lo: lo + len(k)] = k
    return keys


@dataclass
class NearDuplicates:
    """What :func:`near_duplicates` decided: ``keep[i]`` for every input row, and for every removed
    row ``(its id, the id of the kept row it duplicates, their estimated Jaccard)``, in input order."""

    keep: np.ndarray
    pairs: list[tuple[Any, Any, float]] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return len(self.pairs)


class MinHashIndex:
    """Streaming near-dedup over consecutive batches of signatures: a row is removed when it is a
    near duplicate (shared LSH band and estimated Jaccard >= ``threshold``) of a row kept earlier,
    in this batch or a previous one; otherwise it is kept and indexed.

    >>> idx = MinHashIndex(0.8, num_perm=64)
    >>> s = signatures(["a long enough sentence about bonds", "a long enough sentence about bonds!", "stocks"], 64)
    >>> res = idx.add(s, ids=["a", "b", "c"])
    >>> res.keep.tolist(), [(r, k) for r, k, _ in res.pairs]
    ([True, False, True], [('b', 'a')])
    """

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        if not 0 < threshold < 1:
            raise DataError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._tables: list[dict[int, Any]] = [{} for _ in range(self.bands)]  # key -> kept row, or list of rows
        self._sigs = np.empty((0, num_perm), dtype=np.uint32)
        self._n = 0  # kept rows
        self._ids: list[Hashable] = []
        self._seen = 0  # rows given so far, kept or not

    def __len__(self) -> int:
        return self._n

    def _store(self, sig: np.ndarray) -> int:
        if self._n == len(self._sigs):
            grown = np.empty((max(1024, 2 * self._n), self.num_perm), dtype=np.uint32)
            grown[: self._n] = self._sigs[: self._n]
            self._sigs = grown
        self._sigs[self._n] = sig
        self._n += 1
        return self._n - 1

    def add(self, sigs: np.ndarray, ids: Sequence[Hashable] | None = None) -> NearDuplicates:
        """Decide a batch of signatures (rows in order); ``ids`` name them in the pairs (default:
        their running position over all batches)."""
        sigs = _check_sigs(sigs, self.num_perm)
        if ids is None:
            ids = range(self._seen, self._seen + len(sigs))
        elif len(ids) != len(sigs):
            raise DataError(f"{len(ids)} ids for {len(sigs)} signatures")
        self._seen += len(sigs)
        keys = _band_keys(sigs, self.bands, self.rows).tolist()
        keep = np.ones(len(sigs), dtype=bool)
        pairs: list[tuple[Any, Any, float]] = []
        tables = self._tables
        need = math.ceil(self.threshold * self.num_perm - 1e-9)  # equal values for an estimate >= threshold
        for i, row in enumerate(keys):
            cands: set[int] = set()
            for table, k in zip(tables, row):
                c = table.get(k)
                if c is not None:
                    if isinstance(c, int):
                        cands.add(c)
                    else:
                        cands.update(c)
            if cands:
                cand = np.fromiter(cands, dtype=np.int64, count=len(cands))
                equal = np.count_nonzero(self._sigs[cand] == sigs[i], axis=1)
                best = int(np.argmax(equal))
                if equal[best] >= need:
                    keep[i] = False
                    pairs.append((ids[i], self._ids[cand[best]], round(int(equal[best]) / self.num_perm, 4)))
                    continue
            j = self._store(sigs[i])
            self._ids.append(ids[i])
            for table, k in zip(tables, row):
                c = table.get(k)
                if c is None:
                    table[k] = j
                elif isinstance(c, int):
                    table[k] = [c, j]
                else:
                    c.append(j)
        return NearDuplicates(keep, pairs)


def _check_sigs(sigs: Any, num_perm: int) -> np.ndarray:
    sigs = np.asarray(sigs)
    if sigs.ndim != 2 or sigs.shape[1] != num_perm:
        raise DataError(f"signatures must be an (n, {num_perm}) array, got shape {sigs.shape}")
    if sigs.dtype != np.uint32:
        if sigs.dtype.kind not in "iu" or (sigs.size and (sigs.min() < 0 or sigs.max() > 0xFFFFFFFF)):
            raise DataError(f"signatures must be 32-bit hash values (uint32, or uint64 below 2**32), got {sigs.dtype}")
        sigs = sigs.astype(np.uint32)
    return sigs


def near_duplicates(sigs: Any, ids: Sequence[Hashable] | None = None, threshold: float = THRESHOLD
                    ) -> NearDuplicates:
    """Greedy near-dedup of all rows at once (row order decides which of two duplicates stays):
    the same result as one :class:`MinHashIndex` fed the rows in order, faster -- rows that share
    no LSH band with any other row are kept without a lookup.

    ``sigs``: ``(n, num_perm)`` signatures (uint32, or uint64 holding 32-bit values, e.g. a
    ``datasets`` column read back with ``np.asarray``); ``ids``: how the pairs name rows (default:
    the row numbers).

    >>> s = signatures(["one two three four five six", "one two three four five six.", "seven eight"], 64)
    >>> r = near_duplicates(s, ids=["x", "y", "z"])
    >>> r.keep.tolist(), r.pairs[0][:2]
    ([True, False, True], ('y', 'x'))
    """
    if not 0 < threshold < 1:
        raise DataError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    sigs = np.asarray(sigs)
    if sigs.ndim != 2:
        raise DataError(f"signatures must be an (n, num_perm) array, got shape {sigs.shape}")
    num_perm = sigs.shape[1]
    sigs = _check_sigs(sigs, num_perm)
    n = len(sigs)
    if ids is None:
        ids = range(n)
    elif len(ids) != n:
        raise DataError(f"{len(ids)} ids for {n} signatures")
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return NearDuplicates(keep)
    bands, rows = lsh_params(threshold, num_perm)
    keys = _band_keys(sigs, bands, rows)
    # rows sharing a band key with another row: the only ones that can be (or have) a duplicate
    shared = np.zeros(n, dtype=bool)
    for band in range(bands):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    rows_in = np.flatnonzero(shared)
    if not len(rows_in):
        return NearDuplicates(keep)
    index = MinHashIndex(threshold, num_perm)
    res = index.add(sigs[rows_in], ids=[ids[i] for i in rows_in])
    keep[rows_in] = res.keep
    return NearDuplicates(keep, res.pairs)
