//! The wire pieces of a gRPC health check (`grpc.health.v1.Health/Check`), hand-coded:
//! the request message, the response message, and gRPC's 5-byte length-prefixed framing.
//!
//! The messages are one field each, so a protobuf library would be all weight and no
//! help. The decoders read bytes from the network: they check every length, skip
//! unknown fields as protobuf requires, and return an error instead of panicking on
//! anything malformed.

use std::fmt;

/// Length of the gRPC message prefix: a compressed flag byte and a big-endian u32 length.
pub const FRAME_HEADER_LEN: usize = 5;

/// Largest message [`decode_frame`] accepts (gRPC's default receive limit, 4 MiB), so a
/// runtime never buffers a huge body waiting for a health answer.
pub const MAX_MESSAGE_LEN: usize = 4 * 1024 * 1024;

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServingStatus {
    /// 0, also what an empty message means (proto3 default).
    Unknown,
    /// 1: the only status that passes a check.
    Serving,
    /// 2
    NotServing,
    /// 3: the server does not know the service asked for.
    ServiceUnknown,
    /// A value this version of the protocol does not define (enums are open in proto3).
    Other(i32),
}

/// Why a gRPC health answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcError {
    #[error("gRPC frame truncated: needs {needed} bytes, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error("gRPC message is compressed; health checks ask for none")]
    Compressed,
    #[error("gRPC frame has compressed flag {0}, expected 0 or 1")]
    BadFlag(u8),
    #[error("gRPC message of {len} bytes is over the {MAX_MESSAGE_LEN}-byte limit")]
    TooLarge { len: usize },
    #[error("gRPC body has {extra} bytes after the health response message")]
    TrailingData { extra: usize },
    #[error("malformed HealthCheckResponse at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
}

// === impl ServingStatus ===

impl ServingStatus {
    pub fn from_wire(value: i32) -> Self {
        match value {
            0 => ServingStatus::Unknown,
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            other => ServingStatus::Other(other),
        }
    }

    pub fn is_serving(self) -> bool {
        self == ServingStatus::Serving
    }
}

impl fmt::Display for ServingStatus {
    /// The protocol's names, for probe details such as `grpc status NOT_SERVING`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServingStatus::Unknown => f.write_str("UNKNOWN"),
            ServingStatus::Serving => f.write_str("SERVING"),
            ServingStatus::NotServing => f.write_str("NOT_SERVING"),
            ServingStatus::ServiceUnknown => f.write_str("SERVICE_UNKNOWN"),
            ServingStatus::Other(v) => write!(f, "{v}"),
        }
    }
}

// === messages ===

