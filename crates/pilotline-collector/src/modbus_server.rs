//! A Modbus TCP server over an in-memory register map (tokio-modbus), for tests and for the
//! tool simulator.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response};

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

impl tokio_modbus::server::Service for RegisterMap {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        let n = self.requests.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        ready(match req {
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
        })
    }
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
