//! Polling a Modbus tool with tokio-modbus: Modbus TCP, RTU over TCP (serial gateways) and RTU
//! on a serial line (tokio-serial).
//!
//! tokio-modbus has no timeout and no reconnect, and after a timed-out request a late reply can
//! leave the connection one transaction behind for good; so every request runs under the
//! device's timeout, and after any failure the context is dropped and the tool reconnected: at
//! once for the device's `retries`, then with capped exponential backoff, stale.

use chrono::Utc;
use pilotline_equipment::decode::{self, WordOrder};
use pilotline_equipment::plan::{ReadRequest, plan_reads};
use pilotline_equipment::profile::{Area, Device, DeviceType, Parity, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::slave::Slave;

use crate::Event;
use crate::recorder::{BACKOFF_START, Recorder, back_off, mark_stale, reject};

/// Why a poll cycle failed.
#[derive(Debug)]
enum PollError {
    Timeout,
    Io(String),
    Exception(String),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Timeout => f.write_str("request timed out"),
            PollError::Io(e) => write!(f, "communication error: {e}"),
            PollError::Exception(e) => write!(f, "device answered with exception {e}"),
        }
    }
}

struct Group {
    interval: Duration,
    reads: Vec<ReadRequest>,
    due: Instant,
}

/// Polls one Modbus tool until `stop` turns true, sending events to `events`.
pub async fn run(
    device: Device,
    ty: Arc<DeviceType>,
    events: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let now = Instant::now();
    let mut groups: Vec<Group> = ty
        .poll_group
        .iter()
        .map(|g| Group {
            interval: Duration::from_millis(g.interval_ms.max(10)),
            reads: plan_reads(&ty, &g.name, device.max_registers_per_request),
            due: now,
        })
        .filter(|g| !g.reads.is_empty())
        .collect();
    if groups.is_empty() {
        tracing::warn!(equipment = %device.id, "no Modbus points to poll");
        return;
    }
    let mut recorder = Recorder::default();
    let mut backoff = BACKOFF_START;
    let mut stale = false;
    // Failed attempts in a row; the tool is stale once they exceed its `retries`.
    let mut failures: u32 = 0;
    let mut ctx: Option<Context> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        // Connect, or wait for the next due poll group and poll it.
        let result: Result<bool, String> = match ctx.as_mut() {
            None => connect(&device).await.map(|c| {
                ctx = Some(c);
                false
            }),
            Some(context) => {
                let next = groups.iter().map(|g| g.due).min().unwrap_or(now);
                tokio::select! {
                    _ = sleep_until(next) => {}
                    _ = stop.changed() => return,
                }
                let started = Instant::now();
                let cycle = poll_due(&device, &ty, &mut groups, context, &mut recorder, &events);
                let outcome = tokio::select! {
                    f = cycle => f.map_or(Ok(true), |e| Err(e.to_string())),
                    _ = stop.changed() => return,
                };
                let m = &*crate::metrics::METRICS;
                match &outcome {
                    Ok(_) => m
                        .poll_duration
                        .with_label_values(&[&device.id])
                        .observe(started.elapsed().as_secs_f64()),
                    Err(_) => m.poll_failures.with_label_values(&[&device.id]).inc(),
                }
                outcome
            }
        };
        match result {
            Err(reason) => {
                // Drop the context: after a timeout a late reply would desynchronise it for good.
                ctx = None;
                failures += 1;
                if failures <= u32::from(device.retries) {
                    tracing::debug!(equipment = %device.id, %reason, failures, "retrying");
                    continue;
                }
                mark_stale(&events, &mut stale, &[&device.id], &reason).await;
                if !back_off(&mut backoff, &mut stop).await {
                    return;
                }
            }
            Ok(false) => {}
            Ok(true) => {
                backoff = BACKOFF_START;
                failures = 0;
                if stale {
                    stale = false;
                    let equipment = device.id.clone();
                    let _ = events
                        .send(Event::Recovered {
                            equipment,
                            at: Utc::now(),
                        })
                        .await;
                }
                if device.close_after_cycle {
                    ctx = None;
                }
            }
        }
    }
}

