//! The Pilotline MES binary's library: command line, configuration, the serving roles and the demo.

pub mod broker;
pub mod cli;
pub mod collect;
pub mod config;
pub mod demo;
mod demo_back_end;
mod demo_mpw;
pub mod dropfolder;
pub mod import;
mod restore;
pub mod serve;
mod shuttle_cli;
pub mod simulate;

pub use cli::main;
