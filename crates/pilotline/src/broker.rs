//! The embedded MQTT broker (rumqttd) the demo runs on a non-standard port, so a fresh machine
//! needs no Mosquitto. `serve` and `collect` connect to any external broker by URL instead.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Starts a broker listening on `listen` (MQTT 3.1.1) on its own threads, and returns once it
/// accepts connections.
pub fn start_embedded(listen: SocketAddr) -> Result<()> {
    let text = format!(
        r#"
id = 0

[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "pilotline-demo"
listen = "{listen}"
next_connection_delay_ms = 1

[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 1048576
max_inflight_count = 100
dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&text).context("embedded broker config")?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .context("cannot start the embedded broker")?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answers_connect(listen) {
        if Instant::now() > deadline {
            bail!("the embedded MQTT broker did not start listening on {listen}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether an MQTT broker on `addr` accepts a connection (CONNECT → CONNACK, DISCONNECT).
fn answers_connect(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    // MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, client id "probe".
    const CONNECT: [u8; 19] = [
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    let mut ack = [0u8; 4];
    let ok = s.write_all(&CONNECT).is_ok()
        && s.read_exact(&mut ack).is_ok()
        && ack[0] == 0x20
        && ack[3] == 0;
    let _ = s.write_all(&[0xE0, 0]);
    // Wait for the broker to close the connection, so it never meets a half-gone client.
    let mut rest = [0u8; 16];
    while matches!(s.read(&mut rest), Ok(n) if n > 0) {}
    ok
}
