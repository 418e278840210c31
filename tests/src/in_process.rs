//! The in-process registry (feature `in-process`): zoo-registry's axum
//! router driven without sockets, and small packages to publish into it.
//! zoo-registry's own tests use it (a dev-dependency cycle cargo allows).

use crate::Manifest;
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
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The first error's `detail` of a JSON error reply ("" if none).
    pub fn detail(&self) -> String {
        self.json()["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
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
    /// A fresh registry with the default limits.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Registry {
        Registry::with_limit(zoo_registry::config::DEFAULT_MAX_PACKAGE_SIZE)
    }

    /// A fresh registry taking packages of up to `max_package_size` bytes.
    pub fn with_limit(max_package_size: u64) -> Registry {
        Registry::open(max_package_size, false)
    }

    /// A fresh registry whose Cargo side needs a token for everything
    /// (`serve --cargo-auth-required`).
    pub fn with_cargo_auth_required() -> Registry {
        Registry::open(1 << 30, true)
    }

    fn open(max_package_size: u64, cargo_auth_required: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let state = open_state(Config {
            data_dir: data.clone(),
            base_url: "http://registry.test".into(),
            max_package_size,
            cargo_auth_required,
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

    /// Publishes `peephole-lstm`, the dependency of [`model`]: the registry
    /// refuses a version whose dependencies it does not have.
    pub async fn publish_model_dependencies(&self, token: &str) {
        let lstm = link("peephole-lstm", "0.1.0", "LSTM with peepholes");
        let reply = self.publish(token, &lstm).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
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

    /// [`Registry::send`] with `token` (if any) as the bearer token.
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = token.map(|token| format!("Bearer {token}"));
        let mut all: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|auth| ("authorization", auth))
            .into_iter()
            .collect();
        all.extend_from_slice(headers);
        self.send(method, uri, &all, body).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[], Vec::new()).await
    }

    /// Uploads one external blob.
    pub async fn put_blob(&self, token: &str, bytes: &[u8]) -> Reply {
        let uri = format!("/api/v1/blobs/{}", sha256_hex(bytes));
        self.request(Method::PUT, &uri, Some(token), bytes.to_vec(), &[])
            .await
    }

    /// Publishes a packed archive as it is (no blobs uploaded).
    pub async fn publish_archive(&self, token: &str, archive: &[u8]) -> Reply {
        let uri = "/api/v1/packages/new";
        self.request(Method::PUT, uri, Some(token), archive.to_vec(), &[])
            .await
    }

    /// Yanks (`true`) or un-yanks `name`@`version`.
    pub async fn yank(&self, token: &str, name: &str, version: &str, yanked: bool) -> Reply {
        let (method, action) = match yanked {
            true => (Method::DELETE, "yank"),
            false => (Method::PUT, "unyank"),
        };
        let uri = format!("/api/v1/packages/{name}/{version}/{action}");
        self.request(method, &uri, Some(token), Vec::new(), &[])
            .await
    }

    /// How many files the blob store holds.
    pub fn stored_blobs(&self) -> usize {
        count_files(&self.data.join("blobs"))
    }

    /// Publishes `package` (uploading its external blobs first).
    pub async fn publish(&self, token: &str, package: &Package) -> Reply {
        for blob in &package.blobs {
            let reply = self.put_blob(token, blob).await;
            assert!(reply.status.is_success(), "{}", reply.text());
        }
        self.publish_archive(token, &package.packed().bytes).await
    }
}

pub use crate::count_files;

/// A package directory and the external blobs it needs uploaded.
pub struct Package {
    pub dir: tempfile::TempDir,
    pub blobs: Vec<Vec<u8>>,
}

impl Package {
    /// The package packed as `zoo publish` would.
    pub fn packed(&self) -> zoo_format::archive::Packed {
        pack(self.dir.path(), &PackOptions::default()).unwrap()
    }

    /// Rewrites its zoo.toml with `edit`.
    pub fn edit_manifest(&self, edit: impl FnOnce(String) -> String) {
        let path = self.dir.path().join("zoo.toml");
        let toml = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, edit(toml)).unwrap();
    }
}

/// A model with external weights, a README, labels and a metric.
pub fn model(name: &str, version: &str, description: &str, readme: &str) -> Package {
    let weights = format!("weights of {name} {version}").into_bytes();
    model_with_weights(name, version, description, readme, &weights)
}

/// [`model`] with the given weights bytes.
pub fn model_with_weights(
    name: &str,
    version: &str,
    description: &str,
    readme: &str,
    weights: &[u8],
) -> Package {
    let dir = tempfile::tempdir().unwrap();
    let toml = Manifest::model(name, version)
        .description(description)
        .license("MIT")
        .readme("README.md")
        .keywords(&["vision", "shapes"])
        .dependency("peephole-lstm", "^0.1")
        .builtin("vgg-mini")
        .architecture("config = { classes = 3 }")
        .weights(&["weights.safetensors"])
        .input("data", &[1, 3, 8, 8])
        .output("prob", Some("labels.txt"))
        .metric("accuracy", "synthetic-shapes", 0.97)
        .to_toml();
    std::fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    std::fs::write(dir.path().join("README.md"), readme).unwrap();
    std::fs::write(dir.path().join("labels.txt"), "circle\nsquare\ntriangle\n").unwrap();
    std::fs::write(dir.path().join("weights.safetensors"), weights).unwrap();
    Package {
        dir,
        blobs: vec![weights.to_vec()],
    }
}

/// A link package without files.
pub fn link(name: &str, version: &str, description: &str) -> Package {
    let dir = tempfile::tempdir().unwrap();
    Manifest::new(name, version, "link")
        .description(description)
        .write(dir.path());
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
