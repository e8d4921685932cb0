//! The stream family.

use crate::registry::{Cross, Handler};

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[];
