//! zoo's built-in model architectures, the synthetic data they are trained on,
//! their training loops and the loader that turns a package folder into a
//! runnable [`zoo_nn::Model`].
//!
//! * [`vgg`]: VGG16/VGG19 with Caffe's layer names (and the small "VGG-mini");
//! * [`peephole`]: Chainer's StatefulPeepholeLSTM + a linear readout, the
//!   interval-reproduction timing model;
//! * [`nested_rnn`]: the nested-RNN video detector (inner RNN over objects,
//!   outer RNN over frames);
//! * [`cell_counter`]: the FCRN-A-small density-map cell counter;
//! * [`package`]: `load(dir, device, options)` for every package kind,
//!   `load_installed(home, name, req, device)`;
//! * [`task`]: task decoders (classify, count, spikes, detect) for `zoo run`;
//! * [`tch_weights`]: converts weights saved with tch's module names
//!   (`key/weight`, `outer/weight_ih_l0`) to the links' Chainer names.
//!
//! Parameters are named like Chainer's (`conv1_1/W`, `upward/b`) in files and
//! like tch's (`conv1_1.W`) inside a `VarStore`; [`params`] converts. Every
//! architecture is built from zoo-nn links (`Convolution2D`, `Linear`,
//! `LSTM`, `PeepholeLSTM`), so its parameters are the links' own.

pub mod card;
pub mod cell_counter;
pub mod data;
pub mod error;
pub mod golden;
pub mod image_io;
pub mod inputs;
pub mod metrics;
pub mod nested_loss;
pub mod nested_rnn;
pub mod package;
pub mod params;
pub mod peephole;
pub mod rng;
pub mod task;
pub mod tch_weights;
pub mod train;
pub mod vgg;

pub use error::{ModelError, Result};
pub use package::{
    Architecture, BuiltinModel, LoadOptions, LoadedPackage, load, load_installed, load_package,
};
