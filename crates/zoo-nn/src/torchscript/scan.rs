//! Refusing TorchScript files that do more than tensor maths, before libtorch
//! loads them.
//!
//! A `.pt` file is a zip holding the module's code as TorchScript source
//! (`<archive>/code/**/*.py`) plus pickled constants and tensor data. That
//! code runs with the user's rights: `torch.from_file(path, shared=True)`
//! writes files, `torch.save` too, and custom operators (`ops.<ns>.*`,
//! `torch.classes`) run whatever C++ a library registered. So every call in
//! the code is checked against an **allowlist** of pure tensor operators
//! (anything unknown is refused: a denylist would miss the next one), and
//! the pickles may not name `torch.classes` objects.
//!
//! The scan reads the file's bytes only; nothing is loaded or run.

use crate::error::{NnError, Result};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// Code larger than this (all `.py` entries together) is refused: exports
/// of the built-in models are well under 1 MiB.
const MAX_CODE_BYTES: u64 = 64 << 20;

/// What a scan found in an accepted file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// The code files read (zip entry names).
    pub code_files: Vec<String>,
    /// Distinct operators called, as `torch.<op>` / `ops.<ns>.<op>`.
    pub operators: Vec<String>,
}

/// Scans the TorchScript file at `path`; an error names the file, the code
/// entry, the line and the operator that is not allowed.
pub fn scan_file(path: &Path) -> Result<ScanReport> {
    let file = std::fs::File::open(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    scan_archive(file).map_err(|message| NnError::file(path, message))
}

/// Scans a TorchScript zip from any reader; the error is the reason alone.
pub fn scan_archive<R: Read + std::io::Seek>(reader: R) -> std::result::Result<ScanReport, String> {
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| format!("not a TorchScript archive: {e}"))?;
    let mut names = HashSet::new();
    let mut sources = Vec::new();
    let mut code_bytes = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| format!("unreadable archive entry: {e}"))?;
        let name = entry.name().to_string();
        // Two entries of one name: zip readers disagree on which one counts.
        if !names.insert(name.clone()) {
            return Err(format!("archive entry `{name}` appears twice"));
        }
        let is_code = name.ends_with(".py");
        let is_pickle = name.ends_with(".pkl");
        if !is_code && !is_pickle {
            continue;
        }
        code_bytes += entry.size();
        if code_bytes > MAX_CODE_BYTES {
            return Err(format!(
                "more than {MAX_CODE_BYTES} bytes of code and pickles"
            ));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("unreadable archive entry `{name}`: {e}"))?;
        if is_pickle {
            check_pickle(&name, &bytes)?;
        } else {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("code entry `{name}` is not UTF-8"))?;
            sources.push((name, text));
        }
    }
    if sources.is_empty() {
        return Err("no TorchScript code in the archive (no code/*.py entry)".into());
    }
    let mut defined = HashSet::new();
    let mut tokenized = Vec::with_capacity(sources.len());
    for (name, text) in &sources {
        let tokens = tokenize(text).map_err(|(line, why)| format!("{name} line {line}: {why}"))?;
        defined.extend(defined_functions(&tokens));
        tokenized.push((name, tokens));
    }
    let mut operators = Vec::new();
    for (name, tokens) in &tokenized {
        for call in calls(tokens) {
            if let Some(operator) = check_call(&call, &defined)
                .map_err(|why| format!("refused: {why} ({name} line {})", call.line))?
                && !operators.contains(&operator)
            {
                operators.push(operator);
            }
        }
    }
    operators.sort();
    Ok(ScanReport {
        code_files: sources.into_iter().map(|(name, _)| name).collect(),
        operators,
    })
}

