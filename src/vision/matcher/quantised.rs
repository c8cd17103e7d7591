//! An int8 copy of the enrolled rows, a quarter of the f32 bytes, with what each row's rounding
//! can cost. A scan of it proves which rows cannot hold the nearest or the runner-up person, so
//! that only the few others are measured in f32, and the answer is the exact one.
//!
//! With r = s·ρ + ε (row codes ρ, scale s, residual ε) and q = t·κ + η (query codes κ, scale t):
//!
//! ```text
//! r·q - s·t·(ρ·κ) = s·ρ·η + ε·q,   so   |r·q - s·t·(ρ·κ)| ≤ (|r| + |ε|)·|η| + |ε|·|q|
//! ```
//!
//! by Cauchy-Schwarz. The residuals are measured, not assumed, so the bound holds whatever the
//! values (even when a code had to be clamped).

use crate::base::identity::DIM;

/// Symmetric int8 levels of a row's codes.
const ROW_LEVELS: f64 = 127.0;

/// int16 levels of the query's codes: its rounding then hardly counts next to the rows'. With
/// 127 × 32767 per product, 128 products stay far inside i32.
const QUERY_LEVELS: f64 = 32767.0;

/// Float rounding, times |r|² + |q|², that may separate the f32 squared distance from the one
/// the codes give, beyond the quantisation: the f32 dot of 128 terms (γ₁₂₈ ≈ 7.7e-6), the few
/// roundings of each formula and of the bound itself (about 6 units of 6e-8). Taken four times
/// over: a looser bound costs nothing but a rare extra row measured.
const ROUNDING: f32 = 3e-5;

/// Codes accumulate in this many i32 lanes, written out one by one: pairs of i8 × i16 summed
/// into i32 is what x86's baseline SSE2 (pmaddwd) does in one instruction, so the loop
/// vectorises without target features (16 lanes: one 16-byte load feeds two of them), and
/// unoptimised test builds run no iterator per code.
const LANES: usize = 16;

/// Rows are scanned this many at a time: their estimates are then worked out side by side,
/// which the compiler vectorises, and tested at once.
const BLOCK: usize = 8;

/// The int8 rows and, per row, what is needed to bound its distance to any query.
#[derive(Clone)]
pub(super) struct QuantisedRows {
    blocks: Vec<Block>,
    /// Rows, without the padding of the last block.
    len: usize,
}

/// `BLOCK` rows, field by field. The last block of a gallery is padded with zero rows, which
/// are never candidates.
#[derive(Clone)]
struct Block {
    codes: [[i8; DIM]; BLOCK],
    scale: [f32; BLOCK],
    /// The f32 squared norms the exact distances use.
    norm: [f32; BLOCK],
    /// Upper bounds of |r| and |ε|.
    length: [f32; BLOCK],
    residual: [f32; BLOCK],
}

/// A query in int16 codes, with the terms every row's estimate shares.
struct Query {
    codes: [i16; DIM],
    /// The f32 squared norm the exact distance uses.
    norm: f32,
    /// 2 × the codes' scale.
    twice_scale: f32,
    /// Per row, the error bound is `length × at_length + residual × at_residual + ROUNDING ×
    /// norm + at_norm`: 2|η|, 2(|η| + |q|) and `ROUNDING` × |q|², with |q| and |η| bounded
    /// from above.
    at_length: f32,
    at_residual: f32,
    at_norm: f32,
}

/// A row the scan could not rule out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) row: usize,
    /// The squared distance the codes give.
    pub(super) approximate: f32,
    lower: f32,
}

/// Upper bounds of the two nearest distinct people seen so far.
struct NearestBounds {
    first: f32,
    first_person: usize,
    second: f32,
}

impl NearestBounds {
    fn offer(&mut self, person: usize, upper: f32) {
        if person == self.first_person {
            self.first = self.first.min(upper);
        } else if upper < self.first {
            self.second = self.first;
            self.first = upper;
            self.first_person = person;
        } else if upper < self.second {
            self.second = upper;
        }
    }

    /// Two people are known to be at most this far, so a row surely farther holds neither the
    /// nearest person's distance nor the runner-up's.
    fn limit(&self) -> f32 {
        self.second.max(0.0)
    }
}

