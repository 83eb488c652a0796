//! Duplicate keys: 128-bit fingerprints of `unique` values in a flat open-addressing set, and,
//! once that set reaches its memory budget, hash-bucket spill files resolved between two passes
//! over the input, so that memory stays bounded whatever the number of rows.
//!
//! Exactness: two different values share a fingerprint with probability about n² / 2¹²⁹ for n
//! distinct values (about 6·10⁻²⁵ for 20 million ids), far below any hardware error rate; a
//! legitimate row is never rejected for any other reason.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A 128-bit fingerprint of a unique key (two 64-bit multiply-mix lanes with different
/// constants, finished with the murmur3 mixer); colliding keys are vanishingly unlikely.
#[inline]
pub fn fingerprint(v: &[u8]) -> u128 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let (mut a, mut b) = (v.len() as u64 ^ K2, v.len() as u64 ^ K1);
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        a = (a ^ w).wrapping_mul(K1).rotate_left(29);
        b = (b ^ w.rotate_left(17)).wrapping_mul(K2).rotate_left(31);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let w = u64::from_le_bytes(tail);
    a = (a ^ w).wrapping_mul(K1).rotate_left(29);
    b = (b ^ w.rotate_left(17)).wrapping_mul(K2).rotate_left(31);
    ((fmix(a ^ b.rotate_left(7)) as u128) << 64) | fmix(b ^ a.rotate_left(13)) as u128
}

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A set of fingerprints: linear probing over a power-of-two table of 16-byte slots (0 marks
/// an empty slot; the fingerprint 0 is kept aside), at most 5/8 full.
#[derive(Debug, Clone)]
pub struct FingerprintSet {
    slots: Vec<u128>,
    mask: usize,
    len: usize,
    has_zero: bool,
}

impl Default for FingerprintSet {
    fn default() -> Self {
        FingerprintSet { slots: vec![0; 1024], mask: 1023, len: 0, has_zero: false }
    }
}

impl FingerprintSet {
    #[inline]
    fn slot(&self, fp: u128) -> usize {
        ((fp >> 64) as u64 as usize) & self.mask
    }

    /// Number of fingerprints held.
    pub fn len(&self) -> usize {
        self.len + self.has_zero as usize
    }

    /// Asks the CPU to fetch the slot of `fp` ahead of a lookup (hides the cache miss).
    #[inline]
    pub fn prefetch(&self, fp: u128) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = self.slots.as_ptr().wrapping_add(self.slot(fp)) as *const i8;
            // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address.
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fp;
    }

    /// Whether `fp` is in the set.
    #[inline]
    pub fn contains(&self, fp: u128) -> bool {
        if fp == 0 {
            return self.has_zero;
        }
        let mut i = self.slot(fp);
        loop {
            let s = self.slots[i];
            if s == fp {
                return true;
            }
            if s == 0 {
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `fp`.
    #[inline]
    pub fn insert(&mut self, fp: u128) {
        if fp == 0 {
            self.has_zero = true;
            return;
        }
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        let mut i = self.slot(fp);
        loop {
            let s = self.slots[i];
            if s == fp {
                return;
            }
            if s == 0 {
                self.slots[i] = fp;
                self.len += 1;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.mask = self.slots.len() - 1;
        for fp in old.into_iter().filter(|&s| s != 0) {
            let mut i = self.slot(fp);
            while self.slots[i] != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = fp;
        }
    }
}

/// Spill buckets (top bits of the fingerprint pick one of them).
const BUCKET_BITS: u32 = 7;
const ENTRY: usize = 24;
const OK_BIT: u64 = 1 << 63;

/// The unique keys of the rows after the budget was reached, spilled to temporary files as
/// (fingerprint, row, otherwise-valid) in row order, one file per hash bucket.
pub struct Spill {
    files: Vec<BufWriter<File>>,
    first_row: u64,
    end_row: u64,
}

impl Spill {
    /// Anonymous temporary files in `dir` (removed by the OS when closed), for rows from
    /// `first_row` on.
    pub fn new(dir: &Path, first_row: u64) -> std::io::Result<Self> {
        let files = (0..1 << BUCKET_BITS)
            .map(|_| tempfile::tempfile_in(dir).map(|f| BufWriter::with_capacity(16 * 1024, f)))
            .collect::<std::io::Result<_>>()?;
        Ok(Spill { files, first_row, end_row: first_row })
    }

    /// Records the key of `row` (rows come in increasing order); `ok` when the row has no
    /// other defect, so that it is accepted unless an earlier accepted row has the same key.
    pub fn push(&mut self, fp: u128, row: u64, ok: bool) -> std::io::Result<()> {
        let mut e = [0u8; ENTRY];
        e[..16].copy_from_slice(&fp.to_le_bytes());
        e[16..].copy_from_slice(&(row | if ok { OK_BIT } else { 0 }).to_le_bytes());
        self.end_row = row + 1;
        self.files[(fp >> (128 - BUCKET_BITS)) as usize].write_all(&e)
    }

    /// Marks the rows whose key an earlier accepted spilled row already has, bucket by bucket
    /// (one bucket in memory at a time). `end_row`: one past the last row of the file.
    pub fn resolve(self, end_row: u64) -> std::io::Result<DupRows> {
        let mut dups = DupRows::new(self.first_row, end_row.max(self.end_row));
        let mut buf = Vec::new();
        let mut entries: Vec<(u128, u64)> = Vec::new();
        for w in self.files {
            let mut f = w.into_inner().map_err(|e| e.into_error())?;
            f.seek(SeekFrom::Start(0))?;
            buf.clear();
            f.read_to_end(&mut buf)?;
            entries.clear();
            entries.extend(buf.chunks_exact(ENTRY).map(|e| {
                (
                    u128::from_le_bytes(e[..16].try_into().expect("16 bytes")),
                    u64::from_le_bytes(e[16..].try_into().expect("8 bytes")),
                )
            }));
            // Rows of a bucket were written in increasing order: a stable sort by key keeps it.
            entries.sort_by_key(|e| e.0);
            let mut i = 0;
            while i < entries.len() {
                let fp = entries[i].0;
                let mut accepted = false;
                while i < entries.len() && entries[i].0 == fp {
                    let (row, ok) = (entries[i].1 & !OK_BIT, entries[i].1 & OK_BIT != 0);
                    if accepted {
                        dups.set(row);
                    } else if ok {
                        accepted = true;
                    }
                    i += 1;
                }
            }
        }
        Ok(dups)
    }
}

/// One bit per row from `first_row`: whether the row repeats the key of an earlier accepted row.
#[derive(Debug, Default)]
pub struct DupRows {
    first_row: u64,
    bits: Vec<u64>,
}

impl DupRows {
    fn new(first_row: u64, end_row: u64) -> Self {
        DupRows { first_row, bits: vec![0; (end_row.saturating_sub(first_row) as usize).div_ceil(64)] }
    }

    fn set(&mut self, row: u64) {
        let i = (row - self.first_row) as usize;
        self.bits[i / 64] |= 1 << (i % 64);
    }

    /// Whether `row` is marked.
    #[inline]
    pub fn get(&self, row: u64) -> bool {
        let Some(i) = row.checked_sub(self.first_row) else { return false };
        let i = i as usize;
        self.bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_holds_what_was_inserted_across_growth_including_zero() {
        let mut s = FingerprintSet::default();
        for i in 0..10_000u128 {
            s.insert(fingerprint(&i.to_le_bytes()));
        }
        s.insert(0);
        assert_eq!(s.len(), 10_001);
        assert!((0..10_000u128).all(|i| s.contains(fingerprint(&i.to_le_bytes()))));
        assert!(s.contains(0));
        assert!(!(10_000..20_000u128).any(|i| s.contains(fingerprint(&i.to_le_bytes()))));
    }

    #[test]
    fn spilled_keys_mark_every_repeat_after_the_first_accepted_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(dir.path(), 10).unwrap();
        let (a, b) = (fingerprint(b"a"), fingerprint(b"b"));
        // row 10: a but invalid; 11: a accepted; 12: a dup; 13: b; 14: a dup (invalid too).
        for (row, fp, ok) in [(10, a, false), (11, a, true), (12, a, true), (13, b, true), (14, a, false)] {
            spill.push(fp, row, ok).unwrap();
        }
        let dups = spill.resolve(16).unwrap();
        let marked: Vec<u64> = (0..20).filter(|&r| dups.get(r)).collect();
        assert_eq!(marked, vec![12, 14]);
    }
}
