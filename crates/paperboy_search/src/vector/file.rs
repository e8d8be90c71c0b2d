//! The vectors' files: `rows.bin`'s fixed-size records and `meta.json`, which says how many of them
//! are committed. Vectors are stored in IEEE half precision (round to nearest even): components of
//! unit vectors lie in [-1, 1], where it keeps about three decimal digits.

use std::{fs::File, path::Path};

use half::{f16, slice::HalfFloatSliceExt};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The longest key a record holds, in bytes.
const KEY_BYTES: usize = 47;
/// The version of the files' layout. Version 1's `seq` was the store's paper sequence number (the
/// vectors were made here); version 2's is the embeddings' (the vectors follow the store's).
pub(super) const FORMAT: u32 = 2;

/// `meta.json`: what the records are and how many are committed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct Meta {
    pub(super) format: u32,
    pub(super) model: String,
    pub(super) dimension: usize,
    pub(super) records: u64,
    pub(super) seq: i64,
}

impl Meta {
    /// The bytes of one record of this index.
    pub(super) fn record_size(&self) -> usize {
        VECTOR_AT + 2 * self.dimension
    }
}

/// Where in a record the vector starts.
pub(super) const VECTOR_AT: usize = 1 + KEY_BYTES + 8;

/// Reads `meta.json` of `dir`, if there is one.
pub(super) fn read_meta(dir: &Path) -> Result<Option<Meta>> {
    let path = dir.join("meta.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Index(format!("{} is unreadable: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { path: path.display().to_string(), source }),
    }
}

/// Replaces `meta.json` of `dir` atomically (written, synced, renamed).
pub(super) fn write_meta(dir: &Path, meta: &Meta) -> Result<()> {
    let path = dir.join("meta.json");
    let temporary = dir.join("meta.json.tmp");
    let text = serde_json::to_string_pretty(meta).expect("meta serialises");
    std::fs::write(&temporary, text).map_err(|source| Error::Io { path: temporary.display().to_string(), source })?;
    File::open(&temporary)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io { path: temporary.display().to_string(), source })?;
    std::fs::rename(&temporary, &path).map_err(|source| Error::Io { path: path.display().to_string(), source })
}

/// Writes a record: `[key length: u8][key: 47 bytes][text hash: u64 LE][vector: f16 × d]`.
pub(super) fn encode_record(record: &mut [u8], key: &str, hash: u64, vector: &[f32]) -> Result<()> {
    if key.is_empty() || key.len() > KEY_BYTES {
        return Err(Error::Input(format!("the key {key:?} is empty or longer than {KEY_BYTES} bytes")));
    }
    record.fill(0);
    record[0] = key.len() as u8;
    record[1..1 + key.len()].copy_from_slice(key.as_bytes());
    record[1 + KEY_BYTES..VECTOR_AT].copy_from_slice(&hash.to_le_bytes());
    for (value, bytes) in vector.iter().zip(record[VECTOR_AT..].chunks_exact_mut(2)) {
        bytes.copy_from_slice(&f16::from_f32(*value).to_le_bytes());
    }
    Ok(())
}

/// A record's key and text hash.
pub(super) fn decode_header(record: &[u8]) -> Result<(String, u64)> {
    let len = record[0] as usize;
    if len == 0 || len > KEY_BYTES {
        return Err(Error::Index("a vector record is corrupt (bad key length)".into()));
    }
    let key = std::str::from_utf8(&record[1..1 + len])
        .map_err(|_| Error::Index("a vector record is corrupt (key)".into()))?;
    let hash = u64::from_le_bytes(record[1 + KEY_BYTES..VECTOR_AT].try_into().expect("8 bytes"));
    Ok((key.to_owned(), hash))
}

/// Decodes a record's vector bytes into `out`.
pub(super) fn decode_vector(bytes: &[u8], out: &mut [f32]) {
    for (value, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *value = f16::from_le_bytes([pair[0], pair[1]]).to_f32();
    }
}

/// A vector as stored: half precision, little-endian (the export format uses it too).
pub fn encode_f16(vector: &[f32]) -> Vec<u8> {
    let mut halves = vec![f16::ZERO; vector.len()];
    halves.convert_from_f32_slice(vector);
    halves.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// A vector from its stored bytes ([`encode_f16`]).
pub fn decode_f16(bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; bytes.len() / 2];
    decode_vector(bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips_closely() {
        let values = [0.0f32, 1.0, -1.0, 0.123_456, -0.000_123, 65504.0, 1e-7];
        for (value, back) in values.iter().zip(decode_f16(&encode_f16(&values))) {
            assert!((back - value).abs() <= value.abs() * 1e-3 + 1e-7, "{value} -> {back}");
        }
    }
}