/// Encodes `HealthCheckRequest { service }` (field 1, a string). The empty service,
/// which asks about the server as a whole, is the empty message.
pub fn encode_health_request(service: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(service.len() + 6);
    if !service.is_empty() {
        out.push(0x0a); // field 1, wire type 2 (length-delimited)
        write_varint(&mut out, service.len() as u64);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// Decodes a `HealthCheckResponse` message (without the gRPC frame prefix). Unknown
/// fields are skipped; a missing status is `UNKNOWN`; a repeated one, the last wins.
pub fn decode_health_response(message: &[u8]) -> Result<ServingStatus, GrpcError> {
    let mut reader = Reader {
        buf: message,
        pos: 0,
    };
    let mut status = ServingStatus::Unknown;
    while !reader.done() {
        let at = reader.pos;
        let tag = reader.varint()?;
        let field = tag >> 3;
        let wire_type = tag & 7;
        if field == 0 {
            return Err(malformed(at, "field number 0"));
        }
        match (field, wire_type) {
            // proto3 reads an int32 enum as a varint truncated to 32 bits.
            (1, 0) => status = ServingStatus::from_wire(reader.varint()? as u32 as i32),
            (1, _) => return Err(malformed(at, "status is not a varint")),
            (_, wire_type) => reader.skip(wire_type, at)?,
        }
    }
    Ok(status)
}

/// Decodes a whole unary response body: exactly one uncompressed frame holding a
/// `HealthCheckResponse`.
pub fn decode_health_body(body: &[u8]) -> Result<ServingStatus, GrpcError> {
    let (message, used) = decode_frame(body)?;
    if used < body.len() {
        return Err(GrpcError::TrailingData {
            extra: body.len() - used,
        });
    }
    decode_health_response(message)
}

// === framing ===

/// Prefixes `message` with gRPC's frame header (uncompressed).
pub fn encode_frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + message.len());
    out.push(0);
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Reads one frame from the start of `buf`: returns the message and how many bytes of
/// `buf` the frame used. [`GrpcError::Truncated`] says how many bytes are needed, so a
/// caller reading a stream can wait for more.
pub fn decode_frame(buf: &[u8]) -> Result<(&[u8], usize), GrpcError> {
    let Some((header, rest)) = buf.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(GrpcError::Truncated {
            needed: FRAME_HEADER_LEN,
            got: buf.len(),
        });
    };
    match header[0] {
        0 => {}
        1 => return Err(GrpcError::Compressed),
        flag => return Err(GrpcError::BadFlag(flag)),
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_MESSAGE_LEN {
        return Err(GrpcError::TooLarge { len });
    }
    let message = rest.get(..len).ok_or(GrpcError::Truncated {
        needed: FRAME_HEADER_LEN + len,
        got: buf.len(),
    })?;
    Ok((message, FRAME_HEADER_LEN + len))
}

// === protobuf primitives ===

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn malformed(offset: usize, what: &'static str) -> GrpcError {
    GrpcError::Malformed { offset, what }
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint of at most 10 bytes that fits in 64 bits.
    fn varint(&mut self) -> Result<u64, GrpcError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(malformed(start, "varint runs past the end"));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(start, "varint longer than 64 bits"))
    }

    fn advance(&mut self, len: u64, at: usize) -> Result<(), GrpcError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| malformed(at, "field runs past the end"))?;
        self.pos = end;
        Ok(())
    }

    /// Skips the value of an unknown field.
    fn skip(&mut self, wire_type: u64, at: usize) -> Result<(), GrpcError> {
        match wire_type {
            0 => self.varint().map(drop),
            1 => self.advance(8, at),
            2 => {
                let len = self.varint()?;
                self.advance(len, at)
            }
            5 => self.advance(4, at),
            3 | 4 => Err(malformed(at, "groups are not supported")),
            _ => Err(malformed(at, "invalid wire type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_defined_status() {
        assert_eq!(
            decode_health_response(&[0x08, 0x01]),
            Ok(ServingStatus::Serving)
        );
        assert_eq!(
            decode_health_response(&[0x08, 0x02]),
            Ok(ServingStatus::NotServing)
        );
        assert_eq!(
            decode_health_response(&[0x08, 0x03]),
            Ok(ServingStatus::ServiceUnknown)
        );
        assert_eq!(
            decode_health_response(&[0x08, 0x00]),
            Ok(ServingStatus::Unknown)
        );
        assert_eq!(decode_health_response(&[]), Ok(ServingStatus::Unknown));
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let msg = [
            0x12, 0x03, b'a', b'b', b'c', // field 2, string "abc"
            0x18, 0x96, 0x01, // field 3, varint 150
            0x21, 1, 2, 3, 4, 5, 6, 7, 8, // field 4, fixed64
            0x2d, 1, 2, 3, 4, // field 5, fixed32
            0x08, 0x01, // status SERVING
        ];
        assert_eq!(decode_health_response(&msg), Ok(ServingStatus::Serving));
    }

    #[test]
    fn the_last_status_wins() {
        assert_eq!(
            decode_health_response(&[0x08, 0x02, 0x08, 0x01]),
            Ok(ServingStatus::Serving)
        );
    }

    #[test]
    fn undefined_and_negative_statuses_are_other() {
        assert_eq!(
            decode_health_response(&[0x08, 0x07]),
            Ok(ServingStatus::Other(7))
        );
        let minus_one = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(
            decode_health_response(&minus_one),
            Ok(ServingStatus::Other(-1))
        );
        assert!(!ServingStatus::Other(1).is_serving());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            &[0x08],             // status with no value
            &[0x08, 0x80],       // varint cut short
            &[0x12, 0x05, b'a'], // string longer than the message
            &[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // huge length
            &[0x0a, 0x01, 0x01], // status sent as a string
            &[0x00, 0x01],       // field 0
            &[0x0b],             // start group
            &[0x0f],             // wire type 7
            &[0x21, 1, 2, 3],    // fixed64 cut short
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ], // > 64 bits
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ];
        for bytes in cases {
            assert!(
                matches!(
                    decode_health_response(bytes),
                    Err(GrpcError::Malformed { .. })
                ),
                "{bytes:02x?} should be malformed"
            );
        }
    }

    #[test]
    fn encodes_the_request() {
        assert_eq!(encode_health_request(""), Vec::<u8>::new());
        assert_eq!(
            encode_health_request("app"),
            vec![0x0a, 0x03, b'a', b'p', b'p']
        );
        let long = "s".repeat(200);
        let bytes = encode_health_request(&long);
        assert_eq!(&bytes[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(bytes.len(), 203);
    }

    #[test]
    fn frames_round_trip() {
        let framed = encode_frame(&[0x08, 0x01]);
        assert_eq!(framed, vec![0, 0, 0, 0, 2, 0x08, 0x01]);
        assert_eq!(decode_frame(&framed), Ok((&[0x08, 0x01][..], 7)));
        assert_eq!(decode_health_body(&framed), Ok(ServingStatus::Serving));
        assert_eq!(decode_frame(&[0, 0, 0, 0, 0]), Ok((&[][..], 5)));
    }

    #[test]
    fn frame_errors_say_what_is_missing() {
        assert_eq!(
            decode_frame(&[0, 0, 0]),
            Err(GrpcError::Truncated { needed: 5, got: 3 })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 0, 4, 0x08]),
            Err(GrpcError::Truncated { needed: 9, got: 6 })
        );
        assert_eq!(
            decode_frame(&[1, 0, 0, 0, 2, 0x08, 0x01]),
            Err(GrpcError::Compressed)
        );
        assert_eq!(decode_frame(&[7, 0, 0, 0, 0]), Err(GrpcError::BadFlag(7)));
        assert_eq!(
            decode_frame(&[0, 0xff, 0xff, 0xff, 0xff]),
            Err(GrpcError::TooLarge {
                len: u32::MAX as usize
            })
        );
        assert_eq!(
            decode_health_body(&[0, 0, 0, 0, 2, 0x08, 0x01, 0]),
            Err(GrpcError::TrailingData { extra: 1 })
        );
    }
}
