//! The `.npy` files `zoo run --input` takes, written without a tensor crate
//! (for xtask's demos and the end-to-end tests).

/// A little-endian f32 `.npy` file (format version 1.0) of `values` in
/// `shape` (row-major).
pub fn f32_bytes(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_is_padded_to_64_bytes() {
        let bytes = super::f32_bytes(&[2, 1], &[1.0, -2.0]);
        assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (2, 1,)"), "{header}");
        assert_eq!(
            &bytes[10 + header_len..],
            [1f32.to_le_bytes(), (-2f32).to_le_bytes()].concat()
        );
    }
}
