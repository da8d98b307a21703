//! End-to-end tests: the real `pilotline` binary, real sockets, real databases.

mod crash;
mod demo;
mod ingest;
mod ops;
mod replicas;
mod spc_crash;
mod web;
mod yields;
