//! An int8 copy of the enrolled rows, a quarter of the f32 bytes, with what each row's rounding
//! can cost. A scan of it proves which rows cannot hold the nearest or the runner-up person
//! within reach (the widest threshold and a little more), so that only the few others are
//! measured in f32, and the answer is the exact one within reach.
//!
//! With r = s·ρ + ε (row codes ρ, scale s, residual ε) and q = t·κ + η (query codes κ, scale t):
//!
//! ```text
//! r·q - s·t·(ρ·κ) = s·ρ·η + ε·q,   so   |r·q - s·t·(ρ·κ)| ≤ (|r| + |ε|)·|η| + |ε|·|q|
//! ```
//!
//! by Cauchy-Schwarz. The residuals are measured, not assumed, so the bound holds whatever the
//! values (even when a code had to be clamped).
//!
//! Most rows are ruled out before their codes are read whole: the distance over any set of dims
//! is at most the whole distance, and over the head (the [`HEAD`] dims along which the gallery
//! spread most when built) the triangle inequality gives
//!
//! ```text
//! |q_H - r_H| ≥ |t·κ_H - s·ρ_H| - |η_H| - |ε_H|
//! ```
//!
//! A stranger, far from every row, is ruled out by the head alone, as a face of an enrolled
//! person is everywhere but near that person: neither measures more than a few rows, so a
//! stranger costs what a friend does.

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

/// Relative rounding of the head's bound after its square root (a few units of 6e-8), taken
/// many times over.
const HEAD_ROUNDING: f32 = 1e-5;

/// Dims whose codes are read first: on uniformly spread unit vectors the head's squared
/// distance is about half the whole one (0.5 of a stranger's typical 2.0 for 64 of 128 dims),
/// far beyond the 0.7² of the reach, so nearly every row is ruled out by half its bytes.
pub(super) const HEAD: usize = 64;

const TAIL: usize = DIM - HEAD;

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
    /// The dims in the order the codes hold them: the gallery's widest spread first, so the
    /// head rules out the most.
    order: [usize; DIM],
    /// The heads of the blocks, apart from their tails: a scan that rules a block out by its
    /// head reads none of the tail's bytes.
    heads: Vec<Head>,
    tails: Vec<Tail>,
    /// Rows, without the padding of the last block.
    len: usize,
}

/// `BLOCK` rows' head codes and what bounds their distance over the head, field by field. The
/// last block of a gallery is padded with zero rows, which are never candidates.
#[derive(Clone)]
struct Head {
    codes: [[i8; HEAD]; BLOCK],
    scale: [f32; BLOCK],
    /// The f32 squared norms the exact distances use.
    norm: [f32; BLOCK],
    /// s²·|ρ_H|², and an upper bound of |ε_H|.
    square: [f32; BLOCK],
    residual: [f32; BLOCK],
}

/// The rest of `BLOCK` rows' codes, and the bounds of their whole rows.
#[derive(Clone)]
struct Tail {
    codes: [[i8; TAIL]; BLOCK],
    /// Upper bounds of |r| and |ε|.
    length: [f32; BLOCK],
    residual: [f32; BLOCK],
}

/// A query in int16 codes, in the rows' order of dims, with the terms every row's estimate
/// shares.
struct Query {
    head: [i16; HEAD],
    tail: [i16; TAIL],
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
    /// t²·|κ_H|², and an upper bound of |η_H|.
    head_square: f32,
    head_residual: f32,
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
    /// `rows` with the f32 squared norms the exact distances use; the head is the dims along
    /// which these rows spread most.
    pub(super) fn new<'a>(
        rows: impl Iterator<Item = (&'a [f32; DIM], f32)> + Clone,
    ) -> QuantisedRows {
        let mut quantised = QuantisedRows {
            order: widest_first(rows.clone().map(|(row, _)| row)),
            heads: Vec::new(),
            tails: Vec::new(),
            len: 0,
        };
        let blocks = rows.size_hint().0.div_ceil(BLOCK);
        quantised.heads.reserve(blocks);
        quantised.tails.reserve(blocks);
        for (row, norm) in rows {
            quantised.push(row, norm);
        }
        quantised
    }

    /// One more row, after the others; the head stays the dims chosen when built.
    pub(super) fn push(&mut self, row: &[f32; DIM], norm: f32) {
        let k = self.len % BLOCK;
        if k == 0 {
            self.heads.push(Head::zeros());
            self.tails.push(Tail::zeros());
        }
        let (Some(head), Some(tail)) = (self.heads.last_mut(), self.tails.last_mut()) else {
            return;
        };
        let q = quantise(&permute(row, &self.order), ROW_LEVELS);
        for (code, &c) in head.codes[k].iter_mut().zip(&q.codes[..HEAD]) {
            *code = c as i8;
        }
        for (code, &c) in tail.codes[k].iter_mut().zip(&q.codes[HEAD..]) {
            *code = c as i8;
        }
        head.scale[k] = q.scale;
        head.norm[k] = norm;
        head.square[k] = q.head_square;
        head.residual[k] = q.head_residual;
        tail.length[k] = q.length;
        tail.residual[k] = q.residual;
        self.len += 1;
    }

