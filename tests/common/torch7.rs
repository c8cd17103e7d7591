//! A tiny Torch7 network with the same input/output contract as OpenFace's nn4.small2.v1, plus
//! a plain-Rust reference forward pass of it.
//!
//! The real OpenFace model is ~30 MB and has to be downloaded, so tests cannot rely on it. What
//! the tests actually need to pin down is *our* side of the contract: that the embedder feeds
//! OpenCV a 96x96 RGB blob scaled by 1/255 and returns the L2-normalised 128-d output. A network
//! whose weights we choose, and whose output we can compute independently, checks exactly that:
//! any mistake in channel order, scaling, size or normalisation changes the numbers.
//!
//! The `.t7` writer only emits the subset of Torch7's serialisation format that OpenCV 4.x's
//! `readNetFromTorch` (modules/dnn/src/torch/torch_importer.cpp) reads back.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

const IN_CHANNELS: usize = 3;
const IN_SIZE: usize = 96;
const CONV_OUT: usize = 8;
const KERNEL: usize = 5;
const CONV_STRIDE: usize = 2;
/// (96 - 5) / 2 + 1
const CONV_SIZE: usize = (IN_SIZE - KERNEL) / CONV_STRIDE + 1;
const POOL: usize = 2;
/// 46 / 2, exact, so `ceil_mode` makes no difference.
const POOL_SIZE: usize = CONV_SIZE / POOL;
const FLAT: usize = CONV_OUT * POOL_SIZE * POOL_SIZE;
const EMBEDDING: usize = 128;
/// nn.Normalize's default; it only guards against division by zero.
const NORMALIZE_EPS: f64 = 1e-10;

/// A tiny network with OpenFace nn4.small2.v1's contract: 3x96x96 input -> 128-d unit vector.
pub(crate) struct TinyNet {
    /// `[CONV_OUT][IN_CHANNELS][KERNEL][KERNEL]`, row-major (Torch's `[out, in, kH, kW]`).
    conv_weight: Vec<f32>,
    /// `[CONV_OUT]`
    conv_bias: Vec<f32>,
    /// `[EMBEDDING][FLAT]`, row-major; columns follow the (C, H, W) flattening of `nn.View`.
    linear_weight: Vec<f32>,
    /// `[EMBEDDING]`
    linear_bias: Vec<f32>,
}

impl TinyNet {
    /// Deterministic weights from `seed` (xorshift64*, uniform in [-0.1, 0.1)), so a test can
    /// rebuild the same network, and hence the same expected embedding, without storing either.
    pub(crate) fn new(seed: u64) -> TinyNet {
        let mut rng = XorShift::new(seed);
        let mut draw = |n: usize| (0..n).map(|_| rng.next_weight()).collect::<Vec<f32>>();
        TinyNet {
            conv_weight: draw(CONV_OUT * IN_CHANNELS * KERNEL * KERNEL),
            conv_bias: draw(CONV_OUT),
            linear_weight: draw(EMBEDDING * FLAT),
            linear_bias: draw(EMBEDDING),
        }
    }

    /// Writes the network as a Torch7 binary `.t7` file.
    pub(crate) fn write_t7(&self, path: &Path) -> io::Result<()> {
        let mut writer = T7Writer::new(BufWriter::new(File::create(path)?));
        writer.value(&self.to_torch())?;
        writer.finish()
    }

    /// Reference forward pass. `input` is planar CHW f32, 3*96*96 values, channel order R,G,B,
    /// already scaled (i.e. pixel/255). Returns the 128 outputs after L2 normalisation.
    pub(crate) fn forward(&self, input: &[f32]) -> Vec<f32> {
        assert_eq!(
            input.len(),
            IN_CHANNELS * IN_SIZE * IN_SIZE,
            "TinyNet::forward expects a 3x96x96 planar input"
        );
        // f64 accumulation keeps the reference's own rounding error far below what OpenCV's
        // f32 arithmetic introduces, so a test tolerance only has to cover one side.
        let conv = self.conv_relu(input);
        let pooled = max_pool(&conv);
        let linear = self.linear(&pooled);
        let norm = (linear.iter().map(|v| v * v).sum::<f64>() + NORMALIZE_EPS).sqrt();
        linear.iter().map(|v| (v / norm) as f32).collect()
    }

