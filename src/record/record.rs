//! One finished request as a 32-byte [`Record`]: its fields in file order
//! (little-endian), its flags byte, the duration codecs that fit nanoseconds into 16
//! or 32 bits ([`dur16`], [`dur32`]), and the encoding of a request's plain timings
//! ([`Timing`], what the worker knows when a request ends) into a record. What the
//! record holds and how each field is encoded is specified in
//! `docs/sample-format.md`.

use crate::record::kind::{ErrorKind, reported_status};

/// Bytes per record.
pub const RECORD_SIZE: usize = 32;

const _: () = assert!(std::mem::size_of::<Record>() == RECORD_SIZE);

/// The record's flags byte: this record is complete. Stored last.
pub const FLAG_VALID: u8 = 0x80;
/// The request opened its connection: `connect` (and `tls`) time it.
pub const FLAG_NEW_CONN: u8 = 0x01;
/// The request's TLS handshake resumed a session.
pub const FLAG_TLS_RESUMED: u8 = 0x02;
/// The request had an intended start (open loop): `lag` is meaningful.
pub const FLAG_SCHEDULED: u8 = 0x04;
/// Not a request: a scenario iteration that ended (`end_ns` its last step's end,
/// `service` its duration, `target` the step it ended at, `error` 0 when it
/// completed or the kind its failed step ended with). results.csv skips these.
pub const FLAG_ITERATION: u8 = 0x08;

/// One finished request. 32 bytes on disk; see `docs/sample-format.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    /// Completion (last response byte, or the failure), ns since the run's time base.
    pub end_ns: u64,
    /// Service time: completion minus actual start ([`dur32`] encoded).
    pub service: u32,
    /// Actual start minus intended start, open loop only ([`dur32`] encoded).
    pub lag: u32,
    /// First response byte minus actual start ([`dur16`] encoded; 0 when none came).
    pub ttfb: u16,
    /// TCP connect time when this request opened the connection ([`dur16`]).
    pub connect: u16,
    /// TLS handshake time when this request opened the connection ([`dur16`]).
    pub tls: u16,
    /// The status line seen; 0 when no response head arrived. A request that failed
    /// after its head keeps it here: what every output reports is
    /// [`Record::reported_status`].
    pub status: u16,
    /// Response bytes on the wire (saturating).
    pub bytes: u32,
    /// Index of the request target (0 for a single URL).
    pub target: u16,
    /// [`ErrorKind`] as a byte.
    pub error: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
}

/// What the engine knows about a finished request, in plain nanoseconds on the run's
/// time base: the input of [`Record::from_timing`], which does all of the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Completion: the last response byte, or the failure.
    pub end: u64,
    /// Actual start (the connect's start when the request opened its connection).
    pub start: u64,
    /// Intended start, for a request on the open-loop schedule; `None` otherwise.
    pub intended: Option<u64>,
    /// TCP connect time; recorded only when `new_conn`.
    pub connect_ns: u64,
    /// TLS handshake time; recorded only when `new_conn`.
    pub tls_ns: u64,
    /// First response byte; 0 when none came.
    pub first_byte: u64,
    /// The request opened its connection.
    pub new_conn: bool,
    /// Its TLS handshake resumed a session.
    pub resumed: bool,
    /// The status line seen; 0 when no response head arrived.
    pub status: u16,
    pub error: ErrorKind,
    /// Response bytes on the wire (the record saturates them at `u32::MAX`).
    pub bytes: u64,
    /// Index of the request target.
    pub target: u16,
}

impl Timing {
    /// Response time in exact nanoseconds (the record's are encoded): from the
    /// intended start when there is one, else from the actual start. What the live
    /// progress board shows.
    #[inline]
    pub fn latency_ns(&self) -> u64 {
        self.end.saturating_sub(self.intended.unwrap_or(self.start))
    }
}

