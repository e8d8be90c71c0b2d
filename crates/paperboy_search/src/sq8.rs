//! 8-bit scalar quantisation of vectors: each component stored as `round((v - min) / step)` with
//! one `min` / `step` per dimension, and scored against a query with integer arithmetic.
//!
//! A quantised score is an estimate (each component is off by at most `step / 2`); callers take a
//! few times more candidates than they need and rescore them with the exact vectors.
//!
//! Scoring is integer: the query becomes 16-bit weights, and a code's estimate is ordered by
//! `Σ weight_i · code_i`. On CPUs with AVX512-VNNI that sum runs on `vpdpbusd` (64 byte products
//! per instruction, the weights split into two 8-bit halves); elsewhere a portable loop that the
//! compiler vectorises computes the same integers.

/// Per-dimension code ranges.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quantizer {
    pub(crate) min: Vec<f32>,
    pub(crate) step: Vec<f32>,
}

/// A query prepared for scoring codes: `score(code) = offset + scale · Σ weights_i · code_i`.
///
/// From `q · v ≈ Σ q_i (min_i + step_i c_i) = Σ q_i min_i + Σ (q_i step_i) c_i`, with `q_i step_i`
/// rounded to 16-bit integers sized so that a sum over every dimension cannot overflow an `i32`.
pub(crate) struct QueryCode {
    // Scans only compare `dot`s of one query; the affine map back to a score serves tests.
    #[cfg_attr(not(test), allow(dead_code))]
    offset: f32,
    #[cfg_attr(not(test), allow(dead_code))]
    scale: f32,
    weights: Vec<i16>,
    /// `weights` as `128 · high + low`, `low` in `0..128`, for `vpdpbusd` (empty when the CPU
    /// lacks it).
    high: Vec<i8>,
    low: Vec<i8>,
}

impl Quantizer {
    /// Ranges covering every vector of `vectors` (row-major, `dimension` wide), widened by
    /// `margin` of the range on each side so that vectors added later mostly still fit.
    pub(crate) fn fit(vectors: &[f32], dimension: usize, margin: f32) -> Quantizer {
        let mut min = vec![f32::INFINITY; dimension];
        let mut max = vec![f32::NEG_INFINITY; dimension];
        for v in vectors.chunks_exact(dimension) {
            for (i, x) in v.iter().enumerate() {
                min[i] = min[i].min(*x);
                max[i] = max[i].max(*x);
            }
        }
        if vectors.len() < dimension {
            min.fill(-1.0);
            max.fill(1.0);
        }
        for (lo, hi) in min.iter_mut().zip(max.iter_mut()) {
            let widen = (*hi - *lo) * margin;
            *lo -= widen;
            *hi += widen;
        }
        let step = min.iter().zip(&max).map(|(lo, hi)| ((hi - lo) / 255.0).max(1e-9)).collect();
        Quantizer { min, step }
    }

    /// The dimension.
    pub(crate) fn dimension(&self) -> usize {
        self.min.len()
    }

    /// Whether every component of `vector` lies inside the ranges (so its code is not clamped).
    pub(crate) fn covers(&self, vector: &[f32]) -> bool {
        vector.iter().enumerate().all(|(i, x)| *x >= self.min[i] && *x <= self.min[i] + 255.0 * self.step[i])
    }

    /// Appends the code of `vector` to `out`.
    pub(crate) fn encode_into(&self, vector: &[f32], out: &mut Vec<u8>) {
        out.extend(
            vector.iter().enumerate().map(|(i, x)| ((x - self.min[i]) / self.step[i]).round().clamp(0.0, 255.0) as u8),
        );
    }

    /// Codes for many vectors (row-major), in order.
    pub(crate) fn encode_all(&self, vectors: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(vectors.len());
        for vector in vectors.chunks_exact(self.dimension()) {
            self.encode_into(vector, &mut out);
        }
        out
    }

