//! safetensors, zoo's weights format: memory-mapped on load, the loaded
//! CPU tensors sharing the file's pages (a 553 MB VGG16 file is neither read
//! into a buffer nor copied), written atomically on save.

use crate::error::{NnError, Result};
use crate::params::assign::{LoadReport, Strictness, assign};
use crate::params::to_file_name;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::BTreeMap;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

/// Where one tensor lies in a safetensors file's bytes.
#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    shape: Vec<i64>,
    bytes: std::ops::Range<usize>,
}

/// Reads and checks the header (offsets inside the file, dtypes zoo can
/// hold); names lose a leading `/` (some writers add one).
fn entries_of(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Entry>> {
    let (header, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| NnError::file(path, format!("not a valid safetensors file: {e}")))?;
    let data_start = 8 + header;
    let mut entries = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let kind = kind_of(info.dtype).ok_or_else(|| {
            NnError::file(
                path,
                format!("parameter {name} has unsupported dtype {:?}", info.dtype),
            )
        })?;
        let (start, end) = info.data_offsets;
        let entry = Entry {
            kind,
            shape: info.shape.iter().map(|&d| d as i64).collect(),
            bytes: data_start + start..data_start + end,
        };
        // Names stay as written: a graph's `<layer>/<role>` must find them
        // even where an ONNX layer name starts with `/`.
        let name = name.to_string();
        if entries.insert(name.clone(), entry).is_some() {
            return Err(NnError::file(
                path,
                format!("parameter {name} appears twice"),
            ));
        }
    }
    Ok(entries)
}

/// Bytes copied per step, each step's source pages released after it: the
/// largest VGG16 tensor (fc6, 411 MB) never sits in memory twice.
const COPY_CHUNK: usize = 32 << 20;

/// Copies a tensor's bytes (row-major, `entry.kind`) into `target` (any
/// device and float kind; `copy_` converts), calling `done` with each byte
/// range once it has been copied.
fn copy_bytes(
    bytes: &[u8],
    entry: &Entry,
    target: &mut Tensor,
    mut done: impl FnMut(std::ops::Range<usize>),
) -> Result<()> {
    let data = &bytes[entry.bytes.clone()];
    let element = entry.kind.elt_size_in_bytes();
    let numel: i64 = entry.shape.iter().product();
    if target.size() != entry.shape || data.len() != numel as usize * element {
        return Err(NnError::Other(format!(
            "shape {:?} in the file, the model holds {:?}",
            entry.shape,
            target.size()
        )));
    }
    let flat = if target.is_contiguous() {
        target.f_view([-1])?
    } else {
        // A channels-last parameter (a VGG package's convolutions): read
        // in place where aligned, else through one temporary.
        let source = if (data.as_ptr() as usize).is_multiple_of(element) {
            // SAFETY: `data` is the entry's elements, aligned for its kind,
            // and outlives `source`, which only the copy below reads.
            unsafe {
                Tensor::f_from_blob(data.as_ptr(), &[numel], &[1], entry.kind, tch::Device::Cpu)?
            }
            .f_view(entry.shape.as_slice())?
        } else {
            Tensor::f_from_data_size(data, &entry.shape, entry.kind)?
        };
        target.f_copy_(&source)?;
        drop(source);
        done(entry.bytes.clone());
        return Ok(());
    };
    let per_chunk = (COPY_CHUNK / element).max(1);
    let mut first = 0usize;
    while first < numel as usize {
        let count = per_chunk.min(numel as usize - first);
        let chunk = &data[first * element..(first + count) * element];
        let source = if (chunk.as_ptr() as usize).is_multiple_of(element) {
            // SAFETY: `chunk` is `count` elements of `entry.kind`, aligned
            // for it, and outlives `source`, which is only read by the copy
            // below and dropped at the end of this iteration.
            unsafe {
                Tensor::f_from_blob(
                    chunk.as_ptr(),
                    &[count as i64],
                    &[1],
                    entry.kind,
                    tch::Device::Cpu,
                )?
            }
        } else {
            Tensor::f_from_data_size(chunk, &[count as i64], entry.kind)?
        };
        flat.f_narrow(0, first as i64, count as i64)?
            .f_copy_(&source)?;
        drop(source);
        let start = entry.bytes.start + first * element;
        done(start..start + count * element);
        first += count;
    }
    Ok(())
}

