//! Package folders → runnable models ([`load`]). A package's `zoo.toml`
//! names a built-in architecture and its config (the weights file,
//! safetensors or Chainer npz, loads by parameter name with strict name and
//! shape checks), a graph file, or a TorchScript file.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let package = zoo_models::load_package("models/cell-counter".as_ref(), tch::Device::Cpu)?;
//! let image = tch::Tensor::zeros([1, 1, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
//! let out = package.model.run(&[("image".into(), image)], &["count".into()])?;
//! # Ok(()) }
//! ```

use crate::cell_counter::{CellCounter, CellCounterConfig, count_from_density};
use crate::error::{ModelError, Result};
use crate::nested_rnn::{NestedRnn, NestedRnnConfig};
use crate::params;
use crate::peephole::{PeepholeConfig, TimingModel};
use crate::vgg::{Vgg, VggConfig};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn::VarStore};
use zoo_format::manifest::{Architecture as ManifestArchitecture, Manifest};
use zoo_nn::{Mode, Model};

/// The built-in architectures, by their `builtin = "…"` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Vgg16,
    Vgg19,
    VggMini,
    PeepholeLstm,
    NestedRnn,
    CellCounter,
}

impl Architecture {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "vgg16" => Architecture::Vgg16,
            "vgg19" => Architecture::Vgg19,
            "vgg-mini" => Architecture::VggMini,
            "peephole-lstm" => Architecture::PeepholeLstm,
            "nested-rnn" => Architecture::NestedRnn,
            "cell-counter" => Architecture::CellCounter,
            other => return Err(ModelError::UnknownArchitecture(other.to_string())),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Vgg16 => "vgg16",
            Architecture::Vgg19 => "vgg19",
            Architecture::VggMini => "vgg-mini",
            Architecture::PeepholeLstm => "peephole-lstm",
            Architecture::NestedRnn => "nested-rnn",
            Architecture::CellCounter => "cell-counter",
        }
    }
    pub fn is_vgg(self) -> bool {
        matches!(
            self,
            Architecture::Vgg16 | Architecture::Vgg19 | Architecture::VggMini
        )
    }
}

/// A built network of one of the built-in architectures.
#[derive(Debug)]
pub enum Network {
    Vgg(Vgg),
    Timing(TimingModel),
    NestedRnn(Box<NestedRnn>),
    CellCounter(CellCounter),
}

/// A built-in architecture with its parameters: implements [`zoo_nn::Model`].
#[derive(Debug)]
pub struct BuiltinModel {
    pub architecture: Architecture,
    pub vs: VarStore,
    pub network: Network,
}

/// A built-in package's `[model.architecture] config` read as `T`, as the
/// loader reads it (an empty table, or a package of another kind, gives
/// `T`'s defaults); for code that decodes a loaded package's outputs.
pub fn builtin_config<T: serde::de::DeserializeOwned + Default>(manifest: &Manifest) -> Result<T> {
    match manifest.model.as_ref().map(|m| &m.architecture) {
        Some(ManifestArchitecture::Builtin { name, config }) => {
            parse_config(Architecture::from_name(name)?, config, T::default())
        }
        _ => Ok(T::default()),
    }
}

fn parse_config<T: serde::de::DeserializeOwned>(
    architecture: Architecture,
    config: &serde_json::Value,
    default: T,
) -> Result<T> {
    if config.as_object().is_some_and(|m| m.is_empty()) {
        return Ok(default);
    }
    serde_json::from_value(config.clone()).map_err(|error| ModelError::Package {
        package: architecture.name().into(),
        message: format!("[model.architecture] config: {error}"),
    })
}

