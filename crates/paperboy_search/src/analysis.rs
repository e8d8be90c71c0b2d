//! Text analysis pieces tantivy lacks: stop-word removal and stemming in one filter that remembers
//! its answers.
//!
//! Stemming was a quarter of ingest time (profiled on the 72k-paper corpus): the same few thousand
//! words recur in every abstract, and the Snowball algorithm runs again each time. A per-tokenizer
//! cache (with a fast non-cryptographic hash: the keys are our own tokens) makes a repeat word one
//! look-up, and the stop-word test rides along in the same look-up.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// The cache is dropped when it holds this many words (arXiv's vocabulary per field is a few
/// hundred thousand words; the bound keeps memory predictable on odd inputs).
const MAX_CACHED_WORDS: usize = 200_000;

/// FNV-1a: fast for short keys, and the keys (tokens) are not attacker-chosen in bulk.
#[derive(Default)]
pub struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type Cache = HashMap<String, Option<String>, BuildHasherDefault<FnvHasher>>;

/// Drops stop words and stems the rest with Snowball, caching both answers per word. Tokens must
/// be lower-cased before it.
#[derive(Clone, Copy)]
pub struct CachedStemmer {
    algorithm: frostem::Algorithm,
    stop_words: &'static [&'static str],
}

impl CachedStemmer {
    /// A stemmer for `algorithm` (paperboy uses `English`, Snowball's Porter2) that drops
    /// `stop_words`.
    pub fn new(algorithm: frostem::Algorithm, stop_words: &'static [&'static str]) -> CachedStemmer {
        CachedStemmer { algorithm, stop_words }
    }
}

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            algorithm: self.algorithm,
            stop_words: self.stop_words,
            inner: tokenizer,
            cache: Cache::default(),
        }
    }
}

/// The tokenizer a [`CachedStemmer`] wraps around.
pub struct CachedStemmerFilter<T> {
    algorithm: frostem::Algorithm,
    stop_words: &'static [&'static str],
    inner: T,
    cache: Cache,
}

impl<T: Clone> Clone for CachedStemmerFilter<T> {
    /// Each clone (one per indexing thread) starts with its own empty cache.
    fn clone(&self) -> Self {
        CachedStemmerFilter {
            algorithm: self.algorithm,
            stop_words: self.stop_words,
            inner: self.inner.clone(),
            cache: Cache::default(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        if self.cache.len() > MAX_CACHED_WORDS {
            self.cache.clear();
        }
        let CachedStemmerFilter { algorithm, stop_words, inner, cache } = self;
        CachedStemmerStream {
            tail: inner.token_stream(text),
            stemmer: frostem::Stemmer::new(*algorithm),
            stop_words,
            cache,
        }
    }
}

/// The stream of stemmed tokens.
pub struct CachedStemmerStream<'a, S> {
    tail: S,
    stemmer: frostem::Stemmer,
    stop_words: &'static [&'static str],
    cache: &'a mut Cache,
}

impl<S: TokenStream> TokenStream for CachedStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        while self.tail.advance() {
            let token = self.tail.token_mut();
            let stem = match self.cache.get(&token.text) {
                Some(cached) => cached.as_deref(),
                None => {
                    let stem = (!self.stop_words.contains(&token.text.as_str()))
                        .then(|| self.stemmer.stem(&token.text).into_owned());
                    self.cache.entry(token.text.clone()).or_insert(stem).as_deref()
                }
            };
            if let Some(stem) = stem {
                if *stem != token.text {
                    token.text.clear();
                    token.text.push_str(stem);
                }
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer};

    use super::*;

    fn stems(text: &str) -> Vec<String> {
        let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(CachedStemmer::new(frostem::Algorithm::English, &["the", "of"]))
            .build();
        let mut out = Vec::new();
        for _ in 0..2 {
            // The second pass is answered from the cache and must agree.
            let mut stream = analyzer.token_stream(text);
            out.clear();
            while let Some(token) = stream.next() {
                out.push(token.text.clone());
            }
        }
        out
    }

    #[test]
    fn stems_match_snowball_english_from_the_cache_too() {
        assert_eq!(stems("The degeneration of degenerates running Policies"), ["degener", "degener", "run", "polici"]);
    }
}