/// A safetensors file mapped with its header checked. libtorch maps it
/// copy-on-write (as PyTorch's safetensors loader does), so that CPU tensors
/// of the file's dtype can share its pages instead of copying them: loading
/// a 553 MB package then costs neither fresh memory nor a copy, and a write
/// to a loaded tensor stays private to this process. The mapping lives as
/// long as the last tensor on it; zoo never rewrites a weights file in place
/// (saves go through a rename), so its bytes do not change under the map.
/// Other targets (another device or dtype, a channels-last layout, bytes not
/// aligned for their dtype) get copies, and the pages copied from are
/// dropped from the process again where no view uses them.
pub struct MappedSafetensors {
    path: std::path::PathBuf,
    map: Mapping,
    entries: BTreeMap<String, Entry>,
    /// Start offsets of the entries handed out as views of the mapping:
    /// their pages are never released.
    viewed: std::sync::Mutex<std::collections::BTreeSet<usize>>,
}

enum Mapping {
    /// The whole file as a 1-D uint8 tensor on libtorch's mapping.
    Torch(Tensor),
    /// A read-only map, for a path libtorch cannot take (not UTF-8): tensors
    /// are copied out, each one's pages dropped as soon as it is copied.
    ReadOnly(memmap2::Mmap),
}

impl MappedSafetensors {
    pub fn open(path: impl AsRef<Path>) -> Result<MappedSafetensors> {
        let path = path.as_ref();
        let io = |source| NnError::Io {
            path: path.to_path_buf(),
            source,
        };
        let map = match path.to_str() {
            Some(utf8) => {
                let len = std::fs::metadata(path).map_err(io)?.len();
                if len == 0 {
                    entries_of(path, &[])?; // the "not a valid safetensors file" error
                }
                let whole =
                    Tensor::f_from_file(utf8, false, len as i64, (Kind::Uint8, tch::Device::Cpu))
                        .map_err(|e| NnError::file(path, format!("cannot map the file: {e}")))?;
                Mapping::Torch(whole)
            }
            None => {
                let file = std::fs::File::open(path).map_err(io)?;
                // SAFETY: the map is read-only, and the file is never
                // rewritten in place (see the type's comment).
                Mapping::ReadOnly(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
            }
        };
        let mut file = MappedSafetensors {
            path: path.to_path_buf(),
            map,
            entries: BTreeMap::new(),
            viewed: Default::default(),
        };
        file.entries = entries_of(path, file.bytes())?;
        Ok(file)
    }

    fn bytes(&self) -> &[u8] {
        match &self.map {
            // SAFETY: `whole` is a contiguous uint8 tensor over the mapping,
            // which lives as long as `self` holds it.
            Mapping::Torch(whole) => unsafe {
                std::slice::from_raw_parts(whole.data_ptr() as *const u8, whole.numel())
            },
            Mapping::ReadOnly(map) => map,
        }
    }

    /// Every tensor's name and shape, sorted by name.
    pub fn shapes(&self) -> Vec<(String, Vec<i64>)> {
        self.entries
            .iter()
            .map(|(name, entry)| (name.clone(), entry.shape.clone()))
            .collect()
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.entries
            .get(name)
            .ok_or_else(|| NnError::file(&self.path, format!("no parameter {name}")))
    }

    /// Drops a copied range's pages from this process. The read-only map's
    /// are dropped whole. Of libtorch's private mapping, only the pages
    /// wholly inside the range of an entry never handed out as a view: a
    /// page shared with a neighbouring entry may back a view, and a view's
    /// pages may hold its in-place writes, which dropping would lose.
    fn release(&self, entry: &Entry, range: std::ops::Range<usize>) {
        match &self.map {
            Mapping::ReadOnly(map) => {
                // SAFETY: a read-only shared mapping of a file:
                // MADV_DONTNEED only drops this process's page-table entries;
                // a later read faults the same bytes back in from the page
                // cache. A failure only means the pages stay resident.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        range.start,
                        range.len(),
                    )
                };
            }
            Mapping::Torch(_) => {
                let viewed = self.viewed.lock().map(|v| v.contains(&entry.bytes.start));
                if viewed.unwrap_or(true) {
                    return;
                }
                release_interior_pages(&self.bytes()[range]);
            }
        }
    }

    /// The tensor as a view of libtorch's mapping; `None` for the read-only
    /// map or bytes not aligned for the dtype.
    fn view(&self, entry: &Entry) -> Result<Option<Tensor>> {
        let Mapping::Torch(whole) = &self.map else {
            return Ok(None);
        };
        let address = self.bytes().as_ptr() as usize + entry.bytes.start;
        if !address.is_multiple_of(entry.kind.elt_size_in_bytes()) {
            return Ok(None);
        }
        if let Ok(mut viewed) = self.viewed.lock() {
            viewed.insert(entry.bytes.start);
        }
        Ok(Some(
            whole
                .f_narrow(0, entry.bytes.start as i64, entry.bytes.len() as i64)?
                .f_view_dtype(entry.kind)?
                .f_view(entry.shape.as_slice())?,
        ))
    }

    /// Copies tensor `name` into `target`, which must have its shape.
    pub fn copy_into(&self, name: &str, target: &mut Tensor) -> Result<()> {
        let entry = self.entry(name)?;
        tch::no_grad(|| {
            copy_bytes(self.bytes(), entry, target, |range| {
                self.release(entry, range)
            })
        })
        .map_err(|e| NnError::file(&self.path, format!("parameter {name}: {e}")))
    }

    /// Gives parameter `target` (of tensor `name`'s shape) the file's values:
    /// a plain CPU parameter of the file's dtype is pointed at the mapping,
    /// any other is copied into.
    pub fn assign_into(&self, name: &str, target: &mut Tensor) -> Result<()> {
        let entry = self.entry(name)?;
        let plain = target.device() == tch::Device::Cpu
            && target.kind() == entry.kind
            && target.is_contiguous()
            && target.size() == entry.shape;
        if plain && let Some(view) = self.view(entry)? {
            tch::no_grad(|| target.f_set_data(&view))?;
            return Ok(());
        }
        self.copy_into(name, target)
    }

    /// Tensor `name` as a CPU tensor of the file's dtype: a view of the
    /// mapping where it can be, a copy otherwise.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let entry = self.entry(name)?;
        if let Some(view) = self.view(entry)? {
            return Ok(view);
        }
        let mut tensor = Tensor::f_empty(&entry.shape, (entry.kind, tch::Device::Cpu))?;
        self.copy_into(name, &mut tensor)?;
        Ok(tensor)
    }

    /// Drops the pages of every entry handed out as a view that the caller
    /// no longer holds in place: `held(name)` gives where the caller's
    /// tensor of that name lies (None: it holds none, or not on the CPU).
    /// For a loader that copied some views into another layout; the views
    /// must not have been written to, since dropping a written page of the
    /// private mapping would lose the write for anyone still holding it (an
    /// unwritten page faults the file's bytes back in).
    pub fn release_unless_held(&self, held: impl Fn(&str) -> Option<usize>) {
        let Mapping::Torch(_) = &self.map else {
            return;
        };
        let Ok(viewed) = self.viewed.lock() else {
            return;
        };
        let base = self.bytes().as_ptr() as usize;
        for (name, entry) in &self.entries {
            if !viewed.contains(&entry.bytes.start) {
                continue;
            }
            let range = base + entry.bytes.start..base + entry.bytes.end;
            if held(name).is_some_and(|address| range.contains(&address)) {
                continue;
            }
            release_interior_pages(&self.bytes()[entry.bytes.clone()]);
        }
    }

    /// Every tensor, sorted by name.
    pub fn tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.entries
            .keys()
            .map(|name| Ok((name.clone(), self.tensor(name)?)))
            .collect()
    }
}

