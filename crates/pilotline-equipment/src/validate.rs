//! Loading and checking profile files, reporting **every** error with file, line and field.

use serde::de::{DeserializeOwned, IntoDeserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::decode::DataType;
use crate::profile::{
    Area, Codec, Device, DeviceType, DeviceTypeHeader, E10Rule, Point, PollGroup, Protocol,
    Retention, Transport,
};

/// One problem in one profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// File.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Field path (`point[3].address`), or empty for the file as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.field,
                self.message
            )
        }
    }
}

/// Every device type and device that loaded without error.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Device types by id.
    pub types: BTreeMap<String, DeviceType>,
    /// Devices by tool id.
    pub devices: BTreeMap<String, Device>,
}

struct FileCheck<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ProfileError>,
}

impl FileCheck<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error(&mut self, offset: usize, field: impl Into<String>, message: impl Into<String>) {
        let line = self.line(offset);
        self.errors.push(ProfileError {
            file: self.file.to_path_buf(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Deserializes one section, recording its error (with the offending line) on failure.
    fn section<T: DeserializeOwned>(
        &mut self,
        field: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<T> {
        match T::deserialize(value.clone().into_deserializer()) {
            Ok(v) => Some(v),
            Err(e) => {
                let at = e.span().map_or(value.span().start, |s| s.start);
                self.error(at, field, e.message().to_string());
                None
            }
        }
    }

    /// The elements of an array-of-tables section, with their offsets.
    fn elements<'v, 'i>(
        &mut self,
        field: &str,
        value: &'v Spanned<DeValue<'i>>,
    ) -> Vec<&'v Spanned<DeValue<'i>>> {
        match value.get_ref() {
            DeValue::Array(items) => items.into_iter().collect(),
            _ => {
                self.error(
                    value.span().start,
                    field,
                    format!("must be an array of tables ([[{field}]])"),
                );
                Vec::new()
            }
        }
    }
}

/// Loads every `*.toml` under `path` (or the one file `path`), checks each file and the
/// references between them, and returns what loaded plus every error found.
pub fn load_dir(path: &Path) -> (Catalogue, Vec<ProfileError>) {
    let mut files = Vec::new();
    collect(path, &mut files);
    files.sort();
    let mut catalogue = Catalogue::default();
    let mut errors = Vec::new();
    let mut device_sites: Vec<(PathBuf, usize, Device)> = Vec::new();
    let mut type_sites: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ProfileError {
                    file: file.clone(),
                    line: 1,
                    field: String::new(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let mut check = FileCheck {
            file,
            text: &text,
            errors: Vec::new(),
        };
        match check_file(&mut check) {
            Loaded::Type(t) => {
                if let Some(first) = type_sites.get(&t.device_type.id) {
                    check.error(
                        0,
                        "device_type.id",
                        format!(
                            "type {} is also defined in {}",
                            t.device_type.id,
                            first.display()
                        ),
                    );
                } else {
                    type_sites.insert(t.device_type.id.clone(), file.clone());
                    catalogue.types.insert(t.device_type.id.clone(), t);
                }
            }
            Loaded::Devices(ds) => {
                device_sites.extend(ds.into_iter().map(|(line, d)| (file.clone(), line, d)))
            }
            Loaded::Nothing => {}
        }
        errors.extend(check.errors);
    }
    if files.is_empty() {
        errors.push(ProfileError {
            file: path.to_path_buf(),
            line: 1,
            field: String::new(),
            message: "no .toml profile files found".into(),
        });
    }
    for (file, line, device) in device_sites {
        let mut err = |field: &str, message: String| {
            errors.push(ProfileError {
                file: file.clone(),
                line,
                field: field.into(),
                message,
            })
        };
        let Some(ty) = catalogue.types.get(&device.device_type) else {
            err(
                "type",
                format!("unknown device type {:?}", device.device_type),
            );
            continue;
        };
        let mqtt = matches!(device.transport, Transport::Mqtt { .. });
        match (ty.device_type.protocol, mqtt) {
            (Protocol::Modbus, true) => err(
                "transport",
                format!(
                    "type {} speaks Modbus, but the transport is MQTT",
                    ty.device_type.id
                ),
            ),
            (Protocol::Mqtt, false) => err(
                "transport",
                format!(
                    "type {} speaks MQTT, but the transport is Modbus",
                    ty.device_type.id
                ),
            ),
            (Protocol::Modbus, false) if device.unit_id.is_none() => {
                err("unit_id", "Modbus devices need a unit_id (0-247)".into())
            }
            _ => {}
        }
        let sparkplug = ty.point.iter().any(|p| p.codec == Some(Codec::Sparkplug));
        if let Transport::Mqtt { group, node, .. } = &device.transport
            && sparkplug
            && (group.as_deref().is_none_or(str::is_empty)
                || node.as_deref().is_none_or(str::is_empty))
        {
            err(
                "transport",
                format!(
                    "type {} publishes Sparkplug B: the transport needs the group and node ids",
                    ty.device_type.id
                ),
            );
        }
        if catalogue.devices.contains_key(&device.id) {
            err("id", format!("tool {} is defined twice", device.id));
        } else {
            catalogue.devices.insert(device.id.clone(), device);
        }
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    (catalogue, errors)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if path.extension().is_some_and(|e| e == "toml") {
        out.push(path.to_path_buf());
    }
}

enum Loaded {
    Type(DeviceType),
    Devices(Vec<(usize, Device)>),
    Nothing,
}

fn check_file(check: &mut FileCheck<'_>) -> Loaded {
    let (doc, syntax) = DeTable::parse_recoverable(check.text);
    for e in &syntax {
        let at = e.span().map_or(0, |s| s.start);
        check.error(at, "", format!("TOML syntax: {}", e.message()));
    }
    if !syntax.is_empty() {
        return Loaded::Nothing;
    }
    let table = doc.get_ref();
    let has = |k: &str| table.iter().any(|(key, _)| key.get_ref() == k);
    if has("device_type") {
        check_type(check, table).map_or(Loaded::Nothing, Loaded::Type)
    } else if has("device") {
        Loaded::Devices(check_devices(check, table))
    } else {
        check.error(
            0,
            "",
            "a profile defines either [device_type] (with [[point]]s) or [[device]]s",
        );
        Loaded::Nothing
    }
}

fn check_devices(check: &mut FileCheck<'_>, table: &DeTable<'_>) -> Vec<(usize, Device)> {
    let mut out = Vec::new();
    for (key, value) in table.iter() {
        if key.get_ref() != "device" {
            check.error(
                key.span().start,
                key.get_ref().to_string(),
                "unknown key in a device file (expected [[device]])",
            );
            continue;
        }
        for (i, item) in check.elements("device", value).into_iter().enumerate() {
            let field = format!("device[{i}]");
            if let Some(d) = check.section::<Device>(&field, item) {
                let at = item.span().start;
                if !pilotline_domain::route::valid_id(&d.id) {
                    check.error(
                        at,
                        format!("{field}.id"),
                        format!("{:?} is not a valid tool id", d.id),
                    );
                }
                if d.timeout_ms == 0 {
                    check.error(at, format!("{field}.timeout_ms"), "must be at least 1");
                }
                if !(1..=125).contains(&d.max_registers_per_request) {
                    check.error(
                        at,
                        format!("{field}.max_registers_per_request"),
                        "must be 1-125 (the Modbus limit)",
                    );
                }
                if d.unit_id.is_some_and(|u| u > 247) {
                    check.error(at, format!("{field}.unit_id"), "must be 0-247");
                }
                if let Transport::Rtu {
                    stop_bits, baud, ..
                } = &d.transport
                {
                    if !matches!(stop_bits, 1 | 2) {
                        check.error(at, format!("{field}.transport.stop_bits"), "must be 1 or 2");
                    }
                    if *baud == 0 {
                        check.error(at, format!("{field}.transport.baud"), "must be positive");
                    }
                }
                out.push((check.line(at), d));
            }
        }
    }
    out
}

fn check_type(check: &mut FileCheck<'_>, table: &DeTable<'_>) -> Option<DeviceType> {
    let mut header: Option<DeviceTypeHeader> = None;
    let mut groups: Vec<PollGroup> = Vec::new();
    let mut points: Vec<(usize, Point)> = Vec::new();
    let mut rules: Vec<(usize, E10Rule)> = Vec::new();
    let mut retention: Option<(usize, Retention)> = None;
    let mut failed = false;
    for (key, value) in table.iter() {
        match key.get_ref().as_ref() {
            "device_type" => header = check.section("device_type", value),
            "retention" => match check.section::<Retention>("retention", value) {
                Some(r) => retention = Some((value.span().start, r)),
                None => failed = true,
            },
            "poll_group" => {
                for (i, item) in check.elements("poll_group", value).into_iter().enumerate() {
                    match check.section::<PollGroup>(&format!("poll_group[{i}]"), item) {
                        Some(g) => groups.push(g),
                        None => failed = true,
                    }
                }
            }
            "point" => {
                for (i, item) in check.elements("point", value).into_iter().enumerate() {
                    match check.section::<Point>(&format!("point[{i}]"), item) {
                        Some(p) => points.push((item.span().start, p)),
                        None => failed = true,
                    }
                }
            }
            "e10_rule" => {
                for (i, item) in check.elements("e10_rule", value).into_iter().enumerate() {
                    match check.section::<E10Rule>(&format!("e10_rule[{i}]"), item) {
                        Some(r) => rules.push((item.span().start, r)),
                        None => failed = true,
                    }
                }
            }
            other => {
                check.error(
                    key.span().start,
                    other.to_string(),
                    "unknown key (expected device_type, poll_group, point, e10_rule or retention)",
                );
                failed = true;
            }
        }
    }
    let header = header?;
    if !pilotline_domain::route::valid_id(&header.equipment_type) {
        check.error(
            0,
            "device_type.equipment_type",
            format!("{:?} is not a valid equipment type", header.equipment_type),
        );
    }
    if header.address_base > 1 {
        check.error(
            0,
            "device_type.address_base",
            "must be 0 (on-the-wire addresses) or 1 (counted from 1)",
        );
    }
    let mut group_names = HashSet::new();
    for g in &groups {
        if !group_names.insert(g.name.as_str()) {
            check.error(
                0,
                "poll_group.name",
                format!("poll group {:?} is defined twice", g.name),
            );
        }
        if g.interval_ms < 10 {
            check.error(
                0,
                format!("poll_group[{}].interval_ms", g.name),
                "must be at least 10 ms",
            );
        }
    }
    let mut names = HashSet::new();
    for (i, (at, p)) in points.iter().enumerate() {
        let at = *at;
        let f = |k: &str| format!("point[{i}].{k}");
        if !names.insert(p.name.as_str()) {
            check.error(
                at,
                f("name"),
                format!("point {:?} is defined twice", p.name),
            );
        }
        if p.scale == 0.0 {
            check.error(at, f("scale"), "must not be 0");
        }
        if p.deadband < 0.0 {
            check.error(at, f("deadband"), "must not be negative");
        }
        if let (Some(lo), Some(hi)) = (p.valid_min, p.valid_max)
            && lo >= hi
        {
            check.error(at, f("valid_min"), "must be below valid_max");
        }
        match header.protocol {
            Protocol::Modbus => check_modbus_point(check, at, &f, p, &header, &group_names),
            Protocol::Mqtt => check_mqtt_point(check, at, &f, p),
        }
    }
    for (i, (at, r)) in rules.iter().enumerate() {
        // A point that failed to load would make every rule on it look dangling.
        if !failed && !names.contains(r.point.as_str()) {
            check.error(
                *at,
                format!("e10_rule[{i}].point"),
                format!("no point named {:?}", r.point),
            );
        }
    }
    if let Some((at, r)) = &retention {
        for problem in r.problems() {
            check.error(*at, "retention", problem);
        }
    }
    if points.is_empty() && !failed {
        check.error(0, "point", "a device type needs at least one [[point]]");
    }
    if failed {
        return None;
    }
    Some(DeviceType {
        device_type: header,
        poll_group: groups,
        point: points.into_iter().map(|(_, p)| p).collect(),
        e10_rule: rules.into_iter().map(|(_, r)| r).collect(),
        retention: retention.map(|(_, r)| r),
    })
}

fn check_modbus_point(
    check: &mut FileCheck<'_>,
    at: usize,
    f: &dyn Fn(&str) -> String,
    p: &Point,
    header: &DeviceTypeHeader,
    groups: &HashSet<&str>,
) {
    for (name, set) in [
        ("topic", p.topic.is_some()),
        ("codec", p.codec.is_some()),
        ("pointer", p.pointer.is_some()),
        ("metric", p.metric.is_some()),
        ("qos", p.qos.is_some()),
    ] {
        if set {
            check.error(at, f(name), "is an MQTT setting; this type speaks Modbus");
        }
    }
    let Some(data_type) = p.data_type else {
        check.error(at, f("type"), "Modbus points need a type");
        return;
    };
    let Some(area) = p.area else {
        check.error(
            at,
            f("area"),
            "Modbus points need an area (coil, discrete, holding, input)",
        );
        return;
    };
    let Some(address) = p.address else {
        check.error(at, f("address"), "Modbus points need an address");
        return;
    };
    if header.address_base == 1 && address == 0 {
        check.error(
            at,
            f("address"),
            "is 0, but this type counts addresses from 1",
        );
    }
    let wire = address.saturating_sub(u32::from(header.address_base));
    let bits = matches!(area, Area::Coil | Area::Discrete);
    if bits && data_type != DataType::Bool {
        check.error(
            at,
            f("type"),
            format!("{area:?} areas hold single bits: use type = \"bool\"").to_lowercase(),
        );
    }
    if data_type == DataType::String && p.registers.unwrap_or(0) == 0 {
        check.error(at, f("registers"), "a string needs its length in registers");
    }
    if data_type != DataType::String && p.registers.is_some() {
        check.error(
            at,
            f("registers"),
            "only string points take a register count",
        );
    }
    match (data_type, p.bit) {
        (DataType::Bit, None) => check.error(at, f("bit"), "a bit point needs bit = 0..15"),
        (DataType::Bit, Some(b)) if b > 15 => {
            check.error(at, f("bit"), format!("{b} is outside 0..15"))
        }
        (t, Some(_)) if t != DataType::Bit => {
            check.error(at, f("bit"), "only bit points take a bit index")
        }
        _ => {}
    }
    if p.order.is_some() && !data_type.multi_register() && data_type != DataType::String {
        check.error(
            at,
            f("order"),
            "word order applies to 32- and 64-bit values only",
        );
    }
    let count = u32::from(data_type.registers(p.registers.unwrap_or(1)));
    if wire + count > 65_536 {
        check.error(
            at,
            f("address"),
            format!("{address} plus {count} registers runs past the 65,536-register space"),
        );
    }
    match &p.poll_group {
        None => check.error(at, f("poll_group"), "Modbus points need a poll group"),
        Some(g) if !groups.contains(g.as_str()) => check.error(
            at,
            f("poll_group"),
            format!("no [[poll_group]] named {g:?}"),
        ),
        _ => {}
    }
}

fn check_mqtt_point(check: &mut FileCheck<'_>, at: usize, f: &dyn Fn(&str) -> String, p: &Point) {
    for (name, set) in [
        ("area", p.area.is_some()),
        ("address", p.address.is_some()),
        ("order", p.order.is_some()),
        ("registers", p.registers.is_some()),
        ("bit", p.bit.is_some()),
        ("poll_group", p.poll_group.is_some()),
    ] {
        if set {
            check.error(at, f(name), "is a Modbus setting; this type speaks MQTT");
        }
    }
    match &p.topic {
        None if p.codec != Some(Codec::Sparkplug) => {
            check.error(at, f("topic"), "JSON points need a topic")
        }
        Some(_) if p.codec == Some(Codec::Sparkplug) => check.error(
            at,
            f("topic"),
            "is fixed by Sparkplug B (spBv1.0/group/DDATA/node/device, from the device); remove it",
        ),
        Some(t) if t.contains('#') || t.contains('+') => check.error(
            at,
            f("topic"),
            "must be a concrete topic, without wildcards",
        ),
        _ => {}
    }
    match p.codec {
        None => check.error(
            at,
            f("codec"),
            "MQTT points need a codec (json or sparkplug)",
        ),
        Some(Codec::Json) => {
            if !p.pointer.as_deref().is_some_and(|ptr| ptr.starts_with('/')) {
                check.error(
                    at,
                    f("pointer"),
                    "JSON points need a JSON pointer starting with '/'",
                );
            }
            if p.metric.is_some() {
                check.error(at, f("metric"), "is for Sparkplug points");
            }
        }
        Some(Codec::Sparkplug) => {
            if p.metric.as_deref().is_none_or(str::is_empty) {
                check.error(at, f("metric"), "Sparkplug points need a metric name");
            }
            if p.pointer.is_some() {
                check.error(at, f("pointer"), "is for JSON points");
            }
            if p.time_pointer.is_some() {
                check.error(
                    at,
                    f("time_pointer"),
                    "is for JSON points (Sparkplug metrics carry their time)",
                );
            }
        }
    }
    if p.qos.is_some_and(|q| q > 1) {
        check.error(at, f("qos"), "must be 0 or 1");
    }
}

#[cfg(test)]
mod tests;
