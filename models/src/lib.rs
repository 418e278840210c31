//! zoo built-in model architectures.
