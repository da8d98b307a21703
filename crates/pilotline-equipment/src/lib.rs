//! Pilotline's equipment profiles.
//!
//! A **device type** describes what a kind of tool exposes (Modbus registers or MQTT topics,
//! their data types, scaling and units, poll groups, and the rules that map signals to SEMI E10
//! states); a **device** is one tool on the line: which type it is, where it is and how to reach
//! it. The split follows EdgeX's device profiles. Files live in `equipment-profiles/` and are
//! checked by `pilotline validate`, which reports every error with file, line and field.
//!
//! [`decode`] turns raw Modbus registers into values for every data type and word order.
//! Nothing here performs I/O beyond reading profile files.

pub mod decode;
pub mod e10;
pub mod encode;
pub mod plan;
pub mod profile;
pub mod validate;

pub use decode::{DataType, Decoded, WordOrder};
pub use profile::{Device, DeviceType, Point, Protocol, Retention};
pub use validate::{Catalogue, ProfileError, load_dir};
