//! Links and models as TorchScript: export by tracing, run without compiling.
//!
//! A TorchScript file (`.pt`) is what PyTorch users already load with
//! `torch.jit.load`, and what libtorch runs on any device; it lets a custom
//! Link travel in a package without the receiver building its Rust code.
//!
//! Export traces: the forward runs once on named example inputs while
//! libtorch records every tensor op, and parameters become constants of the
//! recorded graph. So the file is specialised to what the forward did on the
//! examples: shapes it read (batch size, sequence length: recurrent links are
//! unrolled over the example's time steps) and branches it took are fixed.
//! Parameters must not require gradients while tracing (freeze the
//! `VarStore`); the forward must be pure tensor ops. A forward that moves
//! tensors to a device itself is recorded with that device and runs only
//! there ([`pinned_devices`]; loading elsewhere is refused with the reason).
//!
//! [`TorchScriptModel`] loads a file onto a device and implements [`Model`]:
//! inputs by name in the traced order, outputs by name, shapes checked
//! against the declared ones before anything runs.

pub mod scan;

use crate::error::{NnError, Result};
use crate::link::{Link, Mode};
use crate::links::{LstmState, Recurrent};
use crate::model::Model;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use tch::jit::{CModule, IValue};
use tch::{Device, Tensor};

/// Name of the traced method; `torch.jit.load(f)(x)` calls it.
const FORWARD: &str = "forward";

thread_local! {
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running a forward inside [`trace`]. Links whose
/// fast paths work outside libtorch's ops (zoo-kernels) or rewrite buffers
/// in place take their op-by-op path then, so that the recording holds every
/// operation. (libtorch's own tracing flag is not reachable through tch.)
pub fn is_tracing() -> bool {
    TRACING.with(Cell::get)
}

/// Sets the flag for its lifetime, restoring the previous value after.
struct TracingFlag(bool);

impl TracingFlag {
    fn set() -> Self {
        TracingFlag(TRACING.with(|t| t.replace(true)))
    }
}

impl Drop for TracingFlag {
    fn drop(&mut self) {
        TRACING.with(|t| t.set(self.0));
    }
}

/// Records `forward` applied to `inputs` (name, example) as a TorchScript
/// module. `forward` gets the example tensors in order and returns the
/// output; its error (or panic) is returned as an error.
///
/// One output per file: libtorch's tracer cannot build the tuple that would
/// hold several, and a module returning several outputs cannot be saved.
pub fn trace<F>(inputs: &[(String, Tensor)], mut forward: F) -> Result<CModule>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
{
    if inputs.is_empty() {
        return Err(NnError::input(
            "inputs",
            "tracing needs at least one example input",
        ));
    }
    let examples: Vec<Tensor> = inputs.iter().map(|(_, t)| t.shallow_clone()).collect();
    let mut failure = None;
    // The closure must return tensors; on an error it ends the trace with no
    // outputs, which also clears libtorch's tracing state for the next trace.
    let traced = CModule::create_by_tracing("ZooTraced", FORWARD, &examples, &mut |xs| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _flag = TracingFlag::set();
            tch::no_grad(|| forward(xs))
        }));
        let outputs = match outcome {
            Ok(Ok(outputs)) if outputs.len() == 1 => return outputs,
            Ok(Ok(outputs)) => NnError::input(
                "outputs",
                format!(
                    "a TorchScript file holds one output tensor, the forward returned {}",
                    outputs.len()
                ),
            ),
            Ok(Err(error)) => error,
            Err(panic) => NnError::Other(format!(
                "the forward panicked while tracing: {}",
                panic_message(panic.as_ref())
            )),
        };
        failure = Some(outputs);
        Vec::new()
    });
    if let Some(error) = failure {
        return Err(explain_trace_error(error));
    }
    traced.map_err(|e| explain_trace_error(NnError::Torch(e)))
}

