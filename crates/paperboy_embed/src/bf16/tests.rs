//! Accuracy against f64 references, determinism across runs and thread counts, and length checks.

use super::{PackedWeights, linear_bf16, supported};
use crate::linalg::Threads;

/// Tiny deterministic xorshift64 generator of values in [-2, 2).
struct XorShift(u64);

impl XorShift {
    fn values(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }
}

/// f32 → bf16 → f32 with round to nearest even (inputs here are finite).
fn round_bf16(v: f32) -> f32 {
    let bits = v.to_bits();
    f32::from_bits((bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff_0000)
}

struct Reference {
    /// `x · wᵀ + bias` in f64 from the exact f32 inputs.
    exact: Vec<f64>,
    /// The same from bf16-rounded `x` and `w`: what the kernel computes up to f32 accumulation order.
    rounded: Vec<f64>,
    /// `Σ |x_i w_i|` per output, the scale of the accumulation error.
    magnitude: Vec<f64>,
}

fn reference(x: &[f32], w: &[f32], bias: &[f32], rows: usize, n: usize, k: usize) -> Reference {
    let len = rows * n;
    let (mut exact, mut rounded, mut magnitude) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    for i in 0..rows {
        for j in 0..n {
            let (xr, wr) = (&x[i * k..(i + 1) * k], &w[j * k..(j + 1) * k]);
            let (mut e, mut r, mut m) = (f64::from(bias[j]), f64::from(bias[j]), 0.0);
            for (&a, &b) in xr.iter().zip(wr) {
                e += f64::from(a) * f64::from(b);
                r += f64::from(round_bf16(a)) * f64::from(round_bf16(b));
                m += (f64::from(a) * f64::from(b)).abs();
            }
            exact[i * n + j] = e;
            rounded[i * n + j] = r;
            magnitude[i * n + j] = m;
        }
    }
    Reference { exact, rounded, magnitude }
}

fn run(x: &[f32], packed: &PackedWeights, bias: &[f32], rows: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; rows * packed.n()];
    linear_bf16(&mut out, x, rows, packed, bias, Threads::Pool);
    out
}

/// Whether this CPU runs the kernel. Where it does not, the kernel's own tests cannot run (no
/// software can supply the instructions) and say so; `a_cpu_without_the_instructions_uses_f32`
/// tests what such a CPU does instead.
fn kernel_runs_here(test: &str) -> bool {
    if !supported() {
        paperboy_testing::cpu_lacks(test, "avx512f + avx512bf16 (the f32 path runs there)");
    }
    supported()
}

#[test]
fn a_cpu_without_the_instructions_uses_f32() {
    use crate::Precision;
    if supported() {
        assert_eq!(Precision::Auto.resolve().unwrap(), Precision::Bf16);
        return;
    }
    assert_eq!(Precision::Auto.resolve().unwrap(), Precision::F32, "auto falls back to f32");
    assert!(Precision::Bf16.resolve().is_err(), "bf16 asked for explicitly is refused, not emulated");
    let packed = PackedWeights::pack(&[1.0; 6], 2, 3);
    let refused = std::panic::catch_unwind(|| {
        linear_bf16(&mut [0.0; 2], &[1.0; 3], 1, &packed, &[0.0; 2], Threads::One);
    });
    assert!(refused.is_err(), "the kernel refuses to run without the instructions");
}

