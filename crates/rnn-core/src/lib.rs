//! rnn-core: the recurrent building blocks of TensorFlow 1.x, rebuilt on burn.
//!
//! A *cell* knows one time step: `(input [B, I], state) -> (output [B, O], state)`
//! ([`RnnCell`]). *Wrappers* are cells around cells ([`OutputProjectionWrapper`],
//! [`MultiRnnCell`], [`DropoutWrapper`]). The *unrolls* run a cell over a sequence
//! ([`static_rnn`] over a `Vec` of steps, [`dynamic_rnn`] over a `[B, T, I]` tensor) with
//! TensorFlow's `sequence_length` contract. rnn-core never prints, and reads or writes files
//! only in the `pytorch` module (cargo feature `pytorch`: PyTorch state_dicts into cells and back).
//!
//! ```
//! use burn::tensor::{Int, Tensor};
//! use rnn_core::{BasicRnnCellConfig, dynamic_rnn};
//!
//! let device = rnn_core::device::default_device().unwrap();
//! let cell = BasicRnnCellConfig::new(3, 5).init(&device).unwrap(); // n_inputs 3, n_neurons 5
//! let x = Tensor::<3>::ones([4, 2, 3], &device);                     // [B, T, I]
//! let lengths = Tensor::<1, Int>::from_ints([2, 1, 2, 2], &device);  // [B]
//! let (outputs, state) = dynamic_rnn(&cell, x, None, Some(lengths)).unwrap();
//! assert_eq!(outputs.dims(), [4, 2, 5]);                             // [B, T, O]
//! assert_eq!(state.dims(), [4, 5]);                                  // [B, H]
//! ```

#![warn(missing_docs)]

pub mod activation;
pub mod allocator;
pub mod cell;
pub mod cells;
pub mod device;
pub mod error;
pub(crate) mod fused;
#[cfg(feature = "pytorch")]
pub mod pytorch;
pub mod state;
pub mod unroll;
pub mod wrappers;

pub use activation::Activation;
pub use cell::RnnCell;
pub use cells::basic::{BasicRnnCell, BasicRnnCellConfig};
pub use cells::gru::{GruCell, GruCellConfig};
pub use cells::ln_lstm::{
    DEFAULT_LAYER_NORM_EPSILON, LayerNormLstmCell, LayerNormLstmCellConfig, LayerNormWeights,
    TF_LAYER_NORM_EPSILON,
};
pub use cells::lstm::{LstmCell, LstmCellConfig, LstmState};
pub use error::RnnError;
pub use state::RnnState;
pub use unroll::bidirectional::{
    bidirectional_dynamic_rnn, stack_bidirectional_dynamic_rnn, static_bidirectional_rnn,
};
pub use unroll::decoder::{Decoded, Decoder, Feedback, StopFn};
pub use unroll::driver::{SequencePlan, last_valid_output, run_with_plan};
pub use unroll::dynamic::dynamic_rnn;
pub use unroll::stateful::StatefulRnn;
pub use unroll::static_unroll::static_rnn;
pub use wrappers::dropout::{DropoutState, DropoutWrapper, DropoutWrapperConfig};
pub use wrappers::multi::MultiRnnCell;
pub use wrappers::projection::{OutputProjectionWrapper, OutputProjectionWrapperConfig};

#[cfg(test)]
pub(crate) mod test_util;