impl Record {
    /// Encodes a finished request. Every duration is taken from the actual start
    /// (`lag` from the intended one) and saturates at 0 if the clock readings are out
    /// of order. [`FLAG_VALID`] is left clear: the log sets it, last, when it stores
    /// the record.
    #[inline]
    pub fn from_timing(t: &Timing) -> Record {
        let mut flags = 0;
        let (mut connect, mut tls) = (0, 0);
        if t.new_conn {
            flags |= FLAG_NEW_CONN;
            connect = dur16::encode(t.connect_ns);
            tls = dur16::encode(t.tls_ns);
        }
        if t.resumed {
            flags |= FLAG_TLS_RESUMED;
        }
        let mut lag = 0;
        if let Some(intended) = t.intended {
            flags |= FLAG_SCHEDULED;
            lag = dur32::encode(t.start.saturating_sub(intended));
        }
        let ttfb = if t.first_byte > 0 {
            dur16::encode(t.first_byte.saturating_sub(t.start))
        } else {
            0
        };
        Record {
            end_ns: t.end,
            service: dur32::encode(t.end.saturating_sub(t.start)),
            lag,
            ttfb,
            connect,
            tls,
            status: t.status,
            bytes: t.bytes.min(u32::MAX as u64) as u32,
            target: t.target,
            error: t.error as u8,
            flags,
        }
    }

    /// A scenario iteration that started at `start` and ended at `end` at step
    /// `step`, completed (`ErrorKind::None`) or failed with `kind` there.
    pub fn iteration(start: u64, end: u64, step: u16, kind: ErrorKind) -> Record {
        Record {
            end_ns: end,
            service: dur32::encode(end.saturating_sub(start)),
            target: step,
            error: kind as u8,
            flags: FLAG_ITERATION,
            ..Record::default()
        }
    }

    /// A scenario iteration's record, not a request's.
    #[inline]
    pub fn is_iteration(&self) -> bool {
        self.flags & FLAG_ITERATION != 0
    }

    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&self.end_ns.to_le_bytes());
        b[8..12].copy_from_slice(&self.service.to_le_bytes());
        b[12..16].copy_from_slice(&self.lag.to_le_bytes());
        b[16..18].copy_from_slice(&self.ttfb.to_le_bytes());
        b[18..20].copy_from_slice(&self.connect.to_le_bytes());
        b[20..22].copy_from_slice(&self.tls.to_le_bytes());
        b[22..24].copy_from_slice(&self.status.to_le_bytes());
        b[24..28].copy_from_slice(&self.bytes.to_le_bytes());
        b[28..30].copy_from_slice(&self.target.to_le_bytes());
        b[30] = self.error;
        b[31] = self.flags;
        b
    }

    pub fn decode(b: &[u8; RECORD_SIZE]) -> Record {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Record {
            end_ns: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            service: u32_at(8),
            lag: u32_at(12),
            ttfb: u16_at(16),
            connect: u16_at(18),
            tls: u16_at(20),
            status: u16_at(22),
            bytes: u32_at(24),
            target: u16_at(28),
            error: b[30],
            flags: b[31],
        }
    }

    pub fn is_valid(&self) -> bool {
        self.flags & FLAG_VALID != 0
    }

    pub fn error_kind(&self) -> ErrorKind {
        ErrorKind::from_u8(self.error).unwrap_or(ErrorKind::Io)
    }

    pub fn is_error(&self) -> bool {
        self.error != 0
    }

    /// The status outputs report: see [`reported_status`].
    #[inline]
    pub fn reported_status(&self) -> u16 {
        reported_status(self.status, self.error)
    }

    /// The status line a request saw before it failed without a complete response
    /// (results.csv's `partial_status`); `None` when it saw none or did not fail so.
    pub fn partial_status(&self) -> Option<u16> {
        (self.status != 0 && self.reported_status() == 0).then_some(self.status)
    }

    pub fn service_ns(&self) -> u64 {
        dur32::decode(self.service)
    }

    /// How late a scheduled (open-loop) request started; `None` for the others.
    pub fn lag_ns(&self) -> Option<u64> {
        (self.flags & FLAG_SCHEDULED != 0).then(|| dur32::decode(self.lag))
    }

    /// Response time as results.csv reports it: from the intended start when the
    /// request was scheduled and `corrected`, else from the actual start.
    pub fn latency_ns(&self, corrected: bool) -> u64 {
        let service = self.service_ns();
        match self.lag_ns() {
            Some(lag) if corrected => service.saturating_add(lag),
            _ => service,
        }
    }
}