impl QuantisedRows {
    /// `rows` with the f32 squared norms the exact distances use.
    pub(super) fn new<'a>(rows: impl Iterator<Item = (&'a [f32; DIM], f32)>) -> QuantisedRows {
        let mut blocks: Vec<Block> = Vec::new();
        let mut len = 0;
        for (row, norm) in rows {
            let k = len % BLOCK;
            if k == 0 {
                blocks.push(Block::zeros());
            }
            let Some(block) = blocks.last_mut() else {
                continue;
            };
            let (codes, scale, length, residual) = quantise(row, ROW_LEVELS);
            block.codes[k] = codes.map(|c| c as i8);
            block.scale[k] = scale;
            block.norm[k] = norm;
            block.length[k] = length;
            block.residual[k] = residual;
            len += 1;
        }
        QuantisedRows { blocks, len }
    }

    /// Rows that may hold the nearest or the runner-up person (`person_of_row`), in row order;
    /// every other row is surely farther than both. `None` when the query has no codes (not
    /// finite): only an exact scan can answer it.
    pub(super) fn candidates(
        &self,
        query: &[f32; DIM],
        query_norm: f32,
        person_of_row: &[usize],
    ) -> Option<Vec<Candidate>> {
        let query = Query::new(query, query_norm)?;
        let mut nearest = NearestBounds {
            first: f32::INFINITY,
            first_person: usize::MAX,
            second: f32::INFINITY,
        };
        let mut limit = nearest.limit();
        let mut found = Vec::new();
        for (index, block) in self.blocks.iter().enumerate() {
            let (approximate, error) = block.estimates(&query);
            let lower: [f32; BLOCK] = std::array::from_fn(|k| approximate[k] - error[k]);
            if !lower.iter().any(|&lower| may_be_within(lower, limit)) {
                continue;
            }
            let rows = (index * BLOCK..self.len).zip(approximate.into_iter().zip(error));
            for (row, (approximate, error)) in rows {
                let lower = approximate - error;
                if may_be_within(lower, limit) {
                    nearest.offer(person_of_row[row], approximate + error);
                    limit = nearest.limit();
                    found.push(Candidate {
                        row,
                        approximate,
                        lower,
                    });
                }
            }
        }
        found.retain(|c| may_be_within(c.lower, limit));
        Some(found)
    }
}

/// Whether a row whose distance is at least `lower` may be within `limit`: a NaN bound proves
/// nothing, so it keeps the row.
fn may_be_within(lower: f32, limit: f32) -> bool {
    lower <= limit || lower.is_nan()
}

impl Block {
    fn zeros() -> Block {
        Block {
            codes: [[0; DIM]; BLOCK],
            scale: [0.0; BLOCK],
            norm: [0.0; BLOCK],
            length: [0.0; BLOCK],
            residual: [0.0; BLOCK],
        }
    }

    /// For each row, the squared distance to `query` its codes give, and how far from it the
    /// f32 one may be.
    fn estimates(&self, query: &Query) -> ([f32; BLOCK], [f32; BLOCK]) {
        let products: [f32; BLOCK] =
            std::array::from_fn(|k| dot(&self.codes[k], &query.codes) as f32);
        let approximate = std::array::from_fn(|k| {
            self.norm[k] + query.norm - query.twice_scale * self.scale[k] * products[k]
        });
        let error = std::array::from_fn(|k| {
            self.length[k] * query.at_length
                + self.residual[k] * query.at_residual
                + ROUNDING * self.norm[k]
                + query.at_norm
        });
        (approximate, error)
    }
}

impl Query {
    fn new(query: &[f32; DIM], norm: f32) -> Option<Query> {
        if !query.iter().all(|x| x.is_finite()) {
            return None;
        }
        let (codes, scale, length, residual) = quantise(query, QUERY_LEVELS);
        Some(Query {
            codes: codes.map(|c| c as i16),
            norm,
            twice_scale: 2.0 * scale,
            at_length: 2.0 * residual,
            at_residual: 2.0 * (residual + length),
            at_norm: ROUNDING * norm,
        })
    }
}

/// Codes in ±`levels` with one scale, and upper bounds of |v| and of the residual
/// |v - scale·codes|, measured in f64. A vector that is not finite gets infinite bounds.
fn quantise(v: &[f32; DIM], levels: f64) -> ([i32; DIM], f32, f32, f32) {
    let mut codes = [0i32; DIM];
    if !v.iter().all(|x| x.is_finite()) {
        return (codes, 0.0, f32::INFINITY, f32::INFINITY);
    }
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = (f64::from(max) / levels) as f32;
    let (mut length, mut residual) = (0f64, 0f64);
    for (code, &x) in codes.iter_mut().zip(v) {
        let x = f64::from(x);
        if scale > 0.0 {
            *code = (x / f64::from(scale)).round().clamp(-levels, levels) as i32;
        }
        let error = x - f64::from(scale) * f64::from(*code);
        length += x * x;
        residual += error * error;
    }
    (
        codes,
        scale,
        round_up(length.sqrt()),
        round_up(residual.sqrt()),
    )
}

