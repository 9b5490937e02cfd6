pub mod compose;
pub mod network;