#[test]
fn matches_reference_on_many_shapes() {
    if !kernel_runs_here("matches_reference_on_many_shapes") {
        return;
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut worst_vs_exact = 0.0f64;
    let mut worst_vs_rounded = 0.0f64;
    for rows in [1, 5, 6, 7, 63, 200] {
        for k in [1, 3, 384, 385, 1536] {
            for n in [1, 17, 64, 65, 384, 1152] {
                let x = rng.values(rows * k);
                let w = rng.values(n * k);
                let bias = rng.values(n);
                let packed = PackedWeights::pack(&w, n, k);
                assert_eq!((packed.n(), packed.k()), (n, k));
                let out = run(&x, &packed, &bias, rows);
                let reference = reference(&x, &w, &bias, rows, n, k);
                for (idx, &got) in out.iter().enumerate() {
                    let got = f64::from(got);
                    let scale = 1.0 + reference.magnitude[idx];
                    let vs_rounded = (got - reference.rounded[idx]).abs() / scale;
                    assert!(
                        vs_rounded <= 1e-5,
                        "rows={rows} k={k} n={n} at {idx}: got {got}, bf16 reference {}",
                        reference.rounded[idx]
                    );
                    worst_vs_rounded = worst_vs_rounded.max(vs_rounded);
                    // bf16 keeps 8 significant bits: each product is off by up to ~2^-8 relative.
                    let vs_exact = (got - reference.exact[idx]).abs() / scale;
                    assert!(vs_exact <= 1e-2, "rows={rows} k={k} n={n} at {idx}: {vs_exact} vs exact");
                    worst_vs_exact = worst_vs_exact.max(vs_exact);
                }
            }
        }
    }
    println!("max |out - exact| / (1 + Σ|x·w|) = {worst_vs_exact:.3e}");
    println!("max |out - bf16-rounded reference| / (1 + Σ|x·w|) = {worst_vs_rounded:.3e}");
}

#[test]
fn relative_error_on_bert_shape() {
    if !kernel_runs_here("relative_error_on_bert_shape") {
        return;
    }
    let (rows, n, k) = (64, 384, 1536);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let (x, w, bias) = (rng.values(rows * k), rng.values(n * k), rng.values(n));
    let out = run(&x, &PackedWeights::pack(&w, n, k), &bias, rows);
    let exact = reference(&x, &w, &bias, rows, n, k).exact;
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|d| d * d).sum::<f64>().sqrt();
    let diff = norm(&mut out.iter().zip(&exact).map(|(&o, &e)| f64::from(o) - e));
    let relative = diff / norm(&mut exact.iter().copied());
    let mut elementwise: Vec<f64> = out.iter().zip(&exact).map(|(&o, &e)| (f64::from(o) - e).abs() / e.abs()).collect();
    elementwise.sort_by(f64::total_cmp);
    println!(
        "rows={rows} n={n} k={k}: ‖out - exact‖ / ‖exact‖ = {relative:.3e}; elementwise |out - exact| / |exact|: \
         median {:.3e}, 99th percentile {:.3e}, max {:.3e} (near-zero outputs dominate the max)",
        elementwise[elementwise.len() / 2],
        elementwise[elementwise.len() * 99 / 100],
        elementwise[elementwise.len() - 1],
    );
    assert!(relative < 1e-2);
}

#[test]
fn deterministic_across_runs_thread_counts_and_modes() {
    if !kernel_runs_here("deterministic_across_runs_thread_counts_and_modes") {
        return;
    }
    let (rows, n, k) = (203, 1152, 385);
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let (x, w, bias) = (rng.values(rows * k), rng.values(n * k), rng.values(n));
    let packed = PackedWeights::pack(&w, n, k);
    let in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run(&x, &packed, &bias, rows))
    };
    let first = run(&x, &packed, &bias, rows);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first), bits(&run(&x, &packed, &bias, rows)));
    assert_eq!(bits(&first), bits(&in_pool(1)));
    assert_eq!(bits(&first), bits(&in_pool(2)));
    let mut alone = vec![f32::NAN; rows * n];
    linear_bf16(&mut alone, &x, rows, &packed, &bias, Threads::One);
    assert_eq!(bits(&first), bits(&alone), "the calling thread alone computes the same bits");
}

#[test]
fn zero_rows_is_a_no_op() {
    let packed = PackedWeights::pack(&[1.0; 6], 2, 3);
    linear_bf16(&mut [], &[], 0, &packed, &[0.5, 0.5], Threads::Pool);
}

#[test]
fn empty_k_gives_bias() {
    let packed = PackedWeights::pack(&[], 3, 0);
    assert_eq!(run(&[], &packed, &[1.0, 2.0, 3.0], 2), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "w must be n × k")]
fn pack_rejects_wrong_weight_length() {
    PackedWeights::pack(&[0.0; 5], 2, 3);
}

#[test]
#[should_panic(expected = "x must be rows × k")]
fn rejects_wrong_input_length() {
    let packed = PackedWeights::pack(&[0.0; 6], 2, 3);
    linear_bf16(&mut [0.0; 4], &[0.0; 5], 2, &packed, &[0.0; 2], Threads::Pool);
}

#[test]
#[should_panic(expected = "out must be rows × n")]
fn rejects_wrong_output_length() {
    let packed = PackedWeights::pack(&[0.0; 6], 2, 3);
    linear_bf16(&mut [0.0; 5], &[0.0; 6], 2, &packed, &[0.0; 2], Threads::Pool);
}

#[test]
#[should_panic(expected = "bias must have length n")]
fn rejects_wrong_bias_length() {
    let packed = PackedWeights::pack(&[0.0; 6], 2, 3);
    linear_bf16(&mut [0.0; 4], &[0.0; 6], 2, &packed, &[0.0; 3], Threads::Pool);
}
