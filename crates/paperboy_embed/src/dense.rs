//! The encoder's dense (Linear) layers, `out = x · wᵀ + bias`, at the precision chosen when the
//! model loads: bf16 through the AVX-512 BF16 kernel where the CPU has it (twice the throughput of
//! f32, cosine ≥ 0.9999 to the f32 result), else f32 through `gemm`.

use crate::{
    Error,
    linalg::{Matrix, MatrixMut, Threads, matmul},
};

/// The arithmetic of the dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The fastest this CPU runs: bf16 where it has AVX512_BF16, else f32.
    #[default]
    Auto,
    /// bf16 products, f32 sums (refused on a CPU without AVX512_BF16).
    Bf16,
    /// f32 throughout.
    F32,
}

impl Precision {
    /// `auto`, `bf16` or `f32`.
    pub fn parse(text: &str) -> Option<Precision> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Precision::Auto),
            "bf16" => Some(Precision::Bf16),
            "f32" => Some(Precision::F32),
            _ => None,
        }
    }

    /// What `Auto` means on this CPU, or why an explicit choice cannot run here.
    pub fn resolve(self) -> Result<Precision, Error> {
        match (self, crate::bf16::supported()) {
            (Precision::Auto, true) | (Precision::Bf16, true) => Ok(Precision::Bf16),
            (Precision::Auto, false) | (Precision::F32, _) => Ok(Precision::F32),
            (Precision::Bf16, false) => {
                Err(Error::Model("bf16 needs a CPU with AVX-512 BF16, which this one lacks; use f32 or auto".into()))
            }
        }
    }

    /// Its name, for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Bf16 => "bf16",
            Precision::F32 => "f32",
        }
    }
}

/// A Linear layer's weight (`outputs × inputs`): bf16, packed for the AVX-512 BF16 kernel where the
/// CPU has it (twice the throughput of f32, cosine ≥ 0.9999 to the f32 result), else f32.
pub enum Weight {
    /// Row-major f32.
    F32 { values: Vec<f32>, outputs: usize, inputs: usize },
    /// Packed bf16.
    Bf16(crate::bf16::PackedWeights),
}

impl Weight {
    /// Prepares `values` (`outputs × inputs`, row-major) for the kernel of `precision` (resolved:
    /// not `Auto`).
    pub fn new(values: Vec<f32>, outputs: usize, inputs: usize, precision: Precision) -> Weight {
        assert_eq!(values.len(), outputs * inputs);
        match precision {
            Precision::Bf16 => Weight::Bf16(crate::bf16::PackedWeights::pack(&values, outputs, inputs)),
            Precision::F32 | Precision::Auto => Weight::F32 { values, outputs, inputs },
        }
    }
}

/// `out = x · wᵀ + bias` for `x: rows × inputs` and a Linear layer's `w: outputs × inputs`.
pub fn linear(out: &mut [f32], x: &[f32], rows: usize, w: &Weight, bias: &[f32], threads: Threads) {
    match w {
        Weight::Bf16(packed) => {
            crate::bf16::linear_bf16(
                &mut out[..rows * packed.n()],
                &x[..rows * packed.k()],
                rows,
                packed,
                bias,
                threads,
            );
        }
        Weight::F32 { values, outputs, inputs } => {
            let (outputs, inputs) = (*outputs, *inputs);
            assert_eq!(bias.len(), outputs);
            for row in out[..rows * outputs].chunks_exact_mut(outputs) {
                row.copy_from_slice(bias);
            }
            matmul(
                &mut MatrixMut::row_major(out, rows, outputs),
                Matrix::row_major(x, rows, inputs),
                Matrix::transposed(values, outputs, inputs),
                true,
                threads,
            );
        }
    }
}
