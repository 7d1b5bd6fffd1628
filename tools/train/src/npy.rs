//! Minimal NumPy `.npy` (format 1.0) reading and writing for the arrays the dataset exchanges
//! with the PyTorch trainer: little-endian float32 and uint8, C order, any number of axes. Kept
//! here (≈ 100 lines) rather than a crate so the format cannot drift from ndarray 0.17.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ndarray::{Array, ArrayD, Dimension, IxDyn};

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a supported .npy file: {why}")]
    Format { path: PathBuf, why: String },
    /// The file holds an array of another number of axes than the caller needs.
    #[error("{path}: {why}")]
    Rank { path: PathBuf, why: String },
}

/// Element types we exchange.
pub trait Element: Copy + Default {
    const DESCR: &'static str;
    const SIZE: usize;
    fn to_le(self, out: &mut Vec<u8>);
    fn from_le(b: &[u8]) -> Self;
}

impl Element for f32 {
    const DESCR: &'static str = "<f4";
    const SIZE: usize = 4;
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl Element for u8 {
    const DESCR: &'static str = "|u1";
    const SIZE: usize = 1;
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn from_le(b: &[u8]) -> Self {
        b[0]
    }
}

/// Writes `a` (any layout; written in C order) to `path`.
pub fn write<T: Element, D: ndarray::Dimension>(
    path: &Path,
    a: &ndarray::ArrayBase<impl ndarray::Data<Elem = T>, D>,
) -> Result<(), NpyError> {
    let shape: Vec<String> = a.shape().iter().map(|n| n.to_string()).collect();
    let shape = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        T::DESCR
    );
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + a.len() * T::SIZE);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    let len = u16::try_from(header.len()).map_err(|_| NpyError::Format {
        path: path.to_owned(),
        why: "header too long".to_owned(),
    })?;
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in a.iter() {
        v.to_le(&mut bytes);
    }
    let io = |source| NpyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(&bytes).map_err(io)
}

/// Reads `path` as an array of `D`'s number of axes (`Ix3`: a volume, `Ix4`: a model image).
pub fn read_dim<T: Element, D: Dimension>(path: &Path) -> Result<Array<T, D>, NpyError> {
    read::<T>(path)?
        .into_dimensionality::<D>()
        .map_err(|e| NpyError::Rank {
            path: path.to_owned(),
            why: e.to_string(),
        })
}

/// Reads a C-order array of element type `T`.
pub fn read<T: Element>(path: &Path) -> Result<ArrayD<T>, NpyError> {
    let io = |source| NpyError::Io {
        path: path.to_owned(),
        source,
    };
    let bad = |why: &str| NpyError::Format {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" || bytes[6] != 1 {
        return Err(bad("missing NUMPY v1 magic"));
    }
    let hlen = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = bytes
        .get(10..10 + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("header"))?;
    if !header.contains(&format!("'descr': '{}'", T::DESCR)) {
        return Err(bad(&format!("expected dtype {} in {header}", T::DESCR)));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran order"));
    }
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("shape")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[10 + hlen..];
    let n: usize = shape.iter().product();
    if data.len() != n * T::SIZE {
        return Err(bad("data length does not match the shape"));
    }
    let values: Vec<T> = data.chunks_exact(T::SIZE).map(T::from_le).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|_| bad("shape"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn round_trip_f32_and_u8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 100 + y * 10 + x) as f32 * 0.5);
        let p = dir.path().join("a.npy");
        write(&p, &a).expect("write");
        let b = read::<f32>(&p).expect("read");
        assert_eq!(b.shape(), &[2, 3, 4]);
        assert_eq!(b.into_dimensionality::<ndarray::Ix3>().expect("3d"), a);
        let m = Array3::from_shape_fn((1, 2, 2), |(_, y, x)| (y * 2 + x) as u8);
        let q = dir.path().join("m.npy");
        write(&q, &m).expect("write");
        assert!(read::<f32>(&q).is_err(), "dtype is checked");
        let bytes = std::fs::read(&q).expect("bytes");
        // Header padded so that the data starts at a multiple of 64 (NumPy's own rule).
        assert_eq!((bytes.len() - 4) % 64, 0);
        assert_eq!(
            read::<u8>(&q)
                .expect("read")
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }
}
