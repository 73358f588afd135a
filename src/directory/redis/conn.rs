//! Connections to Redis: every step under a timeout, a pooled connection
//! whose call failed never reused, and reading the values scripts return.

use std::time::Duration;

use redis::Value;

use super::super::store::DirError;

/// Longest a connection, a script or a read waits for Redis before the
/// call fails as unavailable (a Redis that hangs must not hold writers).
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections for writes: each with [`REDIS_TIMEOUT`] on connect, reads
/// and writes.
pub(super) struct Conns(pub(super) redis::Client);

/// A pooled connection, and whether a call on it failed: one that timed
/// out may still get the late answer, so it is never used again.
pub(super) struct Conn {
    pub(super) c: redis::Connection,
    pub(super) failed: bool,
}

/// A connection to `client` with [`REDIS_TIMEOUT`] on every step; reads
/// may also take `block` (a blocking stream read).
pub(super) fn connect(
    client: &redis::Client,
    block: Duration,
) -> redis::RedisResult<redis::Connection> {
    let c = client.get_connection_with_timeout(REDIS_TIMEOUT)?;
    c.set_read_timeout(Some(REDIS_TIMEOUT + block))?;
    c.set_write_timeout(Some(REDIS_TIMEOUT))?;
    Ok(c)
}

impl r2d2::ManageConnection for Conns {
    type Connection = Conn;
    type Error = redis::RedisError;

    fn connect(&self) -> Result<Conn, redis::RedisError> {
        Ok(Conn {
            c: connect(&self.0, Duration::ZERO)?,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query(&mut conn.c)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.failed || !redis::ConnectionLike::is_open(&conn.c)
    }
}

/// A Redis failure, as the caller sees it.
pub(super) fn unavailable(e: impl std::fmt::Display) -> DirError {
    DirError::Unavailable(format!("the directory's shared store is unreachable: {e}"))
}

pub(super) fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_str(other)?.parse().ok(),
    }
}

/// A script's answer did not have the agreed shape.
pub(super) fn odd(what: &str, out: &[Value]) -> DirError {
    DirError::Internal(format!("unexpected answer of the {what} script: {out:?}"))
}