/// Pickles are read by libtorch's restricted unpickler, which builds
/// tensors and the archive's own classes, and also `torch.classes` objects:
/// custom C++ classes whose `__setstate__` runs on load.
fn check_pickle(name: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if found(b"torch.classes") || found(b"torch/classes") {
        return Err(format!(
            "refused: `{name}` creates a `torch.classes` object (a custom C++ class, which runs \
             its own code when loaded)"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A name with its dots: `torch.add`, `self.lin`, `x`.
    Name(String),
    Punct(char),
    Literal,
}

#[derive(Debug, Clone)]
struct Located {
    token: Token,
    line: usize,
}

/// TorchScript's lexer, as far as telling names from strings and comments:
/// names (with dots), numbers, one-line strings with backslash escapes,
/// `#` comments. Anything it does not model (triple-quoted or prefixed
/// strings, line continuations, non-ASCII outside strings) is refused, so
/// that nothing can hide from the scan behind a lexing difference.
fn tokenize(text: &str) -> std::result::Result<Vec<Located>, (usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' => return Err((line, "a line continuation (`\\`) outside a string".into())),
            '"' | '\'' => {
                if chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c) {
                    return Err((line, "a triple-quoted string".into()));
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return Err((line, "a string that does not end on its line".into()));
                        }
                        Some('\\') => i += 2,
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                tokens.push(Located {
                    token: Token::Literal,
                    line,
                });
            }
            c if c.is_ascii_digit() => {
                // Numbers, including 1e-05, 0x1F, 2.5 (a dot after a digit
                // belongs to the number, never to a name).
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                tokens.push(Located {
                    token: Token::Literal,
                    line,
                });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                // A string prefix (r"", b"", f"") changes how the string lexes.
                if matches!(chars.get(i), Some('"') | Some('\'')) {
                    return Err((line, "a prefixed string literal".into()));
                }
                let word: String = chars[start..i].iter().collect();
                // `a.b` joins into one name; `(x).f` keeps `.f` apart (below).
                if let Some(Located {
                    token: Token::Name(previous),
                    ..
                }) = tokens.last_mut()
                    && previous.ends_with('.')
                {
                    previous.push_str(&word);
                } else {
                    tokens.push(Located {
                        token: Token::Name(word),
                        line,
                    });
                }
            }
            '.' => {
                match tokens.last_mut() {
                    Some(Located {
                        token: Token::Name(previous),
                        ..
                    }) if !previous.ends_with('.') => previous.push('.'),
                    // `(x).forward`: a method on a value; `.forward` alone.
                    _ => tokens.push(Located {
                        token: Token::Name(".".into()),
                        line,
                    }),
                }
                i += 1;
            }
            c if c.is_ascii_punctuation() => {
                tokens.push(Located {
                    token: Token::Punct(c),
                    line,
                });
                i += 1;
            }
            other => return Err((line, format!("unexpected character {other:?}"))),
        }
    }
    Ok(tokens)
}

