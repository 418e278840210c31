//! `zoo-registry`: the registry server.
fn main() {
    println!("zoo-registry {}", env!("CARGO_PKG_VERSION"));
}
