pub mod compose;
pub mod runtime;
pub mod supervisor;