/// An f32 no smaller than `x`, which f64 sums computed to within far less than 1e-6.
fn round_up(x: f64) -> f32 {
    (x * (1.0 + 1e-6)) as f32
}

/// ρ·κ, in the shape that vectorises (see [`LANES`]).
fn dot(row: &[i8; DIM], query: &[i16; DIM]) -> i32 {
    let (row, _) = row.as_chunks::<LANES>();
    let (query, _) = query.as_chunks::<LANES>();
    let mut p = [0i32; LANES];
    for (r, q) in row.iter().zip(query) {
        p[0] += i32::from(r[0]) * i32::from(q[0]);
        p[1] += i32::from(r[1]) * i32::from(q[1]);
        p[2] += i32::from(r[2]) * i32::from(q[2]);
        p[3] += i32::from(r[3]) * i32::from(q[3]);
        p[4] += i32::from(r[4]) * i32::from(q[4]);
        p[5] += i32::from(r[5]) * i32::from(q[5]);
        p[6] += i32::from(r[6]) * i32::from(q[6]);
        p[7] += i32::from(r[7]) * i32::from(q[7]);
        p[8] += i32::from(r[8]) * i32::from(q[8]);
        p[9] += i32::from(r[9]) * i32::from(q[9]);
        p[10] += i32::from(r[10]) * i32::from(q[10]);
        p[11] += i32::from(r[11]) * i32::from(q[11]);
        p[12] += i32::from(r[12]) * i32::from(q[12]);
        p[13] += i32::from(r[13]) * i32::from(q[13]);
        p[14] += i32::from(r[14]) * i32::from(q[14]);
        p[15] += i32::from(r[15]) * i32::from(q[15]);
    }
    (p[0] + p[1] + p[2] + p[3])
        + (p[4] + p[5] + p[6] + p[7])
        + (p[8] + p[9] + p[10] + p[11])
        + (p[12] + p[13] + p[14] + p[15])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::matcher::{dot as exact_dot, squared_distance};

    /// Vectors of many shapes: unit-ish, spiky, scaled up and down, and with exact zeros.
    fn vectors(count: usize) -> Vec<[f32; DIM]> {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..count)
            .map(|i| {
                let mut v: [f32; DIM] = std::array::from_fn(|_| next());
                match i % 5 {
                    0 => v[i % DIM] = 3.0,
                    1 => v.iter_mut().for_each(|x| *x *= 1e-3),
                    2 => v.iter_mut().for_each(|x| *x *= 1e3),
                    3 => v[..DIM / 2].iter_mut().for_each(|x| *x = 0.0),
                    _ => {}
                }
                let norm = exact_dot(&v, &v).sqrt();
                if i % 5 == 4 { v.map(|x| x / norm) } else { v }
            })
            .collect()
    }

    #[test]
    fn the_f32_distance_is_always_within_the_bound_and_the_bound_is_tight() {
        let rows = vectors(203);
        let norms: Vec<f32> = rows.iter().map(|r| exact_dot(r, r)).collect();
        let quantised = QuantisedRows::new(rows.iter().zip(norms.iter().copied()));
        assert_eq!((quantised.len, quantised.blocks.len()), (203, 26));
        for (i, q) in vectors(50).iter().enumerate() {
            let query_norm = exact_dot(q, q);
            let query = Query::new(q, query_norm).unwrap();
            let estimates = quantised.blocks.iter().flat_map(|block| {
                let (approximate, error) = block.estimates(&query);
                approximate.into_iter().zip(error)
            });
            for (r, (approximate, error)) in estimates.take(rows.len()).enumerate() {
                let exact = squared_distance(norms[r], query_norm, exact_dot(&rows[r], q));
                let (lower, upper) = (approximate - error, (approximate + error).max(0.0));
                assert!(
                    lower <= exact && exact <= upper,
                    "row {r}, query {i}: {exact} is not {approximate} ± {error}"
                );
                // Unit vectors like real embeddings are 0 to 2 apart: this narrow a bound leaves
                // few rows to measure.
                if r % 5 == 4 && i % 5 == 4 {
                    assert!(error < 0.02, "row {r}, query {i}: ± {error}");
                }
            }
        }
    }
}
