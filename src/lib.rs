pub mod cli;
pub mod compose;
pub mod image;
pub mod network;
pub mod store;
