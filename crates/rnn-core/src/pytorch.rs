//! PyTorch weights in and out (cargo feature `pytorch`): the `state_dict` of an `nn.RNN`
//! (tanh or relu), `nn.LSTM` or `nn.GRU`, multi-layer and bidirectional, and of a following
//! `nn.Linear`, read from a `.pt`/`.pth` file (`torch.save`, through burn-store's PyTorch
//! reader; the zip archive of PyTorch >= 1.6 and the older pickle stream) or a `.safetensors`
//! file into rnn-core's cells; and rnn-core's cells written back as
//! a safetensors `state_dict` that `nn.LSTM(...).load_state_dict(load_file(path))` accepts.
//!
//! ```no_run
//! use rnn_core::pytorch::StateDict;
//! use rnn_core::{dynamic_rnn, Activation};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = rnn_core::device::default_device()?;
//! let dict = StateDict::load("model.pt")?;           // torch.save(model.state_dict(), ...)
//! let rnn = dict.import_lstm("rnn.", &device)?;       // keys rnn.weight_ih_l0, ...
//! let head = dict.import_linear("fc.", &device)?;     // keys fc.weight, fc.bias
//! let model = rnn.into_projected(head)?;              // OutputProjectionWrapper<MultiRnnCell<_>>
//! let x = burn::tensor::Tensor::<3>::zeros([2, 5, model.cell.cells[0].wx.dims()[0]], &device);
//! let (y, _states) = dynamic_rnn(&model, x, None, None)?; // y: [B, T, O], as fc(rnn(x)[0])
//! # let _ = Activation::Tanh; Ok(()) }
//! ```
//!
//! Layouts, PyTorch -> rnn-core, with G gate blocks (1 `nn.RNN`; 4 `nn.LSTM`, `i, f, g, o`;
//! 3 `nn.GRU`, `r, z, n`), H the hidden size, D = 2 when bidirectional (else 1), and
//! `I_k` the input size of layer k (`input_size` for k = 0, `D * H` above):
//! - `weight_ih_l{k}[_reverse]` `[G*H, I_k]` -> `wx [I_k, G*H]` (transposed);
//! - `weight_hh_l{k}[_reverse]` `[G*H, H]` -> `wh [H, G*H]`; a GRU's `r, z` rows go to
//!   `wh_gates [H, 2H]`, its `n` rows to `wh_candidate [H, H]`;
//! - `bias_ih + bias_hh` `[G*H]` -> `bias`; a GRU keeps `[b_ir + b_hr, b_iz + b_hz, b_in]` and
//!   `b_hn` as `bias_hn` (PyTorch's form, rnn-core's `reset_after`); with `bias=False` (no
//!   bias keys) both are zeros;
//! - an LSTM gets `forget_bias = 0` (PyTorch has none);
//! - `nn.Linear` `weight [O, D*H]`, `bias [O]` -> burn's `Linear` `weight [D*H, O]`, `bias [O]`.
//!
//! Layer k's forward direction is `fw[k]`, its `_reverse` direction `bw[k]` ([`TorchRnn`]).
//! Export writes the inverse: `bias_ih` = rnn-core's bias (an LSTM's `forget_bias` added to its
//! `f` block, which computes the same gate), `bias_hh` = 0 (a GRU's: `[0, 0, b_hn]`).
//! Refused, with a [`TorchError`] naming the key: a missing key, a wrong shape, `proj_size`
//! (`weight_hr_l0`), a file that is neither format; on export, what PyTorch's modules cannot
//! hold (TF's GRU form, an activation other than tanh/relu, layers of different sizes).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::{
    Activation, BasicRnnCell, GruCell, LstmCell, MultiRnnCell, OutputProjectionWrapper, RnnCell,
    RnnError,
};

/// What went wrong reading, mapping or writing PyTorch weights. Every variant names the file or
/// the key, what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// The file could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a state_dict in a format rnn-core reads, or is damaged.
    #[error(
        "`{path}`: expected a PyTorch state_dict (`torch.save` zip archive, .pt/.pth) or a safetensors file, got {reason}"
    )]
    Format {
        /// The file (or `<bytes>`).
        path: String,
        /// What the reader found.
        reason: String,
    },
    /// A key the layer needs is not in the state_dict.
    #[error("missing key `{key}` ({needed_for}); the state_dict has {found}")]
    MissingKey {
        /// The full key, prefix included.
        key: String,
        /// What needs it (`layer 1 of nn.LSTM under prefix "rnn."`).
        needed_for: String,
        /// A summary of the keys present (count and the first few).
        found: String,
    },
    /// A tensor of the wrong shape.
    #[error("`{key}`: expected shape {expected}, got {actual:?}")]
    Shape {
        /// The full key.
        key: String,
        /// The shape wanted, with its layout (`[16, 4] ([4H, H], H = 4 from ...)`).
        expected: String,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor whose data cannot be read (a damaged or truncated file).
    #[error("`{key}`: expected the tensor's data, got {reason}")]
    Data {
        /// The full key.
        key: String,
        /// What the reader reported.
        reason: String,
    },
    /// A tensor whose element type is not floating point.
    #[error("`{key}`: expected a floating-point tensor (f16, bf16, f32 or f64), got {dtype}")]
    DType {
        /// The full key.
        key: String,
        /// The element type in the file.
        dtype: String,
    },
    /// A layer option or a model that rnn-core (import) or PyTorch (export) cannot express.
    #[error("`{what}`: {reason}")]
    Unsupported {
        /// The key or the option (`rnn.weight_hr_l0`, `proj_size`, `reset_after`).
        what: String,
        /// Why, and what would work.
        reason: String,
    },
    /// A cell constructor refused the mapped weights.
    #[error(transparent)]
    Rnn(#[from] RnnError),
}

/// The recurrent module a state_dict holds, from the shapes of `weight_hh_l0` `[G*H, H]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchRnnKind {
    /// `nn.RNN` (G = 1); its `nonlinearity` is not in the state_dict.
    Rnn,
    /// `nn.LSTM` (G = 4).
    Lstm,
    /// `nn.GRU` (G = 3).
    Gru,
}

