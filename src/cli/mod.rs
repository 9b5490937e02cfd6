//! Command-line front end (minimal wiring; the full CLI lives on its own branch).
pub mod image;
