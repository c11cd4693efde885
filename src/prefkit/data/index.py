"""ItemIndex: the one place where names become integers (and back)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class ItemIndex:
    """An append-only, insertion-ordered bijection between string ids and ``0..n-1``.

    Algorithms never see names: they work on the integer codes that :meth:`encode` returns.
    """

    __slots__ = ("_ids", "_pos")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        for name in ids:
            self.add(name)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, name: object) -> bool:
        return name in self._pos

    def __iter__(self):
        return iter(self._ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ItemIndex) and self._ids == other._ids

    def __repr__(self) -> str:
        head = ", ".join(self._ids[:5])
        more = ", ..." if len(self._ids) > 5 else ""
        return f"ItemIndex([{head}{more}], n={len(self)})"

    @property
    def names(self) -> list[str]:
        return list(self._ids)

    def add(self, name: str) -> int:
        """Return the code of ``name``, adding it if new."""
        code = self._pos.get(name)
        if code is None:
            code = len(self._ids)
            self._ids.append(name)
            self._pos[name] = code
        return code

    def code(self, name: str) -> int:
        """Code of a known name; KeyError if unknown."""
        return self._pos[name]

    def get(self, name: str, default: int = -1) -> int:
        return self._pos.get(name, default)

    def name(self, code: int) -> str:
        return self._ids[code]

    def encode(self, names: Sequence[str] | pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
        """Vectorised: add unseen names and return int32 codes (nulls become -1)."""
        arr = names if isinstance(names, pa.Array | pa.ChunkedArray) else pa.array(names, type=pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not pa.types.is_dictionary(arr.type):
            if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
                arr = pc.cast(arr, pa.string())
            arr = pc.dictionary_encode(arr)
        dictionary = arr.dictionary.to_pylist()
        mapping = np.fromiter((self.add(str(d)) for d in dictionary), dtype=np.int32, count=len(dictionary))
        idx = arr.indices.to_numpy(zero_copy_only=False)
        out = np.full(len(arr), -1, dtype=np.int32)
        valid = np.asarray(arr.is_valid())
        if mapping.size:
            out[valid] = mapping[idx[valid].astype(np.int64)]
        return out

    def decode(self, codes: np.ndarray | Sequence[int]) -> list[str | None]:
        return [self._ids[c] if c >= 0 else None for c in np.asarray(codes, dtype=np.int64)]

    def copy(self) -> ItemIndex:
        return ItemIndex(self._ids)