/// Drops the pages wholly inside `bytes`, which lie in libtorch's private
/// (copy-on-write) mapping of a file and were only read, from this process:
/// a later read faults the file's bytes back in, so nothing reading them
/// sees a change. Frees the resident memory of weights that were copied
/// into another layout (channels-last convolutions: 59 MB of VGG16's).
fn release_interior_pages(bytes: &[u8]) {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            size if size > 0 => size as usize,
            _ => return,
        };
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, pages of a private
            // file mapping that no view uses and nothing wrote (see the
            // caller): MADV_DONTNEED only drops their page-table entries.
            // A failure only means the pages stay resident.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = bytes;
}

/// Loads a safetensors file into `vs` (names with `/`), converting dtype and
/// device to the store's (CPU parameters of the file's dtype share its
/// pages, see [`MappedSafetensors`]).
pub fn load_safetensors(
    vs: &VarStore,
    path: impl AsRef<Path>,
    strictness: Strictness,
) -> Result<LoadReport> {
    let file = MappedSafetensors::open(path.as_ref())?;
    assign(
        vs,
        &file.path,
        &file.shapes(),
        strictness,
        |name, target| file.assign_into(name, target),
    )
}

/// Reads every tensor of a safetensors file (CPU, the file's dtypes),
/// sharing the file's pages where it can (see [`MappedSafetensors`]).
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    MappedSafetensors::open(path)?.tensors()
}

