"""The arithmetic coders behind one small interface.

Two coders, both on constriction's ANS (a stack coder: last in, first out):

* :class:`TableCoder` codes integer symbols, each under one of ``K`` fixed distributions
  chosen by an index: CompressAI's quantized CDF tables (factorized and Gaussian-conditional
  models, see :class:`CdfTable`).  Symbols outside a table's support are coded as that
  table's escape symbol followed by the raw value (CompressAI's bypass, done here with a
  uniform model).
* :class:`CategoricalCoder` codes symbols from ``{0..n-1}`` under explicit probabilities
  (vector-quantized codecs).

Why not CompressAI's C++ rANS decoder: it reads the stream through unchecked pointers and
its bypass loop is unbounded, so a hostile file can make it read past its buffer.
constriction is memory-safe, and every stream here ends with a 32-bit sentinel that must
decode intact with no data left over, which detects truncation and most corruption.

Stream bytes: the coder's 32-bit words, little-endian.  Both coders decode groups in a fixed
order (see :meth:`TableCoder.encode`); this order is part of the format.

Integer tables.  The coder works with 24-bit integer probabilities.  The format defines them
(``bitstreams/FORMAT.md``, "Integer probability tables") with integer arithmetic only --
:func:`integer_table` -- and this module hands constriction a float input for which its
quantization is the identity (weights ``P_i - 1`` that sum to ``2**24 - n``: its scale is
exactly 1 and every cumulative sum is an exact integer).  So the tables do not depend on how a
library turns float probabilities into integers; ``tests/entropy/test_coders.py`` pins them
against a reference ANS coder written from the format text.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np
import torch

from ..errors import CorruptPayloadError

SYMBOL_LIMIT = 2**15 - 1  # every coded integer symbol lies in [-SYMBOL_LIMIT, SYMBOL_LIMIT]
SENTINEL = (0x4E43, 0x4221)  # two 16-bit words pushed first, popped last
CDF_PRECISION = 16  # CompressAI's quantized CDFs sum to 2**16

_AnsCoder = constriction.stream.stack.AnsCoder
_Categorical = constriction.stream.model.Categorical
_Uniform = constriction.stream.model.Uniform
_ESCAPE_MODEL = _Uniform(2 * SYMBOL_LIMIT + 1)
PROBABILITY_BITS = 24  # constriction's default precision: probabilities are integers / 2**24
MAX_WEIGHT_TOTAL = 2**38  # integer weights of one row must sum to at most this
_SENTINEL_MODEL = _Uniform(2**16)


@dataclass
class CdfTable:
    """``K`` discrete distributions in CompressAI's layout.

    Attributes:
        cdf: int32 ``(K, L)``; row ``k`` holds ``cdf_length[k]`` increasing values from 0 to
            ``2**16``.  The last interval of each row is the escape symbol.
        cdf_length: int32 ``(K,)``.
        offset: int32 ``(K,)``: the symbol value of the row's first interval.
    """

    cdf: torch.Tensor
    cdf_length: torch.Tensor
    offset: torch.Tensor

    @classmethod
    def from_compressai(cls, entropy_model) -> "CdfTable":
        """Take the tables an updated CompressAI ``EntropyModel`` holds."""
        return cls(
            entropy_model._quantized_cdf.detach().cpu().to(torch.int32),
            entropy_model._cdf_length.detach().cpu().to(torch.int32),
            entropy_model._offset.detach().cpu().to(torch.int32),
        )

    def validate(self) -> None:
        """Raise ``ValueError`` unless every row is a proper CDF."""
        cdf, lengths = self.cdf.to(torch.int64), self.cdf_length.to(torch.int64)
        if cdf.ndim != 2 or lengths.shape != (cdf.shape[0],) or self.offset.shape != lengths.shape:
            raise ValueError("CDF table tensors have inconsistent shapes")
        if torch.any(lengths < 3) or torch.any(lengths > cdf.shape[1]):
            raise ValueError("CDF lengths out of range")
        for k in range(cdf.shape[0]):
            row = cdf[k, : lengths[k]]
            if row[0] != 0 or row[-1] != 2**CDF_PRECISION or torch.any(row[1:] <= row[:-1]):
                raise ValueError(f"CDF row {k} is not strictly increasing from 0 to 2**16")


def integer_table(weights: np.ndarray) -> np.ndarray:
    """The format's 24-bit integer probabilities of nonnegative integer weights.

    For a row of ``n >= 2`` weights ``w`` with total ``W >= 1`` (at most ``MAX_WEIGHT_TOTAL``)
    and cumulative sums ``c_i = w_0 + ... + w_{i-1}``, the left cumulative of symbol ``i`` is
    ``F_i = floor(c_i * (2**24 - n) / W) + i`` and its probability ``P_i = F_{i+1} - F_i``:
    every symbol gets at least 1, and ``F_n = 2**24``.  Works on the last axis; int64 out.
    """
    w = np.asarray(weights)
    if not np.issubdtype(w.dtype, np.integer):
        raise ValueError("integer_table takes integer weights")
    w = w.astype(np.int64)
    n = w.shape[-1]
    if n < 2 or np.any(w < 0):
        raise ValueError("a probability table needs at least two nonnegative weights")
    total = w.sum(axis=-1, keepdims=True)
    if np.any(total < 1) or np.any(total > MAX_WEIGHT_TOTAL):
        raise ValueError(f"row weights must sum to 1..{MAX_WEIGHT_TOTAL}")
    cum = np.concatenate([np.zeros_like(total), np.cumsum(w, axis=-1)], axis=-1)
    left = cum * (2**PROBABILITY_BITS - n) // total + np.arange(n + 1)
    return np.diff(left, axis=-1)


def _constriction_input(table: np.ndarray) -> np.ndarray:
    """Float weights for which constriction's fast quantization reproduces ``table`` exactly."""
    return (np.asarray(table, dtype=np.int64) - 1).astype(np.float64)