/// Adds the fix to libtorch's message about parameters that need gradients.
fn explain_trace_error(error: NnError) -> NnError {
    let text = error.to_string();
    if text.contains("requires grad") {
        NnError::Other(format!(
            "cannot trace: a parameter requires gradients; freeze the VarStore \
             (vs.freeze()) before exporting ({})",
            first_line(text.trim_start_matches("Internal torch error:"))
        ))
    } else {
        error
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        first_line(text)
    } else if let Some(text) = panic.downcast_ref::<String>() {
        first_line(text)
    } else {
        "(no message)".into()
    }
}

/// Traces `forward` on `inputs` and saves the module to `path` atomically.
pub fn export<F>(path: &Path, inputs: &[(String, Tensor)], forward: F) -> Result<()>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let module = trace(inputs, forward)?;
    save(&module, path)
}

/// Saves a traced module to `path` through a temporary file and a rename.
pub fn save(module: &CModule, path: &Path) -> Result<()> {
    crate::params::write_with_temp(path, |temp| {
        module
            .save(temp)
            .map_err(|e| NnError::file(path, format!("cannot write TorchScript: {e}")))
    })
}

/// Exports a Link's test-mode forward on the example input `name`.
pub fn export_link(path: &Path, link: &dyn Link, name: &str, example: &Tensor) -> Result<()> {
    export(path, &[(name.to_string(), example.shallow_clone())], |xs| {
        Ok(vec![link.f_forward(&xs[0], Mode::Test)?])
    })
}

/// Exports one step of an LSTM-like recurrent link as
/// `forward(x, state) -> state'`, with `state` = `stack([h, c])`,
/// (2, batch, hidden): the state travels as a plain input and output (one
/// tensor, as a file holds one output), so the file serves any sequence length.
pub fn export_lstm_step<R>(path: &Path, link: &R, x: &Tensor, state: &LstmState) -> Result<()>
where
    R: Recurrent<State = LstmState>,
{
    let stacked = Tensor::f_stack(&[&state.h, &state.c], 0)?;
    let inputs = [
        ("x".to_string(), x.shallow_clone()),
        ("state".to_string(), stacked),
    ];
    export(path, &inputs, |xs| {
        let state = LstmState {
            h: xs[1].f_get(0)?,
            c: xs[1].f_get(1)?,
        };
        let next = link.step(&xs[0], &state)?;
        Ok(vec![Tensor::f_stack(&[next.h, next.c], 0)?])
    })
}

/// Exports a [`Model`]: traces `model.run` on the named examples, returning
/// `output` (the model's only default output when `None`).
pub fn export_model(
    path: &Path,
    model: &dyn Model,
    inputs: &[(String, Tensor)],
    output: Option<&str>,
) -> Result<()> {
    let names: Vec<String> = inputs.iter().map(|(n, _)| n.clone()).collect();
    let wanted = match output {
        Some(name) => vec![name.to_string()],
        None => {
            let defaults = model.default_outputs();
            if defaults.len() != 1 {
                return Err(NnError::input(
                    "output",
                    format!(
                        "the model has {} default outputs ({}); a TorchScript file holds one, name it",
                        defaults.len(),
                        defaults.join(", ")
                    ),
                ));
            }
            defaults
        }
    };
    export(path, inputs, |xs| {
        let named: Vec<(String, Tensor)> = names
            .iter()
            .cloned()
            .zip(xs.iter().map(Tensor::shallow_clone))
            .collect();
        let results = model.run(&named, &wanted)?;
        Ok(results.into_iter().map(|(_, t)| t).collect())
    })
}

/// Devices the recorded code names explicitly (`torch.device("cpu")`). A
/// traced forward that moved or created tensors on a device (`to_device`,
/// `to_kind`, `zeros` with options) runs only there; one that names none
/// runs wherever its file is loaded.
pub fn pinned_devices(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| NnError::file(path, format!("not a TorchScript archive: {e}")))?;
    let mut devices = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| NnError::file(path, format!("unreadable archive entry: {e}")))?;
        if !(entry.name().contains("/code/") && entry.name().ends_with(".py")) {
            continue;
        }
        let mut code = String::new();
        std::io::Read::read_to_string(&mut entry, &mut code)
            .map_err(|e| NnError::file(path, format!("unreadable code {}: {e}", entry.name())))?;
        for rest in code.split("torch.device(\"").skip(1) {
            if let Some((device, _)) = rest.split_once('"')
                && !devices.iter().any(|d| d == device)
            {
                devices.push(device.to_string());
            }
        }
    }
    Ok(devices)
}

