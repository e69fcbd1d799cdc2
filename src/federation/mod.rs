//! The pure federation core: names, the federation index, the planner, the diff against the
//! provider's zone, the plan and its safety rules, ownership records, regions, hosts and the
//! model they share.
//!
//! Owns: every decision about which records should exist. May not: do I/O, spawn tasks, read
//! clocks or the environment, or be async; it is fed and its results are applied by
//! [`crate::control`]. Most tests live here.

pub mod diff;
pub mod hosts;
pub mod index;
pub mod model;
pub mod names;
pub mod ownership;
pub mod parse_errors;
pub mod plan;
pub mod planner;
pub mod regions;
pub mod selector;
