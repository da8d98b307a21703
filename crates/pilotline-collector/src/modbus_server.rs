//! Modbus servers over in-memory register maps (tokio-modbus), for tests and for the tool
//! simulator: one map answering any unit id, or several units behind one port (a serial
//! gateway), in Modbus TCP or RTU-over-TCP framing.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// Registers and bits a simulated tool exposes. Unset addresses read as 0 / false.
#[derive(Debug, Default)]
pub struct RegisterMap {
    /// Holding registers.
    pub holding: Mutex<HashMap<u16, u16>>,
    /// Input registers.
    pub input: Mutex<HashMap<u16, u16>>,
    /// Coils.
    pub coils: Mutex<HashMap<u16, bool>>,
    /// Discrete inputs.
    pub discrete: Mutex<HashMap<u16, bool>>,
    /// A holding register that answers the number of requests served so far (a value that
    /// changes on every poll).
    pub counter_register: Option<u16>,
    requests: AtomicU16,
}

impl RegisterMap {
    /// An empty map whose holding register `counter` (if any) counts the requests served.
    pub fn new(counter_register: Option<u16>) -> Self {
        Self {
            counter_register,
            ..Self::default()
        }
    }

    /// Sets a holding register.
    pub fn set_holding(&self, addr: u16, value: u16) {
        self.holding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, value);
    }

    /// Sets an input register.
    pub fn set_input(&self, addr: u16, value: u16) {
        self.input
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, value);
    }

    /// Sets a coil.
    pub fn set_coil(&self, addr: u16, value: bool) {
        self.coils
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, value);
    }

    /// Sets a discrete input.
    pub fn set_discrete(&self, addr: u16, value: bool) {
        self.discrete
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, value);
    }

    /// Sets or clears bit `bit` of holding (`input = false`) or input register `addr`.
    pub fn set_bit(&self, input: bool, addr: u16, bit: u8, on: bool) {
        let map = if input { &self.input } else { &self.holding };
        let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
        let word = map.entry(addr).or_insert(0);
        let mask = 1u16 << (bit & 15);
        if on {
            *word |= mask;
        } else {
            *word &= !mask;
        }
    }

    /// Requests served so far.
    pub fn requests(&self) -> u16 {
        self.requests.load(Ordering::SeqCst)
    }

    fn words(
        &self,
        map: &Mutex<HashMap<u16, u16>>,
        addr: u16,
        cnt: u16,
        n: u16,
        counter: bool,
    ) -> Vec<u16> {
        let map = map.lock().unwrap_or_else(|e| e.into_inner());
        (addr..addr.saturating_add(cnt))
            .map(|a| {
                if counter && Some(a) == self.counter_register {
                    n
                } else {
                    map.get(&a).copied().unwrap_or(0)
                }
            })
            .collect()
    }

    fn bits(map: &Mutex<HashMap<u16, bool>>, addr: u16, cnt: u16) -> Vec<bool> {
        let map = map.lock().unwrap_or_else(|e| e.into_inner());
        (addr..addr.saturating_add(cnt))
            .map(|a| map.get(&a).copied().unwrap_or(false))
            .collect()
    }
}

impl RegisterMap {
    fn answer(&self, req: Request<'static>) -> Result<Response, ExceptionCode> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        match req {
            Request::ReadHoldingRegisters(a, c) => Ok(Response::ReadHoldingRegisters(self.words(
                &self.holding,
                a,
                c,
                n,
                true,
            ))),
            Request::ReadInputRegisters(a, c) => Ok(Response::ReadInputRegisters(self.words(
                &self.input,
                a,
                c,
                n,
                false,
            ))),
            Request::ReadCoils(a, c) => Ok(Response::ReadCoils(Self::bits(&self.coils, a, c))),
            Request::ReadDiscreteInputs(a, c) => Ok(Response::ReadDiscreteInputs(Self::bits(
                &self.discrete,
                a,
                c,
            ))),
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

impl tokio_modbus::server::Service for RegisterMap {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        ready(self.answer(req))
    }
}

/// Several units behind one port, by unit id. A request for another unit is answered with
/// exception 0x0B (gateway target device failed to respond), as serial gateways do.
#[derive(Debug, Clone, Default)]
pub struct Units(pub HashMap<u8, Arc<RegisterMap>>);

impl tokio_modbus::server::Service for Units {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: SlaveRequest<'static>) -> Self::Future {
        ready(match self.0.get(&req.slave) {
            Some(map) => map.answer(req.request),
            None => Err(ExceptionCode::GatewayTargetDevice),
        })
    }
}

/// Framing of a Modbus server on a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Modbus TCP (MBAP header).
    Tcp,
    /// RTU frames (with CRC) over TCP, as serial gateways forward them.
    RtuOverTcp,
}

/// Serves `units` on `listener` in `framing` until the returned task is aborted.
pub fn serve_units(listener: TcpListener, units: Units, framing: Framing) -> JoinHandle<()> {
    tokio::spawn(async move {
        let result = match framing {
            Framing::Tcp => {
                let server = Server::new(listener);
                let on_connected = move |stream, addr| {
                    let units = units.clone();
                    async move { accept_tcp_connection(stream, addr, move |_| Ok(Some(units.clone()))) }
                };
                server.serve(&on_connected, |_err| {}).await
            }
            Framing::RtuOverTcp => {
                use tokio_modbus::server::rtu_over_tcp;
                let server = rtu_over_tcp::Server::new(listener);
                let on_connected = move |stream, addr| {
                    let units = units.clone();
                    async move {
                        rtu_over_tcp::accept_tcp_connection(stream, addr, move |_| {
                            Ok(Some(units.clone()))
                        })
                    }
                };
                server.serve(&on_connected, |_err| {}).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "Modbus server stopped");
        }
    })
}

/// Serves `map` on `listener` until the returned task is aborted (which also closes every
/// connection it accepted).
pub fn serve(listener: TcpListener, map: Arc<RegisterMap>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let server = Server::new(listener);
        let on_connected = move |stream, addr| {
            let map = map.clone();
            async move { accept_tcp_connection(stream, addr, move |_| Ok(Some(map.clone()))) }
        };
        if let Err(e) = server.serve(&on_connected, |_err| {}).await {
            tracing::warn!(error = %e, "Modbus server stopped");
        }
    })
}

/// Serves `units` as RTU slaves on the serial line `serial` until the returned task is aborted.
pub fn serve_serial(serial: tokio_serial::SerialStream, units: Units) -> JoinHandle<()> {
    tokio::spawn(async move {
        let server = tokio_modbus::server::rtu::Server::new(serial);
        if let Err(e) = server.serve_forever(units).await {
            tracing::warn!(error = %e, "Modbus RTU server stopped");
        }
    })
}
