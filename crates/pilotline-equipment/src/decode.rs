//! Decoding Modbus registers: data types, word and byte orders, bits, strings, scaling.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How the bytes of a multi-register value are ordered on the wire, named by the position of
/// the most significant byte `A` through the least significant `D` (for 64-bit values the
/// pattern repeats over eight bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WordOrder {
    /// Big-endian words, big-endian bytes (Modbus' own convention).
    #[default]
    ABCD,
    /// Word-swapped: little-endian words of big-endian bytes.
    CDAB,
    /// Byte-swapped within big-endian words.
    BADC,
    /// Fully little-endian.
    DCBA,
}

/// The data type of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// One coil or discrete input, or a non-zero register.
    Bool,
    /// Unsigned 16-bit (one register).
    U16,
    /// Signed 16-bit (one register).
    I16,
    /// Unsigned 32-bit (two registers).
    U32,
    /// Signed 32-bit (two registers).
    I32,
    /// Unsigned 64-bit (four registers).
    U64,
    /// Signed 64-bit (four registers).
    I64,
    /// IEEE 754 single (two registers).
    F32,
    /// IEEE 754 double (four registers).
    F64,
    /// ASCII text packed two characters per register (`registers` long).
    String,
    /// One bit of a register (`bit` 0..=15, 0 the least significant).
    Bit,
}

impl DataType {
    /// Registers one value occupies; `string_registers` for strings.
    pub fn registers(self, string_registers: u16) -> u16 {
        match self {
            DataType::Bool | DataType::U16 | DataType::I16 | DataType::Bit => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String => string_registers,
        }
    }

    /// Whether word order matters for this type.
    pub fn multi_register(self) -> bool {
        matches!(
            self,
            DataType::U32
                | DataType::I32
                | DataType::F32
                | DataType::U64
                | DataType::I64
                | DataType::F64
        )
    }

