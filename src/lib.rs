pub mod cli;
pub mod compose;
pub mod image;
pub mod network;
pub mod runtime;
pub mod store;
pub mod supervisor;
