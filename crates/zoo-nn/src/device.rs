//! Parsing user-facing device names (`cpu`, `cuda`, `cuda:N`).

use crate::error::{NnError, Result};
use tch::Device;

/// Parses a device name and checks that it exists on this machine.
pub fn parse_device(name: &str) -> Result<Device> {
    let device = match name.trim() {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) => Device::Cuda(index),
            _ => return Err(NnError::InvalidDevice(name.to_string())),
        },
    };
    if let Device::Cuda(index) = device {
        if !tch::Cuda::is_available() {
            return Err(NnError::DeviceUnavailable(
                name.to_string(),
                "libtorch reports no CUDA device on this machine".into(),
            ));
        }
        let count = tch::Cuda::device_count() as usize;
        if index >= count {
            return Err(NnError::DeviceUnavailable(
                name.to_string(),
                format!("only {count} CUDA device(s) present"),
            ));
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_garbage() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(matches!(
            parse_device("gpu"),
            Err(NnError::InvalidDevice(_))
        ));
        assert!(matches!(
            parse_device("cuda:x"),
            Err(NnError::InvalidDevice(_))
        ));
    }
}