impl TorchRnnKind {
    /// G, the number of gate blocks in `weight_ih`'s rows.
    pub fn gates(self) -> usize {
        match self {
            TorchRnnKind::Rnn => 1,
            TorchRnnKind::Lstm => 4,
            TorchRnnKind::Gru => 3,
        }
    }

    /// PyTorch's class name: `RNN`, `LSTM`, `GRU`.
    pub fn module_name(self) -> &'static str {
        match self {
            TorchRnnKind::Rnn => "RNN",
            TorchRnnKind::Lstm => "LSTM",
            TorchRnnKind::Gru => "GRU",
        }
    }

    fn from_gates(gates: usize) -> Option<Self> {
        match gates {
            1 => Some(TorchRnnKind::Rnn),
            4 => Some(TorchRnnKind::Lstm),
            3 => Some(TorchRnnKind::Gru),
            _ => None,
        }
    }
}

/// A recurrent module's hyper-parameters as read from its keys and shapes
/// ([`StateDict::detect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchRnnInfo {
    /// Which module.
    pub kind: TorchRnnKind,
    /// `input_size`, I (columns of `weight_ih_l0`).
    pub input_size: usize,
    /// `hidden_size`, H.
    pub hidden_size: usize,
    /// `num_layers`, L (`weight_ih_l0`, `weight_ih_l1`, ... present).
    pub num_layers: usize,
    /// `bidirectional` (`weight_ih_l0_reverse` present).
    pub bidirectional: bool,
    /// `bias` (`bias_ih_l0` or `bias_hh_l0` present).
    pub bias: bool,
}

/// PyTorch's four tensors of one layer and direction: `weight_ih [G*H, I]`,
/// `weight_hh [G*H, H]`, `bias_ih [G*H]`, `bias_hh [G*H]`.
#[derive(Debug, Clone)]
pub struct TorchWeights {
    /// `weight_ih` `[G*H, I]`.
    pub weight_ih: Tensor<2>,
    /// `weight_hh` `[G*H, H]`.
    pub weight_hh: Tensor<2>,
    /// `bias_ih` `[G*H]`.
    pub bias_ih: Tensor<1>,
    /// `bias_hh` `[G*H]`.
    pub bias_hh: Tensor<1>,
}

/// A cell that maps to one layer and direction of a PyTorch recurrent module.
pub trait TorchCell: RnnCell + Sized {
    /// The module whose layers this cell holds.
    const KIND: TorchRnnKind;

    /// The cell from PyTorch's tensors (shapes checked by the caller, see [`TorchWeights`]).
    /// `activation` is used by `nn.RNN` only (its `nonlinearity`).
    fn from_torch(weights: TorchWeights, activation: Activation) -> Result<Self, RnnError>;

    /// PyTorch's tensors for this cell; fails for what the module cannot express.
    fn to_torch(&self) -> Result<TorchWeights, TorchError>;

    /// `nn.RNN`'s `nonlinearity` (`tanh` or `relu`), `None` for the gated cells.
    fn nonlinearity(&self) -> Option<Activation> {
        None
    }
}

fn zeros_like_bias(w: &Tensor<2>) -> Tensor<1> {
    Tensor::zeros([w.dims()[0]], &w.device())
}

impl TorchCell for BasicRnnCell {
    const KIND: TorchRnnKind = TorchRnnKind::Rnn;

    fn from_torch(w: TorchWeights, activation: Activation) -> Result<Self, RnnError> {
        BasicRnnCell::from_weights(
            w.weight_ih.transpose(),
            w.weight_hh.transpose(),
            w.bias_ih + w.bias_hh,
            activation,
        )
    }

    fn to_torch(&self) -> Result<TorchWeights, TorchError> {
        torch_nonlinearity(self.activation)?;
        let weight_ih = self.wx.val().transpose();
        Ok(TorchWeights {
            bias_hh: zeros_like_bias(&weight_ih),
            weight_ih,
            weight_hh: self.wh.val().transpose(),
            bias_ih: self.bias.val(),
        })
    }

