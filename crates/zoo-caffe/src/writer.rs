//! Writing caffemodels (binary `NetParameter`), one layer at a time so that
//! a 500 MB model never sits in memory twice. Used to build test and
//! benchmark models; layer headers are prost-encoded, float data streamed.

use crate::proto::{BlobShape, LayerParameter, NetParameter, V1LayerParameter};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use std::io::{self, Write};

/// One blob to write: its shape, whether to use the legacy 4-D
/// num/channels/height/width fields (as V1 files do), and its values.
pub struct BlobOut<'v> {
    pub shape: Vec<i64>,
    pub legacy: bool,
    pub values: &'v [f32],
}

impl BlobOut<'_> {
    fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.legacy {
            let mut dims = vec![1i64; 4usize.saturating_sub(self.shape.len())];
            dims.extend(&self.shape);
            for (number, dim) in (1u32..=4).zip(dims) {
                encode_key(number, WireType::Varint, &mut out);
                encode_varint(dim as u64, &mut out);
            }
        } else {
            let shape = BlobShape {
                dim: self.shape.clone(),
            }
            .encode_to_vec();
            encode_key(7, WireType::LengthDelimited, &mut out);
            encode_varint(shape.len() as u64, &mut out);
            out.extend(shape);
        }
        out
    }

    fn data_len(&self) -> usize {
        self.values.len() * 4
    }

    fn encoded_len(&self) -> usize {
        self.header().len()
            + key_len(5)
            + encoded_len_varint(self.data_len() as u64)
            + self.data_len()
    }

    fn write(&self, number: u32, w: &mut impl Write) -> io::Result<()> {
        let mut head = Vec::new();
        encode_key(number, WireType::LengthDelimited, &mut head);
        encode_varint(self.encoded_len() as u64, &mut head);
        head.extend(self.header());
        encode_key(5, WireType::LengthDelimited, &mut head);
        encode_varint(self.data_len() as u64, &mut head);
        w.write_all(&head)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in self.values.chunks(1 << 14) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&buf)?;
        }
        Ok(())
    }
}

/// Streams a caffemodel: the net's own fields first, then each layer.
pub struct CaffemodelWriter<W: Write> {
    w: W,
}

impl<W: Write> CaffemodelWriter<W> {
    /// Writes `net`'s fields (its `layer`/`layers` should be empty).
    pub fn new(mut w: W, net: &NetParameter) -> io::Result<Self> {
        w.write_all(&net.encode_to_vec())?;
        Ok(CaffemodelWriter { w })
    }

    /// A V2 layer (`layer`, field 100; blobs are field 7).
    pub fn layer(&mut self, layer: &LayerParameter, blobs: &[BlobOut<'_>]) -> io::Result<()> {
        self.write_layer(100, 7, &layer.encode_to_vec(), blobs)
    }

    /// A V1 layer (`layers`, field 2; blobs are field 6).
    pub fn v1_layer(&mut self, layer: &V1LayerParameter, blobs: &[BlobOut<'_>]) -> io::Result<()> {
        self.write_layer(2, 6, &layer.encode_to_vec(), blobs)
    }

    fn write_layer(
        &mut self,
        number: u32,
        blob_number: u32,
        header: &[u8],
        blobs: &[BlobOut<'_>],
    ) -> io::Result<()> {
        let body: usize = header.len()
            + blobs
                .iter()
                .map(|b| {
                    key_len(blob_number)
                        + encoded_len_varint(b.encoded_len() as u64)
                        + b.encoded_len()
                })
                .sum::<usize>();
        let mut head = Vec::new();
        encode_key(number, WireType::LengthDelimited, &mut head);
        encode_varint(body as u64, &mut head);
        self.w.write_all(&head)?;
        self.w.write_all(header)?;
        for blob in blobs {
            blob.write(blob_number, &mut self.w)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{RawParam, read_model};

    #[test]
    fn written_models_read_back() {
        let net = NetParameter {
            name: Some("w".into()),
            input: vec!["data".into()],
            input_dim: vec![1, 2, 3, 3],
            ..Default::default()
        };
        let mut writer = CaffemodelWriter::new(Vec::new(), &net).unwrap();
        let values: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let v1 = V1LayerParameter {
            name: Some("fc".into()),
            r#type: Some(14),
            ..Default::default()
        };
        writer
            .v1_layer(
                &v1,
                &[BlobOut {
                    shape: vec![3, 2],
                    legacy: true,
                    values: &values,
                }],
            )
            .unwrap();
        let v2 = LayerParameter {
            name: Some("s".into()),
            ..Default::default()
        };
        writer
            .layer(
                &v2,
                &[BlobOut {
                    shape: vec![6],
                    legacy: false,
                    values: &values,
                }],
            )
            .unwrap();
        let bytes = writer.finish().unwrap();
        let model = read_model(&bytes).unwrap();
        assert_eq!(model.net.input_dim, vec![1, 2, 3, 3]);
        assert_eq!(model.layers[0].blobs[0].shape, vec![1, 1, 3, 2]);
        assert!(matches!(model.layers[0].param, RawParam::V1(_)));
        assert_eq!(model.layers[1].blobs[0].shape, vec![6]);
        assert_eq!(model.layers[1].blobs[0].data.to_vec(), values);
    }
}
