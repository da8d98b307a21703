//! Read planning: the points of a poll group grouped into as few Modbus requests as the register
//! map and the device's request limit allow.

use crate::profile::{Area, DeviceType, Protocol};

/// Most coils or discrete inputs one request may read (Modbus limit).
pub const MAX_BITS_PER_REQUEST: u16 = 2000;

/// Where one point's value sits inside a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPoint {
    /// Index of the point in the device type's `point` list.
    pub index: usize,
    /// Offset of its first register (or bit) from the start of the read.
    pub offset: u16,
    /// Registers (or bits) it occupies.
    pub count: u16,
}

/// One Modbus read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// Data area.
    pub area: Area,
    /// First on-the-wire (0-based) address.
    pub start: u16,
    /// Registers (or bits) read.
    pub count: u16,
    /// Points decoded from the answer.
    pub points: Vec<PlannedPoint>,
}

/// Plans the reads of poll group `group` of `ty`, each at most `max_registers` registers
/// (coils and discrete inputs: at most 2,000 bits). Only contiguous or overlapping ranges are
/// merged: reading across a gap could hit unmapped addresses, which real devices refuse.
pub fn plan_reads(ty: &DeviceType, group: &str, max_registers: u16) -> Vec<ReadRequest> {
    if ty.device_type.protocol != Protocol::Modbus {
        return Vec::new();
    }
    let base = u32::from(ty.device_type.address_base);
    let mut spans: Vec<(Area, u32, u16, usize)> = ty
        .point
        .iter()
        .enumerate()
        .filter(|(_, p)| p.poll_group.as_deref() == Some(group))
        .filter_map(|(i, p)| {
            let (area, address, data_type) = (p.area?, p.address?, p.data_type?);
            let count = if matches!(area, Area::Coil | Area::Discrete) {
                1
            } else {
                data_type.registers(p.registers.unwrap_or(1))
            };
            Some((area, address.saturating_sub(base), count, i))
        })
        .collect();
    spans.sort_by_key(|(area, start, count, i)| (*area as u8, *start, *count, *i));
    let mut out: Vec<ReadRequest> = Vec::new();
    for (area, start, count, index) in spans {
        let limit = if matches!(area, Area::Coil | Area::Discrete) {
            MAX_BITS_PER_REQUEST
        } else {
            max_registers.clamp(1, 125)
        };
        let end = start + u32::from(count);
        if let Some(last) = out.last_mut()
            && last.area == area
            && start <= u32::from(last.start) + u32::from(last.count)
            && end.max(u32::from(last.start) + u32::from(last.count)) - u32::from(last.start)
                <= u32::from(limit)
        {
            let new_end = end.max(u32::from(last.start) + u32::from(last.count));
            last.count = (new_end - u32::from(last.start)) as u16;
            last.points.push(PlannedPoint {
                index,
                offset: (start - u32::from(last.start)) as u16,
                count,
            });
            continue;
        }
        out.push(ReadRequest {
            area,
            start: start as u16,
            count,
            points: vec![PlannedPoint {
                index,
                offset: 0,
                count,
            }],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DataType;
    use crate::profile::{DeviceType, DeviceTypeHeader, Point};

    fn point(name: &str, area: Area, address: u32, t: DataType, group: &str) -> Point {
        toml::from_str::<Point>(&format!(
            "name = \"{name}\"\narea = \"{}\"\naddress = {address}\ntype = \"{}\"\npoll_group = \"{group}\"\n{}",
            format!("{area:?}").to_lowercase(),
            format!("{t:?}").to_lowercase(),
            if t == DataType::Bit { "bit = 1" } else { "" }
        ))
        .unwrap()
    }

    fn ty(base: u8, points: Vec<Point>) -> DeviceType {
        DeviceType {
            device_type: DeviceTypeHeader {
                id: "t".into(),
                description: String::new(),
                equipment_type: "X".into(),
                protocol: Protocol::Modbus,
                address_base: base,
            },
            poll_group: vec![],
            point: points,
            e10_rule: vec![],
            retention: None,
        }
    }

    #[test]
    fn contiguous_points_share_one_request_and_gaps_split() {
        let t = ty(
            0,
            vec![
                point("a", Area::Holding, 1, DataType::I16, "g"),
                point("b", Area::Holding, 2, DataType::F32, "g"),
                point("c", Area::Holding, 4, DataType::I16, "g"),
                point("s", Area::Holding, 75, DataType::Bit, "g"),
                point("s2", Area::Holding, 75, DataType::Bit, "g"),
                point("i", Area::Input, 4, DataType::U16, "g"),
                point("d", Area::Discrete, 0, DataType::Bool, "g"),
                point("e", Area::Discrete, 1, DataType::Bool, "g"),
                point("other", Area::Holding, 3, DataType::U16, "slow"),
            ],
        );
        let plan = plan_reads(&t, "g", 125);
        let shape: Vec<(Area, u16, u16, usize)> = plan
            .iter()
            .map(|r| (r.area, r.start, r.count, r.points.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (Area::Discrete, 0, 2, 2),
                (Area::Holding, 1, 4, 3),
                (Area::Holding, 75, 1, 2),
                (Area::Input, 4, 1, 1),
            ]
        );
        assert_eq!(
            plan[1].points[1],
            PlannedPoint {
                index: 1,
                offset: 1,
                count: 2
            }
        );
    }

    #[test]
    fn the_request_limit_and_address_base_are_honoured() {
        let points = (0..10)
            .map(|i| {
                point(
                    &format!("p{i}"),
                    Area::Holding,
                    1 + i * 2,
                    DataType::U32,
                    "g",
                )
            })
            .collect();
        let t = ty(1, points);
        let plan = plan_reads(&t, "g", 6);
        assert_eq!(
            plan.iter().map(|r| (r.start, r.count)).collect::<Vec<_>>(),
            vec![(0, 6), (6, 6), (12, 6), (18, 2)]
        );
        assert!(plan.iter().all(|r| r.count <= 6));
    }
}
