pub mod cli;
pub mod compose;
pub mod network;
