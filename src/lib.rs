pub mod cli;
pub mod compose;
