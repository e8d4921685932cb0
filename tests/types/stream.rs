//! Generator for the stream family.

use crate::suite::diff::Cmp;
use rand::rngs::SmallRng;

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    (vec!["TYPE".to_string(), crate::key(rng)], Cmp::Exact)
}
