//! The numeric kernels of the encoder: matrix products through the `gemm` crate (runtime-detected
//! AVX-512 / AVX2 kernels), and the row-wise operations around them.
//!
//! Its `unsafe` code is the `gemm` call, which takes raw pointers and strides (ARCHITECTURE.md lists
//! every place with `unsafe`).
//! [`Matrix`] views carry their slice, shape and strides, and [`matmul`] checks that every element
//! the product touches lies inside its slice before calling it.
#![allow(unsafe_code)]
// The polynomial coefficients are the published ones, digit for digit.
#![allow(clippy::excessive_precision)]

use rayon::prelude::*;

/// A strided view of a matrix inside a slice: element `(row, col)` is at
/// `offset + row * row_stride + col * col_stride`.
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// A dense row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Matrix<'a> {
        Matrix { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a dense row-major `rows × cols` matrix (a Linear layer's weight is stored
    /// `out × in`; the product needs `in × out`).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Matrix<'a> {
        Matrix { data, offset: 0, rows: cols, cols: rows, row_stride: 1, col_stride: cols }
    }

    fn last_index(&self) -> usize {
        self.offset + (self.rows.max(1) - 1) * self.row_stride + (self.cols.max(1) - 1) * self.col_stride
    }

    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || self.last_index() < self.data.len()
    }
}

