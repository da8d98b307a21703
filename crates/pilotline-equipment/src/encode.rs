//! Encoding values into Modbus registers: the inverse of [`crate::decode`], used by the tool
//! simulator (and by tests that serve registers a tool would).

use crate::decode::{DataType, Decoded, WordOrder};

/// The wire registers of `bytes` (most significant first) in `order`: the inverse of
/// [`crate::decode::canonical_bytes`].
pub fn wire_registers(bytes: &[u8], order: WordOrder) -> Vec<u16> {
    let swap_bytes = matches!(order, WordOrder::BADC | WordOrder::DCBA);
    let mut words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| {
            let (hi, lo) = (c[0], c.get(1).copied().unwrap_or(0));
            if swap_bytes {
                u16::from_be_bytes([lo, hi])
            } else {
                u16::from_be_bytes([hi, lo])
            }
        })
        .collect();
    if matches!(order, WordOrder::CDAB | WordOrder::DCBA) {
        words.reverse();
    }
    words
}

/// Registers holding the raw (unscaled) `value` as `ty` in `order`; strings are padded with
/// NULs to `string_registers`. Numbers are rounded and saturated to the type's range. `Bit`
/// encodes a register with only that bit set (callers that share a register set bits
/// themselves).
pub fn encode(
    value: &Decoded,
    ty: DataType,
    order: WordOrder,
    string_registers: u16,
    bit: u8,
) -> Vec<u16> {
    let n = match value {
        Decoded::Number(n) => *n,
        Decoded::Bool(b) => f64::from(u8::from(*b)),
        Decoded::Text(_) => 0.0,
    };
    let string_order = if matches!(order, WordOrder::BADC | WordOrder::DCBA) {
        WordOrder::BADC
    } else {
        WordOrder::ABCD
    };
    let order = if ty.multi_register() {
        order
    } else {
        WordOrder::ABCD
    };
    match ty {
        DataType::Bool => vec![u16::from(n != 0.0)],
        DataType::Bit => vec![if n != 0.0 { 1u16 << (bit & 15) } else { 0 }],
        DataType::U16 => vec![n.round().clamp(0.0, f64::from(u16::MAX)) as u16],
        DataType::I16 => {
            vec![n.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16 as u16]
        }
        DataType::U32 => wire_registers(&(n.round().max(0.0) as u32).to_be_bytes(), order),
        DataType::I32 => wire_registers(&(n.round() as i32).to_be_bytes(), order),
        DataType::U64 => wire_registers(&(n.round().max(0.0) as u64).to_be_bytes(), order),
        DataType::I64 => wire_registers(&(n.round() as i64).to_be_bytes(), order),
        DataType::F32 => wire_registers(&(n as f32).to_be_bytes(), order),
        DataType::F64 => wire_registers(&n.to_be_bytes(), order),
        DataType::String => {
            let text = match value {
                Decoded::Text(t) => t.clone(),
                other => other.to_string(),
            };
            let mut bytes: Vec<u8> = text.bytes().filter(u8::is_ascii).collect();
            bytes.resize(usize::from(string_registers) * 2, 0);
            wire_registers(&bytes, string_order)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    #[test]
    fn encode_is_the_inverse_of_decode_for_every_type_and_order() {
        let cases: [(DataType, Decoded); 11] = [
            (DataType::Bool, Decoded::Bool(true)),
            (DataType::Bit, Decoded::Bool(true)),
            (DataType::U16, Decoded::Number(65535.0)),
            (DataType::I16, Decoded::Number(-1234.0)),
            (DataType::U32, Decoded::Number(4_000_000_000.0)),
            (DataType::I32, Decoded::Number(-2_000_000_000.0)),
            (DataType::U64, Decoded::Number(9_007_199_254_740_991.0)),
            (DataType::I64, Decoded::Number(-9_007_199_254_740_991.0)),
            (DataType::F32, Decoded::Number(123.456)),
            (DataType::F64, Decoded::Number(-1.0e-300)),
            (DataType::String, Decoded::Text("LOT-42A".into())),
        ];
        for order in [
            WordOrder::ABCD,
            WordOrder::CDAB,
            WordOrder::BADC,
            WordOrder::DCBA,
        ] {
            for (ty, value) in &cases {
                let regs = encode(value, *ty, order, 4, 5);
                assert_eq!(
                    decode(&regs, *ty, order, 5).unwrap(),
                    *value,
                    "{ty:?} {order:?}"
                );
            }
        }
        // The reference vector: 123.456 as f32 is 0x42F6E979.
        let v = Decoded::Number(123.456);
        assert_eq!(
            encode(&v, DataType::F32, WordOrder::CDAB, 0, 0),
            [0xE979, 0x42F6]
        );
        assert_eq!(
            encode(&v, DataType::F32, WordOrder::BADC, 0, 0),
            [0xF642, 0x79E9]
        );
    }
}
