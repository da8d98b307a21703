//! Equipment profiles the replica test and bench write for the tools they run: a JSON meter
//! over MQTT whose readings carry their own time, and a furnace polled over Modbus TCP.

/// A meter device type: one point `n` on `{prefix}/{device}/reading`, its time at `/ts`.
pub fn meter_type(prefix: &str) -> String {
    format!(
        "[device_type]\nid = \"meter\"\nequipment_type = \"METER\"\nprotocol = \"mqtt\"\n\n\
         [[point]]\nname = \"n\"\ntopic = \"{prefix}/{{device}}/reading\"\ncodec = \"json\"\n\
         pointer = \"/n\"\ntime_pointer = \"/ts\"\n"
    )
}

/// A furnace device type: its tube temperature (holding register 1, tenths of a degree) polled
/// every `interval_ms`.
pub fn furnace_type(interval_ms: u32) -> String {
    format!(
        "[device_type]\nid = \"furnace\"\nequipment_type = \"FURNACE\"\nprotocol = \"modbus\"\n\n\
         [[poll_group]]\nname = \"fast\"\ninterval_ms = {interval_ms}\n\n\
         [[point]]\nname = \"tube_temperature\"\narea = \"holding\"\naddress = 1\ntype = \"i16\"\n\
         scale = 0.1\npoll_group = \"fast\"\n"
    )
}

/// A furnace `id` served over Modbus TCP on 127.0.0.1:`port`.
pub fn furnace_device(id: &str, port: u16) -> String {
    format!(
        "[[device]]\nid = \"{id}\"\ntype = \"furnace\"\nunit_id = 1\ntimeout_ms = 300\n\
         transport = {{ kind = \"tcp\", host = \"127.0.0.1\", port = {port} }}\n"
    )
}

/// A meter `id` publishing to the broker at `broker`.
pub fn meter_device(id: &str, broker: &str) -> String {
    format!(
        "[[device]]\nid = \"{id}\"\ntype = \"meter\"\n\
         transport = {{ kind = \"mqtt\", broker = \"{broker}\" }}\n"
    )
}
