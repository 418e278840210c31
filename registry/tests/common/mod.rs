//! Helpers shared by the in-process tests.

use axum::http::StatusCode;
use zoo_e2e::in_process::{Registry, link};

/// Publishes `peephole-lstm`, the dependency of `zoo_e2e::in_process::model`:
/// the registry refuses a version whose dependencies it does not have.
pub async fn publish_model_dependencies(reg: &Registry, token: &str) {
    let lstm = link("peephole-lstm", "0.1.0", "LSTM with peepholes");
    let reply = reg.publish(token, &lstm).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}