    /// Prepares `query` for [`QueryCode::score`].
    pub(crate) fn query(&self, query: &[f32]) -> QueryCode {
        let offset = query.iter().zip(&self.min).map(|(q, m)| q * m).sum();
        let scaled: Vec<f32> = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let largest = scaled.iter().fold(0f32, |m, x| m.max(x.abs()));
        // 255 · limit · dimension must stay below i32::MAX, and a weight must split into two bytes.
        // Floored, so that rounding a weight cannot step past it.
        let limit = (i32::MAX as f64 / (255.0 * self.dimension().max(1) as f64)).min(16_383.0).floor() as f32;
        let scale = if largest > 0.0 { largest / limit } else { 1.0 };
        let weights: Vec<i16> = scaled.iter().map(|x| (x / scale).round() as i16).collect();
        let (high, low) = if vnni::available() {
            weights.iter().map(|w| ((w.div_euclid(128)) as i8, (w.rem_euclid(128)) as i8)).unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        QueryCode { offset, scale, weights, high, low }
    }
}

impl QueryCode {
    /// The integer part of the estimate, `Σ weights_i · code_i`: for one query it orders codes as
    /// their estimated scores do (`scale` is positive), so scans compare these and skip the
    /// conversion. Written so that it vectorises (widening multiply-adds); call it inside a
    /// vectorised loop.
    #[inline(always)]
    pub(crate) fn dot(&self, code: &[u8]) -> i32 {
        const LANES: usize = 32;
        let mut sums = [0i32; LANES];
        let whole = code.len() / LANES * LANES;
        for (c, w) in code[..whole].chunks_exact(LANES).zip(self.weights[..whole].chunks_exact(LANES)) {
            for lane in 0..LANES {
                sums[lane] += i32::from(c[lane]) * i32::from(w[lane]);
            }
        }
        let mut total: i32 = sums.iter().sum();
        for (c, w) in code[whole..].iter().zip(&self.weights[whole..]) {
            total += i32::from(*c) * i32::from(*w);
        }
        total
    }

    /// The order value ([`QueryCode::dot`], as `f32`) of each code of `codes` (`dimension` bytes
    /// each), appended to `out`.
    pub(crate) fn orders(&self, codes: &[u8], dimension: usize, out: &mut Vec<f32>) {
        if !self.high.is_empty() {
            return vnni::orders(self, codes, dimension, out);
        }
        pulp::Arch::new().dispatch(Portable { query: self, codes, dimension, out })
    }

    /// The estimated dot product of the query with the vector whose code is `code`.
    #[cfg(test)]
    pub(crate) fn score(&self, code: &[u8]) -> f32 {
        self.offset + self.scale * self.dot(code) as f32
    }
}

/// [`QueryCode::orders`] without VNNI, as a [`pulp::WithSimd`] so that the loop is compiled for
/// the widest instructions available.
struct Portable<'a> {
    query: &'a QueryCode,
    codes: &'a [u8],
    dimension: usize,
    out: &'a mut Vec<f32>,
}

impl pulp::WithSimd for Portable<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.out.extend(self.codes.chunks_exact(self.dimension).map(|code| self.query.dot(code) as f32));
    }
}

/// The AVX512-VNNI kernel.
#[allow(unsafe_code)]
mod vnni {
    use super::QueryCode;

    /// Whether this CPU runs [`orders`].
    pub(super) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// [`QueryCode::orders`] for a query prepared with `high`/`low` halves (only made when
    /// [`available`]).
    pub(super) fn orders(query: &QueryCode, codes: &[u8], dimension: usize, out: &mut Vec<f32>) {
        assert!(available() && query.high.len() == dimension && query.low.len() == dimension);
        assert_eq!(codes.len() % dimension.max(1), 0);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `available()` checked the CPU features the function is compiled for.
        unsafe {
            orders_avx512(query, codes, dimension, out)
        }
    }