    /// SpatialConvolution(3 -> 8, 5x5, stride 2, no padding) followed by ReLU, as planar CHW.
    fn conv_relu(&self, input: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; CONV_OUT * CONV_SIZE * CONV_SIZE];
        for o in 0..CONV_OUT {
            for oy in 0..CONV_SIZE {
                for ox in 0..CONV_SIZE {
                    let mut acc = f64::from(self.conv_bias[o]);
                    for c in 0..IN_CHANNELS {
                        for ky in 0..KERNEL {
                            for kx in 0..KERNEL {
                                let y = oy * CONV_STRIDE + ky;
                                let x = ox * CONV_STRIDE + kx;
                                let w = self.conv_weight
                                    [((o * IN_CHANNELS + c) * KERNEL + ky) * KERNEL + kx];
                                let v = input[(c * IN_SIZE + y) * IN_SIZE + x];
                                acc += f64::from(w) * f64::from(v);
                            }
                        }
                    }
                    out[(o * CONV_SIZE + oy) * CONV_SIZE + ox] = acc.max(0.0);
                }
            }
        }
        out
    }

    /// Linear(FLAT -> 128) on the row-major (C, H, W) flattening, which is what `nn.View` yields.
    fn linear(&self, flat: &[f64]) -> Vec<f64> {
        (0..EMBEDDING)
            .map(|o| {
                let row = &self.linear_weight[o * FLAT..(o + 1) * FLAT];
                let dot: f64 = row.iter().zip(flat).map(|(w, x)| f64::from(*w) * x).sum();
                f64::from(self.linear_bias[o]) + dot
            })
            .collect()
    }

    /// The module tree as Torch would serialise it, limited to the fields OpenCV reads plus the
    /// few that identify the layer's shape to a human reading a dump.
    fn to_torch(&self) -> Value<'_> {
        let conv = Value::module(
            "nn.SpatialConvolution",
            vec![
                ("nInputPlane", Value::int(IN_CHANNELS)),
                ("nOutputPlane", Value::int(CONV_OUT)),
                ("kW", Value::int(KERNEL)),
                ("kH", Value::int(KERNEL)),
                ("dW", Value::int(CONV_STRIDE)),
                ("dH", Value::int(CONV_STRIDE)),
                ("padW", Value::int(0)),
                ("padH", Value::int(0)),
                (
                    "weight",
                    Value::float_tensor(
                        &[CONV_OUT, IN_CHANNELS, KERNEL, KERNEL],
                        &self.conv_weight,
                    ),
                ),
                ("bias", Value::float_tensor(&[CONV_OUT], &self.conv_bias)),
            ],
        );
        let relu = Value::module(
            "nn.ReLU",
            vec![
                ("threshold", Value::Number(0.0)),
                ("val", Value::Number(0.0)),
                ("inplace", Value::Boolean(false)),
            ],
        );
        let pool = Value::module(
            "nn.SpatialMaxPooling",
            vec![
                ("kW", Value::int(POOL)),
                ("kH", Value::int(POOL)),
                ("dW", Value::int(POOL)),
                ("dH", Value::int(POOL)),
                ("padW", Value::int(0)),
                ("padH", Value::int(0)),
                // OpenCV asserts this field exists rather than defaulting it.
                ("ceil_mode", Value::Boolean(false)),
            ],
        );
        // OpenCV only reads `size`; with no `batchMode` field it reshapes from axis 1, keeping
        // the batch dimension, which is what Torch's `numInputDims = 3` means.
        let view = Value::module(
            "nn.View",
            vec![
                ("size", Value::LongStorage(vec![FLAT as i64])),
                ("numElements", Value::int(FLAT)),
                ("numInputDims", Value::int(3)),
            ],
        );
        let linear = Value::module(
            "nn.Linear",
            vec![
                (
                    "weight",
                    Value::float_tensor(&[EMBEDDING, FLAT], &self.linear_weight),
                ),
                ("bias", Value::float_tensor(&[EMBEDDING], &self.linear_bias)),
            ],
        );
        let normalize = Value::module(
            "nn.Normalize",
            vec![
                ("p", Value::Number(2.0)),
                ("eps", Value::Number(NORMALIZE_EPS)),
            ],
        );
        Value::module(
            "nn.Sequential",
            vec![(
                "modules",
                Value::Array(vec![conv, relu, pool, view, linear, normalize]),
            )],
        )
    }
}