impl BuiltinModel {
    /// Builds `architecture` with freshly initialised parameters on `device`.
    /// An empty `config` means the architecture's defaults.
    pub fn build(
        architecture: Architecture,
        config: &serde_json::Value,
        device: Device,
    ) -> Result<Self> {
        let vs = VarStore::new(device);
        let root = vs.root();
        let network = match architecture {
            Architecture::Vgg16 => Network::Vgg(Vgg::new(
                &root,
                parse_config(architecture, config, VggConfig::vgg16())?,
            )?),
            Architecture::Vgg19 => Network::Vgg(Vgg::new(
                &root,
                parse_config(architecture, config, VggConfig::vgg19())?,
            )?),
            Architecture::VggMini => Network::Vgg(Vgg::new(
                &root,
                parse_config(architecture, config, VggConfig::mini())?,
            )?),
            Architecture::PeepholeLstm => Network::Timing(TimingModel::new(
                &root,
                parse_config(architecture, config, PeepholeConfig::default())?,
            )),
            Architecture::NestedRnn => Network::NestedRnn(Box::new(NestedRnn::new(
                &root,
                parse_config(architecture, config, NestedRnnConfig::default())?,
            )?)),
            Architecture::CellCounter => Network::CellCounter(CellCounter::new(
                &root,
                parse_config(architecture, config, CellCounterConfig::default())?,
            )?),
        };
        Ok(BuiltinModel {
            architecture,
            vs,
            network,
        })
    }

    /// Layout changes that speed up inference without changing results
    /// beyond rounding (VGG: channels-last convs), made before the weights
    /// are loaded: the current values are dropped, and loading copies the
    /// file's into the new layout. Loading a package does this; training
    /// does not.
    pub fn prepare_for_inference(&self) -> Result<()> {
        match &self.network {
            Network::Vgg(vgg) => vgg.channels_last_for_loading(),
            Network::Timing(_) | Network::NestedRnn(_) | Network::CellCounter(_) => Ok(()),
        }
    }

    /// Loads the weights file (safetensors or Chainer npz) by parameter name.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        params::load_into(&mut self.vs, path)
    }

    fn input_name(&self) -> &'static str {
        match self.network {
            Network::Vgg(_) => "data",
            Network::Timing(_) => "x",
            Network::NestedRnn(_) => "video",
            Network::CellCounter(_) => "image",
        }
    }

    /// Every output a run may ask for.
    pub fn all_outputs(&self) -> Vec<String> {
        match &self.network {
            Network::Vgg(vgg) => vgg.layer_names(),
            Network::Timing(_) => vec!["logits".into(), "spikes".into()],
            Network::NestedRnn(_) => vec!["class_logits".into(), "boxes".into()],
            Network::CellCounter(_) => vec!["density".into(), "count".into()],
        }
    }

    fn compute(&self, x: &Tensor, wanted: &[String]) -> Result<Vec<(String, Tensor)>> {
        // Move only when needed: an unconditional move would be recorded by
        // TorchScript tracing and pin an exported file to this device.
        let x = if x.device() == self.vs.device() {
            x.shallow_clone()
        } else {
            x.to_device(self.vs.device())
        };
        let pick = |mut outputs: Vec<(String, Tensor)>| -> Vec<(String, Tensor)> {
            wanted
                .iter()
                .filter_map(|w| {
                    outputs
                        .iter()
                        .position(|(n, _)| n == w)
                        .map(|i| outputs.swap_remove(i))
                })
                .collect()
        };
        Ok(match &self.network {
            Network::Vgg(vgg) => {
                let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
                let mut found = vgg.extract(&x, &names, Mode::Test)?;
                wanted
                    .iter()
                    .filter_map(|w| found.remove(w).map(|t| (w.clone(), t)))
                    .collect()
            }
            Network::Timing(model) => {
                let logits = model.logits(&x)?;
                let spikes = logits.ge(0.0).to_kind(Kind::Float);
                pick(vec![("logits".into(), logits), ("spikes".into(), spikes)])
            }
            Network::NestedRnn(model) => {
                let d = model.forward(&x)?;
                pick(vec![
                    ("class_logits".into(), d.class_logits),
                    ("boxes".into(), d.boxes),
                ])
            }
            Network::CellCounter(model) => {
                let density = model.density(&x)?;
                let count = count_from_density(&density);
                pick(vec![("density".into(), density), ("count".into(), count)])
            }
        })
    }
}

impl Model for BuiltinModel {
    fn input_names(&self) -> Vec<String> {
        vec![self.input_name().to_string()]
    }

    fn default_outputs(&self) -> Vec<String> {
        match self.network {
            Network::Vgg(_) => vec!["prob".into()],
            _ => self.all_outputs(),
        }
    }