/// Whether code pinned to `pinned` (as TorchScript spells it) runs on `device`.
fn runs_on(pinned: &str, device: Device) -> bool {
    match device {
        Device::Cpu => pinned == "cpu",
        Device::Cuda(index) => {
            pinned == format!("cuda:{index}") || (index == 0 && pinned == "cuda")
        }
        _ => false,
    }
}

fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}"),
    }
}

/// A declared input: its name and shape (`-1` for a free dimension), as in a
/// package's `[[model.inputs]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    pub shape: Option<Vec<i64>>,
}

impl InputSpec {
    pub fn new(name: impl Into<String>, shape: Option<Vec<i64>>) -> Self {
        InputSpec {
            name: name.into(),
            shape,
        }
    }
}

/// A loaded TorchScript file, runnable as a [`Model`] in eval mode.
#[derive(Debug)]
pub struct TorchScriptModel {
    module: CModule,
    path: PathBuf,
    inputs: Vec<InputSpec>,
    outputs: Vec<String>,
    device: Device,
}

impl TorchScriptModel {
    /// Loads `path` with its tensors mapped onto `device`. Until
    /// [`with_signature`](Self::with_signature) names them, the inputs are
    /// taken in the order given and the outputs are `output0`, `output1`, ….
    pub fn load(path: &Path, device: Device) -> Result<TorchScriptModel> {
        if !path.is_file() {
            return Err(NnError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such TorchScript file",
                ),
            });
        }
        // TorchScript is code: refuse anything but tensor maths before
        // libtorch parses or runs a byte of it.
        scan::scan_file(path)?;
        check_available(device)?;
        let mut module = CModule::load_on_device(path, device).map_err(|e| {
            NnError::file(
                path,
                format!(
                    "not a loadable TorchScript file: {}",
                    first_line(&e.to_string())
                ),
            )
        })?;
        module
            .f_set_eval()
            .map_err(|e| NnError::file(path, format!("cannot switch to eval mode: {e}")))?;
        if let Some(pinned) = pinned_devices(path)?
            .into_iter()
            .find(|pinned| !runs_on(pinned, device))
        {
            return Err(NnError::file(
                path,
                format!(
                    "the traced code moves tensors to {pinned} explicitly, so it cannot run on {}; \
                     export it again on that device",
                    device_name(device)
                ),
            ));
        }
        Ok(TorchScriptModel {
            module,
            path: path.to_path_buf(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            device,
        })
    }

    /// Names the inputs (in the traced order, with shapes to check) and the
    /// outputs (in the order the module returns them).
    pub fn with_signature(mut self, inputs: Vec<InputSpec>, outputs: Vec<String>) -> Self {
        self.inputs = inputs;
        self.outputs = outputs;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the module on tensors already in its input order.
    pub fn forward(&self, xs: &[Tensor]) -> Result<Vec<Tensor>> {
        let args: Vec<IValue> = xs
            .iter()
            .map(|x| x.f_to_device(self.device).map(IValue::Tensor))
            .collect::<std::result::Result<_, _>>()?;
        let result = tch::no_grad(|| self.module.forward_is(&args)).map_err(|e| {
            NnError::file(
                &self.path,
                format!(
                    "the TorchScript forward failed: {}",
                    first_line(&e.to_string())
                ),
            )
        })?;
        flatten_outputs(result).ok_or_else(|| {
            NnError::file(
                &self.path,
                "the forward returned something other than tensors",
            )
        })
    }

    /// The given inputs in declared order, each checked against its shape.
    fn ordered_inputs(&self, inputs: &[(String, Tensor)]) -> Result<Vec<Tensor>> {
        if self.inputs.is_empty() {
            return Ok(inputs.iter().map(|(_, t)| t.shallow_clone()).collect());
        }
        if let Some((name, _)) = inputs
            .iter()
            .find(|(n, _)| !self.inputs.iter().any(|s| &s.name == n))
        {
            return Err(NnError::input(
                name,
                format!(
                    "no such input; the model takes {}",
                    self.input_names().join(", ")
                ),
            ));
        }
        let mut ordered = Vec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            let (_, tensor) = inputs
                .iter()
                .find(|(n, _)| n == &spec.name)
                .ok_or_else(|| {
                    NnError::input(
                        &spec.name,
                        format!("missing; the model takes {}", self.input_names().join(", ")),
                    )
                })?;
            if let Some(shape) = &spec.shape {
                let got = tensor.size();
                let fits = got.len() == shape.len()
                    && got.iter().zip(shape).all(|(g, s)| *s < 0 || g == s);
                if !fits {
                    return Err(NnError::input(
                        &spec.name,
                        format!("expected shape {shape:?} (-1 = any), got {got:?}"),
                    ));
                }
            }
            ordered.push(tensor.shallow_clone());
        }
        Ok(ordered)
    }

    fn output_name(&self, index: usize) -> String {
        self.outputs
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("output{index}"))
    }
}