    /// Whether the value is numeric (so scale, offset and deadband apply).
    pub fn numeric(self) -> bool {
        !matches!(self, DataType::Bool | DataType::Bit | DataType::String)
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Decoded {
    /// Boolean.
    Bool(bool),
    /// Number (integers up to 2^53 exactly; scaling applied).
    Number(f64),
    /// Text.
    Text(String),
}

impl std::fmt::Display for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decoded::Bool(b) => write!(f, "{b}"),
            Decoded::Number(n) => write!(f, "{n}"),
            Decoded::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Why registers could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer registers than the type needs.
    TooFewRegisters {
        /// Needed.
        needed: usize,
        /// Given.
        got: usize,
    },
    /// A bit index outside 0..=15.
    BadBit(u8),
    /// A string with bytes that are not ASCII.
    NotAscii,
    /// The value is NaN or infinite.
    NotFinite,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooFewRegisters { needed, got } => {
                write!(f, "needs {needed} registers, got {got}")
            }
            DecodeError::BadBit(b) => write!(f, "bit {b} is outside 0..=15"),
            DecodeError::NotAscii => f.write_str("string registers hold non-ASCII bytes"),
            DecodeError::NotFinite => f.write_str("value is NaN or infinite"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Puts the big-endian bytes of `regs` (as read off the wire) into most-significant-first
/// order according to `order`.
pub fn canonical_bytes(regs: &[u16], order: WordOrder) -> Vec<u8> {
    let mut words: Vec<u16> = regs.to_vec();
    if matches!(order, WordOrder::CDAB | WordOrder::DCBA) {
        words.reverse();
    }
    let swap_bytes = matches!(order, WordOrder::BADC | WordOrder::DCBA);
    words
        .iter()
        .flat_map(|w| {
            let [hi, lo] = w.to_be_bytes();
            if swap_bytes { [lo, hi] } else { [hi, lo] }
        })
        .collect()
}

/// Decodes `regs` as `ty` in `order`. `bit` is used for [`DataType::Bit`].
pub fn decode(
    regs: &[u16],
    ty: DataType,
    order: WordOrder,
    bit: u8,
) -> Result<Decoded, DecodeError> {
    let needed = usize::from(ty.registers(regs.len() as u16));
    if regs.len() < needed || regs.is_empty() {
        return Err(DecodeError::TooFewRegisters {
            needed: needed.max(1),
            got: regs.len(),
        });
    }
    let regs = &regs[..needed];
    let bytes = canonical_bytes(
        regs,
        if ty.multi_register() {
            order
        } else {
            WordOrder::ABCD
        },
    );
    let arr4 = || -> [u8; 4] { [bytes[0], bytes[1], bytes[2], bytes[3]] };
    let arr8 = || -> [u8; 8] {
        [
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ]
    };
    let v = match ty {
        DataType::Bool => Decoded::Bool(regs[0] != 0),
        DataType::Bit => {
            if bit > 15 {
                return Err(DecodeError::BadBit(bit));
            }
            Decoded::Bool(regs[0] >> bit & 1 == 1)
        }
        DataType::U16 => Decoded::Number(f64::from(regs[0])),
        DataType::I16 => Decoded::Number(f64::from(regs[0] as i16)),
        DataType::U32 => Decoded::Number(f64::from(u32::from_be_bytes(arr4()))),
        DataType::I32 => Decoded::Number(f64::from(i32::from_be_bytes(arr4()))),
        DataType::U64 => Decoded::Number(u64::from_be_bytes(arr8()) as f64),
        DataType::I64 => Decoded::Number(i64::from_be_bytes(arr8()) as f64),
        DataType::F32 => {
            let f = f32::from_be_bytes(arr4());
            if !f.is_finite() {
                return Err(DecodeError::NotFinite);
            }
            Decoded::Number(f32_as_f64(f))
        }
        DataType::F64 => {
            let f = f64::from_be_bytes(arr8());
            if !f.is_finite() {
                return Err(DecodeError::NotFinite);
            }
            Decoded::Number(f)
        }
        DataType::String => {
            let raw = canonical_bytes(
                regs,
                if matches!(order, WordOrder::BADC | WordOrder::DCBA) {
                    WordOrder::BADC
                } else {
                    WordOrder::ABCD
                },
            );
            let text: Vec<u8> = raw.into_iter().take_while(|b| *b != 0).collect();
            if !text.is_ascii() {
                return Err(DecodeError::NotAscii);
            }
            Decoded::Text(String::from_utf8_lossy(&text).trim_end().to_string())
        }
    };
    Ok(v)
}

/// The f64 whose shortest decimal form is the f32's (17.032, not 17.031999588012695): what the
/// tool meant, not the binary expansion of its rounding.
pub fn f32_as_f64(f: f32) -> f64 {
    f.to_string().parse().unwrap_or(f64::from(f))
}

/// Applies `value * scale + offset` to a number; other values pass unchanged.
pub fn scale(value: Decoded, scale: f64, offset: f64) -> Decoded {
    match value {
        Decoded::Number(n) => Decoded::Number(n * scale + offset),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(regs: &[u16], ty: DataType, order: WordOrder) -> f64 {
        match decode(regs, ty, order, 0).unwrap() {
            Decoded::Number(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn float_123_456_in_every_word_order() {
        // 123.456f32 = 0x42F6E979.
        let cases = [
            (WordOrder::ABCD, [0x42F6, 0xE979]),
            (WordOrder::CDAB, [0xE979, 0x42F6]),
            (WordOrder::BADC, [0xF642, 0x79E9]),
            (WordOrder::DCBA, [0x79E9, 0xF642]),
        ];
        for (order, regs) in cases {
            let v = num(&regs, DataType::F32, order);
            assert_eq!(
                v, 123.456,
                "{order:?}: the f32 read as the decimal the tool meant"
            );
            assert_eq!(
                canonical_bytes(&regs, order),
                vec![0x42, 0xF6, 0xE9, 0x79],
                "{order:?}"
            );
        }
    }

    #[test]
    fn every_data_type_in_every_order() {
        use DataType::*;
        use WordOrder::*;
        // (registers as read, type, order, expected)
        let cases: &[(&[u16], DataType, WordOrder, f64)] = &[
            (&[0xFFFF], U16, ABCD, 65535.0),
            (&[0xFFFF], I16, ABCD, -1.0),
            (&[0x8000], I16, ABCD, -32768.0),
            (&[0x0001, 0x0002], U32, ABCD, 65538.0),
            (&[0x0002, 0x0001], U32, CDAB, 65538.0),
            (&[0x0100, 0x0200], U32, BADC, 65538.0),
            (&[0x0200, 0x0100], U32, DCBA, 65538.0),
            (&[0xFFFF, 0xFFFE], I32, ABCD, -2.0),
            (&[0xFFFE, 0xFFFF], I32, CDAB, -2.0),
            (&[0xFFFF, 0xFEFF], I32, BADC, -2.0),
            (&[0xFEFF, 0xFFFF], I32, DCBA, -2.0),
            (&[0x0000, 0x0000, 0x0001, 0x0000], U64, ABCD, 65536.0),
            (&[0x0000, 0x0001, 0x0000, 0x0000], U64, CDAB, 65536.0),
            (&[0x0000, 0x0000, 0x0100, 0x0000], U64, BADC, 65536.0),
            (&[0x0000, 0x0100, 0x0000, 0x0000], U64, DCBA, 65536.0),
            (&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFD], I64, ABCD, -3.0),
            (&[0xFDFF, 0xFFFF, 0xFFFF, 0xFFFF], I64, DCBA, -3.0),
            // 1.5f64 = 0x3FF8_0000_0000_0000
            (&[0x3FF8, 0x0000, 0x0000, 0x0000], F64, ABCD, 1.5),
            (&[0x0000, 0x0000, 0x0000, 0x3FF8], F64, CDAB, 1.5),
            (&[0xF83F, 0x0000, 0x0000, 0x0000], F64, BADC, 1.5),
            (&[0x0000, 0x0000, 0x0000, 0xF83F], F64, DCBA, 1.5),
            (&[0xC2F6, 0xE979], F32, ABCD, -123.456),
        ];
        for (regs, ty, order, expected) in cases {
            let v = num(regs, *ty, *order);
            assert!(
                (v - expected).abs() < 1e-3,
                "{ty:?} {order:?} {regs:04X?}: {v} != {expected}"
            );
        }
    }

    #[test]
    fn bools_bits_strings_and_scaling() {
        assert_eq!(
            decode(&[0], DataType::Bool, WordOrder::ABCD, 0),
            Ok(Decoded::Bool(false))
        );
        assert_eq!(
            decode(&[7], DataType::Bool, WordOrder::ABCD, 0),
            Ok(Decoded::Bool(true))
        );
        assert_eq!(
            decode(&[0b1000_0100], DataType::Bit, WordOrder::ABCD, 2),
            Ok(Decoded::Bool(true))
        );
        assert_eq!(
            decode(&[0b1000_0100], DataType::Bit, WordOrder::ABCD, 3),
            Ok(Decoded::Bool(false))
        );
        assert_eq!(
            decode(&[0x8000], DataType::Bit, WordOrder::ABCD, 15),
            Ok(Decoded::Bool(true))
        );
        assert_eq!(
            decode(&[1], DataType::Bit, WordOrder::ABCD, 16),
            Err(DecodeError::BadBit(16))
        );
        let text = [0x4655, 0x522D, 0x3031, 0x0000]; // "FUR-01\0\0"
        assert_eq!(
            decode(&text, DataType::String, WordOrder::ABCD, 0),
            Ok(Decoded::Text("FUR-01".into()))
        );
        let swapped = [0x5546, 0x2D52, 0x3130];
        assert_eq!(
            decode(&swapped, DataType::String, WordOrder::BADC, 0),
            Ok(Decoded::Text("FUR-01".into()))
        );
        assert_eq!(
            decode(&[0xC3A9], DataType::String, WordOrder::ABCD, 0),
            Err(DecodeError::NotAscii)
        );
        assert_eq!(
            decode(&[1], DataType::U32, WordOrder::ABCD, 0),
            Err(DecodeError::TooFewRegisters { needed: 2, got: 1 })
        );
        assert_eq!(
            decode(&[0x7FC0, 0], DataType::F32, WordOrder::ABCD, 0),
            Err(DecodeError::NotFinite)
        );
        // Eurotherm 3216: signed tenths of a degree.
        let pv = decode(&[0xFFF6], DataType::I16, WordOrder::ABCD, 0).unwrap();
        assert_eq!(scale(pv, 0.1, 0.0), Decoded::Number(-1.0));
        assert_eq!(scale(Decoded::Number(4.0), 2.5, 1.0), Decoded::Number(11.0));
        assert_eq!(scale(Decoded::Bool(true), 2.0, 1.0), Decoded::Bool(true));
    }
}