/// xorshift64*: tiny, dependency-free and stable across platforms and Rust versions, which is
/// all a fixture needs (unlike `std`'s hashers, whose output is not guaranteed).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // SplitMix64 scrambles the seed so that 0 and nearby seeds give unrelated, non-zero
        // states (xorshift never leaves the all-zero state).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 1 } else { z })
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-0.1, 0.1).
    fn next_weight(&mut self) -> f32 {
        // The top 24 bits fit an f32 mantissa exactly.
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * 0.1
    }
}

/// SpatialMaxPooling(2x2, stride 2, no padding) over planar CHW.
fn max_pool(input: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; FLAT];
    for c in 0..CONV_OUT {
        for py in 0..POOL_SIZE {
            for px in 0..POOL_SIZE {
                let mut best = f64::NEG_INFINITY;
                for dy in 0..POOL {
                    for dx in 0..POOL {
                        let y = py * POOL + dy;
                        let x = px * POOL + dx;
                        best = best.max(input[(c * CONV_SIZE + y) * CONV_SIZE + x]);
                    }
                }
                out[(c * POOL_SIZE + py) * POOL_SIZE + px] = best;
            }
        }
    }
    out
}

/// The subset of Lua/Torch values this fixture serialises.
enum Value<'a> {
    /// Lua numbers are doubles; Torch stores integer fields such as `kW` this way too.
    Number(f64),
    Boolean(bool),
    /// A contiguous `torch.FloatTensor` with its own `torch.FloatStorage`.
    FloatTensor {
        sizes: Vec<i64>,
        data: &'a [f32],
    },
    /// OpenCV reads a storage-valued field as an array of numbers (`nn.View`'s `size`).
    LongStorage(Vec<i64>),
    /// A Lua table used as a list, keyed 1..n (`nn.Sequential`'s `modules`).
    Array(Vec<Value<'a>>),
    /// An `nn.*` object: a class name and a table of string-keyed fields.
    Module {
        class: &'static str,
        fields: Vec<(&'static str, Value<'a>)>,
    },
}

