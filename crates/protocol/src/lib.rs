//! RESP, the Redis serialization protocol: request parsing (multibulk and inline) and reply
//! encoding (RESP2 and RESP3).
//!
//! Parsing borrows argument slices from the connection's read buffer: a parsed request is a list
//! of ranges, so decoding a pipelined buffer allocates nothing.

pub mod reply;
pub mod request;

pub use reply::{Protocol, Reply};
pub use request::{Args, ParseError, ParseLimits, Parsed, RequestParser};
