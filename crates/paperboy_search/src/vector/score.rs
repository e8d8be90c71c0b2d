//! Scoring: the dot product, run-time choice of vector instructions, and keeping the best `k`.

/// Runs `f` compiled for the widest vector instructions available (chosen at run time).
#[inline(always)]
pub(super) fn vectorized<T>(f: impl FnOnce() -> T) -> T {
    pulp::Arch::new().dispatch(f)
}

/// The dot product (cosine similarity of unit vectors). Eight partial sums let it vectorise.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 16];
    let chunks = a.len() / 16 * 16;
    for (x, y) in a[..chunks].chunks_exact(16).zip(b[..chunks].chunks_exact(16)) {
        for lane in 0..16 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (x, y) in a[chunks..].iter().zip(&b[chunks..]) {
        total += x * y;
    }
    total
}

/// The best `k` scores seen, with their slots. Scores above the running threshold are appended;
/// when the buffer reaches `2k` it is cut back to the best `k` (linear time) and the threshold rises
/// to the worst score kept, so most scores cost one comparison and none a heap operation.
pub(super) struct TopK {
    k: usize,
    pub(super) items: Vec<(f32, usize)>,
    threshold: f32,
}

/// Best first: higher score, then lower slot.
pub(super) fn best_first(a: &(f32, usize), b: &(f32, usize)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

impl TopK {
    pub(super) fn new(k: usize) -> TopK {
        TopK { k, items: Vec::with_capacity(2 * k), threshold: f32::NEG_INFINITY }
    }

    #[inline(always)]
    pub(super) fn would_take(&self, score: f32) -> bool {
        score > self.threshold
    }

    pub(super) fn push(&mut self, score: f32, slot: usize) {
        if self.k == 0 {
            return;
        }
        self.items.push((score, slot));
        if self.items.len() >= 2 * self.k {
            keep_best(&mut self.items, self.k);
            self.threshold = self.items[self.k - 1].0;
        }
    }

    pub(super) fn into_sorted(self) -> Vec<(f32, usize)> {
        best(self.items, self.k)
    }
}

/// Cuts `items` down to its best `k`, in no order (linear time).
pub(super) fn keep_best(items: &mut Vec<(f32, usize)>, k: usize) {
    if items.len() > k && k > 0 {
        items.select_nth_unstable_by(k - 1, best_first);
    }
    items.truncate(k);
}

/// The best `k` of `items`, best first.
pub(super) fn best(mut items: Vec<(f32, usize)>, k: usize) -> Vec<(f32, usize)> {
    keep_best(&mut items, k);
    items.sort_unstable_by(best_first);
    items
}
