//! Shared by the web, ops and browser tests: an in-process registry and
//! small packages to publish into it.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zoo_format::archive::{PackOptions, pack};
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::{Scope, generate_token};
use zoo_registry::{AppState, Config, open_state, router};

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub data: std::path::PathBuf,
    pub state: AppState,
    pub app: Router,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` value.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

impl Registry {
    pub fn new() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let state = open_state(Config {
            data_dir: data.clone(),
            base_url: "http://registry.test".into(),
            max_package_size: zoo_registry::config::DEFAULT_MAX_PACKAGE_SIZE,
            cargo_auth_required: false,
        })
        .unwrap();
        let app = router(state.clone());
        Registry {
            dir,
            data,
            state,
            app,
        }
    }

    /// The same registry with other upload limits.
    pub fn with_upload_limits(
        mut self,
        limits: zoo_registry::http::uploads::UploadLimits,
    ) -> Registry {
        self.state = self.state.clone().with_upload_limits(limits);
        self.app = router(self.state.clone());
        self
    }

    /// Creates a user (if needed) and returns a token with `scopes`.
    pub fn token(&self, login: &str, scopes: &[Scope]) -> String {
        let store = &self.state.store;
        let user = match store.find_user(login).unwrap() {
            Some(u) => u,
            None => store.add_user(login).unwrap(),
        };
        let token = generate_token().unwrap();
        store
            .add_token(&user, &token.id, &token.secret_sha256, scopes)
            .unwrap();
        token.token
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        self.send_from(None, method, uri, headers, body).await
    }

    /// [`Registry::send`] as if from `client` (the peer address the server
    /// would see), for the per-address limits.
    pub async fn send_from(
        &self,
        client: Option<std::net::SocketAddr>,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(client) = client {
            request = request.extension(axum::extract::ConnectInfo(client));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[], Vec::new()).await
    }

    /// Publishes `package` (uploading its external blobs first).
    pub async fn publish(&self, token: &str, package: &Package) -> Reply {
        let auth = format!("Bearer {token}");
        for blob in &package.blobs {
            let uri = format!("/api/v1/blobs/{}", sha256_hex(blob));
            let reply = self
                .send(Method::PUT, &uri, &[("authorization", &auth)], blob.clone())
                .await;
            assert!(reply.status.is_success(), "{}", reply.text());
        }
        let packed = pack(package.dir.path(), &PackOptions::default()).unwrap();
        self.send(
            Method::PUT,
            "/api/v1/packages/new",
            &[("authorization", &auth)],
            packed.bytes,
        )
        .await
    }
}

/// A package directory and the external blobs it needs uploaded.
pub struct Package {
    pub dir: tempfile::TempDir,
    pub blobs: Vec<Vec<u8>>,
}

/// A model with external weights, a README, labels and a metric.
pub fn model(name: &str, version: &str, description: &str, readme: &str) -> Package {
    let weights = format!("weights of {name} {version}").into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"[package]
name = "{name}"
version = "{version}"
kind = "model"
description = {description:?}
license = "MIT"
readme = "README.md"
keywords = ["vision", "shapes"]

[dependencies]
peephole-lstm = "^0.1"

[model.architecture]
builtin = "mlp"
config = {{ classes = 3 }}

[model]
weights = ["weights.safetensors"]

[[model.inputs]]
name = "data"
shape = [1, 3, 8, 8]
dtype = "f32"

[[model.outputs]]
name = "prob"
labels = "labels.txt"

[[model.metrics]]
name = "accuracy"
dataset = "synthetic-shapes"
value = 0.97
"#
    );
    std::fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    std::fs::write(dir.path().join("README.md"), readme).unwrap();
    std::fs::write(dir.path().join("labels.txt"), "circle\nsquare\ntriangle\n").unwrap();
    std::fs::write(dir.path().join("weights.safetensors"), &weights).unwrap();
    Package {
        dir,
        blobs: vec![weights],
    }
}

/// A link package without files.
pub fn link(name: &str, version: &str, description: &str) -> Package {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nkind = \"link\"\ndescription = {description:?}\n"
    );
    std::fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    Package {
        dir,
        blobs: Vec::new(),
    }
}

/// A `.crate` publish body (cargo's wire format) for `name`@`vers`.
pub fn crate_publish_body(name: &str, vers: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let toml = format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(toml.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(
            &mut header,
            format!("{name}-{vers}/Cargo.toml"),
            toml.as_bytes(),
        )
        .unwrap();
    let krate = builder.into_inner().unwrap().finish().unwrap();
    let json =
        serde_json::json!({"name": name, "vers": vers, "deps": [], "features": {}}).to_string();
    let mut body = (json.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(json.as_bytes());
    body.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    body.extend_from_slice(&krate);
    body
}