/// Polls every group that is due; the first failure ends the cycle.
async fn poll_due(
    device: &Device,
    ty: &DeviceType,
    groups: &mut [Group],
    context: &mut Context,
    recorder: &mut Recorder,
    events: &mpsc::Sender<Event>,
) -> Option<PollError> {
    let tick = Instant::now();
    for g in groups.iter_mut().filter(|g| g.due <= tick) {
        g.due += g.interval;
        if g.due < tick {
            // Fell behind (a slow tool): skip missed cycles instead of bursting.
            g.due = tick + g.interval;
        }
        for (n, read) in g.reads.iter().enumerate() {
            if n > 0 && device.pause_between_requests_ms > 0 {
                tokio::time::sleep(Duration::from_millis(device.pause_between_requests_ms)).await;
            }
            match read_once(context, read, device).await {
                Ok(words) => decode_read(device, ty, read, &words, recorder, events).await,
                Err(e) => return Some(e),
            }
        }
    }
    None
}

async fn connect(device: &Device) -> Result<Context, String> {
    let unit = Slave(device.unit_id.unwrap_or(1));
    let limit = Duration::from_millis(device.timeout_ms);
    let (host, port, rtu) = match &device.transport {
        Transport::Tcp { host, port } => (host, *port, false),
        Transport::RtuOverTcp { host, port } => (host, *port, true),
        Transport::Rtu {
            path,
            baud,
            parity,
            stop_bits,
        } => {
            let port = open_serial(path, *baud, *parity, *stop_bits)?;
            return Ok(tokio_modbus::client::rtu::attach_slave(port, unit));
        }
        Transport::Mqtt { .. } => return Err("not a Modbus device".into()),
    };
    let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to nothing"))?;
    let stream = timeout(limit, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(if rtu {
        tokio_modbus::client::rtu::attach_slave(stream, unit)
    } else {
        tokio_modbus::client::tcp::attach_slave(stream, unit)
    })
}

/// Opens a serial line for Modbus RTU: 8 data bits, the profile's parity and stop bits.
pub fn open_serial(
    path: &str,
    baud: u32,
    parity: Parity,
    stop_bits: u8,
) -> Result<tokio_serial::SerialStream, String> {
    let builder = tokio_serial::new(path, baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(match parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        });
    tokio_serial::SerialStream::open(&builder)
        .map_err(|e| format!("cannot open serial line {path}: {e}"))
}

/// Reads one request under the device's timeout.
async fn read_once(
    ctx: &mut Context,
    read: &ReadRequest,
    device: &Device,
) -> Result<Vec<u16>, PollError> {
    let limit = Duration::from_millis(device.timeout_ms);
    let call = async {
        match read.area {
            Area::Holding => ctx.read_holding_registers(read.start, read.count).await,
            Area::Input => ctx.read_input_registers(read.start, read.count).await,
            Area::Coil => ctx
                .read_coils(read.start, read.count)
                .await
                .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
            Area::Discrete => ctx
                .read_discrete_inputs(read.start, read.count)
                .await
                .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
        }
    };
    match timeout(limit, call).await {
        Err(_) => Err(PollError::Timeout),
        Ok(Err(e)) => Err(PollError::Io(e.to_string())),
        Ok(Ok(Err(code))) => Err(PollError::Exception(format!("{code:?}"))),
        Ok(Ok(Ok(words))) if words.len() < usize::from(read.count) => Err(PollError::Io(format!(
            "short answer: {} of {} values",
            words.len(),
            read.count
        ))),
        Ok(Ok(Ok(words))) => Ok(words),
    }
}

async fn decode_read(
    device: &Device,
    ty: &DeviceType,
    read: &ReadRequest,
    words: &[u16],
    recorder: &mut Recorder,
    events: &mpsc::Sender<Event>,
) {
    let at = Utc::now();
    for planned in &read.points {
        let p = &ty.point[planned.index];
        let start = usize::from(planned.offset);
        let slice = &words[start..start + usize::from(planned.count)];
        let data_type = p.data_type.unwrap_or(decode::DataType::U16);
        let order = p.order.unwrap_or(WordOrder::ABCD);
        let alive = match decode::decode(slice, data_type, order, p.bit.unwrap_or(0)) {
            Ok(v) => {
                recorder
                    .record(
                        events,
                        &device.id,
                        ty,
                        p,
                        at,
                        decode::scale(v, p.scale, p.offset),
                    )
                    .await
            }
            Err(e) => reject(events, &device.id, &p.name, e.to_string()).await,
        };
        if !alive {
            return;
        }
    }
}
