pub mod compose;
pub mod runtime;