impl<'a> Value<'a> {
    fn int(v: usize) -> Value<'a> {
        Value::Number(v as f64)
    }

    fn float_tensor(sizes: &[usize], data: &'a [f32]) -> Value<'a> {
        assert_eq!(
            sizes.iter().product::<usize>(),
            data.len(),
            "tensor shape does not match its data"
        );
        Value::FloatTensor {
            sizes: sizes.iter().map(|&s| s as i64).collect(),
            data,
        }
    }

    fn module(class: &'static str, fields: Vec<(&'static str, Value<'a>)>) -> Value<'a> {
        Value::Module { class, fields }
    }
}

/// Type tags of Torch7's `File:writeObject`.
mod tag {
    pub(super) const NUMBER: i32 = 1;
    pub(super) const STRING: i32 = 2;
    pub(super) const TABLE: i32 = 3;
    pub(super) const TORCH: i32 = 4;
    pub(super) const BOOLEAN: i32 = 5;
}

/// Serialises [`Value`]s in Torch7's little-endian binary format.
///
/// Every table and torch object carries a reference index; Torch uses it to share objects, and
/// OpenCV's importer skips (or asserts on) an index it has already seen, so each one we write
/// must be fresh.
struct T7Writer<W: Write> {
    out: W,
    next_ref: i32,
}

impl<W: Write> T7Writer<W> {
    fn new(out: W) -> T7Writer<W> {
        T7Writer { out, next_ref: 1 }
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn value(&mut self, value: &Value<'_>) -> io::Result<()> {
        match value {
            Value::Number(v) => self.number(*v),
            Value::Boolean(b) => self.boolean(*b),
            Value::FloatTensor { sizes, data } => self.float_tensor(sizes, data),
            Value::LongStorage(values) => self.long_storage(values),
            Value::Array(items) => self.array(items),
            Value::Module { class, fields } => self.module(class, fields),
        }
    }

    fn number(&mut self, v: f64) -> io::Result<()> {
        self.i32(tag::NUMBER)?;
        self.out.write_all(&v.to_le_bytes())
    }

    fn boolean(&mut self, b: bool) -> io::Result<()> {
        self.i32(tag::BOOLEAN)?;
        self.i32(i32::from(b))
    }

    fn string(&mut self, s: &str) -> io::Result<()> {
        self.i32(tag::STRING)?;
        self.raw_string(s)
    }

    /// `modules` must be a plain Lua table keyed by numbers: OpenCV walks it as a generic table
    /// and picks the modules up in file order, so the items are written 1..n.
    fn array(&mut self, items: &[Value<'_>]) -> io::Result<()> {
        self.table_header(items.len())?;
        for (i, item) in items.iter().enumerate() {
            self.number((i + 1) as f64)?;
            self.value(item)?;
        }
        Ok(())
    }

    fn module(&mut self, class: &str, fields: &[(&str, Value<'_>)]) -> io::Result<()> {
        self.torch_header(class)?;
        self.table_header(fields.len())?;
        for (key, value) in fields {
            self.string(key)?;
            self.value(value)?;
        }
        Ok(())
    }

    /// Contiguous row-major tensor: strides in elements, 1-based storage offset, then the
    /// storage object inline.
    fn float_tensor(&mut self, sizes: &[i64], data: &[f32]) -> io::Result<()> {
        self.torch_header("torch.FloatTensor")?;
        let ndim = i32::try_from(sizes.len()).map_err(|_| invalid("too many tensor dimensions"))?;
        self.i32(ndim)?;
        for &size in sizes {
            self.i64(size)?;
        }
        let mut strides = vec![1i64; sizes.len()];
        for d in (0..sizes.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * sizes[d + 1];
        }
        for stride in strides {
            self.i64(stride)?;
        }
        self.i64(1)?;
        self.torch_header("torch.FloatStorage")?;
        self.i64(len_i64(data.len())?)?;
        for v in data {
            self.out.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    }

    fn long_storage(&mut self, values: &[i64]) -> io::Result<()> {
        self.torch_header("torch.LongStorage")?;
        self.i64(len_i64(values.len())?)?;
        for &v in values {
            self.i64(v)?;
        }
        Ok(())
    }

    fn table_header(&mut self, pairs: usize) -> io::Result<()> {
        self.i32(tag::TABLE)?;
        self.reference()?;
        self.i32(i32::try_from(pairs).map_err(|_| invalid("table too large"))?)
    }

    /// The `V 1` version string precedes the class name in every Torch object written by
    /// torch7 since versioning was introduced; OpenCV accepts it with or without.
    fn torch_header(&mut self, class: &str) -> io::Result<()> {
        self.i32(tag::TORCH)?;
        self.reference()?;
        self.raw_string("V 1")?;
        self.raw_string(class)
    }

    fn reference(&mut self) -> io::Result<()> {
        let index = self.next_ref;
        self.next_ref += 1;
        self.i32(index)
    }

    fn raw_string(&mut self, s: &str) -> io::Result<()> {
        self.i32(i32::try_from(s.len()).map_err(|_| invalid("string too long"))?)?;
        self.out.write_all(s.as_bytes())
    }

    fn i32(&mut self, v: i32) -> io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }

    fn i64(&mut self, v: i64) -> io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }
}

fn len_i64(len: usize) -> io::Result<i64> {
    i64::try_from(len).map_err(|_| invalid("storage too large"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}
