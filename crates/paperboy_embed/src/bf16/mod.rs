//! bf16 matrix multiply for a CPU BERT encoder: `out = x · wᵀ + bias`.
//!
//! Both operands are rounded to bf16 (round to nearest even) and multiplied with the AVX512_BF16
//! dot-product instruction `vdpbf16ps`, which accumulates pairs of bf16 products into f32 lanes at
//! twice the rate of f32 FMA. The weight matrix is converted and packed once ([`PackedWeights::pack`]);
//! activations are converted per block of rows inside [`linear_bf16`].
//!
//! Layouts (one "pair" is a `u32` holding two consecutive bf16 values along k, the even index in the
//! low half, which is the operand shape `vdpbf16ps` consumes):
//! - packed weights: for each panel of `NR` = 64 output columns, for each k-pair `p`, the 64 columns'
//!   pairs `(w[j][2p], w[j][2p+1])`, so one 64-byte load yields 16 columns for one k-pair;
//! - converted activations: row-major pairs with the row stride rounded up to a 64-byte line.
//!
//! The micro-kernel keeps an `MR` × `NR` = 6 × 64 output tile in 24 zmm accumulators. k is padded to
//! even and n to a multiple of 64 with zeros; padded rows of the last row tile are zero and never
//! stored.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod kernel;

use rayon::prelude::*;

use crate::linalg::Threads;

/// Row tile of the micro-kernel (rows of `x` per register tile).
const MR: usize = kernel::MR;
/// Column tile of the micro-kernel (output columns per register tile, i.e. per packed weight panel).
const NR: usize = kernel::NR;
/// Most rows of `x` converted and processed together by one rayon task; a multiple of [`MR`]. Its
/// bf16 activations (at most 48 × 1536 × 2 bytes) and one weight panel stay in L2 together.
const MB: usize = 8 * MR;
/// Smaller inputs are cut into at least this many row blocks per thread, for load balance.
const BLOCKS_PER_THREAD: usize = 4;

/// One 64-byte, 64-byte-aligned line of 16 bf16 pairs: the unit of every packed buffer, so that each
/// vector load is aligned and never splits a cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u32; 16]);

/// Whether this CPU can run the bf16 kernel (AVX-512F and AVX512_BF16).
pub fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// A Linear layer's weight `w` (n × k, row-major f32) converted to bf16 and packed for the micro-kernel.
#[derive(Clone)]
pub struct PackedWeights {
    n: usize,
    k: usize,
    /// Number of k-pairs, `ceil(k / 2)`.
    kp: usize,
    /// `ceil(n / NR)` panels of `kp * NR / 16` lines each.
    lines: Vec<Line>,
}

impl PackedWeights {
    /// Converts `w` (n × k, row-major) to bf16 with round-to-nearest-even and packs it panel by panel.
    ///
    /// Panics if `w.len() != n * k`.
    pub fn pack(w: &[f32], n: usize, k: usize) -> PackedWeights {
        assert_eq!(w.len(), n.checked_mul(k).expect("n * k overflows"), "w must be n × k");
        let kp = k.div_ceil(2);
        let vectors = NR / 16;
        let panels = n.div_ceil(NR);
        let mut lines = vec![Line::default(); panels * kp * vectors];
        let at = |j: usize, kk: usize| if j < n && kk < k { f32_to_bf16(w[j * k + kk]) } else { 0 };
        for (i, line) in lines.iter_mut().enumerate() {
            let c = i % vectors;
            let p = (i / vectors) % kp;
            let panel = i / (vectors * kp);
            for (lane, pair) in line.0.iter_mut().enumerate() {
                let j = panel * NR + c * 16 + lane;
                *pair = u32::from(at(j, 2 * p)) | (u32::from(at(j, 2 * p + 1)) << 16);
            }
        }
        PackedWeights { n, k, kp, lines }
    }

    /// Output features (rows of the original `w`).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features (columns of the original `w`).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The packed panel for output columns `panel * NR .. (panel + 1) * NR`.
    fn panel(&self, panel: usize) -> &[Line] {
        let len = self.kp * NR / 16;
        &self.lines[panel * len..(panel + 1) * len]
    }
}