    fn run(
        &self,
        inputs: &[(String, Tensor)],
        outputs: &[String],
    ) -> zoo_nn::Result<Vec<(String, Tensor)>> {
        let name = self.input_name();
        let x = match inputs {
            [(given, x)] if given == name => x,
            _ => {
                let given: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
                return Err(zoo_nn::NnError::Input {
                    name: name.into(),
                    message: format!("the model takes exactly one input {name:?}, got {given:?}"),
                });
            }
        };
        if x.kind() != Kind::Float && x.kind() != Kind::Double {
            return Err(zoo_nn::NnError::Input {
                name: name.into(),
                message: format!("expected a float tensor, got {:?}", x.kind()),
            });
        }
        let wanted = if outputs.is_empty() {
            self.default_outputs()
        } else {
            outputs.to_vec()
        };
        let known = self.all_outputs();
        if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
            return Err(zoo_nn::NnError::UnknownOutput {
                name: unknown.clone(),
                known,
            });
        }
        let result = tch::no_grad(|| self.compute(x, &wanted))?;
        Ok(result)
    }

    fn device(&self) -> Device {
        self.vs.device()
    }
}

/// The parameters of built-in architecture `name` with `config` as weights
/// files name them (`conv1_1/W`), with their shapes: what an importer's
/// `--like` checks converted weights against. Built uninitialised, so only
/// names and shapes cost anything.
pub fn builtin_parameters(
    name: &str,
    config: &serde_json::Value,
) -> Result<Vec<(String, Vec<i64>)>> {
    let architecture = Architecture::from_name(name)?;
    let model =
        zoo_nn::init::for_loading(|| BuiltinModel::build(architecture, config, Device::Cpu))?;
    let mut parameters: Vec<(String, Vec<i64>)> = model
        .vs
        .variables()
        .into_iter()
        .map(|(name, tensor)| (params::file_name(&name), tensor.size()))
        .collect();
    parameters.sort();
    Ok(parameters)
}

/// A loaded package: its folder, manifest and runnable model.
pub struct LoadedPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Set for built-in architectures.
    pub architecture: Option<Architecture>,
    pub model: Box<dyn Model>,
    /// Every output a run may ask for, when the loader can tell without
    /// running (a built-in's layers, a graph's blobs, a TorchScript file's
    /// declared outputs): so that a wrong output name is refused before
    /// any input runs.
    pub outputs: Option<Vec<String>>,
}

impl std::fmt::Debug for LoadedPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPackage")
            .field("dir", &self.dir)
            .field("name", &self.manifest.package.name)
            .field("architecture", &self.architecture)
            .finish()
    }
}

/// Reads a package folder's manifest with an error naming the folder.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    Manifest::load(dir).map_err(|error| ModelError::file(dir, error.to_string()))
}

/// What the caller decides when loading a package.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// A TorchScript package is a program: it loads only when the caller
    /// allowed its code (zoo's `allow-code` setting lives in the binary).
    /// The operator scan of the file runs either way.
    pub allow_code: bool,
    /// The model is to be traced (`zoo export`): parameters frozen (tracing
    /// refuses to bake in ones that need gradients), no inference-only
    /// layout changes.
    pub for_tracing: bool,
}

/// Loads any model package from its folder onto `device`: a built-in
/// architecture (weights by name, strict), a graph file or a TorchScript
/// file (only with `options.allow_code`). The one loader behind `zoo run`,
/// `zoo export`, `zoo verify` and golden recording.
pub fn load(dir: &Path, device: Device, options: LoadOptions) -> Result<LoadedPackage> {
    let manifest = read_manifest(dir)?;
    let package = manifest.package.name.clone();
    let section = manifest.model.as_ref().ok_or_else(|| ModelError::Package {
        package: package.clone(),
        message: "not a model package (no [model] section)".into(),
    })?;
    let (model, architecture, outputs): (Box<dyn Model>, _, _) = match &section.architecture {
        ManifestArchitecture::Builtin { name, config } => {
            let architecture = Architecture::from_name(name)?;
            let model = load_builtin(
                dir,
                &package,
                section,
                architecture,
                config,
                device,
                options,
            )?;
            let outputs = Some(model.all_outputs());
            (Box::new(model), Some(architecture), outputs)
        }
        ManifestArchitecture::Graph { file } => {
            let weights: Vec<PathBuf> = section.weights.iter().map(|w| dir.join(w)).collect();
            let model = zoo_nn::graph::GraphModel::load(&dir.join(file), &weights, device)?;
            let outputs = Some(model.blob_names());
            (Box::new(model), None, outputs)
        }
        ManifestArchitecture::TorchScript { file } => {
            if !options.allow_code {
                return Err(ModelError::Package {
                    package,
                    message: format!(
                        "its model {file} is TorchScript, a program: loaded only when code is allowed"
                    ),
                });
            }
            // Inputs by the manifest's names and (traced) shapes, outputs in file order.
            let inputs = section
                .inputs
                .iter()
                .map(|i| zoo_nn::torchscript::InputSpec::new(&i.name, Some(i.shape.clone())))
                .collect();
            let outputs: Vec<String> = section.outputs.iter().map(|o| o.name.clone()).collect();
            let model = zoo_nn::torchscript::TorchScriptModel::load(&dir.join(file), device)?
                .with_signature(inputs, outputs.clone());
            // Without declared outputs the file's own are known only by running it.
            let outputs = (!outputs.is_empty()).then_some(outputs);
            (Box::new(model), None, outputs)
        }
    };
    Ok(LoadedPackage {
        dir: dir.to_path_buf(),
        manifest,
        architecture,
        model,
        outputs,
    })
}

