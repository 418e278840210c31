//! The model as the converter sees it: opsets, graph inputs and outputs,
//! checked initializers, and nodes in an order where every tensor is
//! produced before it is read.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bytes::Bytes;
use prost::Message;

use crate::error::{OnnxError, Result};
use crate::proto::{AttributeProto, AttributeType, GraphProto, ModelProto, ValueInfoProto};
use crate::tensor::{ExternalFiles, MappedFile, Tensor, map_file, read_tensor};

#[derive(Debug, Clone)]
pub struct Model {
    pub ir_version: i64,
    /// Operator set versions by domain (`""` is the default `ai.onnx`).
    pub opsets: BTreeMap<String, i64>,
    pub producer: String,
    pub graph: Graph,
    /// External data files read (relative to the model's folder), each once.
    pub external_data: Vec<String>,
    /// The mapped files the tensors' bytes borrow from (the model file and
    /// its external data files).
    mapped: Vec<std::sync::Arc<MappedFile>>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub name: String,
    /// Inputs the caller feeds (those that are also initializers left out).
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub initializers: BTreeMap<String, Tensor>,
    /// Topologically sorted.
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    Fixed(i64),
    /// A symbolic dimension (`batch`, `N`…) or one left unknown.
    Free(String),
}

#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub shape: Option<Vec<Dim>>,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// The node's name; `<op_type>_<index>` when the file left it empty.
    pub name: String,
    pub op_type: String,
    pub domain: String,
    /// Input tensor names; `""` marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: BTreeMap<String, Attribute>,
}

#[derive(Debug, Clone)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    String(Bytes),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Bytes>),
    /// Subgraphs (If, Loop, Scan) and other kinds, kept by kind only: no
    /// converter here runs them.
    Other(String),
}

