//! AVX-512 pieces: activation conversion to bf16 and the MR × NR register-tile micro-kernel.

use std::arch::x86_64::*;

use super::Line;

/// Rows per register tile.
pub const MR: usize = 6;
/// zmm vectors (16 f32 columns each) per register tile row.
const NV: usize = 4;
/// Columns per register tile; MR × NV = 24 accumulators stay in zmm registers.
pub const NR: usize = NV * 16;

/// Reinterprets 32 bf16 values held as integers as the bf16 vector type (no instruction emitted).
#[inline(always)]
fn as_bh(v: __m512i) -> __m512bh {
    // SAFETY: both are plain 64-byte SIMD vectors for which every bit pattern is valid.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// Mask selecting the first `count.min(16)` of 16 lanes.
#[inline(always)]
fn lane_mask(count: usize) -> __mmask16 {
    if count >= 16 { !0 } else { (1u16 << count) - 1 }
}

/// Converts one row of f32 activations to bf16 (round to nearest even), 32 values per line, padding
/// the tail of `dst` with zeros.
///
/// # Safety
/// The CPU must support avx512f and avx512bf16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn convert_row(dst: &mut [Line], src: &[f32]) {
    assert!(dst.len() * 32 >= src.len());
    for (i, line) in dst.iter_mut().enumerate() {
        let base = i * 32;
        let lo_mask = lane_mask(src.len().saturating_sub(base));
        let hi_mask = lane_mask(src.len().saturating_sub(base + 16));
        // SAFETY: masked-off lanes are not read, and the enabled lanes are indices
        // `base .. base + 32` below `src.len()`.
        let (lo, hi) = unsafe {
            let p = src.as_ptr().wrapping_add(base);
            (_mm512_maskz_loadu_ps(lo_mask, p), _mm512_maskz_loadu_ps(hi_mask, p.wrapping_add(16)))
        };
        // The second operand fills the low 16 bf16 lanes, so `src[base]` lands first in memory.
        let bh = _mm512_cvtne2ps_pbh(hi, lo);
        // SAFETY: `line` is a valid, 64-byte-aligned, 64-byte `Line`.
        unsafe { (line as *mut Line).cast::<__m512bh>().write(bh) };
    }
}

/// One register tile: `out[r][c] = Σ_p a[r][p] · b[p][c] + bias[c]` for `r < rows`, `c < cols`.
///
/// `a` holds MR rows of bf16 pairs with a row stride of `a_stride` lines (rows past `rows` must be
/// readable; their results are discarded), `b` is a packed weight panel of `kp` k-pairs, and `out`
/// starts at the tile's top-left element with a row stride of `out_stride` f32 values.
///
/// # Safety
/// The CPU must support avx512f and avx512bf16.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn tile(
    out: &mut [f32],
    out_stride: usize,
    rows: usize,
    cols: usize,
    a: &[Line],
    a_stride: usize,
    b: &[Line],
    kp: usize,
    bias: &[f32],
) {
    assert!((1..=MR).contains(&rows) && (1..=NR).contains(&cols));
    assert!(a_stride * 16 >= kp && a.len() >= MR * a_stride && b.len() >= kp * NV);
    assert!(bias.len() >= cols && out.len() >= (rows - 1) * out_stride + cols);

    let a = a.as_ptr().cast::<u32>();
    let a_stride = a_stride * 16;
    let b = b.as_ptr().cast::<__m512bh>();
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..kp {
        // SAFETY: `p < kp` and `b` holds `kp * NV` aligned vectors (asserted above).
        let bv: [__m512bh; NV] = std::array::from_fn(|c| unsafe { b.add(p * NV + c).read() });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r < MR` and `p < kp <= a_stride`, inside the `MR * a_stride` pairs of `a`.
            let pair = unsafe { a.add(r * a_stride + p).read() };
            let av = as_bh(_mm512_set1_epi32(pair as i32));
            for (acc, bv) in acc.iter_mut().zip(bv) {
                *acc = _mm512_dpbf16_ps(*acc, av, bv);
            }
        }
    }

    for (r, acc) in acc.iter().enumerate().take(rows) {
        for (c, acc) in acc.iter().enumerate() {
            let col = c * 16;
            if col >= cols {
                break;
            }
            let mask = lane_mask(cols - col);
            // SAFETY: only lanes `col .. cols` are enabled; `bias` has at least `cols` values and
            // row `r < rows` of `out` has at least `cols` values after its start (asserted above).
            unsafe {
                let bias = _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(col));
                let dst = out.as_mut_ptr().add(r * out_stride + col);
                _mm512_mask_storeu_ps(dst, mask, _mm512_add_ps(*acc, bias));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::f32_to_bf16;
    use super::*;

    /// The vectorised activation conversion must round exactly like the scalar weight packing,
    /// including ties, and zero-fill past the end of the row.
    #[test]
    fn convert_row_matches_scalar_rounding() {
        if !super::super::supported() {
            return;
        }
        // Halfway cases (ties to even in both directions), values just off a tie, and specials.
        let mut row = vec![
            f32::from_bits(0x3f80_8000),
            f32::from_bits(0x3f81_8000),
            f32::from_bits(0x3f80_8001),
            f32::from_bits(0x3f80_7fff),
            -f32::from_bits(0x3f81_8000),
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            1.0e-30,
            f32::from_bits(0x0001_8001),
            f32::NAN,
        ];
        row.extend((0..60).map(|i| (i as f32 * 0.731).sin() * 3.0));
        for len in [1, 16, 17, 32, 33, row.len()] {
            let src = &row[..len];
            let mut dst = vec![Line([u32::MAX; 16]); len.div_ceil(32) + 1];
            // SAFETY: `supported()` was checked above.
            unsafe { convert_row(&mut dst, src) };
            let got: Vec<u16> = dst.iter().flat_map(|l| l.0).flat_map(|p| [p as u16, (p >> 16) as u16]).collect();
            for (i, &g) in got.iter().enumerate() {
                let want = src.get(i).map_or(0, |&v| f32_to_bf16(v));
                assert_eq!(g, want, "len {len}, element {i}: {:?}", src.get(i));
            }
        }
    }
}