/// Names after `def`: the archive's own functions and methods, which a
/// value's method call may name.
fn defined_functions(tokens: &[Located]) -> Vec<String> {
    tokens
        .windows(2)
        .filter_map(|pair| match (&pair[0].token, &pair[1].token) {
            (Token::Name(def), Token::Name(name)) if def == "def" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// A called name, and what precedes it.
#[derive(Debug)]
struct Call {
    name: String,
    line: usize,
    /// `def f(` / `class C(`: a definition, not a call.
    after_keyword: Option<String>,
}

/// Every name directly followed by `(`.
fn calls(tokens: &[Located]) -> Vec<Call> {
    let mut found = Vec::new();
    for (index, pair) in tokens.windows(2).enumerate() {
        let (Token::Name(name), Token::Punct('(')) = (&pair[0].token, &pair[1].token) else {
            continue;
        };
        let after_keyword = index
            .checked_sub(1)
            .and_then(|before| match &tokens[before].token {
                Token::Name(word) => Some(word.clone()),
                _ => None,
            });
        found.push(Call {
            name: name.clone(),
            line: pair[0].line,
            after_keyword,
        });
    }
    found
}

/// Checks one call; returns the operator it names, if any.
fn check_call(
    call: &Call,
    defined: &HashSet<String>,
) -> std::result::Result<Option<String>, String> {
    if matches!(call.after_keyword.as_deref(), Some("def") | Some("class")) {
        return Ok(None);
    }
    let name = call.name.as_str();
    if name.contains("classes") {
        return Err(format!(
            "`{name}` uses `torch.classes` (custom C++ classes run their own code)"
        ));
    }
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [single] if KEYWORDS.contains(single) || BUILTINS.contains(single) => Ok(None),
        [single] => Err(format!(
            "`{single}(…)` is not a TorchScript builtin zoo allows"
        )),
        ["torch", "ops", rest @ ..] | ["ops", rest @ ..] => check_namespaced(name, rest),
        ["torch", op] if is_tensor_op(op) => Ok(Some(format!("torch.{op}"))),
        ["torch", ..] => Err(format!(
            "operator `{}` is not on zoo's list of pure tensor operators \
             (it may touch files, processes or the network)",
            aten_name(&parts[1..])
        )),
        ["math", op] if MATH.contains(op) => Ok(None),
        ["__torch__", ..] => Ok(None),
        // A method of a value: `(lin).forward(…)`, `self.helper(…)`. Only
        // the archive's own methods (whose code is scanned too) may be called.
        [.., method] if defined.contains(*method) => Ok(None),
        [.., method] => Err(format!(
            "the method call `{name}(…)` names `{method}`, which the file's code does not define"
        )),
        [] => Ok(None),
    }
}

/// `ops.aten.add`, `ops.prim.NumToTensor`, with an optional overload name.
fn check_namespaced(name: &str, rest: &[&str]) -> std::result::Result<Option<String>, String> {
    match rest {
        ["aten", op] | ["aten", op, _] if is_tensor_op(op) => Ok(Some(format!("ops.aten.{op}"))),
        ["prim", op] | ["prim", op, _] if PRIM.contains(op) => Ok(Some(format!("ops.prim.{op}"))),
        ["aten", ..] | ["prim", ..] => Err(format!(
            "operator `{}` is not on zoo's list of pure tensor operators \
             (it may touch files, processes or the network)",
            aten_name(rest)
        )),
        [namespace, ..] => Err(format!(
            "`{name}` is a custom operator (namespace `{namespace}`); zoo runs only \
             libtorch's own tensor operators"
        )),
        [] => Err(format!("`{name}` names no operator")),
    }
}

/// `aten::from_file` for `["from_file"]`, `prim::X` for `["prim", "X"]`.
fn aten_name(parts: &[&str]) -> String {
    match parts {
        [op] => format!("aten::{op}"),
        [namespace, op, ..] => format!("{namespace}::{op}"),
        [] => String::new(),
    }
}

fn is_tensor_op(op: &str) -> bool {
    TENSOR_OPS.contains(&op)
        || op
            .strip_suffix('_')
            .is_some_and(|base| TENSOR_OPS.contains(&base) && !base.ends_with('_'))
}

/// Words that precede `(` in code without calling anything.
const KEYWORDS: &[&str] = &[
    "if", "elif", "while", "for", "in", "not", "and", "or", "is", "return", "assert", "else",
    "with", "raise", "del", "lambda", "yield",
];

/// TorchScript builtins that compute on values or annotate types.
const BUILTINS: &[&str] = &[
    "annotate",
    "unchecked_cast",
    "uninitialized",
    "isinstance",
    "range",
    "len",
    "int",
    "float",
    "bool",
    "complex",
    "str",
    "print",
    "min",
    "max",
    "abs",
    "round",
    "divmod",
    "list",
    "tuple",
    "dict",
    "enumerate",
    "zip",
    "sorted",
    "ord",
    "chr",
    "all",
    "any",
    "sum",
    "Tensor",
    "Optional",
    "List",
    "Tuple",
    "Dict",
    "Final",
];

/// `math.*` functions TorchScript supports (pure).
const MATH: &[&str] = &[
    "sqrt",
    "exp",
    "log",
    "log10",
    "log1p",
    "log2",
    "pow",
    "floor",
    "ceil",
    "fabs",
    "cos",
    "sin",
    "tan",
    "tanh",
    "atan",
    "atan2",
    "acos",
    "asin",
    "isnan",
    "isinf",
    "isfinite",
    "erf",
    "erfc",
    "trunc",
    "copysign",
    "fmod",
    "gamma",
    "lgamma",
    "degrees",
    "radians",
    "factorial",
    "gcd",
    "hypot",
    "modf",
    "frexp",
    "ldexp",
    "expm1",
    "cosh",
    "sinh",
    "acosh",
    "asinh",
    "atanh",
];

/// `prim::` operators of plain control and value handling.
const PRIM: &[&str] = &[
    "NumToTensor",
    "dtype",
    "device",
    "shape",
    "layout",
    "is_cuda",
    "is_cpu",
    "data",
    "min",
    "max",
    "abs",
    "unchecked_unwrap_optional",
    "RaiseException",
    "TupleIndex",
    "TupleUnpack",
    "ListConstruct",
    "ListUnpack",
    "TupleConstruct",
    "StringIndex",
    "requires_grad",
    "grad",
    "name",
];

/// `aten::` operators that only compute on tensors (and scalars, lists,
/// strings) in memory: no files, processes, network or custom code. An
/// in-place variant (`add_`) is allowed with its base name. Left out on
/// purpose, among others: `from_file`, `save`, `load`, `set_` (points a
/// tensor at other memory), `as_strided`, `_assert_async`, `record_stream`.
const TENSOR_OPS: &[&str] = &[
    // arithmetic and elementwise
    "abs",
    "absolute",
    "acos",
    "acosh",
    "add",
    "addcdiv",
    "addcmul",
    "addbmm",
    "addmm",
    "addmv",
    "addr",
    "angle",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "baddbmm",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "bmm",
    "ceil",
    "celu",
    "clamp",
    "clamp_max",
    "clamp_min",
    "clip",
    "cos",
    "cosh",
    "cumprod",
    "cumsum",
    "deg2rad",
    "digamma",
    "div",
    "divide",
    "dot",
    "elu",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "floor_divide",
    "floordiv",
    "fmod",
    "frac",
    "gelu",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hypot",
    "lerp",
    "leaky_relu",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "log2",
    "log_sigmoid",
    "log_softmax",
    "logaddexp",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logit",
    "logsumexp",
    "matmul",
    "maximum",
    "minimum",
    "mish",
    "mm",
    "mul",
    "multiply",
    "mv",
    "nan_to_num",
    "neg",
    "negative",
    "pow",
    "prelu",
    "rad2deg",
    "reciprocal",
    "relu",
    "relu6",
    "remainder",
    "round",
    "rrelu",
    "rsqrt",
    "rsub",
    "selu",
    "sigmoid",
    "sign",
    "signbit",
    "silu",
    "sin",
    "sinh",
    "softmax",
    "softplus",
    "softshrink",
    "softsign",
    "sqrt",
    "square",
    "sub",
    "subtract",
    "tan",
    "tanh",
    "tanhshrink",
    "threshold",
    "true_divide",
    "trunc",
    "xlogy",
    // comparisons and reductions
    "all",
    "allclose",
    "amax",
    "amin",
    "aminmax",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "count_nonzero",
    "eq",
    "equal",
    "ge",
    "greater",
    "greater_equal",
    "gt",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "kthvalue",
    "le",
    "less",
    "less_equal",
    "lt",
    "max",
    "mean",
    "median",
    "min",
    "mode",
    "ne",
    "nansum",
    "nanmean",
    "norm",
    "frobenius_norm",
    "not_equal",
    "prod",
    "sort",
    "std",
    "std_mean",
    "sum",
    "topk",
    "var",
    "var_mean",
    // creation (in memory)
    "arange",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "scalar_tensor",
    "tensor",
    "zeros",
    "zeros_like",
    "bernoulli",
    "multinomial",
    "normal",
    "uniform",
    // shapes, views, indexing
    "alias",
    "broadcast_tensors",
    "broadcast_to",
    "cat",
    "chunk",
    "clone",
    "concat",
    "concatenate",
    "constant_pad_nd",
    "contiguous",
    "copy",
    "detach",
    "diag",
    "diag_embed",
    "diagonal",
    "dim",
    "expand",
    "expand_as",
    "fill",
    "flatten",
    "flip",
    "gather",
    "hstack",
    "index",
    "index_add",
    "index_copy",
    "index_fill",
    "index_put",
    "index_select",
    "masked_fill",
    "masked_scatter",
    "masked_select",
    "movedim",
    "narrow",
    "new_empty",
    "new_full",
    "new_ones",
    "new_zeros",
    "nonzero",
    "numel",
    "pad",
    "permute",
    "pixel_shuffle",
    "pixel_unshuffle",
    "reflection_pad1d",
    "reflection_pad2d",
    "repeat",
    "repeat_interleave",
    "replication_pad1d",
    "replication_pad2d",
    "reshape",
    "reshape_as",
    "roll",
    "rot90",
    "scatter",
    "scatter_add",
    "select",
    "size",
    "slice",
    "split",
    "split_with_sizes",
    "squeeze",
    "stack",
    "t",
    "take",
    "tensor_split",
    "tile",
    "transpose",
    "tril",
    "triu",
    "unbind",
    "unflatten",
    "unfold",
    "unsqueeze",
    "view",
    "view_as",
    "vstack",
    "where",
    "zero",
    "_unsafe_view",
    "_reshape_alias",
    "_shape_as_tensor",
    "_unsafe_index",
    "_index_put_impl",
    "im2col",
    "col2im",
    // conversions and scalar extraction
    "to",
    "type_as",
    "item",
    "Int",
    "Float",
    "Bool",
    "ScalarImplicit",
    "IntImplicit",
    "FloatImplicit",
    "_cast_Float",
    "_cast_Double",
    "_cast_Long",
    "_cast_Int",
    "_cast_Byte",
    "_cast_Half",
    "is_floating_point",
    "is_complex",
    "result_type",
    "device",
    "stride",
    "len",
    "__getitem__",
    "__is__",
    "__isnot__",
    "__not__",
    "__and__",
    "__or__",
    "__xor__",
    "__lshift__",
    "__rshift__",
    "__contains__",
    "__range_length",
    "__derive_index",
    "_set_item",
    "append",
    "extend",
    "insert",
    "pop",
    "keys",
    "values",
    "items",
    "format",
    "warn",
    "list",
    "str",
    "no_grad",
    // neural network layers
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "_batch_norm_impl_index",
    "native_batch_norm",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "convolution",
    "_convolution",
    "cosine_similarity",
    "dropout",
    "feature_dropout",
    "alpha_dropout",
    "embedding",
    "embedding_bag",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "native_layer_norm",
    "linear",
    "bilinear",
    "lstm",
    "lstm_cell",
    "gru",
    "gru_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
    "rnn_relu",
    "rnn_relu_cell",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "normalize",
    "pairwise_distance",
    "cdist",
    "einsum",
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "upsample_bicubic2d",
    "upsample_trilinear3d",
    "_upsample_nearest_exact2d",
    "grid_sampler",
    "affine_grid_generator",
    "interpolate",
    "one_hot",
];

#[cfg(test)]
mod tests;
