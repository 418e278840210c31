//! Reading a caffemodel in place: a walk over the protobuf wire format of the
//! (memory-mapped) file that decodes the small parts of each layer with prost
//! and leaves the big packed float arrays where they are, as byte slices.
//! That keeps an import of a 500 MB model to one pass over the file with no
//! second copy in memory. Every error names the byte offset at fault.

use crate::error::WireError;
use crate::proto::{BlobShape, LayerParameter, NetParameter, V1LayerParameter};
use prost::Message;

/// A caffemodel: its net-level fields and its layers in file order.
#[derive(Debug)]
pub struct ModelFile<'a> {
    /// Name and input fields; `layer`/`layers` are left empty (see `layers`).
    pub net: NetParameter,
    pub layers: Vec<RawLayer<'a>>,
}

/// A layer as stored: new format (`layer`, field 100) or V1 (`layers`, field 2).
#[derive(Debug, Clone)]
pub enum RawParam {
    V2(Box<LayerParameter>),
    V1(Box<V1LayerParameter>),
}

#[derive(Debug, Clone)]
pub struct RawLayer<'a> {
    /// The layer without its blobs.
    pub param: RawParam,
    pub blobs: Vec<Blob<'a>>,
    /// Where the layer message starts in the file.
    pub offset: u64,
}

/// One parameter array: its shape and its float values.
#[derive(Debug, Clone)]
pub struct Blob<'a> {
    pub shape: Vec<i64>,
    pub data: BlobData<'a>,
    pub offset: u64,
}

#[derive(Debug, Clone)]
pub enum BlobData<'a> {
    /// Little-endian f32 values straight from the file (packed `data`).
    Bytes(&'a [u8]),
    /// Values that had to be assembled (unpacked, split or double data).
    Owned(Vec<f32>),
}

impl BlobData<'_> {
    pub fn len(&self) -> usize {
        match self {
            BlobData::Bytes(bytes) => bytes.len() / 4,
            BlobData::Owned(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_vec(&self) -> Vec<f32> {
        match self {
            BlobData::Bytes(bytes) => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            BlobData::Owned(values) => values.clone(),
        }
    }

    /// The values as little-endian bytes (borrowed when they came packed).
    pub fn le_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            BlobData::Bytes(bytes) => std::borrow::Cow::Borrowed(bytes),
            BlobData::Owned(values) => {
                std::borrow::Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
            }
        }
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One field: its number, wire type, whole extent (key included) and payload.
struct Field<'a> {
    number: u32,
    wire_type: u8,
    start: usize,
    raw: &'a [u8],
    payload: &'a [u8],
    payload_start: usize,
    varint: u64,
}

/// A cursor over one message's bytes; `base` is the message's file offset.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: u64) -> Self {
        Reader { buf, pos: 0, base }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> WireError {
        WireError {
            offset: self.base + at as u64,
            message: message.into(),
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error(start, "truncated file: the data ends inside a varint"));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(start, "malformed varint (more than 10 bytes)"))
    }

    fn take(&mut self, len: u64, what: &str, start: usize) -> Result<&'a [u8], WireError> {
        let available = (self.buf.len() - self.pos) as u64;
        if len > available {
            return Err(self.error(
                start,
                format!("truncated file: {what} needs {len} bytes but only {available} remain"),
            ));
        }
        let slice = &self.buf[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(slice)
    }

    fn next_field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(self.error(start, format!("invalid field number {number}")));
        }
        let number = number as u32;
        let mut varint = 0;
        let payload_start;
        let payload = match wire_type {
            VARINT => {
                payload_start = self.pos;
                varint = self.varint()?;
                &self.buf[payload_start..self.pos]
            }
            FIXED64 => {
                payload_start = self.pos;
                self.take(8, &format!("field {number}"), start)?
            }
            FIXED32 => {
                payload_start = self.pos;
                self.take(4, &format!("field {number}"), start)?
            }
            LEN => {
                let len = self.varint()?;
                payload_start = self.pos;
                self.take(len, &format!("field {number}"), start)?
            }
            3 | 4 => {
                return Err(self.error(
                    start,
                    format!("field {number} uses wire type {wire_type} (groups), which Caffe never writes"),
                ));
            }
            other => {
                return Err(self.error(
                    start,
                    format!("field {number} has invalid wire type {other}"),
                ));
            }
        };
        Ok(Some(Field {
            number,
            wire_type,
            start,
            raw: &self.buf[start..self.pos],
            payload,
            payload_start,
            varint,
        }))
    }

    fn expect(&self, field: &Field<'_>, wire_type: u8, name: &str) -> Result<(), WireError> {
        if field.wire_type == wire_type {
            return Ok(());
        }
        Err(self.error(
            field.start,
            format!(
                "field {} ({name}) has wire type {} ({}), expected {wire_type} ({})",
                field.number,
                field.wire_type,
                wire_type_name(field.wire_type),
                wire_type_name(wire_type)
            ),
        ))
    }

    /// Merges one field into `message` with prost, locating prost's error.
    fn merge<M: Message>(
        &self,
        message: &mut M,
        field: &Field<'_>,
        what: &str,
    ) -> Result<(), WireError> {
        message
            .merge(field.raw)
            .map_err(|e| self.error(field.start, format!("{what}: field {}: {e}", field.number)))
    }
}

