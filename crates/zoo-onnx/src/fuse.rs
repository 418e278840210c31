//! Import-time fusions: patterns that exporters spell as several nodes but
//! that libtorch runs as one kernel (one pass over memory, one allocation).

use std::collections::HashMap;
use zoo_graph::onnx::{BinaryFn, OnnxOp, UnaryFn};
use zoo_graph::{Graph, LayerDef, Op};

/// `Mul(x, HardSigmoid(x))` with PyTorch's constants (alpha 1/6, beta 0.5)
/// becomes one `HardSwish` layer: what `torch.onnx.export` writes for
/// `nn.Hardswish` below opset 14 (MobileNetV3 has 19 of them). The
/// HardSigmoid's output must feed only that Mul. Returns how many pairs
/// were fused.
pub fn hard_swish(graph: &mut Graph) -> usize {
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for layer in &graph.layers {
        for bottom in &layer.bottoms {
            *readers.entry(bottom.as_str()).or_default() += 1;
        }
    }
    let written_at: HashMap<&str, usize> = graph
        .layers
        .iter()
        .enumerate()
        .flat_map(|(index, layer)| layer.tops.iter().map(move |top| (top.as_str(), index)))
        .collect();
    // (index of the HardSigmoid, index of the Mul)
    let mut pairs = Vec::new();
    for (index, layer) in graph.layers.iter().enumerate() {
        if !matches!(
            layer.op,
            Op::Onnx(OnnxOp::Binary {
                func: BinaryFn::Mul
            })
        ) || layer.bottoms.len() != 2
        {
            continue;
        }
        for (gate, other) in [(0, 1), (1, 0)] {
            let gate = layer.bottoms[gate].as_str();
            let Some(&at) = written_at.get(gate) else {
                continue;
            };
            let sigmoid = &graph.layers[at];
            let pytorch_constants = matches!(
                sigmoid.op,
                Op::Onnx(OnnxOp::HardSigmoid { alpha, beta })
                    if (alpha - 1.0 / 6.0).abs() < 1e-7 && beta == 0.5
            );
            if pytorch_constants
                && sigmoid.bottoms.len() == 1
                && sigmoid.tops.len() == 1
                && sigmoid.bottoms[0] == layer.bottoms[other]
                && readers.get(gate) == Some(&1)
                && !graph.outputs.iter().any(|o| o == gate)
            {
                pairs.push((at, index));
                break;
            }
        }
    }
    for &(sigmoid, mul) in &pairs {
        let x = graph.layers[sigmoid].bottoms[0].clone();
        let fused = &mut graph.layers[mul];
        fused.op = Op::Onnx(OnnxOp::Unary {
            func: UnaryFn::HardSwish,
        });
        fused.bottoms = vec![x];
    }
    let dropped: std::collections::HashSet<usize> = pairs.iter().map(|&(s, _)| s).collect();
    let layers = std::mem::take(&mut graph.layers);
    graph.layers = layers
        .into_iter()
        .enumerate()
        .filter(|(index, _)| !dropped.contains(index))
        .map(|(_, layer): (usize, LayerDef)| layer)
        .collect();
    pairs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(json: &str) -> Graph {
        Graph::from_json(json).unwrap()
    }

    fn layers(alpha: f64, extra_reader: bool) -> String {
        let extra = if extra_reader {
            r#",{"name":"also","type":"Onnx","params":{"op":"Unary","func":"Relu"},"bottoms":["h"],"tops":["r"]}"#
        } else {
            ""
        };
        format!(
            r#"{{"format":"zoo-graph","version":1,"name":"g","inputs":[{{"name":"x","shape":[1,4]}}],
            "outputs":["y"],"layers":[
            {{"name":"hs","type":"Onnx","params":{{"op":"HardSigmoid","alpha":{alpha},"beta":0.5}},"bottoms":["x"],"tops":["h"]}},
            {{"name":"mul","type":"Onnx","params":{{"op":"Binary","func":"Mul"}},"bottoms":["h","x"],"tops":["y"]}}{extra}]}}"#
        )
    }

    #[test]
    fn hard_sigmoid_times_its_input_becomes_hard_swish() {
        let mut g = graph(&layers(0.1666666716337204, false));
        assert_eq!(hard_swish(&mut g), 1);
        assert_eq!(g.layers.len(), 1);
        let layer = &g.layers[0];
        assert_eq!(
            layer.op,
            Op::Onnx(OnnxOp::Unary {
                func: UnaryFn::HardSwish
            })
        );
        assert_eq!(
            (layer.bottoms.clone(), layer.tops.clone()),
            (vec!["x".to_string()], vec!["y".to_string()])
        );
        g.validate().unwrap();
    }

    #[test]
    fn other_constants_or_other_readers_stay_apart() {
        let mut g = graph(&layers(0.2, false));
        assert_eq!(hard_swish(&mut g), 0);
        assert_eq!(g.layers.len(), 2);
        let mut g = graph(&layers(0.1666666716337204, true));
        assert_eq!(hard_swish(&mut g), 0);
        assert_eq!(g.layers.len(), 3);
    }
}