    fn nonlinearity(&self) -> Option<Activation> {
        Some(self.activation)
    }
}

impl TorchCell for LstmCell {
    const KIND: TorchRnnKind = TorchRnnKind::Lstm;

    fn from_torch(w: TorchWeights, _: Activation) -> Result<Self, RnnError> {
        LstmCell::from_weights(
            w.weight_ih.transpose(),
            w.weight_hh.transpose(),
            w.bias_ih + w.bias_hh,
            0.0,
        )
    }

    fn to_torch(&self) -> Result<TorchWeights, TorchError> {
        let h = self.output_size();
        let mut bias = self.bias.val();
        if self.forget_bias != 0.0 {
            // σ(f + forget_bias): the same gate with forget_bias inside the bias's f block.
            let f = bias.clone().narrow(0, h, h) + self.forget_bias;
            let (i, go) = (bias.clone().narrow(0, 0, h), bias.narrow(0, 2 * h, 2 * h));
            bias = Tensor::cat(vec![i, f, go], 0);
        }
        let weight_ih = self.wx.val().transpose();
        Ok(TorchWeights {
            bias_hh: zeros_like_bias(&weight_ih),
            weight_ih,
            weight_hh: self.wh.val().transpose(),
            bias_ih: bias,
        })
    }
}

impl TorchCell for GruCell {
    const KIND: TorchRnnKind = TorchRnnKind::Gru;

    fn from_torch(w: TorchWeights, _: Activation) -> Result<Self, RnnError> {
        let h = w.weight_hh.dims()[1];
        let wh = w.weight_hh.transpose(); // [H, 3H]
        let b_hh = w.bias_hh;
        let bias = Tensor::cat(
            vec![
                w.bias_ih.clone().narrow(0, 0, 2 * h) + b_hh.clone().narrow(0, 0, 2 * h),
                w.bias_ih.narrow(0, 2 * h, h),
            ],
            0,
        );
        GruCell::from_weights(
            w.weight_ih.transpose(),
            wh.clone().narrow(1, 0, 2 * h),
            wh.narrow(1, 2 * h, h),
            bias,
            Some(b_hh.narrow(0, 2 * h, h)),
        )
    }

    fn to_torch(&self) -> Result<TorchWeights, TorchError> {
        let Some(bias_hn) = &self.bias_hn else {
            return Err(TorchError::Unsupported {
                what: "reset_after".into(),
                reason: "expected a GruCell with reset_after = true (PyTorch's nn.GRU applies \
                         the reset gate after the recurrent matmul), got TF's form (reset \
                         before it), which nn.GRU cannot express"
                    .into(),
            });
        };
        let h = self.output_size();
        let weight_hh = Tensor::cat(vec![self.wh_gates.val(), self.wh_candidate.val()], 1);
        let device = weight_hh.device();
        Ok(TorchWeights {
            weight_ih: self.wx.val().transpose(),
            weight_hh: weight_hh.transpose(),
            bias_ih: self.bias.val(),
            bias_hh: Tensor::cat(vec![Tensor::zeros([2 * h], &device), bias_hn.val()], 0),
        })
    }
}

fn torch_nonlinearity(activation: Activation) -> Result<&'static str, TorchError> {
    match activation {
        Activation::Tanh => Ok("tanh"),
        Activation::Relu => Ok("relu"),
        other => Err(TorchError::Unsupported {
            what: "activation".into(),
            reason: format!(
                "expected Tanh or Relu (nn.RNN's nonlinearity), got {other:?}, which nn.RNN \
                 cannot express"
            ),
        }),
    }
}

/// A recurrent module's layers as rnn-core cells: `fw[k]` is layer k (PyTorch's `_l{k}`),
/// `bw[k]` its `_reverse` direction when bidirectional (empty otherwise).
///
/// Unidirectional: [`into_multi`](TorchRnn::into_multi) gives the `MultiRnnCell` that
/// `dynamic_rnn` runs (`[B, T, I] -> [B, T, H]`, one state per layer). Bidirectional:
/// [`stack_bidirectional_dynamic_rnn`](crate::stack_bidirectional_dynamic_rnn)`(&fw, &bw, ..)`
/// runs layer k's `fw[k]` over the sequence and `bw[k]` over it reversed (within each length),
/// re-aligns the backward outputs to input time, and feeds the next layer `[B, T, 2H]`
/// (forward then backward features), as PyTorch's module does.
#[derive(Debug, Clone)]
pub struct TorchRnn<C: RnnCell> {
    /// The forward direction of each layer, input side first.
    pub fw: Vec<C>,
    /// The backward (`_reverse`) direction of each layer; empty when unidirectional.
    pub bw: Vec<C>,
}

impl<C: RnnCell> TorchRnn<C> {
    /// A unidirectional module from its layers (checked as a `MultiRnnCell` would).
    pub fn unidirectional(layers: Vec<C>) -> Result<Self, TorchError> {
        let multi = MultiRnnCell::new(layers)?;
        Ok(Self {
            fw: multi.cells,
            bw: Vec::new(),
        })
    }