impl Model {
    /// Reads `path` from a memory map; external data may live in files of
    /// the model's folder.
    pub fn open(path: &Path) -> Result<Model> {
        let wrap = |source: OnnxError| OnnxError::File {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let refuse = |why: &str| OnnxError::io(path, std::io::Error::other(why.to_string()));
        if path.is_dir() {
            return Err(refuse("is a folder; give the .onnx file"));
        }
        let (bytes, map) = map_file(path)?;
        if bytes.is_empty() {
            return Err(refuse("the file is empty, not an ONNX model"));
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut model = Model::from_bytes(bytes, Some(folder)).map_err(wrap)?;
        model.mapped.extend(map);
        Ok(model)
    }

    /// The files, read through memory maps, that initializer bytes borrow
    /// from: a writer may copy a tensor's bytes from the file instead.
    pub fn mapped_files(&self) -> impl Iterator<Item = &MappedFile> {
        self.mapped.iter().map(|m| m.as_ref())
    }

    /// Decodes a model held in memory. Without `folder`, a model with
    /// external data is refused.
    pub fn from_bytes(bytes: Bytes, folder: Option<&Path>) -> Result<Model> {
        let proto = ModelProto::decode(bytes)?;
        let mut opsets = BTreeMap::new();
        for opset in &proto.opset_import {
            let domain = match opset.domain.as_deref().unwrap_or("") {
                "ai.onnx" => "",
                d => d,
            };
            let version = opset.version.unwrap_or(0);
            if opsets.insert(domain.to_owned(), version).is_some() {
                return Err(OnnxError::Graph(format!(
                    "opset_import lists domain {domain:?} twice"
                )));
            }
        }
        if !opsets.contains_key("") {
            return Err(OnnxError::Graph(
                "opset_import has no version for the default domain (ai.onnx)".into(),
            ));
        }
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| OnnxError::Graph("the model has no graph".into()))?;
        let mut external = ExternalFiles::new(folder)?;
        let graph = read_graph(graph, &mut external)?;
        let producer = [
            proto.producer_name.as_deref(),
            proto.producer_version.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
        let mut external_data = Vec::new();
        let mapped = std::mem::take(&mut external.mapped);
        for location in external.locations {
            if !external_data.contains(&location) {
                external_data.push(location);
            }
        }
        Ok(Model {
            ir_version: proto.ir_version.unwrap_or(0),
            opsets,
            producer,
            graph,
            external_data,
            mapped,
        })
    }

    /// The default domain's operator set version.
    pub fn opset(&self) -> i64 {
        self.opsets.get("").copied().unwrap_or(0)
    }
}

fn value_info(v: &ValueInfoProto) -> ValueInfo {
    let tensor = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    ValueInfo {
        name: v.name.clone().unwrap_or_default(),
        elem_type: tensor.and_then(|t| t.elem_type).unwrap_or(0),
        shape: tensor.and_then(|t| t.shape.as_ref()).map(|s| {
            s.dim
                .iter()
                .map(|d| match (d.dim_value, &d.dim_param) {
                    (Some(v), _) if v > 0 => Dim::Fixed(v),
                    (_, Some(p)) => Dim::Free(p.clone()),
                    _ => Dim::Free(String::new()),
                })
                .collect()
        }),
    }
}

fn attribute(
    a: &AttributeProto,
    node: &str,
    op: &str,
    ext: &mut ExternalFiles,
) -> Result<Attribute> {
    let kind = a.r#type.and_then(|t| AttributeType::try_from(t).ok());
    // IR version 1 files may omit the type: infer it from the field set.
    let kind = kind
        .filter(|k| *k != AttributeType::Undefined)
        .unwrap_or(if a.t.is_some() {
            AttributeType::Tensor
        } else if !a.ints.is_empty() {
            AttributeType::Ints
        } else if !a.floats.is_empty() {
            AttributeType::Floats
        } else if a.i.is_some() {
            AttributeType::Int
        } else if a.f.is_some() {
            AttributeType::Float
        } else if a.s.is_some() {
            AttributeType::String
        } else {
            AttributeType::Undefined
        });
    Ok(match kind {
        AttributeType::Float => Attribute::Float(a.f.unwrap_or(0.0)),
        AttributeType::Int => Attribute::Int(a.i.unwrap_or(0)),
        AttributeType::String => Attribute::String(a.s.clone().unwrap_or_default()),
        AttributeType::Tensor => {
            let t = a.t.as_ref().ok_or_else(|| {
                OnnxError::node(
                    node,
                    op,
                    format!(
                        "attribute {:?} has no tensor",
                        a.name.as_deref().unwrap_or("")
                    ),
                )
            })?;
            Attribute::Tensor(read_tensor(t, ext)?)
        }
        AttributeType::Floats => Attribute::Floats(a.floats.clone()),
        AttributeType::Ints => Attribute::Ints(a.ints.clone()),
        AttributeType::Strings => Attribute::Strings(a.strings.clone()),
        other => Attribute::Other(format!("{other:?}")),
    })
}

fn read_graph(g: &GraphProto, ext: &mut ExternalFiles) -> Result<Graph> {
    // Where each tensor name comes from, to refuse a second definition.
    let mut defined: HashMap<String, String> = HashMap::new();
    let mut initializers = BTreeMap::new();
    for proto in &g.initializer {
        let tensor = read_tensor(proto, ext)?;
        if tensor.name.is_empty() {
            return Err(OnnxError::Graph("an initializer has no name".into()));
        }
        if defined
            .insert(tensor.name.clone(), "an initializer".into())
            .is_some()
        {
            return Err(OnnxError::tensor(
                &tensor.name,
                "is named twice among the initializers",
            ));
        }
        initializers.insert(tensor.name.clone(), tensor);
    }
    let mut inputs = Vec::new();
    let mut seen_inputs = std::collections::HashSet::new();
    for v in &g.input {
        let info = value_info(v);
        if !seen_inputs.insert(info.name.clone()) {
            return Err(OnnxError::tensor(
                &info.name,
                "is named twice among the graph inputs",
            ));
        }
        // Before IR 4 every initializer was also listed as an input.
        if initializers.contains_key(&info.name) {
            continue;
        }
        if info.name.is_empty() {
            return Err(OnnxError::Graph("a graph input has no name".into()));
        }
        defined.insert(info.name.clone(), "a graph input".into());
        inputs.push(info);
    }
    let mut nodes = Vec::with_capacity(g.node.len());
    for (index, n) in g.node.iter().enumerate() {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = match n.name.as_deref() {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => format!("{op_type}_{index}"),
        };
        let mut attributes = BTreeMap::new();
        for a in &n.attribute {
            let key = a.name.clone().unwrap_or_default();
            let value = attribute(a, &name, &op_type, ext)?;
            if attributes.insert(key.clone(), value).is_some() {
                return Err(OnnxError::node(
                    &name,
                    &op_type,
                    format!("attribute {key:?} is given twice"),
                ));
            }
        }
        for out in n.output.iter().filter(|o| !o.is_empty()) {
            if let Some(first) = defined.insert(out.clone(), format!("node {name:?}")) {
                return Err(OnnxError::node(
                    &name,
                    &op_type,
                    format!("output {out:?} is already produced by {first}: a tensor named twice"),
                ));
            }
        }
        nodes.push(Node {
            name,
            op_type,
            domain: n.domain.clone().unwrap_or_default(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attributes,
        });
    }
    for n in &nodes {
        for input in n.inputs.iter().filter(|i| !i.is_empty()) {
            if !defined.contains_key(input) {
                return Err(OnnxError::node(
                    &n.name,
                    &n.op_type,
                    format!("reads {input:?}, which no input, initializer or node defines"),
                ));
            }
        }
    }
    let outputs: Vec<ValueInfo> = g.output.iter().map(value_info).collect();
    for o in &outputs {
        if !defined.contains_key(&o.name) {
            return Err(OnnxError::tensor(
                &o.name,
                "is a graph output that nothing defines",
            ));
        }
    }
    let nodes = topological(nodes)?;
    Ok(Graph {
        name: g.name.clone().unwrap_or_default(),
        inputs,
        outputs,
        initializers,
        nodes,
    })
}

/// Kahn's algorithm over the node list, stable for files already in order;
/// nodes left over are on a cycle.
fn topological(nodes: Vec<Node>) -> Result<Vec<Node>> {
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.outputs
                .iter()
                .filter(|o| !o.is_empty())
                .map(move |o| (o.as_str(), i))
        })
        .collect();
    let mut waiting = vec![0usize; nodes.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for input in &n.inputs {
            if let Some(&p) = producer.get(input.as_str()) {
                waiting[i] += 1;
                consumers[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &consumers[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck: Vec<String> = (0..nodes.len())
            .filter(|&i| waiting[i] > 0)
            .take(8)
            .map(|i| format!("{:?} ({})", nodes[i].name, nodes[i].op_type))
            .collect();
        return Err(OnnxError::Graph(format!(
            "the nodes form a cycle; nodes on or after it: {}",
            stuck.join(", ")
        )));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
