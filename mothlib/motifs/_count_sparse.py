"""Motif counts whose cost follows the number of edges: a numba kernel over per-block edge lists.

Used by :func:`mothlib.motifs.counts.count_batch` for sparse networks (the dense torch products of
:mod:`mothlib.motifs.counts` stay the method for dense ones). Per network and layer block the kernel
builds adjacency lists from the 0/1 masks (one pass over the mask), then evaluates the closed forms
of :mod:`mothlib.motifs.counts` with degree vectors and wedge/path enumeration:

* edges, diverging, converging, chain2, chain3: degree vectors and one pass over the edges;
* bifan: sum over pairs of targets of C(#common sources, 2), accumulated over the wedges of one
  side (the side with fewer wedges, sum of C(degree, 2));
* biparallel: sum over (source, target two layers on) of C(#2-paths, 2), accumulated over the
  2-paths (their number is the chain2 count through that layer).

Where blocks are fuller (e.g. 400 x 400 at 10 %), two sums are cheaper by *dense rows*: bifan
as, per source, the sum of the 0/1 byte rows of its targets (= #common targets with every other
source), and biparallel as, per end neuron, the sum of the byte rows of its sources in the
middle layer (= #2-paths from every source); loops LLVM vectorises, adding 8 byte counts per
uint64 word where every degree is < 256 (no carries), int16 accumulators otherwise. Per
hidden layer the kernel picks bitsets, dense rows or edge lists by estimated work (BIT_COST,
ROW_COST).

So the work is about the number of edges plus the number of wedges and 2-paths, all exact int64.
Bias nodes are sources like any other (row ``n_in`` of a block); a missing bias is an empty one.
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from numba.core import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

#: The mask reader takes 8 bool bytes as one little-endian word (see _adjacency), so the kernel
#: exists on little-endian machines only; elsewhere counting is dense.
LITTLE_ENDIAN = sys.byteorder == "little"

#: Order of the counts in the kernel's output columns (equal to mothlib.motifs.counts.MOTIFS).
COLUMNS = (
    "edges", "diverging2", "converging2", "chain2", "diverging3", "converging3", "chain3", "bifan",
    "biparallel",
)

#: A sum uses the dense, branch-free accumulator when (wedges or 2-paths) * SCAN_RATIO >= the
#: size of the pair grid it accumulates into, the list of touched entries otherwise.
SCAN_RATIO = 8
#: A hidden layer is done by bitsets when (pairs of its neurons) x (words per pair) is below
#: BIT_COST x (wedges + 2-paths) of the edge-list method.
BIT_COST = 4
#: A bifan or biparallel sum is done by dense rows (summing the 0/1 bytes of whole mask rows into
#: int16 accumulators, vectorised) when its row work / ROW_COST is below the wedges (or 2-paths)
#: of the edge-list method; ROW_OVERHEAD bytes stand for the fixed cost of one row.
ROW_COST = 96
ROW_OVERHEAD = 64

#: x * _GATHER >> 56 packs the low bits of the 8 bytes of x (each 0 or 1) into one byte, byte j
#: to bit j: the partial products land on distinct bits, so nothing carries.
_GATHER = np.uint64(0x0102040810204080)

if LITTLE_ENDIAN:

    @numba.njit(cache=True)
    def _adjacency(w, w64, n_in, b, k):  # pragma: no cover - compiled
        """Edge lists of block (w[k, :, :n_in], b[k]): sources 0..n_in-1 and the bias node n_in.

        ``w`` is the mask padded with zeros to a multiple of 8 columns and ``w64`` the same bytes
        as uint64 words: all-zero words (8 absent edges) are skipped, so a sparse mask is read
        8 slots at a time. Returns outdeg (n_in+1,), indeg (n_out,), CSR out-lists (optr, oidx;
        targets ascending) and CSR in-lists (iptr, iidx; sources ascending).
        """
        n_out, n_words = w64.shape[1], w64.shape[2]
        outdeg = np.zeros(n_in + 1, np.int64)
        indeg = np.zeros(n_out, np.int64)
        iptr = np.zeros(n_out + 1, np.int64)
        cap = 64
        iidx = np.empty(cap, np.int64)
        m = 0
        for o in range(n_out):
            words = w64[k, o]
            # Each byte is 0 or 1 (bit 8 j of a little-endian word for slot j): 8 words pack
            # into one 64-bit set (bit j = byte j; the multiply gathers the bytes' low bits),
            # whose members come out lowest first by counting trailing zeros.
            for g in range(0, n_words, 8):
                bits = np.uint64(0)
                for q in range(min(8, n_words - g)):
                    bits |= ((words[g + q] * _GATHER) >> np.uint64(56)) << np.uint64(8 * q)
                if bits == 0:
                    continue
                if m + 64 > cap:
                    cap = 2 * cap + 64
                    grown = np.empty(cap, np.int64)
                    grown[:m] = iidx[:m]
                    iidx = grown
                while bits != 0:
                    i = g * 8 + np.int64(trailing_zeros(bits))
                    bits &= bits - np.uint64(1)
                    iidx[m] = i
                    m += 1
                    outdeg[i] += 1
            if b[k, o]:
                if m == cap:
                    cap *= 2
                    grown = np.empty(cap, np.int64)
                    grown[:m] = iidx[:m]
                    iidx = grown
                iidx[m] = n_in
                m += 1
                outdeg[n_in] += 1
            iptr[o + 1] = m
            indeg[o] = m - iptr[o]
        iidx = iidx[:m]
        optr = np.zeros(n_in + 2, np.int64)
        for i in range(n_in + 1):
            optr[i + 1] = optr[i] + outdeg[i]
        oidx = np.empty(m, np.int64)
        fill = optr[:-1].copy()
        for o in range(n_out):
            for p in range(iptr[o], iptr[o + 1]):
                i = iidx[p]
                oidx[fill[i]] = o
                fill[i] += 1
        return outdeg, indeg, optr, oidx, iptr, iidx

    @numba.njit(cache=True, inline="always")
    def _flush(acc, touched, nt, lo, n, scan):  # pragma: no cover - compiled
        """sum of C(acc, 2) over the touched entries (or entries lo..n-1 when ``scan``); zeroes acc."""
        total = 0
        if scan:
            for j in range(lo, n):
                c = acc[j]
                total += c * (c - 1)
                acc[j] = 0
            return total // 2
        for j in range(nt):
            c = acc[touched[j]]
            total += c * (c - 1) // 2
            acc[touched[j]] = 0
        return total

    @numba.njit(cache=True)
    def _pair_sums(uptr, uidx, vptr, vidx, n_u, acc, touched, scan):  # pragma: no cover
        """sum over pairs u1 < u2 of C(c(u1, u2), 2), c = #w with u1 -> w and u2 -> w.

        (uptr, uidx): per u its w's; (vptr, vidx): per w its u's, ascending. ``acc`` is a zero
        int64 work array (>= n_u,), left zero; ``touched`` an int64 work array (>= n_u,).
        ``scan``: sum the accumulator over all u2 > u1 (dense blocks) instead of through the
        list of touched entries (sparse blocks).
        """
        total = 0
        for u1 in range(n_u):
            nt = 0
            for p in range(uptr[u1], uptr[u1 + 1]):
                w_ = uidx[p]
                q = vptr[w_ + 1] - 1
                lo = vptr[w_]
                # The u's of w_ above u1, from the top of the ascending list.
                while q >= lo and vidx[q] > u1:
                    u2 = vidx[q]
                    if not scan and acc[u2] == 0:
                        touched[nt] = u2
                        nt += 1
                    acc[u2] += 1
                    q -= 1
            total += _flush(acc, touched, nt, u1 + 1, n_u, scan)
        return total

    @numba.njit(cache=True)
    def _path_pairs(optr0, oidx0, optr1, oidx1, n_src, n_end, acc, touched, scan):  # pragma: no cover
        """sum over (a, d) of C(P[a, d], 2), P[a, d] = #2-paths a -> b -> d (b a target of block 0)."""
        total = 0
        for a in range(n_src):
            nt = 0
            for p in range(optr0[a], optr0[a + 1]):
                b_ = oidx0[p]
                if scan:
                    for q in range(optr1[b_], optr1[b_ + 1]):
                        acc[oidx1[q]] += 1
                else:
                    for q in range(optr1[b_], optr1[b_ + 1]):
                        d = oidx1[q]
                        if acc[d] == 0:
                            touched[nt] = d
                            nt += 1
                        acc[d] += 1
            total += _flush(acc, touched, nt, 0, n_end, scan)
        return total

    @numba.njit(cache=True, inline="always")
    def c2_next(deg):  # pragma: no cover - compiled
        total = 0
        for x in deg:
            total += x * (x - 1) // 2
        return total

    @numba.njit(cache=True, inline="always")
    def _use_scan(mode, work, n_rows, n_cols):  # pragma: no cover - compiled
        """Dense accumulator when the work per row is a fair share of the row (mode 0: auto)."""
        if mode == 0:
            return work * SCAN_RATIO >= n_rows * n_cols
        return mode == 2

    @numba.njit(cache=True, inline="always")
    def _max(x):  # pragma: no cover - compiled
        top = 0
        for v in x:
            top = max(top, v)
        return top

    @numba.njit(cache=True, inline="always")
    def _row_cost(n_rows, width, n_sums):  # pragma: no cover - compiled
        """Work of a dense-row sum (n_rows rows of ``width`` bytes added, n_sums accumulators of
        ``width`` entries summed), in units of one wedge of the edge-list sums (see ROW_COST)."""
        return ((n_rows + n_sums) * width + n_rows * ROW_OVERHEAD) // ROW_COST

    @intrinsic
    def _popc(typingctx, x):  # pragma: no cover - compiled
        """Population count of a uint64 (LLVM's ctpop: one instruction where the CPU has it)."""
        if not isinstance(x, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.int64(types.uint64), codegen  # a count: fits int64

    @numba.njit(cache=True)
    def _bitsets(ptr, idx, n_rows, n_bits):  # pragma: no cover - compiled
        """Rows of a CSR list as bitsets: (n_rows, ceil(n_bits / 64)) uint64."""
        words = (n_bits + 63) // 64
        bits = np.zeros((n_rows, max(words, 1)), np.uint64)
        for r in range(n_rows):
            for p in range(ptr[r], ptr[r + 1]):
                x = idx[p]
                bits[r, x >> 6] |= np.uint64(1) << np.uint64(x & 63)
        return bits

    @numba.njit(cache=True)
    def _bit_pass(inb, outb, n_mid, with_bias):  # pragma: no cover - compiled
        """One pass over the pairs b < c of a hidden layer's neurons, with their in-bitsets
        (sources of the block in) and out-bitsets (targets of the block out; row n_mid = the
        layer's bias node): ci, co = #common sources, #common targets.

        Returns (sum ci * co = biparallel through the layer, sum C(ci, 2) = bifan of the block
        in, sum C(co, 2) [+ the pairs with the bias node when ``with_bias``] = bifan of the block
        out).
        """
        wi, wo = inb.shape[1], outb.shape[1]
        bip = 0
        bif_in = 0
        bif_out = 0
        for b_ in range(n_mid):
            for c in range(b_ + 1, n_mid):
                ci = 0
                for x in range(wi):
                    ci += _popc(inb[b_, x] & inb[c, x])
                co = 0
                for x in range(wo):
                    co += _popc(outb[b_, x] & outb[c, x])
                bip += ci * co
                bif_in += ci * (ci - 1) // 2
                bif_out += co * (co - 1) // 2
            if with_bias:
                co = 0
                for x in range(wo):
                    co += _popc(outb[b_, x] & outb[n_mid, x])
                bif_out += co * (co - 1) // 2
        return bip, bif_in, bif_out

    @numba.njit(cache=True)
    def _bifan_rows(u8, bias, k, n_in, optr, oidx, acc):  # pragma: no cover - compiled
        """bifan of block (u8[k] (n_out, >= n_in) 0/1 bytes, bias[k]) by dense rows: per source a,
        acc[a'] = #common targets of a and each a' > a (bias node n_in included), summed as the
        bytes of the rows of a's targets; then sum C(acc, 2). ``acc``: zero int16, or uint8 where
        every out-degree is < 256 (>= n_in + 1), left zero (the counts are at most n_out < 2**15).
        """
        total = 0
        for a in range(n_in):
            if optr[a + 1] - optr[a] < 2:
                continue
            # Loops from 0 over views (not from a + 1): numba's negative-index handling would
            # otherwise stop LLVM from vectorising them.
            lo = a + 1
            part = acc[lo : n_in + 1]
            width = n_in - lo
            for p in range(optr[a], optr[a + 1]):
                b_ = oidx[p]
                row = u8[k, b_, lo:]
                for j in range(width):
                    part[j] += row[j]
                part[width] += bias[k, b_]
            s = 0
            for j in range(width + 1):
                c = np.int32(part[j])
                s += c * (c - 1)
                part[j] = 0
            total += s // 2
        return total

    @numba.njit(cache=True)
    def _biparallel_rows(u8, bias, k, n_in, iptr1, iidx1, n_mid, n_end, acc):  # pragma: no cover
        """biparallel through the layer between block (u8, bias) and the next block (its in-lists
        iptr1, iidx1; n_mid = the middle layer's size = that block's bias index): per end d,
        acc[a] = #2-paths a -> b -> d, summed as the rows of d's sources b; then sum C(acc, 2).
        ``acc``: zero int16, or uint8 where every
        in-degree is < 256 (>= n_in + 1), left zero (counts at most n_mid < 2**15).
        """
        total = 0
        for d in range(n_end):
            lo, hi = iptr1[d], iptr1[d + 1]
            if hi > lo and iidx1[hi - 1] == n_mid:
                hi -= 1  # the middle layer's bias node: no 2-paths through it
            if hi - lo < 2:
                continue
            for p in range(lo, hi):
                b_ = iidx1[p]
                row = u8[k, b_]
                for j in range(n_in):
                    acc[j] += row[j]
                acc[n_in] += bias[k, b_]
            s = 0
            for j in range(n_in + 1):
                c = np.int32(acc[j])
                s += c * (c - 1)
                acc[j] = 0
            total += s // 2
        return total

    @numba.njit(cache=True)
    def _bifan_words(w64, bias, k, n_in, optr, oidx, acc64, acc8):  # pragma: no cover - compiled
        """:func:`_bifan_rows` where every out-degree is < 256: the rows added 8 bytes at a time
        as uint64 words (a byte count < 256 never carries into the next byte). ``acc64``: zero
        uint64 (>= words per row + 1), ``acc8`` the same memory as bytes; left zero.
        """
        total = 0
        for a in range(n_in):
            if optr[a + 1] - optr[a] < 2:
                continue
            lo = a + 1
            w0 = lo >> 3  # the first word holding a source > a
            part = acc64[w0:]
            width = w64.shape[2] - w0
            nb = 0
            for p in range(optr[a], optr[a + 1]):
                b_ = oidx[p]
                row = w64[k, b_, w0:]
                for j in range(width):
                    part[j] += row[j]
                nb += bias[k, b_]
            s = nb * (nb - 1)
            bytes_ = acc8[w0 * 8 : n_in]
            skip = lo - w0 * 8  # sources <= a in the first word: added, not counted
            for j in range(bytes_.shape[0]):
                c = np.int32(bytes_[j])
                s += c * (c - 1) * np.int32(j >= skip)
            for j in range(width):
                part[j] = 0
            total += s // 2
        return total

    @numba.njit(cache=True)
    def _biparallel_words(w64, bias, k, n_in, iptr1, iidx1, n_mid, n_end, acc64, acc8):  # pragma: no cover
        """:func:`_biparallel_rows` where every in-degree of the end layer is < 256, by uint64
        words (see :func:`_bifan_words`)."""
        total = 0
        width = w64.shape[2]
        for d in range(n_end):
            lo, hi = iptr1[d], iptr1[d + 1]
            if hi > lo and iidx1[hi - 1] == n_mid:
                hi -= 1  # the middle layer's bias node: no 2-paths through it
            if hi - lo < 2:
                continue
            nb = 0
            for p in range(lo, hi):
                b_ = iidx1[p]
                row = w64[k, b_]
                for j in range(width):
                    acc64[j] += row[j]
                nb += bias[k, b_]
            s = nb * (nb - 1)
            for j in range(n_in):
                c = np.int32(acc8[j])
                s += c * (c - 1)
            for j in range(width):
                acc64[j] = 0
            total += s // 2
        return total

    @numba.njit(cache=True)
    def _count_one(ws, w64s, u8s, n_ins, bs, k, out, mode):  # pragma: no cover - compiled
        n_layers = len(ws)
        outdeg = []
        indeg = []
        optr = []
        oidx = []
        iptr = []
        iidx = []
        for l in range(n_layers):
            od, id_, op, oi, ip, ii = _adjacency(ws[l], w64s[l], n_ins[l], bs[l], k)
            outdeg.append(od)
            indeg.append(id_)
            optr.append(op)
            oidx.append(oi)
            iptr.append(ip)
            iidx.append(ii)
        width = 1
        for l in range(n_layers):
            width = max(width, ws[l].shape[1] + 1, n_ins[l] + 1)
        acc = np.zeros(width, np.int64)
        touched = np.zeros(width, np.int64)
        acc16 = np.zeros(width, np.int16)
        acc64 = np.zeros(width // 8 + 2, np.uint64)  # where every count is < 256: 8 per word
        acc8 = acc64.view(np.uint8)
        bifan_done = np.zeros(n_layers, np.bool_)
        for l in range(n_layers):
            od, id_ = outdeg[l], indeg[l]
            n_s, n_t = od.shape[0], id_.shape[0]
            e = 0
            d2 = 0
            d3 = 0
            for x in od:
                e += x
                d2 += x * (x - 1) // 2
                d3 += x * (x - 1) * (x - 2) // 6
            c2 = 0
            c3 = 0
            for x in id_:
                c2 += x * (x - 1) // 2
                c3 += x * (x - 1) * (x - 2) // 6
            out[k, 0] += e
            out[k, 1] += d2
            out[k, 2] += c2
            out[k, 4] += d3
            out[k, 5] += c3
            if l + 1 < n_layers:
                od1 = outdeg[l + 1]
                paths = 0
                for b_ in range(n_t):  # chain2 through neuron b_ of layer l+1 (not a bias node)
                    paths += id_[b_] * od1[b_]
                out[k, 3] += paths
                n_end = indeg[l + 1].shape[0]
                # Layer l+1 by bitsets (one pass over its neuron pairs gives biparallel and the
                # bifans of blocks l and l+1) when that is less work than the wedges and 2-paths
                # (about BIT_COST word operations cost one of those).
                wedges = min(d2, c2) + paths + min(c2_next(outdeg[l + 1]), c2_next(indeg[l + 1]))
                words = (n_s + 63) // 64 + (n_end + 63) // 64
                # Dense rows (mode 4, or auto when cheaper, see ROW_COST): biparallel through
                # layer l+1, and the bifan of block l below.
                # The three ways at layer l+1, in wedges: bitsets (one pass: biparallel and both
                # blocks' bifans), dense rows or edge lists (each sum on its own).
                small = n_t < 2**15 and n_s < 2**15 and n_end < 2**15
                row_bip = _row_cost(optr[l + 1][n_t], n_s, n_end)
                rows = row_bip + _row_cost(optr[l + 1][n_t + 1], n_t // 2, n_t)
                if not bifan_done[l]:
                    rows += _row_cost(e, n_s // 2, n_s)
                bits = n_t * (n_t - 1) // 2 * words // BIT_COST
                use_bits = mode == 3 or (mode == 0 and bits < wedges and not (small and rows <= bits))
                rows_bip = small and not use_bits and (mode == 4 or (mode == 0 and row_bip < paths))
                if rows_bip:
                    # P[a, d] <= in-degree of d
                    if _max(indeg[l + 1]) < 256:
                        out[k, 8] += _biparallel_words(w64s[l], bs[l], k, n_s - 1, iptr[l + 1], iidx[l + 1], n_t, n_end, acc64, acc8)
                    else:
                        out[k, 8] += _biparallel_rows(u8s[l], bs[l], k, n_s - 1, iptr[l + 1], iidx[l + 1], n_t, n_end, acc16)
                elif use_bits:
                    inb = _bitsets(iptr[l], iidx[l], n_t, n_s)
                    outb = _bitsets(optr[l + 1], oidx[l + 1], n_t + 1, n_end)
                    bip, bif_in, bif_out = _bit_pass(inb, outb, n_t, True)
                    out[k, 8] += bip
                    if not bifan_done[l]:  # block l may be done by the previous layer's pass
                        out[k, 7] += bif_in
                        bifan_done[l] = True
                    out[k, 7] += bif_out  # block l+1: its source pairs, bias node included
                    bifan_done[l + 1] = True
                else:
                    scan = _use_scan(mode, paths, n_s, n_end)
                    out[k, 8] += _path_pairs(optr[l], oidx[l], optr[l + 1], oidx[l + 1], n_s, n_end, acc, touched, scan)
            if not bifan_done[l]:
                # bifan: pairs of targets over the sources' wedges, or pairs of sources over the
                # targets' wedges: the same number; take the side with fewer wedges (or dense rows).
                if n_t < 2**15 and n_s < 2**15 and (mode == 4 or (mode == 0 and _row_cost(e, n_s // 2, n_s) < min(d2, c2))):
                    if _max(od) < 256:  # #common targets <= out-degree
                        out[k, 7] += _bifan_words(w64s[l], bs[l], k, n_s - 1, optr[l], oidx[l], acc64, acc8)
                    else:
                        out[k, 7] += _bifan_rows(u8s[l], bs[l], k, n_s - 1, optr[l], oidx[l], acc16)
                elif d2 <= c2:
                    scan = _use_scan(mode, d2, n_t, n_t)
                    out[k, 7] += _pair_sums(iptr[l], iidx[l], optr[l], oidx[l], n_t, acc, touched, scan)
                else:
                    scan = _use_scan(mode, c2, n_s, n_s)
                    out[k, 7] += _pair_sums(optr[l], oidx[l], iptr[l], iidx[l], n_s, acc, touched, scan)
            if l + 2 < n_layers:
                od2 = outdeg[l + 2]
                op1, oi1 = optr[l + 1], oidx[l + 1]
                for b_ in range(n_t):  # chain3: edges b_ -> c of block l+1
                    for q in range(op1[b_], op1[b_ + 1]):
                        out[k, 6] += id_[b_] * od2[oi1[q]]

    @numba.njit(cache=True, nogil=True)
    def _count_sparse(ws, w64s, u8s, n_ins, bs, mode):  # pragma: no cover - compiled
        size = ws[0].shape[0]
        out = np.zeros((size, 9), np.int64)
        for k in range(size):
            _count_one(ws, w64s, u8s, n_ins, bs, k, out, mode)
        return out


def count_sparse(ws: tuple, bs: tuple, mode: int = 0) -> np.ndarray:
    """Counts (B, 9) int64 of a batch, columns :data:`COLUMNS`.

    ``ws``: per layer a bool array (B, n_out, n_in); ``bs``: per layer a bool array (B, n_out)
    (all False for a layer without bias).

        ``mode``: 0 chooses per sum by the work (see SCAN_RATIO, BIT_COST), 1 always edge lists
    with the touched list, 2 always edge lists with the dense scan, 3 always bitsets for the
    hidden layers, 4 always dense rows for bifan and biparallel (the tests run all five).
    """
    padded, words = [], []
    for w in ws:
        n_in = w.shape[-1]
        pad = -n_in % 8
        if pad or not (w.flags.c_contiguous and w.dtype == bool):
            a = np.zeros(w.shape[:-1] + (n_in + pad,), dtype=bool)
            a[..., :n_in] = w
        else:
            a = w.view()  # no copy, also of a read-only (e.g. broadcast) mask
        # All read-only: one compiled kernel for every input (the kernel only reads them).
        a.flags.writeable = False
        padded.append(a)
        words.append(a.view(np.uint64))
    cb = tuple(np.require(b, dtype=bool, requirements=["C", "W"]) for b in bs)
    n_ins = np.array([w.shape[-1] for w in ws], dtype=np.int64)
    u8 = tuple(a.view(np.uint8) for a in padded)
    return _count_sparse(tuple(padded), tuple(words), u8, n_ins, cb, mode)