    /// Rows that may hold the nearest or the runner-up person within `reach` (a squared
    /// distance), in row order; every other row is surely farther than both, or than `reach`.
    /// `None` when the query has no codes (not finite): only an exact scan can answer it.
    pub(super) fn candidates(
        &self,
        query: &[f32; DIM],
        query_norm: f32,
        person_of_row: &[usize],
        reach: f32,
    ) -> Option<Vec<Candidate>> {
        let query = Query::new(&permute(query, &self.order), query_norm)?;
        let mut nearest = NearestBounds {
            first: f32::INFINITY,
            first_person: usize::MAX,
            second: f32::INFINITY,
        };
        let mut limit = reach;
        let mut found = Vec::new();
        for (index, (head, tail)) in self.heads.iter().zip(&self.tails).enumerate() {
            let lower = head.lower_bounds(&query);
            if !lower.iter().any(|&lower| may_be_within(lower, limit)) {
                continue;
            }
            let (approximate, error) = head.estimates(tail, &query);
            let rows = (index * BLOCK..self.len).zip(approximate.into_iter().zip(error));
            for (row, (approximate, error)) in rows {
                let lower = approximate - error;
                if may_be_within(lower, limit) {
                    nearest.offer(person_of_row[row], approximate + error);
                    limit = nearest.limit().min(reach);
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

/// The dims by how much `rows` vary along them, most first (ties by dim): the identity order
/// for no rows.
fn widest_first<'a>(rows: impl Iterator<Item = &'a [f32; DIM]>) -> [usize; DIM] {
    let (mut sum, mut square, mut count) = ([0f64; DIM], [0f64; DIM], 0f64);
    for row in rows.filter(|row| row.iter().all(|x| x.is_finite())) {
        for ((s, q), &x) in sum.iter_mut().zip(square.iter_mut()).zip(row) {
            *s += f64::from(x);
            *q += f64::from(x) * f64::from(x);
        }
        count += 1.0;
    }
    let variance: [f64; DIM] =
        std::array::from_fn(|d| square[d] / count.max(1.0) - (sum[d] / count.max(1.0)).powi(2));
    let mut order: [usize; DIM] = std::array::from_fn(|d| d);
    order.sort_by(|&a, &b| variance[b].total_cmp(&variance[a]).then(a.cmp(&b)));
    order
}

/// `v`'s values in `order`.
fn permute(v: &[f32; DIM], order: &[usize; DIM]) -> [f32; DIM] {
    std::array::from_fn(|d| v[order[d]])
}

impl Head {
    fn zeros() -> Head {
        Head {
            codes: [[0; HEAD]; BLOCK],
            scale: [0.0; BLOCK],
            norm: [0.0; BLOCK],
            square: [0.0; BLOCK],
            residual: [0.0; BLOCK],
        }
    }

    /// For each row, a squared distance to `query` that the f32 one is surely no less than,
    /// from the head alone.
    fn lower_bounds(&self, query: &Query) -> [f32; BLOCK] {
        let products: [f32; BLOCK] =
            std::array::from_fn(|k| dot(&self.codes[k], &query.head) as f32);
        std::array::from_fn(|k| {
            let sum = self.square[k] + query.head_square;
            // |t·κ_H - s·ρ_H|², less what rounding may have added.
            let codes = sum - query.twice_scale * self.scale[k] * products[k] - ROUNDING * sum;
            let apart = (codes.max(0.0).sqrt() - self.residual[k] - query.head_residual).max(0.0);
            apart * apart * (1.0 - HEAD_ROUNDING) - ROUNDING * (self.norm[k] + query.norm)
        })
    }

    /// For each row, the squared distance to `query` its codes give, and how far from it the
    /// f32 one may be.
    fn estimates(&self, tail: &Tail, query: &Query) -> ([f32; BLOCK], [f32; BLOCK]) {
        let products: [f32; BLOCK] = std::array::from_fn(|k| {
            (dot(&self.codes[k], &query.head) + dot(&tail.codes[k], &query.tail)) as f32
        });
        let approximate = std::array::from_fn(|k| {
            self.norm[k] + query.norm - query.twice_scale * self.scale[k] * products[k]
        });
        let error = std::array::from_fn(|k| {
            tail.length[k] * query.at_length
                + tail.residual[k] * query.at_residual
                + ROUNDING * self.norm[k]
                + query.at_norm
        });
        (approximate, error)
    }
}

impl Tail {
    fn zeros() -> Tail {
        Tail {
            codes: [[0; TAIL]; BLOCK],
            length: [0.0; BLOCK],
            residual: [0.0; BLOCK],
        }
    }
}

impl Query {
    /// `query` in the rows' order of dims, with its f32 squared norm.
    fn new(query: &[f32; DIM], norm: f32) -> Option<Query> {
        if !query.iter().all(|x| x.is_finite()) {
            return None;
        }
        let q = quantise(query, QUERY_LEVELS);
        Some(Query {
            head: std::array::from_fn(|d| q.codes[d] as i16),
            tail: std::array::from_fn(|d| q.codes[HEAD + d] as i16),
            norm,
            twice_scale: 2.0 * q.scale,
            at_length: 2.0 * q.residual,
            at_residual: 2.0 * (q.residual + q.length),
            at_norm: ROUNDING * norm,
            head_square: q.head_square,
            head_residual: q.head_residual,
        })
    }
}

/// A vector in codes of one scale, with upper bounds of |v| and of the residual
/// |v - scale·codes|, and over the head alone the codes' scaled squared length and the
/// residual's bound, all measured in f64. A vector that is not finite gets infinite bounds.
struct Quantised {
    codes: [i32; DIM],
    scale: f32,
    length: f32,
    residual: f32,
    head_square: f32,
    head_residual: f32,
}

/// Codes in ±`levels`.
fn quantise(v: &[f32; DIM], levels: f64) -> Quantised {
    let mut codes = [0i32; DIM];
    if !v.iter().all(|x| x.is_finite()) {
        return Quantised {
            codes,
            scale: 0.0,
            length: f32::INFINITY,
            residual: f32::INFINITY,
            head_square: 0.0,
            head_residual: f32::INFINITY,
        };
    }
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = (f64::from(max) / levels) as f32;
    let (mut length, mut residual, mut head_square, mut head_residual) = (0f64, 0f64, 0f64, 0f64);
    for (d, (code, &x)) in codes.iter_mut().zip(v).enumerate() {
        let x = f64::from(x);
        if scale > 0.0 {
            *code = (x / f64::from(scale)).round().clamp(-levels, levels) as i32;
        }
        let coded = f64::from(scale) * f64::from(*code);
        let error = x - coded;
        length += x * x;
        residual += error * error;
        if d < HEAD {
            head_square += coded * coded;
            head_residual += error * error;
        }
    }
    Quantised {
        codes,
        scale,
        length: round_up(length.sqrt()),
        residual: round_up(residual.sqrt()),
        // Either way is as good: the rounding of the head's squared length is in the bound.
        head_square: head_square as f32,
        head_residual: round_up(head_residual.sqrt()),
    }
}

/// An f32 no smaller than `x`, which f64 sums computed to within far less than 1e-6.
fn round_up(x: f64) -> f32 {
    (x * (1.0 + 1e-6)) as f32
}

/// ρ·κ over `N` codes, in the shape that vectorises (see [`LANES`]); `N` known at compile time
/// unrolls the loop.
fn dot<const N: usize>(row: &[i8; N], query: &[i16; N]) -> i32 {
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
    fn the_f32_distance_is_always_within_the_bounds_and_the_bounds_are_tight() {
        let rows = vectors(203);
        let norms: Vec<f32> = rows.iter().map(|r| exact_dot(r, r)).collect();
        let quantised = QuantisedRows::new(rows.iter().zip(norms.iter().copied()));
        assert_eq!((quantised.len, quantised.heads.len()), (203, 26));
        // Rows of every shape: the order of dims is not the identity.
        assert_ne!(quantised.order, std::array::from_fn(|d| d));
        for (i, q) in vectors(50).iter().enumerate() {
            let query_norm = exact_dot(q, q);
            let query = Query::new(&permute(q, &quantised.order), query_norm).unwrap();
            let estimates = quantised
                .heads
                .iter()
                .zip(&quantised.tails)
                .flat_map(|(h, t)| {
                    let (approximate, error) = h.estimates(t, &query);
                    let lower = h.lower_bounds(&query);
                    approximate.into_iter().zip(error).zip(lower)
                });
            for (r, ((approximate, error), head)) in estimates.take(rows.len()).enumerate() {
                let exact = squared_distance(norms[r], query_norm, exact_dot(&rows[r], q));
                let (lower, upper) = (approximate - error, (approximate + error).max(0.0));
                assert!(
                    lower <= exact && exact <= upper,
                    "row {r}, query {i}: {exact} is not {approximate} ± {error}"
                );
                assert!(
                    head <= exact,
                    "row {r}, query {i}: {exact} below the head's {head}"
                );
                // Unit vectors like real embeddings are 0 to 2 apart: this narrow a bound leaves
                // few rows to measure, and the head alone tells most of their distance.
                if r % 5 == 4 && i % 5 == 4 {
                    assert!(error < 0.02, "row {r}, query {i}: ± {error}");
                    assert!(
                        exact < 0.1 || head > exact * 0.2,
                        "row {r}, query {i}: {head} of {exact}"
                    );
                }
            }
        }
    }
}