impl Model for TorchScriptModel {
    fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|s| s.name.clone()).collect()
    }

    fn default_outputs(&self) -> Vec<String> {
        if self.outputs.is_empty() {
            vec!["output0".into()]
        } else {
            self.outputs.clone()
        }
    }

    fn run(
        &self,
        inputs: &[(String, Tensor)],
        outputs: &[String],
    ) -> Result<Vec<(String, Tensor)>> {
        let xs = self.ordered_inputs(inputs)?;
        let results = self.forward(&xs)?;
        if !self.outputs.is_empty() && results.len() != self.outputs.len() {
            return Err(NnError::file(
                &self.path,
                format!(
                    "the module returned {} tensors, the package declares {} outputs ({})",
                    results.len(),
                    self.outputs.len(),
                    self.outputs.join(", ")
                ),
            ));
        }
        let mut named: Vec<(String, Tensor)> = results
            .into_iter()
            .enumerate()
            .map(|(i, t)| (self.output_name(i), t))
            .collect();
        if outputs.is_empty() {
            return Ok(named);
        }
        let known: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
        let mut picked = Vec::with_capacity(outputs.len());
        for wanted in outputs {
            let index = named.iter().position(|(n, _)| n == wanted).ok_or_else(|| {
                NnError::UnknownOutput {
                    name: wanted.clone(),
                    known: known.clone(),
                }
            })?;
            picked.push(named.swap_remove(index));
        }
        Ok(picked)
    }

    fn device(&self) -> Device {
        self.device
    }
}

/// Refuses a CUDA device this machine lacks before libtorch would abort on it.
fn check_available(device: Device) -> Result<()> {
    if let Device::Cuda(index) = device {
        let count = if tch::Cuda::is_available() {
            tch::Cuda::device_count() as usize
        } else {
            0
        };
        if index >= count {
            return Err(NnError::DeviceUnavailable(
                format!("cuda:{index}"),
                format!("{count} CUDA device(s) present"),
            ));
        }
    }
    Ok(())
}

/// A tensor, or a (nested) tuple/list of tensors, as a flat list.
fn flatten_outputs(value: IValue) -> Option<Vec<Tensor>> {
    match value {
        IValue::Tensor(t) => Some(vec![t]),
        IValue::TensorList(ts) => Some(ts),
        IValue::Tuple(items) | IValue::GenericList(items) => {
            let mut flat = Vec::new();
            for item in items {
                flat.extend(flatten_outputs(item)?);
            }
            Some(flat)
        }
        _ => None,
    }
}

/// libtorch errors carry a C++ backtrace after the message; keep the message.
/// The TorchScript interpreter puts its own first ("The following operation
/// failed…", a TorchScript traceback) and the cause on an `…Error:` line.
fn first_line(text: &str) -> String {
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines().next().unwrap_or(text);
    if first.contains("The following operation failed")
        && let Some(cause) = lines().find(|l| {
            l.split_once(": ")
                .is_some_and(|(kind, _)| kind.ends_with("Error") && !kind.contains(' '))
        })
    {
        return cause.to_string();
    }
    first
        .trim_start_matches("Internal torch error:")
        .trim()
        .to_string()
}
