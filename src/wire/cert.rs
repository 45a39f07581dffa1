//! The few certificate fields barrage reads itself (issuer and subject common names,
//! validity), for the pinned check of `tls_verify.rs` and the messages of
//! `tls_reasons.rs`: a minimal DER reader, since neither rustls nor webpki exposes the
//! validity period. It allocates nothing and refuses any malformed input without a
//! panic.

use crate::time::days_from_civil;

/// The fields of a certificate that barrage reads itself. Reading allocates nothing
/// (the pinned check runs at every full handshake); names are decoded on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFields<'a> {
    /// The issuer and subject Names, DER contents.
    issuer: &'a [u8],
    subject: &'a [u8],
    /// Issuer and subject names are equal (a self-signed certificate).
    pub self_issued: bool,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl<'a> CertFields<'a> {
    /// Reads a DER certificate (RFC 5280 section 4.1); `None` if it is not one.
    pub fn read(der: &'a [u8]) -> Option<CertFields<'a>> {
        let (0x30, cert) = Der(der).next()? else {
            return None;
        };
        let (0x30, tbs) = Der(cert).next()? else {
            return None;
        };
        let mut r = Der(tbs);
        let mut field = r.next()?;
        if field.0 == 0xa0 {
            // [0] EXPLICIT version
            field = r.next()?;
        }
        if field.0 != 0x02 {
            return None; // serialNumber
        }
        let _signature = r.expect(0x30)?;
        let issuer = r.expect(0x30)?;
        let mut validity = Der(r.expect(0x30)?);
        let subject = r.expect(0x30)?;
        Some(CertFields {
            issuer,
            subject,
            self_issued: issuer == subject,
            not_before: time(validity.next()?)?,
            not_after: time(validity.next()?)?,
        })
    }

    pub fn subject_cn(&self) -> Option<String> {
        common_name(self.subject)
    }

    pub fn issuer_cn(&self) -> Option<String> {
        common_name(self.issuer)
    }
}

/// A DER reader over a run of elements: each `next` yields one (tag, contents).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let [tag, first, rest @ ..] = self.0 else {
            return None;
        };
        let (len, rest) = match *first {
            n if n < 0x80 => (n as usize, rest),
            // Long form, up to 4 length bytes (certificates are far smaller).
            n @ 0x81..=0x84 => {
                let k = (n & 0x7f) as usize;
                let bytes = rest.get(..k)?;
                let len = bytes.iter().fold(0usize, |a, b| a << 8 | *b as usize);
                (len, &rest[k..])
            }
            _ => return None,
        };
        let contents = rest.get(..len)?;
        self.0 = &rest[len..];
        Some((*tag, contents))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }
}

/// The first commonName (2.5.4.3) of a Name, as text.
fn common_name(name: &[u8]) -> Option<String> {
    let mut rdns = Der(name);
    while let Some((0x31, set)) = rdns.next() {
        let mut atvs = Der(set);
        while let Some((0x30, atv)) = atvs.next() {
            let mut a = Der(atv);
            if a.expect(0x06)? == [0x55, 0x04, 0x03] {
                let (_, value) = a.next()?;
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    None
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as Unix
/// seconds. DER allows only these forms (RFC 5280 section 4.1.2.5).
fn time((tag, s): (u8, &[u8])) -> Option<i64> {
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
    };
    let (year, rest) = match (tag, s.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if s.last() != Some(&b'Z') {
        return None;
    }
    let at = |i: usize| digits(rest + i..rest + i + 2);
    let (month, day, h, m, sec) = (at(0)?, at(2)?, at(4)?, at(6)?, at(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::time::pretty_utc;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};

    /// A self-signed certificate for `names` (CN=localhost), valid `from` to `to`.
    pub(crate) fn cert(
        ca: bool,
        names: &[&str],
        from: (i32, u8, u8),
        to: (i32, u8, u8),
    ) -> Vec<u8> {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        p.not_before = date_time_ymd(from.0, from.1, from.2);
        p.not_after = date_time_ymd(to.0, to.1, to.2);
        p.self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn dates_convert_both_ways() {
        for secs in [0u64, 951_782_400, 1_795_855_830, 4_102_444_800] {
            let days = (secs / 86_400) as i64;
            let s = pretty_utc(secs);
            let (y, m, d) = (
                s[0..4].parse().unwrap(),
                s[5..7].parse().unwrap(),
                s[8..10].parse().unwrap(),
            );
            assert_eq!(days_from_civil(y, m, d), days, "{s}");
        }
    }

    #[test]
    fn der_times() {
        assert_eq!(time((0x17, b"700101000000Z")), Some(0));
        assert_eq!(time((0x17, b"491231235959Z")), Some(2_524_607_999));
        assert_eq!(time((0x17, b"500101000000Z")), Some(-631_152_000));
        assert_eq!(time((0x18, b"20261128085030Z")), Some(1_795_855_830));
        assert_eq!(time((0x18, b"99991231235959Z")), Some(253_402_300_799));
        for bad in [
            (0x17, &b"7001010000Z"[..]),
            (0x17, b"700101000000+"),
            (0x18, b"2026112808503Z0"),
            (0x17, b"701301000000Z"),
            (0x17, b"7001a1000000Z"),
            (0x04, b"700101000000Z"),
        ] {
            assert_eq!(time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_fields_of_a_certificate() {
        let der = cert(true, &["localhost"], (2020, 1, 1), (2020, 2, 1));
        let f = CertFields::read(&der).unwrap();
        assert_eq!(f.subject_cn().as_deref(), Some("localhost"));
        assert_eq!(f.issuer_cn().as_deref(), Some("localhost"));
        assert!(f.self_issued);
        assert_eq!(pretty_utc(f.not_before as u64), "2020-01-01 00:00:00 UTC");
        assert_eq!(pretty_utc(f.not_after as u64), "2020-02-01 00:00:00 UTC");
        // Every truncation is refused, never a panic.
        for n in 0..der.len() {
            assert_eq!(CertFields::read(&der[..n]), None, "{n} bytes");
        }
        assert_eq!(CertFields::read(b"\x30\x85\x00\x00\x00\x00\x01"), None);
    }
}