fn wire_type_name(wire_type: u8) -> &'static str {
    match wire_type {
        VARINT => "varint",
        FIXED64 => "64-bit",
        LEN => "length-delimited",
        FIXED32 => "32-bit",
        _ => "invalid",
    }
}

/// Reads a whole caffemodel (`NetParameter`) from `bytes`.
pub fn read_model(bytes: &[u8]) -> Result<ModelFile<'_>, WireError> {
    let mut reader = Reader::new(bytes, 0);
    let mut net = NetParameter::default();
    let mut layers = Vec::new();
    while let Some(field) = reader.next_field()? {
        match field.number {
            100 => {
                reader.expect(&field, LEN, "layer")?;
                layers.push(read_layer(
                    field.payload,
                    field.payload_start as u64,
                    false,
                )?);
            }
            2 => {
                reader.expect(&field, LEN, "layers")?;
                layers.push(read_layer(field.payload, field.payload_start as u64, true)?);
            }
            _ => reader.merge(&mut net, &field, "net")?,
        }
    }
    Ok(ModelFile { net, layers })
}

fn read_layer(bytes: &[u8], base: u64, v1: bool) -> Result<RawLayer<'_>, WireError> {
    let mut reader = Reader::new(bytes, base);
    let blobs_field = if v1 { 6 } else { 7 };
    let mut v2 = LayerParameter::default();
    let mut old = V1LayerParameter::default();
    let mut blobs = Vec::new();
    while let Some(field) = reader.next_field()? {
        if field.number == blobs_field {
            reader.expect(&field, LEN, "blobs")?;
            blobs.push(read_blob(field.payload, base + field.payload_start as u64)?);
        } else if v1 {
            reader.merge(&mut old, &field, "layer")?;
        } else {
            reader.merge(&mut v2, &field, "layer")?;
        }
    }
    let param = if v1 {
        RawParam::V1(Box::new(old))
    } else {
        RawParam::V2(Box::new(v2))
    };
    Ok(RawLayer {
        param,
        blobs,
        offset: base,
    })
}

