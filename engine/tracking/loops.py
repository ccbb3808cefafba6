"""Loop detection for videos: a keyframe that revisits a place filmed long before is matched
with it, so the mapper closes the loop instead of carrying the drift of the sequence.

Sequential matching only pairs keyframes that are near in time. Here a bag of visual words
built from the video's own SIFT descriptors (no vocabulary file ships with the project and
none can be downloaded) ranks every other keyframe by appearance: spherical k-means on a
sample of descriptors, tf-idf weighted word histograms, cosine similarity. Detection starts
once the video is longer than the sequential window can span (``min_keyframes``), so the
first chunk's geometry is not delayed. Every
``period``-th keyframe asks for its ``candidates`` most similar keyframes outside the
sequential window; pycolmap matches and geometrically verifies those pairs like any others,
so a wrong candidate costs one verification; a loop pair kept needs more verified matches
than a sequential one (``min_inliers``), as a look-alike place is the typical false loop.

COLMAP's own loop detection needs a vocabulary tree file; building one from the video with
``pycolmap.VisualIndex`` took 2.6 s for 256 words on 66k descriptors (apple.mp4, 2 cores,
measured once, ad hoc); this k-means takes 0.5-0.8 s (``benchmarks/bench_sfm_choices.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LoopOptions:
    enabled: bool = True
    period: int = 5            # every period-th keyframe (in video order) queries for loops
    candidates: int = 5        # most similar keyframes matched per query
    min_inliers: int = 40      # a loop pair needs this many verified matches (sequential pairs 15):
                               # look-alike places verify with fewer (kitchen, bench_sfm_choices.py)
    words: int = 1024          # visual words (the video's own; benchmarks/bench_sfm_choices.py
                               # compares 256 and 1024 and the sample sizes)
    min_keyframes: int = 20    # no loops are looked for in shorter videos
    sample: int = 15_000       # descriptors the vocabulary is clustered from
    iterations: int = 8        # k-means iterations
    seed: int = 0


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length (float32; zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def spherical_kmeans(descriptors: np.ndarray, words: int, iterations: int, seed: int = 0) -> np.ndarray:
    """Cluster unit rows ``descriptors`` [N,D] into ``words`` unit centers [K,D] (cosine
    k-means; an emptied cluster is re-seeded with a random descriptor)."""
    rng = np.random.default_rng(seed)
    x = unit_rows(descriptors)
    k = min(words, len(x))
    centers = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        assign = np.argmax(x @ centers.T, axis=1)
        sums = np.zeros_like(centers)
        np.add.at(sums, assign, x)
        empty = np.bincount(assign, minlength=k) == 0
        sums[empty] = x[rng.choice(len(x), int(empty.sum()))]
        centers = unit_rows(sums)
    return centers


@dataclass
class LoopDetector:
    """Word histograms of the keyframes seen so far; :meth:`candidate_pairs` ranks them.

    Keys are the caller's image keys (any hashable, e.g. COLMAP image ids); ``order`` maps
    them to their position in the video."""

    options: LoopOptions = field(default_factory=LoopOptions)
    vocabulary: np.ndarray | None = None                          # [K,128] unit rows
    histograms: dict = field(default_factory=dict)                # key -> [K] word counts
    order: dict = field(default_factory=dict)                     # key -> keyframe ordinal
    pending: dict = field(default_factory=dict)                   # key -> descriptors awaiting a vocabulary

    def add_images(self, descriptors: dict, order: dict) -> None:
        """``descriptors``: key -> [n,128] SIFT descriptors (any scale) of new keyframes. The
        vocabulary is built once ``min_keyframes`` keyframes are in (with fewer than 8
        descriptors per word, fewer words); until then they wait."""
        opt = self.options
        self.pending.update(descriptors)
        self.order.update(order)
        if self.vocabulary is None:
            pool = [d for d in self.pending.values() if len(d)]
            total = sum(len(d) for d in pool)
            if len(self.order) < opt.min_keyframes or total < 8 * min(opt.words, 64):
                return
            pool = np.concatenate(pool)
            rng = np.random.default_rng(opt.seed)
            if len(pool) > opt.sample:
                pool = pool[rng.choice(len(pool), opt.sample, replace=False)]
            self.vocabulary = spherical_kmeans(pool, min(opt.words, total // 8), opt.iterations, opt.seed)
        k = len(self.vocabulary)
        for key, desc in self.pending.items():
            words = np.argmax(unit_rows(desc) @ self.vocabulary.T, axis=1) if len(desc) else np.zeros(0, int)
            self.histograms[key] = np.bincount(words, minlength=k).astype(np.float32)
        self.pending.clear()

    def similarity(self, keys: list) -> np.ndarray:
        """Cosine similarity [Q, len(self.histograms)] of tf-idf vectors, columns in the
        order of ``self.histograms``."""
        all_keys = list(self.histograms)
        h = np.stack([self.histograms[c] for c in all_keys])
        idf = np.log(len(all_keys) / (1.0 + (h > 0).sum(0)))
        v = unit_rows(h / np.maximum(h.sum(1, keepdims=True), 1.0) * np.maximum(idf, 0.0))
        rows = [all_keys.index(q) for q in keys]
        return v[rows] @ v.T

    def candidate_pairs(self, query_keys: list, min_gap: int) -> list[tuple]:
        """For each query key at an ordinal divisible by ``period``: its ``candidates`` most
        similar keyframes more than ``min_gap`` keyframes away, as (query, other) pairs, each
        unordered pair once."""
        opt = self.options
        queries = [q for q in query_keys if q in self.histograms and self.order[q] % opt.period == 0]
        if not queries or len(self.histograms) < 2:
            return []
        all_keys = list(self.histograms)
        sims = self.similarity(queries)
        ords = np.array([self.order[c] for c in all_keys])
        pairs, seen = [], set()
        for q, row in zip(queries, sims):
            far = np.abs(ords - self.order[q]) > min_gap
            ranked = [all_keys[i] for i in np.argsort(-row) if far[i]]
            for other in ranked[:opt.candidates]:
                key = frozenset((q, other))
                if key not in seen:
                    seen.add(key)
                    pairs.append((q, other))
        return pairs