/// Where a product is written: like [`Matrix`], mutable.
pub struct MatrixMut<'a> {
    pub data: &'a mut [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatrixMut<'a> {
    /// A dense row-major matrix.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> MatrixMut<'a> {
        MatrixMut { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// Whether a product may use the thread pool.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One thread (inside work that is already parallel).
    One,
    /// Rayon's pool.
    Pool,
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`).
///
/// # Panics
/// When the shapes disagree or a view reaches outside its slice.
pub fn matmul(dst: &mut MatrixMut<'_>, lhs: Matrix<'_>, rhs: Matrix<'_>, accumulate: bool, threads: Threads) {
    assert_eq!(lhs.cols, rhs.rows, "inner dimensions");
    assert_eq!((dst.rows, dst.cols), (lhs.rows, rhs.cols), "output shape");
    assert!(dst.in_bounds() && lhs.in_bounds() && rhs.in_bounds(), "a matrix view reaches outside its slice");
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::Pool => gemm::Parallelism::Rayon(0),
    };
    // SAFETY: every element gemm reads or writes is `offset + r * row_stride + c * col_stride` for
    // r < rows, c < cols, which the asserts above keep inside each slice; `dst` is borrowed
    // mutably, so it cannot alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr().add(dst.offset),
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Rows per parallel task of the row-wise operations.
const ROWS_PER_TASK: usize = 64;

/// `x = LayerNorm(x + residual)` row by row, in place (in parallel with [`Threads::Pool`]).
pub fn add_layer_norm(
    x: &mut [f32],
    residual: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    threads: Threads,
) {
    let width = gamma.len();
    let task = |(task, rows): (usize, &mut [f32])| {
        let first_row = task * ROWS_PER_TASK;
        vectorized(|| add_layer_norm_rows(rows, residual.map(|r| &r[first_row * width..]), gamma, beta, eps));
    };
    match threads {
        Threads::One => x.chunks_mut(width * ROWS_PER_TASK).enumerate().for_each(task),
        Threads::Pool => x.par_chunks_mut(width * ROWS_PER_TASK).enumerate().for_each(task),
    }
}

fn add_layer_norm_rows(x: &mut [f32], residual: Option<&[f32]>, gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    for (row_index, row) in x.chunks_exact_mut(width).enumerate() {
        if let Some(residual) = residual {
            for (value, add) in row.iter_mut().zip(&residual[row_index * width..(row_index + 1) * width]) {
                *value += add;
            }
        }
        let mean = row.iter().sum::<f32>() / width as f32;
        let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
        let scale = 1.0 / (variance + eps).sqrt();
        for ((value, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *value = (*value - mean) * scale * g + b;
        }
    }
}

/// GELU as BERT defines it, `x · Φ(x)` with the exact normal CDF (in parallel with [`Threads::Pool`]).
pub fn gelu(x: &mut [f32], threads: Threads) {
    let task = |chunk: &mut [f32]| {
        vectorized(|| {
            for value in chunk {
                *value = 0.5 * *value * (1.0 + erf(*value * std::f32::consts::FRAC_1_SQRT_2));
            }
        })
    };
    match threads {
        Threads::One => x.chunks_mut(16_384).for_each(task),
        Threads::Pool => x.par_chunks_mut(16_384).for_each(task),
    }
}

/// The error function, Abramowitz & Stegun 7.1.28 (absolute error below 3e-7): a polynomial and
/// powers only, so the compiler vectorises it.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let p = 1.0
        + a * (0.070_523_08
            + a * (0.042_282_012
                + a * (0.009_270_527_2 + a * (0.000_152_014_3 + a * (0.000_276_567_2 + a * 0.000_043_063_8)))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let p16 = p8 * p8;
    (1.0 - 1.0 / p16).copysign(x)
}

/// `e^x`, Cephes' `expf` polynomial after reducing by powers of two (relative error about 1e-7);
/// written so the compiler vectorises it. Inputs below -87 give 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Runs `f` compiled for the widest vector instructions this CPU has (AVX-512, AVX2+FMA, or the
/// SSE2 baseline), chosen at run time, so the plain loops inside it are auto-vectorised.
#[inline(always)]
pub fn vectorized<T>(f: impl FnOnce() -> T) -> T {
    pulp::Arch::new().dispatch(f)
}

/// `x *= factor`, elementwise.
pub fn scale(x: &mut [f32], factor: f32) {
    vectorized(|| x.iter_mut().for_each(|v| *v *= factor));
}

/// Softmax of each row of a `rows × cols` matrix, in place.
pub fn softmax_rows(x: &mut [f32], cols: usize) {
    vectorized(|| softmax_rows_scalar(x, cols));
}

#[inline(always)]
fn softmax_rows_scalar(x: &mut [f32], cols: usize) {
    for row in x.chunks_exact_mut(cols) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for value in row.iter_mut() {
            *value = exp(*value - max);
        }
        let inverse = 1.0 / row.iter().sum::<f32>();
        for value in row.iter_mut() {
            *value *= inverse;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{Weight, linear};

    #[test]
    fn matmul_matches_the_naive_product_for_every_layout() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2×3
        let w: Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect(); // 4×3 (out × in)
        let mut out = vec![0.0; 8];
        let weight = Weight::F32 { values: w.clone(), outputs: 4, inputs: 3 };
        linear(&mut out, &a, 2, &weight, &[1.0, 2.0, 3.0, 4.0], Threads::Pool);
        let mut expected = vec![0.0; 8];
        for r in 0..2 {
            for c in 0..4 {
                expected[r * 4 + c] =
                    [1.0, 2.0, 3.0, 4.0][c] + (0..3).map(|k| a[r * 3 + k] * w[c * 3 + k]).sum::<f32>();
            }
        }
        assert_eq!(out, expected);
    }

    #[test]
    #[should_panic(expected = "outside its slice")]
    fn views_outside_their_slice_are_refused() {
        let data = vec![0.0; 4];
        let mut out = vec![0.0; 4];
        let lhs = Matrix { data: &data, offset: 1, rows: 2, cols: 2, row_stride: 2, col_stride: 1 };
        matmul(&mut MatrixMut::row_major(&mut out, 2, 2), lhs, Matrix::row_major(&data, 2, 2), false, Threads::One);
    }

    #[test]
    fn erf_is_accurate() {
        for (x, expected) in
            [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3), (3.5, 0.999_999_3)]
        {
            assert!((erf(x) - expected).abs() < 5e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn exp_is_accurate() {
        for x in [-100.0f32, -87.0, -20.0, -3.3, -1.0, -0.1, 0.0, 0.5, 1.0, 7.0, 40.0] {
            let (ours, std) = (exp(x), x.exp());
            assert!((ours - std).abs() <= std * 3e-7 + 1e-37, "exp({x}) = {ours}, std {std}");
        }
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        add_layer_norm(&mut x, None, &[1.0; 4], &[0.0; 4], 1e-12, Threads::Pool);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6);
        assert!((x.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-5);
    }
}