/// A built-in architecture with the package's weights.
fn load_builtin(
    dir: &Path,
    package: &str,
    section: &zoo_format::manifest::ModelSection,
    architecture: Architecture,
    config: &serde_json::Value,
    device: Device,
    options: LoadOptions,
) -> Result<BuiltinModel> {
    let weights = section.weights.first().ok_or_else(|| ModelError::Package {
        package: package.to_string(),
        message: "[model] weights is empty".into(),
    })?;
    let weights = dir.join(weights);
    if !weights.is_file() {
        // Checked before building: VGG16 alone allocates 553 MB of parameters.
        return Err(ModelError::file(&weights, "weights file not found"));
    }
    // Config errors name the package, not just its architecture. Every
    // parameter is then overwritten by the strict load: no initialisation.
    let mut model = zoo_nn::init::for_loading(|| BuiltinModel::build(architecture, config, device))
        .map_err(|error| match error {
            ModelError::Package { message, .. } => ModelError::Package {
                package: package.to_string(),
                message,
            },
            other => other,
        })?;
    // The inference layout first, so that loading copies the file's values
    // straight into it and drops the pages it copied from (a layout made
    // after loading would leave the mapped originals resident beside it).
    if !options.for_tracing {
        model.prepare_for_inference()?;
    }
    model.load_weights(&weights)?;
    if options.for_tracing {
        model.vs.freeze();
    }
    Ok(model)
}

/// [`load`] without code: built-in and graph packages.
pub fn load_package(dir: &Path, device: Device) -> Result<LoadedPackage> {
    load(dir, device, LoadOptions::default())
}

/// Loads the highest installed version of `name` matching `req` from the
/// package store at `home` (see zoo-client).
pub fn load_installed(
    home: &Path,
    name: &str,
    req: &semver::VersionReq,
    device: Device,
) -> Result<LoadedPackage> {
    let store = zoo_client::Store::open(home).map_err(|error| ModelError::Package {
        package: name.into(),
        message: error.to_string(),
    })?;
    let installed = store
        .find_installed(name, req)
        .map_err(|error| ModelError::Package {
            package: name.into(),
            message: error.to_string(),
        })?;
    load_package(&installed.dir, device)
}

/// Labels of the output `output` (one per line), when the package names a
/// file; read as [`crate::task::read_labels`] reads them (blank lines refused).
pub fn labels(package: &LoadedPackage, output: &str) -> Result<Option<Vec<String>>> {
    crate::task::read_labels(&package.dir, &package.manifest, output)
}

#[cfg(test)]
mod tests {
    use super::Architecture;

    /// zoo-format's list (checked when packing) and the architectures built
    /// here are the same names.
    #[test]
    fn the_packers_list_names_exactly_the_built_in_architectures() {
        for name in zoo_format::manifest::BUILTIN_ARCHITECTURES {
            let parsed = Architecture::from_name(name).unwrap();
            assert_eq!(parsed.name(), name);
        }
        let e = Architecture::from_name("peephole-lsmt").unwrap_err();
        assert!(
            e.to_string().contains("expected one of vgg16, vgg19"),
            "{e}"
        );
    }
}