    /// A bidirectional module: `fw` and `bw` of the same length, both directions of a layer of
    /// the same sizes, and layer k > 0 reading `[.., 2H]` (both directions of layer k - 1).
    pub fn bidirectional(fw: Vec<C>, bw: Vec<C>) -> Result<Self, TorchError> {
        if fw.is_empty() || fw.len() != bw.len() {
            return Err(RnnError::invalid(
                "bw",
                format!(
                    "one backward cell per forward cell ({}, at least 1)",
                    fw.len()
                ),
                format!("{} cells", bw.len()),
            )
            .into());
        }
        for (k, (f, b)) in fw.iter().zip(&bw).enumerate() {
            let want = (f.input_size(), f.output_size());
            let got = (b.input_size(), b.output_size());
            if want != got {
                return Err(RnnError::invalid(
                    "bw",
                    format!("bw[{k}] of (input, output) sizes {want:?}, as fw[{k}]"),
                    format!("{got:?}"),
                )
                .into());
            }
            if k > 0 {
                let below = fw[k - 1].output_size() + bw[k - 1].output_size();
                if f.input_size() != below {
                    return Err(RnnError::invalid(
                        "fw",
                        format!(
                            "fw[{k}].input_size() = {below} (both directions of layer {})",
                            k - 1
                        ),
                        f.input_size(),
                    )
                    .into());
                }
            }
        }
        Ok(Self { fw, bw })
    }

    /// Whether the module has `_reverse` layers.
    pub fn is_bidirectional(&self) -> bool {
        !self.bw.is_empty()
    }

    /// L, the number of layers.
    pub fn num_layers(&self) -> usize {
        self.fw.len()
    }

    /// I, the input features per step of layer 0.
    pub fn input_size(&self) -> usize {
        self.fw[0].input_size()
    }

    /// H, the hidden size of the top layer (per direction).
    pub fn hidden_size(&self) -> usize {
        self.fw[self.fw.len() - 1].output_size()
    }

    /// The stack `dynamic_rnn` runs, `[B, T, I] -> [B, T, H]`; fails when bidirectional (run
    /// `fw` and `bw` as the type's doc says).
    pub fn into_multi(self) -> Result<MultiRnnCell<C>, TorchError> {
        if self.is_bidirectional() {
            return Err(TorchError::Unsupported {
                what: "bidirectional".into(),
                reason: "expected a unidirectional module for a MultiRnnCell, got one with \
                         `_reverse` layers: run its `fw` and `bw` cells"
                    .into(),
            });
        }
        Ok(MultiRnnCell::new(self.fw)?)
    }

    /// The stack with `head` on every step's output (`[B, T, I] -> [B, T, O]`, as
    /// `fc(rnn(x)[0])` in PyTorch); fails when bidirectional or when `head` is not `[H, O]`.
    pub fn into_projected(
        self,
        head: Linear,
    ) -> Result<OutputProjectionWrapper<MultiRnnCell<C>>, TorchError> {
        Ok(OutputProjectionWrapper::new(self.into_multi()?, head)?)
    }
}

impl<C: RnnCell> From<MultiRnnCell<C>> for TorchRnn<C> {
    fn from(multi: MultiRnnCell<C>) -> Self {
        Self {
            fw: multi.cells,
            bw: Vec::new(),
        }
    }
}

/// A state_dict: tensors by key, as a PyTorch file holds them (read lazily, converted to f32
/// when a layer asks for them), plus string metadata (safetensors only).
#[derive(Clone, Default)]
pub struct StateDict {
    tensors: BTreeMap<String, PackTensor>,
    metadata: BTreeMap<String, String>,
}

impl core::fmt::Debug for StateDict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.tensors.iter().map(|(k, t)| (k, t.shape.to_vec())))
            .finish()
    }
}

const SAFETENSORS_HINT: &str = "a safetensors file (8-byte header length, then '{')";

