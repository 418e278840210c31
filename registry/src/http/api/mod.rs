//! The zoo API of docs/api.md (routes in [`super::router`]).

pub(crate) mod blobs;
pub(crate) mod index;
pub(crate) mod me;
pub(crate) mod packages;
pub(crate) mod publish;
pub(crate) mod search;