/// Scalar f32 → bf16 with round to nearest even, used when packing weights. It matches the vector
/// conversion `vcvtne2ps2bf16` applied to activations: NaN stays a quiet NaN and subnormal inputs
/// become signed zero.
fn f32_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    if v.is_subnormal() {
        return ((bits >> 16) & 0x8000) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// `out = x · wᵀ + bias` for `x` of `rows × k`, `out` of `rows × n` (both row-major f32).
///
/// With [`Threads::Pool`], parallel over blocks of rows on rayon's global pool (or the pool this is
/// `install`ed in); with [`Threads::One`], on the calling thread. Each output element is computed by
/// the same instruction sequence whatever the thread count, so results are bit-identical across
/// runs, pool sizes and both modes.
///
/// Panics if `x.len() != rows * k`, `out.len() != rows * n`, `bias.len() != n`, or if [`supported`]
/// is false and there are products to compute (empty shapes need no instructions).
pub fn linear_bf16(out: &mut [f32], x: &[f32], rows: usize, w: &PackedWeights, bias: &[f32], threads: Threads) {
    let (n, k) = (w.n, w.k);
    assert_eq!(x.len(), rows.checked_mul(k).expect("rows * k overflows"), "x must be rows × k");
    assert_eq!(out.len(), rows.checked_mul(n).expect("rows * n overflows"), "out must be rows × n");
    assert_eq!(bias.len(), n, "bias must have length n");
    if rows == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.chunks_exact_mut(n).for_each(|row| row.copy_from_slice(bias));
        return;
    }
    assert!(supported(), "linear_bf16 needs a CPU with avx512f and avx512bf16");
    // Block sizes may depend on the thread count without affecting results: every output element is
    // accumulated over k in the same order whichever block and tile row it falls in.
    if threads == Threads::One {
        let mut buf = Vec::new();
        for (out, x) in out.chunks_mut(MB * n).zip(x.chunks(MB * k)) {
            row_block(out, x, w, bias, &mut buf);
        }
        return;
    }
    let block = rows.div_ceil(BLOCKS_PER_THREAD * rayon::current_num_threads()).next_multiple_of(MR).clamp(MR, MB);
    out.par_chunks_mut(block * n)
        .zip(x.par_chunks(block * k))
        .for_each_init(Vec::new, |buf, (out, x)| row_block(out, x, w, bias, buf));
}

/// Computes one block of rows: converts its activations to bf16 into `buf`, then runs
/// the micro-kernel over every (column panel, row tile) pair, panel-major so each weight panel is
/// reused by all row tiles while it is hot in cache.
fn row_block(out: &mut [f32], x: &[f32], w: &PackedWeights, bias: &[f32], buf: &mut Vec<Line>) {
    let (n, k) = (w.n, w.k);
    let rows = x.len() / k;
    let tiles = rows.div_ceil(MR);
    // Row stride of the converted activations, in lines (16 pairs = 32 bf16 values each).
    let stride = w.kp.div_ceil(16);
    let len = tiles * MR * stride;
    if buf.len() < len {
        buf.resize(len, Line::default());
    }
    // `convert_row` writes whole rows; only the padding rows of the last tile need zeroing.
    buf[rows * stride..len].fill(Line::default());
    for (row, dst) in x.chunks_exact(k).zip(buf.chunks_exact_mut(stride)) {
        // SAFETY: `linear_bf16` asserted that the CPU supports avx512f and avx512bf16.
        unsafe { kernel::convert_row(dst, row) };
    }
    for panel in 0..n.div_ceil(NR) {
        let cols = (n - panel * NR).min(NR);
        let packed = w.panel(panel);
        let bias = &bias[panel * NR..panel * NR + cols];
        for tile in 0..tiles {
            let tile_rows = (rows - tile * MR).min(MR);
            let a = &buf[tile * MR * stride..(tile + 1) * MR * stride];
            let out = &mut out[tile * MR * n + panel * NR..];
            // SAFETY: `linear_bf16` asserted that the CPU supports avx512f and avx512bf16.
            unsafe { kernel::tile(out, n, tile_rows, cols, a, stride, packed, w.kp, bias) };
        }
    }
}

#[cfg(test)]
mod tests;
