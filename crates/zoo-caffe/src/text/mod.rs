//! Caffe's prototxt (protobuf text format): a lexer, a parser that encodes
//! into the binary wire format, and the schema table that guides it.

mod lexer;
mod parser;
mod schema;

use crate::error::TextError;
use crate::proto::NetParameter;
use prost::Message;

/// Parses a prototxt into the same [`NetParameter`] a caffemodel decodes to.
pub fn parse_net(text: &str) -> Result<NetParameter, TextError> {
    let wire = parser::text_to_wire(text, &schema::NET_PARAMETER)?;
    NetParameter::decode(wire.as_slice()).map_err(|error| TextError {
        line: 1,
        column: 1,
        message: format!("internal encoding error: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layers_of_both_formats() {
        let net = parse_net(
            r#"
            name: "tiny"  # a comment
            input: "data"
            input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
            layer {
              name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
              param { lr_mult: 1 }   # not modelled: skipped
              convolution_param { num_output: 4 kernel_size: 3 pad: [1] weight_filler { type: "xavier" } }
            }
            layers { name: "relu" type: RELU bottom: "conv1" top: "conv1" relu_param < negative_slope: -0.1 > }
            "#,
        )
        .unwrap();
        assert_eq!(net.name(), "tiny");
        assert_eq!(net.input_dim, vec![1, 3, 8, 8]);
        let conv = net.layer[0].convolution_param.as_ref().unwrap();
        assert_eq!(
            (
                conv.num_output(),
                conv.kernel_size.clone(),
                conv.pad.clone()
            ),
            (4, vec![3], vec![1])
        );
        assert_eq!(net.layers[0].r#type, Some(18));
        assert!((net.layers[0].relu_param.as_ref().unwrap().negative_slope() + 0.1).abs() < 1e-7);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse_net("name: \"x\"\nlayer {\n  name: \"a\"\n  type: \n}").unwrap_err();
        assert_eq!((err.line, err.column), (5, 1), "{err}");
        let err =
            parse_net("layer { name: \"a\" convolution_param { num_output: -3 } }").unwrap_err();
        assert_eq!((err.line, err.column), (1, 51), "{err}");
        let err = parse_net("layer { name: \"a\"").unwrap_err();
        assert!(err.message.contains("missing '}'"), "{err}");
        let err = parse_net("layers { type: CONVOLUTON }").unwrap_err();
        assert!(err.message.contains("CONVOLUTION"), "{err}");
    }
}