/// A duration in 32 bits: 5-bit exponent over a 27-bit mantissa of nanoseconds.
/// Exact below 134 ms, 8 significant digits above, saturating at about 9 years.
pub mod dur32 {
    const MANT: u32 = 27;

    pub fn encode(ns: u64) -> u32 {
        super::float_encode(ns, MANT) as u32
    }

    pub fn decode(v: u32) -> u64 {
        super::float_decode(v as u64, MANT)
    }
}

/// A duration in 16 bits: 5-bit exponent over an 11-bit mantissa of nanoseconds.
/// Exact below 2 us, within 0.1% above (HdrHistogram's 3 significant digits),
/// saturating at 73 minutes.
pub mod dur16 {
    const MANT: u32 = 11;

    pub fn encode(ns: u64) -> u16 {
        super::float_encode(ns, MANT) as u16
    }

    pub fn decode(v: u16) -> u64 {
        super::float_decode(v as u64, MANT)
    }
}

fn float_encode(ns: u64, mant_bits: u32) -> u64 {
    let bits = 64 - ns.leading_zeros();
    if bits <= mant_bits {
        return ns;
    }
    let exp = bits - mant_bits;
    if exp > 31 {
        return (31 << mant_bits) | ((1 << mant_bits) - 1);
    }
    ((exp as u64) << mant_bits) | (ns >> exp)
}

