"""The audit chain as a Merkle tree (RFC 9162 §2.1), with inclusion and consistency proofs.

Leaf hash ``H(0x00 || leaf)``, node hash ``H(0x01 || left || right)``, the tree over
``n`` leaves split at the largest power of two below ``n``. ``H`` is the checkpoint's
algorithm (``audit.hashing``).

The builder (:class:`Frontier`) appends leaves and hands out every *complete* subtree
as it closes: ``(level, index, hash)`` covering leaves ``[index * 2**level, (index + 1)
* 2**level)``. Those never change, so the vault stores them once (``audit_tree``) and a
proof for any tree size reads O(log² n) stored nodes, never the leaves. The verifiers
(:func:`verify_inclusion`, :func:`verify_consistency`) are RFC 9162's §2.1.3.2 and
§2.1.4.2 algorithms and need nothing but this module and :mod:`hashlib`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "Frontier",
    "NodeSource",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_nodes",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

Hash = Callable[[bytes], bytes]
# (level, index) -> the stored hash of that complete subtree.
NodeSource = Callable[[int, int], bytes]


def leaf_hash(h: Hash, leaf: bytes) -> bytes:
    """``H(0x00 || leaf)``."""
    return h(b"\x00" + leaf)


def node_hash(h: Hash, left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``."""
    return h(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(h: Hash, get: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` from the stored complete subtrees.

    ``start`` must be a multiple of the largest power of two not above ``end - start``
    (always so for the ranges the RFC's recursions ask for).
    """
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return get(level, start >> level)
    k = _split(n)
    return node_hash(
        h, subtree_hash(h, get, start, start + k), subtree_hash(h, get, start + k, end)
    )


def root_from_nodes(h: Hash, get: NodeSource, size: int) -> bytes:
    """The tree head (root hash) of the first ``size`` leaves (size >= 1)."""
    return subtree_hash(h, get, 0, size)


def inclusion_proof(h: Hash, get: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 PATH(index, D[0:size]): the audit path of leaf ``index``."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []
    start, end = 0, size
    # Iterative form of the recursion: collect siblings top-down, return bottom-up.
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree_hash(h, get, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(h, get, start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_proof(h: Hash, get: NodeSource, first: int, second: int) -> list[bytes]:
    """RFC 9162 PROOF(first, D[0:second]): the tree of ``first`` leaves is a prefix."""
    if not 0 < first <= second:
        raise ValueError("a consistency proof needs 0 < first <= second")
    out: list[bytes] = []
    m, start, end, whole = first, 0, second, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append(subtree_hash(h, get, start, end))
            break
        k = _split(n)
        if m <= k:
            out.append(subtree_hash(h, get, start + k, end))
            end = start + k
        else:
            out.append(subtree_hash(h, get, start, start + k))
            m, start, whole = m - k, start + k, False
    out.reverse()
    return out


def verify_inclusion(
    h: Hash, leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``path`` proves leaf hash ``leaf`` at ``index`` under ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(h, p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(h, r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    h: Hash,
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows tree ``first`` is a prefix of ``second``."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(h, c, fr)
            sr = node_hash(h, c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(h, sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class Frontier:
    """Builds the tree leaf by leaf, keeping only the right edge (one hash per level).

    ``Frontier(h, size, edge)`` resumes a tree of ``size`` leaves from its edge: the
    complete subtrees that the binary digits of ``size`` name, largest first
    (:meth:`edge_nodes` says which to load).
    """

    __slots__ = ("_edge", "_h", "size")

    def __init__(self, h: Hash, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if len(edge) != bin(size).count("1"):
            raise ValueError("the edge does not match the tree size")
        self._h = h
        self.size = size
        # (level, hash) of each complete subtree on the right edge, largest first.
        self._edge = list(zip((lv for lv, _ in self.edge_nodes(size)), edge, strict=True))

    @staticmethod
    def edge_nodes(size: int) -> list[tuple[int, int]]:
        """``(level, index)`` of the complete subtrees that make a tree of ``size`` leaves."""
        out = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, leaf: bytes) -> Iterator[tuple[int, int, bytes]]:
        """Add leaf hash ``leaf``; yield every subtree it completes: (level, index, hash)."""
        index = self.size
        level, value = 0, leaf
        yield 0, index, value
        edge, h = self._edge, self._h
        while edge and edge[-1][0] == level:
            _, left = edge.pop()
            value = node_hash(h, left, value)
            level += 1
            yield level, index >> level, value
        edge.append((level, value))
        self.size += 1

    def push(self, leaf: bytes) -> None:
        """:meth:`append` without handing out the completed subtrees (verify's use)."""
        edge, h = self._edge, self._h
        level, value = 0, leaf
        while edge and edge[-1][0] == level:
            value = h(b"\x01" + edge.pop()[1] + value)
            level += 1
        edge.append((level, value))
        self.size += 1

    def root(self) -> bytes:
        """The tree head of the leaves appended so far."""
        if not self._edge:
            raise ValueError("an empty tree has no root here")
        value = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            value = node_hash(self._h, left, value)
        return value