/// [`load_safetensors`] on bytes already in memory; `path` names them in
/// errors.
pub(crate) fn load_safetensors_bytes(
    vs: &VarStore,
    path: &Path,
    bytes: &[u8],
    strictness: Strictness,
) -> Result<LoadReport> {
    let entries = entries_of(path, bytes)?;
    let shapes: Vec<(String, Vec<i64>)> = entries
        .iter()
        .map(|(name, entry)| (name.clone(), entry.shape.clone()))
        .collect();
    assign(vs, path, &shapes, strictness, |name, target| {
        copy_bytes(bytes, &entries[name], target, |_| {})
            .map_err(|e| NnError::file(path, format!("parameter {name}: {e}")))
    })
}

/// Saves every variable of `vs` (names with `/`, sorted) as safetensors.
pub fn save_safetensors(vs: &VarStore, path: impl AsRef<Path>) -> Result<()> {
    let named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, tensor)| (to_file_name(&name), tensor))
        .collect();
    write_safetensors(&named, path)
}

/// Writes named tensors (sorted by name in the file, from any device and
/// layout) as safetensors, atomically: a failed write leaves no file under
/// `path`.
pub fn write_safetensors(named: &[(String, Tensor)], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut named: Vec<&(String, Tensor)> = named.iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buffers = Vec::with_capacity(named.len());
    for (name, tensor) in named {
        let dtype = dtype_of(tensor.kind()).ok_or_else(|| {
            NnError::input(
                name,
                format!("{:?} cannot be saved as safetensors", tensor.kind()),
            )
        })?;
        let cpu = tensor.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
        let numel = cpu.numel();
        let mut data = vec![0u8; numel * cpu.kind().elt_size_in_bytes()];
        cpu.f_copy_data_u8(&mut data, numel)?;
        let shape: Vec<usize> = cpu.size().iter().map(|&d| d as usize).collect();
        buffers.push((name.clone(), dtype, shape, data));
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| NnError::input(name, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::params::write_with_temp(path, |temp| {
        safetensors::tensor::serialize_to_file(views, None, temp)
            .map_err(|e| NnError::file(path, e.to_string()))
    })
}