def _words_to_bytes(words: np.ndarray) -> bytes:
    return words.astype("<u4", copy=False).tobytes()


def _bytes_to_coder(data: bytes) -> "_AnsCoder":
    if len(data) % 4 != 0 or len(data) == 0:
        raise CorruptPayloadError(
            f"entropy-coded section of {len(data)} bytes is not a whole number of 32-bit words"
        )
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    try:
        return _AnsCoder(words)
    except ValueError as exc:  # e.g. a zero last word, which no encoder writes
        raise CorruptPayloadError(f"entropy-coded section is malformed: {exc}") from None


def _push_sentinel(coder: "_AnsCoder") -> None:
    coder.encode_reverse(np.array(SENTINEL, dtype=np.int32), _SENTINEL_MODEL)


def _pop_sentinel(coder: "_AnsCoder") -> None:
    got = coder.decode(_SENTINEL_MODEL, 2)
    if tuple(int(v) for v in got) != SENTINEL or not coder.is_empty():
        raise CorruptPayloadError(
            "entropy-coded section does not end where its symbols end (damaged or truncated payload)"
        )


class TableCoder:
    """Codes integer symbols under indexed fixed tables (factorized / Gaussian-conditional).

    Order of a stream, as decoded: for ``k = 0..K-1``, the symbols whose index is ``k`` in
    C order (a symbol equal to the row's escape is a placeholder); then every escaped
    value in C order (uniform over ``[-SYMBOL_LIMIT, SYMBOL_LIMIT]``); then the sentinel.
    """

    def __init__(self, table: CdfTable):
        table.validate()
        self.table = table
        lengths = table.cdf_length.to(torch.int64).numpy()
        self.offsets = table.offset.to(torch.int64).numpy()
        self.escape_values = lengths - 2  # the escape symbol of row k (0-based interval)
        cdf = table.cdf.to(torch.int64).numpy()
        # the 16-bit CDF rows are integer weights; the format turns them into 24-bit tables
        self.tables = [integer_table(np.diff(cdf[k, : lengths[k]])) for k in range(len(lengths))]
        self._models: dict[int, object] = {}
        # every row padded to one width, for looking up the probability of any (row, value)
        self._padded = np.ones((len(self.tables), max(len(t) for t in self.tables)), dtype=np.int64)
        for k, t in enumerate(self.tables):
            self._padded[k, : len(t)] = t
        # the fewest bits any symbol can cost: -log2 of the largest probability of any row
        self._min_bits = min(PROBABILITY_BITS - np.log2(float(t.max())) for t in self.tables)

    def _model(self, k: int):
        model = self._models.get(k)
        if model is None:
            model = _Categorical(_constriction_input(self.tables[k]), perfect=False)
            self._models[k] = model
        return model

    def _split(self, symbols: np.ndarray, indexes: np.ndarray):
        symbols = symbols.reshape(-1).astype(np.int64)
        indexes = np.ascontiguousarray(indexes).reshape(-1).astype(np.int64)
        if symbols.shape != indexes.shape:
            raise ValueError("symbols and indexes must have the same number of elements")
        if indexes.size and (indexes.min() < 0 or indexes.max() >= len(self.offsets)):
            raise ValueError("table index out of range")
        values = symbols - self.offsets[indexes]
        escaped = (values < 0) | (values >= self.escape_values[indexes])
        values = np.where(escaped, self.escape_values[indexes], values)
        return symbols, indexes, values, escaped

    def encode(self, symbols: np.ndarray, indexes: np.ndarray) -> bytes:
        """Encode ``symbols`` (ints in ``[-SYMBOL_LIMIT, SYMBOL_LIMIT]``), ``indexes`` alike-shaped."""
        return self.encode_chunks([(symbols, indexes)])

    def encode_chunks(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
        """Encode several ``(symbols, indexes)`` chunks into one stream, decoded in list order.

        A decoder may need the symbols of chunk ``i`` to compute the indexes of chunk
        ``i + 1`` (context models); :class:`ChunkDecoder` reads them one at a time.  Stream
        order: chunk 0 as :meth:`encode` lays it out without the sentinel (its groups, then its
        escapes), chunk 1 likewise, ..., then the sentinel; one chunk is exactly :meth:`encode`'s
        stream.
        """
        split = [self._split(symbols, indexes) for symbols, indexes in chunks]
        for symbols, *_ in split:
            if symbols.size and np.abs(symbols).max() > SYMBOL_LIMIT:
                raise ValueError(f"symbols must lie in [-{SYMBOL_LIMIT}, {SYMBOL_LIMIT}]")
        coder = _AnsCoder()
        _push_sentinel(coder)
        for symbols, indexes, values, escaped in reversed(split):  # a stack: last decoded goes in first
            if escaped.any():
                coder.encode_reverse((symbols[escaped] + SYMBOL_LIMIT).astype(np.int32), _ESCAPE_MODEL)
            order = np.argsort(indexes, kind="stable")
            bounds = np.searchsorted(indexes[order], np.arange(len(self.offsets) + 1))
            for k in range(len(self.offsets) - 1, -1, -1):
                group = order[bounds[k] : bounds[k + 1]]
                if group.size:
                    coder.encode_reverse(values[group].astype(np.int32), self._model(k))
        return _words_to_bytes(coder.get_compressed())

    def decode(self, data: bytes, indexes: np.ndarray) -> np.ndarray:
        """Decode the symbols coded under ``indexes``; int64 array of ``indexes.shape``.

        Raises :class:`CorruptPayloadError` when the section is not exactly one such stream.
        """
        reader = ChunkDecoder(self, data)
        symbols = reader.next(indexes)
        reader.finish()
        return symbols

    def _decode_chunk(self, coder, indexes: np.ndarray) -> np.ndarray:
        shape = np.shape(indexes)
        indexes = np.ascontiguousarray(indexes).reshape(-1).astype(np.int64)
        if indexes.size and (indexes.min() < 0 or indexes.max() >= len(self.offsets)):
            raise ValueError("table index out of range")
        values = np.empty(indexes.size, dtype=np.int64)
        order = np.argsort(indexes, kind="stable")
        bounds = np.searchsorted(indexes[order], np.arange(len(self.offsets) + 1))
        for k in range(len(self.offsets)):
            group = order[bounds[k] : bounds[k + 1]]
            if group.size:
                values[group] = coder.decode(self._model(k), group.size)
        escape_here = self.escape_values[indexes]
        if np.any(values < 0) or np.any(values > escape_here):
            raise CorruptPayloadError("decoded symbol outside its table")
        escaped = values == escape_here
        symbols = values + self.offsets[indexes]
        count = int(escaped.sum())
        if count:
            symbols[escaped] = coder.decode(_ESCAPE_MODEL, count).astype(np.int64) - SYMBOL_LIMIT
        return symbols.reshape(shape)

    def symbol_bits(self, symbols: np.ndarray, indexes: np.ndarray) -> np.ndarray:
        """``-log2 p`` of each symbol under the 24-bit tables (escapes included); float64, ``symbols.shape``."""
        shape = np.shape(symbols)
        symbols, indexes, values, escaped = self._split(symbols, indexes)
        bits = PROBABILITY_BITS - np.log2(self._padded[indexes, values].astype(np.float64))
        bits += escaped * np.log2(2 * SYMBOL_LIMIT + 1)
        return bits.reshape(shape)

    def ideal_bits(self, symbols: np.ndarray, indexes: np.ndarray) -> float:
        """``-sum(log2 p)`` of the symbols under the tables, escapes included."""
        return float(self.symbol_bits(symbols, indexes).sum())

    def min_section_bytes(self, count: int) -> int:
        """A lower bound on the size of any valid section that codes ``count`` symbols.

        Each symbol costs at least ``-log2`` of the largest probability of any row; an ANS
        stream holds its information content minus at most 64 bits of final state, plus the
        32-bit sentinel.  A section below this bound is refused before any decoding work.
        """
        bits = count * self._min_bits + 32 - 64
        return max(4, int(bits // 32) * 4)


class ChunkDecoder:
    """Reads a stream of :meth:`TableCoder.encode_chunks` one chunk at a time.

    ``next(indexes)`` returns the next chunk's symbols (int64, ``indexes.shape``); ``finish()``
    checks that the stream ends there (:class:`CorruptPayloadError` otherwise).
    """

    def __init__(self, coder: TableCoder, data: bytes):
        self.table_coder = coder
        self.coder = _bytes_to_coder(data)

    def next(self, indexes: np.ndarray) -> np.ndarray:
        try:
            return self.table_coder._decode_chunk(self.coder, indexes)
        except (AssertionError, ValueError) as exc:  # constriction: reading past the end of the stream
            if isinstance(exc, ValueError) and "table index" in str(exc):
                raise
            raise CorruptPayloadError(f"entropy-coded section ends early or is damaged ({exc})") from None

    def finish(self) -> None:
        _pop_sentinel(self.coder)


class RowCoder:
    """Codes symbols each under its own row of a table whose rows come in **classes** of equal length.

    ``classes``: a list of ``(probabilities, offsets)``; ``probabilities`` ``(K_c, n_c)`` integers,
    each row the format's 24-bit probabilities of the symbols ``offsets[k] .. offsets[k] + n_c - 2``
    then the escape (every entry at least 1, each row summing to ``2**24``).  Rows are numbered
    across the classes in list order.  :meth:`from_cdf_table` makes one class from
    :class:`CdfTable` rows (16-bit CDFs) by the integer-table rule, as for :class:`TableCoder`.

    Because the rows of a class have the same length, each class's symbols of a chunk are coded by
    **one** constriction call with a row per symbol, which makes context-adaptive decoding of many
    small chunks fast; short rows (a small scale needs few symbols) are also several times cheaper
    to decode than long ones.  Stream order, as decoded: per chunk, per class in list order (classes
    without symbols in the chunk skipped), that class's symbols in chunk order, then its escaped
    values (uniform over ``[-SYMBOL_LIMIT, SYMBOL_LIMIT]``) in order; after the last chunk the sentinel.
    """

    def __init__(self, classes: list[tuple[np.ndarray, np.ndarray]]):
        self.tables, self._floats, self.escapes, offsets, members = [], [], [], [], []
        for c, (probabilities, class_offsets) in enumerate(classes):
            tables = np.asarray(probabilities)
            if not np.issubdtype(tables.dtype, np.integer) or tables.ndim != 2 or tables.shape[1] < 2:
                raise ValueError("RowCoder takes integer probabilities (K, n >= 2) per class")
            tables = tables.astype(np.int64)
            if np.any(tables < 1) or np.any(tables.sum(1) != 2**PROBABILITY_BITS):
                raise ValueError(f"every row must hold positive integers summing to 2**{PROBABILITY_BITS}")
            class_offsets = np.asarray(class_offsets).astype(np.int64).reshape(-1)
            if class_offsets.shape != (tables.shape[0],):
                raise ValueError("RowCoder needs one offset per row")
            self.tables.append(tables)
            self._floats.append(_constriction_input(tables))
            self.escapes.append(tables.shape[1] - 1)
            offsets.append(class_offsets)
            members.append(np.full(len(tables), c))
        self.offsets = np.concatenate(offsets)
        self.row_class = np.concatenate(members)  # the class of each global row
        self.first = np.cumsum([0] + [len(t) for t in self.tables])[:-1].tolist()  # each class's first global row

    @classmethod
    def from_cdf_table(cls, table: CdfTable) -> "RowCoder":
        """One class: the rows of a :class:`CdfTable` whose rows all have the same length."""
        table.validate()
        lengths = table.cdf_length.to(torch.int64).numpy()
        if len(set(lengths.tolist())) != 1:
            raise ValueError("RowCoder needs a table whose rows all have the same length")
        cdf = table.cdf.to(torch.int64).numpy()[:, : lengths[0]]
        coder = cls([(integer_table(np.diff(cdf, axis=1)), table.offset.to(torch.int64).numpy())])
        coder.table = table
        return coder

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows).reshape(-1).astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.offsets)):
            raise ValueError("table row out of range")
        return rows

    def _groups(self, rows: np.ndarray):
        """``(class, positions in the chunk)`` of each class present in ``rows``, in class order."""
        if not rows.size:
            return []
        if len(self.tables) == 1:
            return [(0, slice(None))]
        classes = self.row_class[rows]
        counts = np.bincount(classes, minlength=len(self.tables))
        if counts.max() == rows.size:  # one class only (a wavefront of small scales, mostly)
            return [(int(counts.argmax()), slice(None))]
        return [(c, np.flatnonzero(classes == c)) for c in np.flatnonzero(counts).tolist()]

    def _values(self, symbols: np.ndarray, rows: np.ndarray):
        """Per class present: ``(class, positions in the chunk, symbols, local rows, values, escaped)``."""
        symbols = np.asarray(symbols).reshape(-1).astype(np.int64)
        rows = self._rows(rows)
        if symbols.shape != rows.shape:
            raise ValueError("symbols and rows must have the same number of elements")
        if symbols.size and np.abs(symbols).max() > SYMBOL_LIMIT:
            raise ValueError(f"symbols must lie in [-{SYMBOL_LIMIT}, {SYMBOL_LIMIT}]")
        out = []
        for c, where in self._groups(rows):
            sym, row = symbols[where], rows[where]
            values = sym - self.offsets[row]
            escaped = (values < 0) | (values >= self.escapes[c])
            out.append((c, where, sym, row - self.first[c], np.where(escaped, self.escapes[c], values), escaped))
        return out

    def encode_chunks(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
        """Encode ``(symbols, rows)`` chunks into one section, decoded in list order."""
        prepared = [group for symbols, rows in chunks for group in self._values(symbols, rows)]
        coder = _AnsCoder()
        _push_sentinel(coder)
        for c, _, symbols, local, values, escaped in reversed(prepared):  # a stack: last decoded goes in first
            if escaped.any():
                coder.encode_reverse((symbols[escaped] + SYMBOL_LIMIT).astype(np.int32), _ESCAPE_MODEL)
            coder.encode_reverse(values.astype(np.int32), _Categorical(perfect=False), self._floats[c][local])
        return _words_to_bytes(coder.get_compressed())

    def symbol_bits(self, symbols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``-log2 p`` of each symbol (escapes included); float64."""
        bits = np.zeros(np.asarray(rows).size, dtype=np.float64)
        for c, where, _, local, values, escaped in self._values(symbols, rows):
            bits[where] = PROBABILITY_BITS - np.log2(self.tables[c][local, values].astype(np.float64))
            bits[where] += escaped * np.log2(2 * SYMBOL_LIMIT + 1)
        return bits

    def ideal_bits(self, symbols: np.ndarray, rows: np.ndarray) -> float:
        return float(self.symbol_bits(symbols, rows).sum())


class RowChunkDecoder:
    """Reads a :meth:`RowCoder.encode_chunks` section one chunk at a time (``next(rows)``, ``finish()``)."""

    def __init__(self, coder: RowCoder, data: bytes):
        self.row_coder = coder
        self.coder = _bytes_to_coder(data)

    def next(self, rows: np.ndarray) -> np.ndarray:
        rc = self.row_coder
        rows = rc._rows(rows)
        symbols = np.empty(rows.shape, dtype=np.int64)
        try:
            for c, where in rc._groups(rows):
                row = rows[where]
                values = np.asarray(self.coder.decode(_Categorical(perfect=False), rc._floats[c][row - rc.first[c]]),
                                    dtype=np.int64)
                escaped = values == rc.escapes[c]
                got = values + rc.offsets[row]
                count = int(escaped.sum())
                if count:
                    got[escaped] = np.asarray(self.coder.decode(_ESCAPE_MODEL, count), dtype=np.int64) - SYMBOL_LIMIT
                symbols[where] = got
        except (AssertionError, ValueError) as exc:  # constriction: reading past the end of the stream
            raise CorruptPayloadError(f"entropy-coded section ends early or is damaged ({exc})") from None
        return symbols

    def finish(self) -> None:
        _pop_sentinel(self.coder)


class CategoricalCoder:
    """Codes symbols from ``{0..n-1}`` under integer weights (vector-quantized codecs).

    ``weights`` is either one row ``(n,)`` shared by all symbols or one row per symbol
    ``(count, n)``: nonnegative integers (code counts, or probabilities a codec has rounded
    to integers itself), turned into the format's 24-bit tables by :func:`integer_table`.
    Every symbol keeps a nonzero probability.
    """

    @staticmethod
    def _rows(weights: np.ndarray) -> np.ndarray:
        try:
            return _constriction_input(integer_table(weights))
        except ValueError as exc:
            raise ValueError(f"categorical weights: {exc}") from None

    @staticmethod
    def encode(symbols: np.ndarray, weights: np.ndarray) -> bytes:
        symbols = np.asarray(symbols).reshape(-1)
        rows = CategoricalCoder._rows(weights)
        n = rows.shape[-1]
        if symbols.size and (symbols.min() < 0 or symbols.max() >= n):
            raise ValueError(f"categorical symbols must lie in [0, {n})")
        coder = _AnsCoder()
        _push_sentinel(coder)
        if symbols.size:
            if rows.ndim == 1:
                coder.encode_reverse(symbols.astype(np.int32), _Categorical(rows, perfect=False))
            else:
                coder.encode_reverse(symbols.astype(np.int32), _Categorical(perfect=False), rows)
        return _words_to_bytes(coder.get_compressed())

    @staticmethod
    def decode(data: bytes, count: int, weights: np.ndarray) -> np.ndarray:
        rows = CategoricalCoder._rows(weights)
        coder = _bytes_to_coder(data)
        if count == 0:
            out = np.zeros(0, dtype=np.int64)
        elif rows.ndim == 1:
            out = coder.decode(_Categorical(rows, perfect=False), count).astype(np.int64)
        else:
            out = coder.decode(_Categorical(perfect=False), rows).astype(np.int64)
        _pop_sentinel(coder)
        return out

    @staticmethod
    def encode_groups(groups: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
        """Encode ``(symbols, weights)`` groups into one stream, decoded in list order.

        Each group's symbols (any shape, C order) share one row of integer weights ``(n,)``.
        Stream order: group 0's symbols, group 1's, ..., then the sentinel; one group is
        exactly :meth:`encode`'s stream with a shared row.
        """
        prepared = []
        for symbols, weights in groups:
            symbols = np.asarray(symbols).reshape(-1)
            row = CategoricalCoder._rows(np.asarray(weights).reshape(-1))
            if symbols.size and (symbols.min() < 0 or symbols.max() >= row.shape[-1]):
                raise ValueError(f"categorical symbols must lie in [0, {row.shape[-1]})")
            prepared.append((symbols.astype(np.int32), row))
        coder = _AnsCoder()
        _push_sentinel(coder)
        for symbols, row in reversed(prepared):  # a stack: last decoded goes in first
            if symbols.size:
                coder.encode_reverse(symbols, _Categorical(row, perfect=False))
        return _words_to_bytes(coder.get_compressed())

    @staticmethod
    def decode_groups(data: bytes, groups: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """Decode a stream of :meth:`encode_groups`: ``(count, weights)`` per group; int64 arrays.

        Raises :class:`CorruptPayloadError` when the section is not exactly such a stream.
        """
        rows = [(int(count), CategoricalCoder._rows(np.asarray(weights).reshape(-1))) for count, weights in groups]
        coder = _bytes_to_coder(data)
        out = []
        try:
            for count, row in rows:
                values = coder.decode(_Categorical(row, perfect=False), count) if count else np.zeros(0)
                out.append(np.asarray(values, dtype=np.int64))
        except (AssertionError, ValueError) as exc:  # constriction: reading past the end of the stream
            raise CorruptPayloadError(f"entropy-coded section ends early or is damaged ({exc})") from None
        _pop_sentinel(coder)
        return out

    @staticmethod
    def symbol_bits(symbols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``-log2 p`` of each symbol under one row of integer weights (the 24-bit table); float64."""
        table = integer_table(np.asarray(weights).reshape(-1))
        return PROBABILITY_BITS - np.log2(table[np.asarray(symbols)].astype(np.float64))