impl StateDict {
    /// An empty state_dict (to fill with [`insert`](StateDict::insert)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a `torch.save(model.state_dict(), path)` file (`.pt`/`.pth`, a zip archive) or a
    /// safetensors file (`safetensors.torch.save_file`); the format is read from the bytes,
    /// not the name. Non-float tensors are kept (and refused only if a layer asks for them).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TorchError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |source| TorchError::Io {
            path: shown.clone(),
            source,
        };
        // The first 9 bytes tell the format; a PyTorch file is then read by its reader.
        let mut head = Vec::with_capacity(9);
        let mut file = std::fs::File::open(path).map_err(io)?;
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, 9), &mut head)
            .map_err(io)?;
        if is_safetensors(&head) {
            let bytes = std::fs::read(path).map_err(io)?;
            return Self::from_safetensors_bytes_named(bytes, &shown);
        }
        // torch.save: a zip archive since PyTorch 1.6, a pickle stream (protocol opcode 0x80)
        // before it, or with `_use_new_zipfile_serialization=False`.
        if !(head.starts_with(b"PK") || head.first() == Some(&0x80)) {
            let size = file.metadata().map_err(io)?.len();
            let head: String = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(TorchError::Format {
                path: shown,
                reason: format!(
                    "neither a zip archive (\"PK\"), a pickle stream (0x80) nor {SAFETENSORS_HINT}: \
                     the file starts with bytes {head:?} ({size} bytes in all)"
                ),
            });
        }
        drop(file);
        let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
        let tensors = store
            .get_all_tensors()
            .map_err(|e| TorchError::Format {
                path: shown.clone(),
                reason: format!("a damaged PyTorch checkpoint: {e}"),
            })?
            .clone();
        Ok(Self {
            tensors,
            metadata: BTreeMap::new(),
        })
    }

    /// Reads a safetensors file from memory.
    pub fn from_safetensors_bytes(bytes: Vec<u8>) -> Result<Self, TorchError> {
        Self::from_safetensors_bytes_named(bytes, "<bytes>")
    }

    fn from_safetensors_bytes_named(bytes: Vec<u8>, path: &str) -> Result<Self, TorchError> {
        let format = |reason: String| TorchError::Format {
            path: path.to_string(),
            reason,
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| format(format!("a damaged safetensors file: {e}")))?;
        let metadata = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut store = SafetensorsStore::from_bytes(Some(bytes));
        let tensors = store
            .get_all_tensors()
            .map_err(|e| format(format!("a damaged safetensors file: {e}")))?
            .clone();
        Ok(Self { tensors, metadata })
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The shape of `key`'s tensor, if present.
    pub fn shape(&self, key: &str) -> Option<Vec<usize>> {
        self.tensors.get(key).map(|t| t.shape.to_vec())
    }

    /// The metadata (safetensors' `__metadata__`; empty for `.pt` files).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Sets one metadata entry (written by [`to_safetensors_bytes`](StateDict::to_safetensors_bytes)).
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// `key`'s tensor on `device` as f32, of rank D; fails when missing (naming `needed_for`),
    /// not floating point, of another rank or damaged.
    pub fn tensor<const D: usize>(
        &self,
        key: &str,
        device: &Device,
    ) -> Result<Tensor<D>, TorchError> {
        let pack = self
            .tensors
            .get(key)
            .ok_or_else(|| self.missing(key, "asked for"))?;
        let shape = pack.shape.to_vec();
        if shape.len() != D {
            return Err(TorchError::Shape {
                key: key.into(),
                expected: format!("of rank {D}"),
                actual: shape,
            });
        }
        if !pack.dtype.is_float() {
            return Err(TorchError::DType {
                key: key.into(),
                dtype: format!("{:?}", pack.dtype),
            });
        }
        let data = bridge::to_data(pack).map_err(|e| TorchError::Data {
            key: key.into(),
            reason: e.to_string(),
        })?;
        let values: Vec<f32> = data
            .try_into_vec_as::<f32>()
            .map_err(|e| TorchError::Data {
                key: key.into(),
                reason: format!("{e:?}"),
            })?;
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// Adds (or replaces) `key` with `tensor`'s values as f32.
    pub fn insert<const D: usize>(&mut self, key: impl Into<String>, tensor: Tensor<D>) {
        let key = key.into();
        let data = tensor.into_data().convert::<f32>();
        self.tensors
            .insert(key.clone(), bridge::from_data(data, key, None));
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.tensors.remove(key).is_some()
    }

    /// The state_dict as a safetensors file's bytes, with its metadata and `format: pt` (what
    /// `safetensors.torch.save_file` writes).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>, TorchError> {
        let mut owned = Vec::with_capacity(self.tensors.len());
        for (key, pack) in &self.tensors {
            let dtype = safetensors_dtype(pack.dtype).ok_or_else(|| TorchError::DType {
                key: key.clone(),
                dtype: format!("{:?}", pack.dtype),
            })?;
            let bytes = pack.to_bytes().map_err(|e| TorchError::Data {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            owned.push((key.clone(), dtype, pack.shape.to_vec(), bytes));
        }
        let mut views = Vec::with_capacity(owned.len());
        for (key, dtype, shape, bytes) in &owned {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map_err(
                |e| TorchError::Data {
                    key: key.clone(),
                    reason: format!("a tensor that safetensors cannot hold: {e}"),
                },
            )?;
            views.push((key.clone(), view));
        }
        let mut metadata: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata
            .entry("format".into())
            .or_insert_with(|| "pt".into());
        safetensors::serialize(views, Some(metadata)).map_err(|e| TorchError::Format {
            path: "<bytes>".into(),
            reason: format!("a state_dict safetensors cannot serialise: {e}"),
        })
    }

    /// Writes the state_dict as a safetensors file (see
    /// [`to_safetensors_bytes`](StateDict::to_safetensors_bytes)).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), TorchError> {
        let bytes = self.to_safetensors_bytes()?;
        let path = path.as_ref();
        std::fs::write(path, bytes).map_err(|source| TorchError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    fn missing(&self, key: &str, needed_for: &str) -> TorchError {
        const SHOWN: usize = 8;
        let mut keys: Vec<&str> = self.keys().take(SHOWN).collect();
        if self.len() > SHOWN {
            keys.push("...");
        }
        let found = if self.is_empty() {
            "no tensors".to_string()
        } else {
            format!("{} tensors: {}", self.len(), keys.join(", "))
        };
        TorchError::MissingKey {
            key: key.into(),
            needed_for: needed_for.into(),
            found,
        }
    }

    fn require_shape(
        &self,
        key: &str,
        needed_for: &str,
        expected: &[usize],
        layout: &str,
    ) -> Result<(), TorchError> {
        let actual = self
            .shape(key)
            .ok_or_else(|| self.missing(key, needed_for))?;
        if actual != expected {
            return Err(TorchError::Shape {
                key: key.into(),
                expected: format!("{expected:?} ({layout})"),
                actual,
            });
        }
        Ok(())
    }

    /// The module under `prefix` (`""` for a bare `nn.LSTM`'s state_dict, `"rnn."` for a
    /// parent module's attribute `rnn`): its kind, sizes and options, from the keys and the
    /// shape `[G*H, H]` of `weight_hh_l0`. Fails on a missing `weight_hh_l0`/`weight_ih_l0`, a
    /// shape no PyTorch module has, or `proj_size` (`weight_hr_l0`).
    pub fn detect(&self, prefix: &str) -> Result<TorchRnnInfo, TorchError> {
        self.refuse_proj_size(prefix, "nn.LSTM")?;
        let key = format!("{prefix}weight_hh_l0");
        let needed_for = format!("layer 0 of an nn.RNN/LSTM/GRU under prefix {prefix:?}");
        let hh = self
            .shape(&key)
            .ok_or_else(|| self.missing(&key, &needed_for))?;
        let kind = match hh[..] {
            [rows, h] if h > 0 && rows.is_multiple_of(h) => TorchRnnKind::from_gates(rows / h),
            _ => None,
        }
        .ok_or_else(|| TorchError::Shape {
            key: key.clone(),
            expected: "[G*H, H] with G = 1 (nn.RNN), 3 (nn.GRU) or 4 (nn.LSTM)".into(),
            actual: hh.clone(),
        })?;
        self.info(prefix, kind)
    }

    /// `proj_size > 0` (an LSTM's `weight_hr_l0`): rnn-core's cells have no such projection.
    fn refuse_proj_size(&self, prefix: &str, module: &str) -> Result<(), TorchError> {
        let hr = format!("{prefix}weight_hr_l0");
        if self.tensors.contains_key(&hr) {
            return Err(TorchError::Unsupported {
                what: hr,
                reason: format!(
                    "expected {module} without proj_size, got a projection weight \
                     (proj_size > 0): rnn-core's cells have no output projection inside the \
                     recurrence"
                ),
            });
        }
        Ok(())
    }

    fn info(&self, prefix: &str, kind: TorchRnnKind) -> Result<TorchRnnInfo, TorchError> {
        let g = kind.gates();
        let name = kind.module_name();
        self.refuse_proj_size(prefix, &format!("nn.{name}"))?;
        let ih = format!("{prefix}weight_ih_l0");
        let needed_for = format!("layer 0 of nn.{name} under prefix {prefix:?}");
        let shape = self
            .shape(&ih)
            .ok_or_else(|| self.missing(&ih, &needed_for))?;
        let (h, i) = match shape[..] {
            [rows, cols] if rows > 0 && cols > 0 && rows.is_multiple_of(g) => (rows / g, cols),
            _ => {
                return Err(TorchError::Shape {
                    key: ih,
                    expected: format!("[{}, I] with H >= 1 and I >= 1 (nn.{name})", gh(g)),
                    actual: shape,
                });
            }
        };
        let mut num_layers = 1;
        while self
            .tensors
            .contains_key(&format!("{prefix}weight_ih_l{num_layers}"))
        {
            num_layers += 1;
        }
        let bias = self.tensors.contains_key(&format!("{prefix}bias_ih_l0"))
            || self.tensors.contains_key(&format!("{prefix}bias_hh_l0"));
        Ok(TorchRnnInfo {
            kind,
            input_size: i,
            hidden_size: h,
            num_layers,
            bidirectional: self
                .tensors
                .contains_key(&format!("{prefix}weight_ih_l0_reverse")),
            bias,
        })
    }

    /// The layers of the `nn.RNN` under `prefix`, with `activation` (its `nonlinearity`, which
    /// the state_dict does not hold: `Activation::Tanh` or `Activation::Relu`).
    pub fn import_rnn(
        &self,
        prefix: &str,
        activation: Activation,
        device: &Device,
    ) -> Result<TorchRnn<BasicRnnCell>, TorchError> {
        torch_nonlinearity(activation)?;
        self.import(prefix, activation, device)
    }

    /// The layers of the `nn.LSTM` under `prefix` (`forget_bias = 0`).
    pub fn import_lstm(
        &self,
        prefix: &str,
        device: &Device,
    ) -> Result<TorchRnn<LstmCell>, TorchError> {
        self.import(prefix, Activation::Tanh, device)
    }

    /// The layers of the `nn.GRU` under `prefix` (`reset_after`, PyTorch's form).
    pub fn import_gru(
        &self,
        prefix: &str,
        device: &Device,
    ) -> Result<TorchRnn<GruCell>, TorchError> {
        self.import(prefix, Activation::Tanh, device)
    }

    /// The layers of the module under `prefix` as cells of type `C` (see
    /// [`import_rnn`](StateDict::import_rnn), [`import_lstm`](StateDict::import_lstm),
    /// [`import_gru`](StateDict::import_gru)). `activation` is used by `nn.RNN` only.
    pub fn import<C: TorchCell>(
        &self,
        prefix: &str,
        activation: Activation,
        device: &Device,
    ) -> Result<TorchRnn<C>, TorchError> {
        let info = self.info(prefix, C::KIND)?;
        let (g, h) = (C::KIND.gates(), info.hidden_size);
        let dirs = if info.bidirectional { 2 } else { 1 };
        let name = C::KIND.module_name();
        let mut fw = Vec::with_capacity(info.num_layers);
        let mut bw = Vec::new();
        for k in 0..info.num_layers {
            let i = if k == 0 { info.input_size } else { dirs * h };
            for reverse in [false, true].into_iter().take(dirs) {
                let suffix = format!("_l{k}{}", if reverse { "_reverse" } else { "" });
                let needed_for = format!(
                    "layer {k}{} of nn.{name} under prefix {prefix:?}",
                    if reverse { ", reverse direction," } else { "" }
                );
                let from = format!("H = {h} from `{prefix}weight_ih_l0`");
                let key = |what: &str| format!("{prefix}{what}{suffix}");
                let ih_layout = if k == 0 {
                    format!("[{}, I] of nn.{name}, {from}", gh(g))
                } else {
                    format!(
                        "[{}, {}] of nn.{name}, {from}",
                        gh(g),
                        if dirs == 2 { "2H" } else { "H" }
                    )
                };
                self.require_shape(&key("weight_ih"), &needed_for, &[g * h, i], &ih_layout)?;
                let hh_key = key("weight_hh");
                self.require_shape(
                    &hh_key,
                    &needed_for,
                    &[g * h, h],
                    &format!(
                        "[{}, H] of nn.{name}, {from}{}",
                        gh(g),
                        self.kind_hint(&hh_key, C::KIND)
                    ),
                )?;
                let bias = |what: &str| -> Result<Tensor<1>, TorchError> {
                    if !info.bias {
                        return Ok(Tensor::zeros([g * h], device));
                    }
                    let key = key(what);
                    self.require_shape(
                        &key,
                        &format!("{needed_for}; bias=True since `{prefix}bias_ih_l0` or `{prefix}bias_hh_l0` is present"),
                        &[g * h],
                        &format!("[{}] of nn.{name}, {from}", gh(g)),
                    )?;
                    self.tensor(&key, device)
                };
                let weights = TorchWeights {
                    weight_ih: self.tensor(&key("weight_ih"), device)?,
                    weight_hh: self.tensor(&hh_key, device)?,
                    bias_ih: bias("bias_ih")?,
                    bias_hh: bias("bias_hh")?,
                };
                let cell = C::from_torch(weights, activation)?;
                if reverse {
                    bw.push(cell)
                } else {
                    fw.push(cell)
                }
            }
        }
        Ok(TorchRnn { fw, bw })
    }

    /// A hint when `weight_hh`'s shape is another module's (`[3H, H]` asked as an LSTM).
    fn kind_hint(&self, key: &str, wanted: TorchRnnKind) -> String {
        match self.shape(key).as_deref() {
            Some(&[rows, h]) if h > 0 && rows.is_multiple_of(h) => {
                match TorchRnnKind::from_gates(rows / h) {
                    Some(kind) if kind != wanted => {
                        format!("; the file's shape is that of an nn.{}", kind.module_name())
                    }
                    _ => String::new(),
                }
            }
            _ => String::new(),
        }
    }

    /// The `nn.Linear` under `prefix` (`"fc."`: keys `fc.weight [O, D]`, optional `fc.bias
    /// [O]`) as burn's `Linear` with `weight [D, O]`, `bias [O]`.
    pub fn import_linear(&self, prefix: &str, device: &Device) -> Result<Linear, TorchError> {
        let key = format!("{prefix}weight");
        let needed_for = format!("nn.Linear under prefix {prefix:?}");
        let shape = self
            .shape(&key)
            .ok_or_else(|| self.missing(&key, &needed_for))?;
        let [o, d] = shape[..] else {
            return Err(TorchError::Shape {
                key,
                expected: "[O, D] (out_features, in_features)".into(),
                actual: shape,
            });
        };
        if o == 0 || d == 0 {
            return Err(TorchError::Shape {
                key,
                expected: "[O, D] with O >= 1 and D >= 1".into(),
                actual: shape,
            });
        }
        let weight: Tensor<2> = self.tensor(&key, device)?;
        let bias_key = format!("{prefix}bias");
        let bias = if self.tensors.contains_key(&bias_key) {
            self.require_shape(
                &bias_key,
                &needed_for,
                &[o],
                &format!("[O], O = {o} from `{key}`"),
            )?;
            Some(Param::from_tensor(self.tensor::<1>(&bias_key, device)?))
        } else {
            None
        };
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias,
        })
    }

    /// Writes `rnn` under `prefix` with PyTorch's names and layout (`bias=True`), and
    /// metadata `rnn_rs.*` describing the module (`rnn_rs.module`, `rnn_rs.input_size`,
    /// `rnn_rs.hidden_size`, `rnn_rs.num_layers`, `rnn_rs.bidirectional`,
    /// `rnn_rs.nonlinearity` for `nn.RNN`, `rnn_rs.prefix`). Fails for what PyTorch's module
    /// cannot hold: layers of different hidden sizes, an input size that is not `D * H` above
    /// layer 0, mixed or other activations, TF's GRU form.
    pub fn insert_rnn<C: TorchCell>(
        &mut self,
        prefix: &str,
        rnn: &TorchRnn<C>,
    ) -> Result<(), TorchError> {
        let name = C::KIND.module_name();
        let dirs = if rnn.is_bidirectional() { 2 } else { 1 };
        let h = rnn.fw[0].output_size();
        let activation = rnn.fw[0].nonlinearity();
        for (k, cell) in rnn.fw.iter().chain(&rnn.bw).enumerate() {
            let layer = k % rnn.num_layers();
            let want_in = if layer == 0 {
                rnn.input_size()
            } else {
                dirs * h
            };
            if cell.output_size() != h || cell.input_size() != want_in {
                return Err(TorchError::Unsupported {
                    what: format!("layer {layer}"),
                    reason: format!(
                        "expected (input, hidden) sizes ({want_in}, {h}) (nn.{name} has one \
                         hidden_size, and layer k > 0 reads {dirs} * hidden_size), got ({}, {})",
                        cell.input_size(),
                        cell.output_size()
                    ),
                });
            }
            if cell.nonlinearity() != activation {
                return Err(TorchError::Unsupported {
                    what: format!("layer {layer}"),
                    reason: format!(
                        "expected the activation of layer 0, {activation:?} (nn.RNN has one \
                         nonlinearity), got {:?}",
                        cell.nonlinearity()
                    ),
                });
            }
        }
        for (reverse, cells) in [(false, &rnn.fw), (true, &rnn.bw)] {
            for (k, cell) in cells.iter().enumerate() {
                let w = cell.to_torch()?;
                let suffix = format!("_l{k}{}", if reverse { "_reverse" } else { "" });
                self.insert(format!("{prefix}weight_ih{suffix}"), w.weight_ih);
                self.insert(format!("{prefix}weight_hh{suffix}"), w.weight_hh);
                self.insert(format!("{prefix}bias_ih{suffix}"), w.bias_ih);
                self.insert(format!("{prefix}bias_hh{suffix}"), w.bias_hh);
            }
        }
        self.set_metadata("rnn_rs.module", name);
        self.set_metadata("rnn_rs.input_size", rnn.input_size().to_string());
        self.set_metadata("rnn_rs.hidden_size", h.to_string());
        self.set_metadata("rnn_rs.num_layers", rnn.num_layers().to_string());
        self.set_metadata("rnn_rs.bidirectional", rnn.is_bidirectional().to_string());
        self.set_metadata("rnn_rs.prefix", prefix);
        if let Some(a) = activation {
            self.set_metadata("rnn_rs.nonlinearity", torch_nonlinearity(a)?);
        }
        Ok(())
    }

    /// Writes `linear` (burn's `weight [D, O]`, `bias [O]`) under `prefix` as PyTorch's
    /// `nn.Linear` (`weight [O, D]`, `bias [O]`), and metadata `rnn_rs.head` (the prefix) and
    /// `rnn_rs.head_out` (O).
    pub fn insert_linear(&mut self, prefix: &str, linear: &Linear) {
        let weight = linear.weight.val();
        self.set_metadata("rnn_rs.head", prefix);
        self.set_metadata("rnn_rs.head_out", weight.dims()[1].to_string());
        self.insert(format!("{prefix}weight"), weight.transpose());
        if let Some(bias) = &linear.bias {
            self.insert(format!("{prefix}bias"), bias.val());
        }
    }
}

/// `G*H` as PyTorch's docs write it.
fn gh(g: usize) -> String {
    if g == 1 { "H".into() } else { format!("{g}H") }
}

fn is_safetensors(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[8] == b'{'
}

fn safetensors_dtype(dtype: DType) -> Option<safetensors::Dtype> {
    use safetensors::Dtype as S;
    Some(match dtype {
        DType::F64 => S::F64,
        DType::F32 | DType::Flex32 => S::F32,
        DType::F16 => S::F16,
        DType::BF16 => S::BF16,
        DType::I64 => S::I64,
        DType::I32 => S::I32,
        DType::I16 => S::I16,
        DType::I8 => S::I8,
        DType::U64 => S::U64,
        DType::U32 => S::U32,
        DType::U16 => S::U16,
        DType::U8 => S::U8,
        _ => return None,
    })
}
