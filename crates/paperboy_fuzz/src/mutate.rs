//! Inputs made from seeds: a deterministic generator and the mutations a fuzzer makes (bit flips,
//! cuts, repeats, splices, a target's own tokens, deep nesting, huge sizes).

/// SplitMix64: small, fast, and the same stream for the same seed on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one input: the run's seed, the target and the input's number, so that any
    /// input can be made again on its own (`--from`).
    pub fn for_input(seed: u64, target: &str, index: u64) -> Rng {
        let name =
            target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3));
        Rng(seed ^ name ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Makes an input from `seeds`: a seed as it is, or with one to eight mutations. `tokens` are the
/// target's syntax (operators, tags, TeX commands) that random bytes rarely hit.
pub fn input(rng: &mut Rng, seeds: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut data = rng.pick(seeds).clone();
    if rng.below(16) == 0 {
        return data;
    }
    for _ in 0..1 + rng.below(8) {
        mutate(rng, &mut data, seeds, tokens);
    }
    data
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], tokens: &[&str]) {
    let at = |rng: &mut Rng, data: &Vec<u8>| rng.below(data.len() + 1);
    match rng.below(11) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.next_u64() as u8;
        }
        2 if !data.is_empty() => {
            let start = rng.below(data.len());
            let len = 1 + rng.below((data.len() - start).min(64));
            data.drain(start..start + len);
        }
        3 | 4 => {
            let token = rng.pick(tokens).as_bytes().to_vec();
            let i = at(rng, data);
            data.splice(i..i, token);
        }
        5 => {
            // Another seed's piece, spliced in.
            let other = rng.pick(seeds);
            if !other.is_empty() {
                let start = rng.below(other.len());
                let len = 1 + rng.below((other.len() - start).min(256));
                let i = at(rng, data);
                data.splice(i..i, other[start..start + len].iter().copied());
            }
        }
        6 if !data.is_empty() => {
            // A piece repeated: long runs, nesting from a seed's own brackets or tags.
            let start = rng.below(data.len());
            let len = 1 + rng.below((data.len() - start).min(32));
            let piece = data[start..start + len].to_vec();
            let most = if rng.below(8) == 0 { 5_000 } else { 16 };
            let times = 1 + rng.below(most);
            let i = at(rng, data);
            data.splice(i..i, piece.iter().copied().cycle().take(piece.len() * times));
        }
        7 => {
            // Deep nesting of one of the target's tokens (an opening tag, a brace, a parenthesis).
            let token = rng.pick(tokens).as_bytes().to_vec();
            let most = if rng.below(4) == 0 { 100_000 } else { 64 };
            let times = 1 + rng.below(most);
            let i = at(rng, data);
            data.splice(i..i, token.iter().copied().cycle().take(token.len() * times));
        }
        8 if !data.is_empty() => data.truncate(rng.below(data.len())),
        9 => {
            // A character outside ASCII, or a control character.
            let chars =
                ["\u{0}", "\u{7}", "\r\n", "\u{200b}", "\u{202e}", "é", "\u{fffd}", "\u{1f600}", "\t", "\u{85}"];
            let i = at(rng, data);
            let s = rng.pick(&chars).as_bytes().to_vec();
            data.splice(i..i, s);
        }
        _ => {
            let i = at(rng, data);
            data.insert(i, rng.next_u64() as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_can_be_made_again_one_by_one() {
        let seeds = vec![b"diffusion (policy) au:\"A B\"".to_vec()];
        let make = |i| input(&mut Rng::for_input(7, "query", i), &seeds, &["(", ")"]);
        let first: Vec<Vec<u8>> = (0..100).map(make).collect();
        assert_eq!(first, (0..100).map(make).collect::<Vec<_>>());
        assert!(first.iter().any(|i| i != &seeds[0]), "mutations happen");
        assert_ne!(make(1), input(&mut Rng::for_input(7, "xml", 1), &seeds, &["("]), "targets differ");
    }
}