    /// Per code: `Σ code_i · weight_i` with `weight = 128 · high + low`, as two `vpdpbusd` sums
    /// (unsigned code bytes times signed weight bytes, four products per 32-bit lane) over whole
    /// 64-byte blocks and a scalar tail. Integer arithmetic: the same values as [`QueryCode::dot`].
    ///
    /// # Safety
    /// The CPU must support avx512f, avx512bw and avx512vnni.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn orders_avx512(query: &QueryCode, codes: &[u8], dimension: usize, out: &mut Vec<f32>) {
        use std::arch::x86_64::*;
        let blocks = dimension / 64;
        let whole = blocks * 64;
        out.reserve(codes.len() / dimension.max(1));
        for code in codes.chunks_exact(dimension) {
            let mut high_sum = _mm512_setzero_si512();
            let mut low_sum = _mm512_setzero_si512();
            for b in 0..blocks {
                // SAFETY: `high`, `low` and each code hold `dimension` bytes (asserted by `orders`), so
                // the unaligned 64-byte loads at `64 · b` for `b < blocks` stay inside them. The
                // query's blocks stay in L1 across codes.
                let (bytes, high, low) = unsafe {
                    (
                        _mm512_loadu_si512(code.as_ptr().add(64 * b).cast()),
                        _mm512_loadu_si512(query.high.as_ptr().add(64 * b).cast()),
                        _mm512_loadu_si512(query.low.as_ptr().add(64 * b).cast()),
                    )
                };
                high_sum = _mm512_dpbusd_epi32(high_sum, bytes, high);
                low_sum = _mm512_dpbusd_epi32(low_sum, bytes, low);
            }
            let mut total =
                i64::from(_mm512_reduce_add_epi32(high_sum)) * 128 + i64::from(_mm512_reduce_add_epi32(low_sum));
            for (c, w) in code[whole..].iter().zip(&query.weights[whole..]) {
                total += i64::from(*c) * i64::from(*w);
            }
            out.push(total as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` random unit vectors, row-major.
    fn vectors(n: usize, d: usize, seed: u64) -> Vec<f32> {
        (0..n as u64).flat_map(|i| crate::vector::tests::unit(seed * 100_000 + i, d)).collect()
    }

    #[test]
    fn quantised_scores_are_close_to_exact_ones() {
        let d = 384 + 7; // a tail past the 32-lane loop
        let data = vectors(500, d, 3);
        let quantizer = Quantizer::fit(&data, d, 0.0);
        let codes = quantizer.encode_all(&data);
        for query in vectors(20, d, 11).chunks_exact(d) {
            let prepared = quantizer.query(query);
            for (vector, code) in data.chunks_exact(d).zip(codes.chunks_exact(d)) {
                let exact: f32 = query.iter().zip(vector).map(|(a, b)| a * b).sum();
                let estimate = prepared.score(code);
                assert!((exact - estimate).abs() < 0.01, "{exact} vs {estimate}");
            }
        }
    }

    #[test]
    fn the_vnni_kernel_and_the_portable_loop_agree() {
        let d = 384 + 40; // whole 64-byte blocks and a tail
        let data = vectors(300, d, 9);
        let quantizer = Quantizer::fit(&data, d, 0.0);
        let codes = quantizer.encode_all(&data);
        for query in vectors(5, d, 21).chunks_exact(d) {
            let prepared = quantizer.query(query);
            let expected: Vec<f32> = codes.chunks_exact(d).map(|code| prepared.dot(code) as f32).collect();
            let mut orders = Vec::new();
            prepared.orders(&codes, d, &mut orders);
            assert_eq!(orders, expected);
            if !prepared.high.is_empty() {
                let mut portable = Vec::new();
                pulp::Arch::new().dispatch(Portable {
                    query: &prepared,
                    codes: &codes,
                    dimension: d,
                    out: &mut portable,
                });
                assert_eq!(portable, orders);
            } else {
                eprintln!("this CPU lacks AVX512-VNNI: only the portable loop ran");
            }
        }
    }

    #[test]
    fn ranges_cover_what_they_were_fitted_on_and_clamp_the_rest() {
        let d = 8;
        let data = vectors(50, d, 5);
        let quantizer = Quantizer::fit(&data, d, 0.05);
        assert!(data.chunks_exact(d).all(|v| quantizer.covers(v)));
        let outside = vec![5.0; d];
        assert!(!quantizer.covers(&outside));
        let mut code = Vec::new();
        quantizer.encode_into(&outside, &mut code);
        assert!(code.iter().all(|&c| c == 255));
    }

    #[test]
    fn an_empty_fit_still_quantises_unit_vectors() {
        let quantizer = Quantizer::fit(&[], 4, 0.0);
        let v = [0.5, -0.5, 0.5, -0.5];
        assert!(quantizer.covers(&v));
        let mut code = Vec::new();
        quantizer.encode_into(&v, &mut code);
        assert!((quantizer.query(&v).score(&code) - 1.0).abs() < 0.02);
    }
}