fn float_decode(v: u64, mant_bits: u32) -> u64 {
    let exp = v >> mant_bits;
    let mant = v & ((1 << mant_bits) - 1);
    mant << exp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip() {
        let r = Record {
            end_ns: 0x0102_0304_0506_0708,
            service: 9,
            lag: 10,
            ttfb: 11,
            connect: 12,
            tls: 13,
            status: 200,
            bytes: 0xdead_beef,
            target: 7,
            error: ErrorKind::Timeout as u8,
            flags: FLAG_NEW_CONN | FLAG_VALID,
        };
        let b = r.encode();
        assert_eq!(&b[0..8], &[8, 7, 6, 5, 4, 3, 2, 1], "little-endian end_ns");
        assert_eq!(Record::decode(&b), r);
    }

    #[test]
    fn durations_keep_their_precision() {
        for ns in [
            0u64, 1, 999, 2047, 2048, 50_000, 134_217_727, 134_217_728, 10_000_000_000,
            3_600_000_000_000,
        ] {
            let d32 = dur32::decode(dur32::encode(ns));
            assert!(
                d32 <= ns && (ns - d32) as f64 <= ns as f64 * 1e-7,
                "dur32 {ns} -> {d32}"
            );
            let d16 = dur16::decode(dur16::encode(ns));
            assert!(
                d16 <= ns && (ns - d16) as f64 <= ns as f64 * 1e-3,
                "dur16 {ns} -> {d16}"
            );
        }
        assert_eq!(
            dur32::decode(dur32::encode(134_217_727)),
            134_217_727,
            "exact below 2^27"
        );
        assert_eq!(dur16::decode(dur16::encode(2047)), 2047);
        // Saturation, not wrap-around.
        assert!(dur16::decode(dur16::encode(u64::MAX)) > 4_000_000_000_000);
        assert!(dur32::decode(dur32::encode(u64::MAX)) > 1 << 57);
    }

    /// A request on a reused connection, closed loop: no connect or TLS time, no lag.
    fn reused() -> Timing {
        Timing {
            end: 5_000_000,
            start: 1_000_000,
            intended: None,
            connect_ns: 0,
            tls_ns: 0,
            first_byte: 1_250_000,
            new_conn: false,
            resumed: false,
            status: 200,
            error: ErrorKind::None,
            bytes: 123,
            target: 3,
        }
    }

    /// The record of a timing, written to bytes and read back, gives the timing's
    /// durations through the codecs, and its flags say what it was.
    #[test]
    fn timing_round_trips_through_the_record() {
        let cases = [
            reused(),
            // Opened its connection, TLS resumed, on the open-loop schedule, failed
            // after its head.
            Timing {
                end: 9_000_000_000,
                start: 2_000_000,
                intended: Some(1_500_000),
                connect_ns: 70_123,
                tls_ns: 1_900,
                first_byte: 3_000_000,
                new_conn: true,
                resumed: true,
                status: 200,
                error: ErrorKind::EofMidResponse,
                bytes: 6_000_000_000,
                target: 65_535,
            },
            // No response byte at all.
            Timing {
                first_byte: 0,
                status: 0,
                error: ErrorKind::ConnectRefused,
                bytes: 0,
                new_conn: true,
                connect_ns: 50_000,
                ..reused()
            },
        ];
        for t in cases {
            let rec = Record::decode(&Record::from_timing(&t).encode());
            assert_eq!(rec, Record::from_timing(&t), "{t:?}");
            assert_eq!(rec.end_ns, t.end);
            assert_eq!(
                rec.service_ns(),
                dur32::decode(dur32::encode(t.end - t.start))
            );
            assert_eq!(rec.status, t.status);
            assert_eq!(rec.error_kind(), t.error);
            assert_eq!(rec.bytes as u64, t.bytes.min(u32::MAX as u64));
            assert_eq!(rec.target, t.target);
            assert_eq!(rec.flags & FLAG_NEW_CONN != 0, t.new_conn, "{t:?}");
            assert_eq!(rec.flags & FLAG_TLS_RESUMED != 0, t.resumed, "{t:?}");
            assert!(
                !rec.is_valid(),
                "the log sets the valid flag, not the encoder"
            );
            let (connect, tls) = if t.new_conn {
                (t.connect_ns, t.tls_ns)
            } else {
                (0, 0)
            };
            assert_eq!(
                dur16::decode(rec.connect),
                dur16::decode(dur16::encode(connect))
            );
            assert_eq!(dur16::decode(rec.tls), dur16::decode(dur16::encode(tls)));
            let ttfb = if t.first_byte > 0 {
                t.first_byte - t.start
            } else {
                0
            };
            assert_eq!(dur16::decode(rec.ttfb), dur16::decode(dur16::encode(ttfb)));
            let lag = t
                .intended
                .map(|i| dur32::decode(dur32::encode(t.start - i)));
            assert_eq!(rec.lag_ns(), lag, "{t:?}");
        }
    }

    #[test]
    fn timing_fields_land_where_the_format_says() {
        let t = Timing {
            intended: Some(400_000),
            new_conn: true,
            connect_ns: 1_000,
            tls_ns: 2_000,
            ..reused()
        };
        let rec = Record::from_timing(&t);
        assert_eq!(rec.flags, FLAG_NEW_CONN | FLAG_SCHEDULED);
        // Exact below 2^27 ns (dur32) and 2^11 ns (dur16).
        assert_eq!(rec.service_ns(), 4_000_000);
        assert_eq!(rec.lag_ns(), Some(600_000));
        assert_eq!(dur16::decode(rec.connect), 1_000);
        assert_eq!(dur16::decode(rec.tls), 2_000);
        // Corrected latency counts from the intended start, as the live board's does.
        assert_eq!(rec.latency_ns(true), 4_600_000);
        assert_eq!(t.latency_ns(), 4_600_000);
        assert_eq!(rec.latency_ns(false), 4_000_000);
        assert_eq!(reused().latency_ns(), 4_000_000);
        // A reused connection records no connect or TLS time, whatever it was given.
        let rec = Record::from_timing(&Timing {
            connect_ns: 1_000,
            tls_ns: 2_000,
            ..reused()
        });
        assert_eq!((rec.flags, rec.connect, rec.tls, rec.lag), (0, 0, 0, 0));
        assert_eq!(rec.lag_ns(), None);
        // 250 us keeps its top 11 bits: 249.984 us (within 0.1%).
        assert_eq!(dur16::decode(rec.ttfb), 249_984);
    }

    /// Clock readings out of order (an intended start after the actual one, a
    /// completion before the start) saturate at 0 instead of wrapping.
    #[test]
    fn timing_out_of_order_saturates() {
        let rec = Record::from_timing(&Timing {
            end: 10,
            start: 20,
            intended: Some(30),
            first_byte: 15,
            ..reused()
        });
        assert_eq!((rec.service, rec.lag, rec.ttfb), (0, 0, 0));
        assert_eq!(rec.lag_ns(), Some(0));
    }
}