fn read_blob(bytes: &[u8], base: u64) -> Result<Blob<'_>, WireError> {
    let mut reader = Reader::new(bytes, base);
    let mut shape: Option<BlobShape> = None;
    let mut legacy = [None::<i64>; 4];
    let mut packed: Option<&[u8]> = None;
    let mut owned: Vec<f32> = Vec::new();
    let mut doubles: Vec<f32> = Vec::new();
    while let Some(field) = reader.next_field()? {
        match field.number {
            7 => {
                reader.expect(&field, LEN, "shape")?;
                let mut message = shape.take().unwrap_or_default();
                message
                    .merge(field.payload)
                    .map_err(|e| reader.error(field.start, format!("blob shape: {e}")))?;
                shape = Some(message);
            }
            5 => match field.wire_type {
                LEN => {
                    if field.payload.len() % 4 != 0 {
                        return Err(reader.error(
                            field.start,
                            format!(
                                "packed float data of {} bytes is not a multiple of 4",
                                field.payload.len()
                            ),
                        ));
                    }
                    // The common case (one packed run) stays a zero-copy slice.
                    if packed.is_none() && owned.is_empty() {
                        packed = Some(field.payload);
                    } else {
                        if let Some(first) = packed.take() {
                            owned.extend(BlobData::Bytes(first).to_vec());
                        }
                        owned.extend(BlobData::Bytes(field.payload).to_vec());
                    }
                }
                FIXED32 => {
                    if let Some(first) = packed.take() {
                        owned.extend(BlobData::Bytes(first).to_vec());
                    }
                    let b = field.payload;
                    owned.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                }
                _ => reader.expect(&field, LEN, "data")?,
            },
            8 => match field.wire_type {
                LEN if field.payload.len() % 8 == 0 => doubles.extend(
                    field
                        .payload
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32),
                ),
                LEN => {
                    return Err(reader.error(
                        field.start,
                        "packed double data is not a multiple of 8 bytes",
                    ));
                }
                FIXED64 => doubles
                    .push(f64::from_le_bytes(field.payload.try_into().unwrap_or([0; 8])) as f32),
                _ => reader.expect(&field, LEN, "double_data")?,
            },
            1..=4 => {
                reader.expect(&field, VARINT, "num/channels/height/width")?;
                legacy[field.number as usize - 1] = Some(field.varint as i32 as i64);
            }
            _ => {}
        }
    }
    // Caffe: the legacy 4-D fields win when any is present, else `shape`.
    let dims: Vec<i64> = if legacy.iter().any(Option::is_some) {
        legacy.iter().map(|d| d.unwrap_or(0)).collect()
    } else {
        shape.map(|s| s.dim).unwrap_or_default()
    };
    let data = match packed {
        Some(bytes) => BlobData::Bytes(bytes),
        None if owned.is_empty() => BlobData::Owned(doubles),
        None => BlobData::Owned(owned),
    };
    if dims.iter().any(|&d| d < 0) {
        return Err(reader.error(
            0,
            format!("blob has a negative dimension in shape {dims:?}"),
        ));
    }
    let expected: i64 = dims
        .iter()
        .try_fold(1i64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(-1);
    if expected != data.len() as i64 {
        return Err(reader.error(
            0,
            format!(
                "blob of shape {dims:?} needs {expected} values but holds {}",
                data.len()
            ),
        ));
    }
    Ok(Blob {
        shape: dims,
        data,
        offset: base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_bytes(dims: &[i64], values: &[f32]) -> Vec<u8> {
        let mut blob = Vec::new();
        let shape = BlobShape { dim: dims.to_vec() }.encode_to_vec();
        prost::encoding::encode_key(7, prost::encoding::WireType::LengthDelimited, &mut blob);
        prost::encoding::encode_varint(shape.len() as u64, &mut blob);
        blob.extend(shape);
        prost::encoding::encode_key(5, prost::encoding::WireType::LengthDelimited, &mut blob);
        prost::encoding::encode_varint(values.len() as u64 * 4, &mut blob);
        blob.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        blob
    }

    fn model_bytes() -> Vec<u8> {
        let layer = LayerParameter {
            name: Some("fc".into()),
            r#type: Some("InnerProduct".into()),
            ..Default::default()
        };
        let mut layer_bytes = layer.encode_to_vec();
        let blob = blob_bytes(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        prost::encoding::encode_key(
            7,
            prost::encoding::WireType::LengthDelimited,
            &mut layer_bytes,
        );
        prost::encoding::encode_varint(blob.len() as u64, &mut layer_bytes);
        layer_bytes.extend(blob);
        let mut out = NetParameter {
            name: Some("n".into()),
            ..Default::default()
        }
        .encode_to_vec();
        prost::encoding::encode_key(100, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(layer_bytes.len() as u64, &mut out);
        out.extend(layer_bytes);
        out
    }

    #[test]
    fn reads_blobs_in_place() {
        let bytes = model_bytes();
        let model = read_model(&bytes).unwrap();
        assert_eq!(model.net.name(), "n");
        assert_eq!(model.layers.len(), 1);
        let blob = &model.layers[0].blobs[0];
        assert_eq!(blob.shape, vec![2, 2]);
        assert!(matches!(blob.data, BlobData::Bytes(_)));
        assert_eq!(blob.data.to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = model_bytes();
        // Cutting right after the name field leaves a valid (layer-less) net.
        let header = NetParameter {
            name: Some("n".into()),
            ..Default::default()
        }
        .encoded_len();
        for cut in (1..bytes.len()).filter(|&cut| cut != header) {
            let err = read_model(&bytes[..cut]).unwrap_err();
            assert!(err.offset <= cut as u64, "{err}");
        }
    }

    #[test]
    fn wrong_wire_type_names_the_offset() {
        let mut bytes = model_bytes();
        // Field 100 as a varint instead of length-delimited, after the name.
        let name_len = NetParameter {
            name: Some("n".into()),
            ..Default::default()
        }
        .encoded_len();
        bytes[name_len] = 0xA0; // first key byte of field 100 with wire type 0
        let err = read_model(&bytes).unwrap_err();
        assert_eq!(err.offset, name_len as u64, "{err}");
    }
}
