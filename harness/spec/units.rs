//! Parsing and printing of the two unit-bearing value kinds users type: byte sizes and
//! durations. Both follow the README (Knobs): sizes take `K`, `M`, `G` (binary: KiB,
//! MiB, GiB), durations take `ms`, `s`, `m` (and `us` for fine timeouts).

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UnitError {
    #[error("'{0}' is not a size (expected a whole number of bytes with an optional K, M or G suffix, e.g. 64K)")]
    BadSize(String),
    #[error("'{0}' is too large a size")]
    SizeOverflow(String),
    #[error("'{0}' is not a duration (expected a number with ms, s or m, e.g. 500ms, 10s, 1m)")]
    BadDuration(String),
    #[error("'{0}' is negative; a duration must be zero or more")]
    NegativeDuration(String),
    #[error("'{0}' is not a rate (expected a number with an optional k, M or G suffix)")]
    BadRate(String),
}

/// Splits "12.5Ki" into ("12.5", "Ki"). The numeric part is digits and at most one dot,
/// optionally preceded by a sign so that negative input gets a precise message.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

fn parse_number(num: &str) -> Option<f64> {
    if num.is_empty() || num == "-" || num == "+" || num.matches('.').count() > 1 {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses a byte size: `1400`, `64K`, `1.5M`, `2G`, `64KiB`. Suffixes are binary
/// (K = 1024) as the README says. Fractions are allowed only when they give whole bytes.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let s = input.trim();
    let bad = || UnitError::BadSize(input.to_string());
    let (num, suffix) = split_number(s);
    let value = parse_number(num).ok_or_else(bad)?;
    if value < 0.0 || num.starts_with('-') {
        return Err(bad());
    }
    let mult: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = value * mult as f64;
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(UnitError::SizeOverflow(input.to_string()));
    }
    if bytes.fract() != 0.0 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses a duration: `500ms`, `10s`, `1.5s`, `2m`, `250us`; a bare number means seconds
/// (as iperf3's `-t 10`).
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let s = input.trim();
    let (num, suffix) = split_number(s);
    let value = parse_number(num).ok_or_else(|| UnitError::BadDuration(input.to_string()))?;
    if value < 0.0 || num.starts_with('-') {
        return Err(UnitError::NegativeDuration(input.to_string()));
    }
    let secs = match suffix {
        "" | "s" | "sec" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(UnitError::BadDuration(input.to_string())),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| UnitError::BadDuration(input.to_string()))
}

/// Parses a rate: `100M` = 100,000,000 per second. Rates are decimal (as iperf3's `-b`),
/// unlike sizes: network rates are quoted in powers of ten.
pub fn parse_rate(input: &str) -> Result<u64, UnitError> {
    let s = input.trim();
    let bad = || UnitError::BadRate(input.to_string());
    let (num, suffix) = split_number(s);
    let value = parse_number(num).ok_or_else(bad)?;
    if value <= 0.0 || num.starts_with('-') {
        return Err(bad());
    }
    let mult = match suffix {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return Err(bad()),
    };
    let v = value * mult;
    if v >= u64::MAX as f64 || v < 1.0 {
        return Err(bad());
    }
    Ok(v.round() as u64)
}

/// Formats a byte count the way a user would type it back: `64K`, `1M`, `1400`.
pub fn format_size(bytes: u64) -> String {
    for (suffix, mult) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes >= mult && bytes % mult == 0 {
            return format!("{}{}", bytes / mult, suffix);
        }
    }
    bytes.to_string()
}

/// Formats a byte count for reading: a round size as typed (`64K`, `1M`), a count under
/// 10,000 as it is (`1400`), anything else to one decimal in the largest unit it fills
/// (`67.5K`, `2.1M`), so that two sizes close to each other read alike (never `2187K`
/// beside `2.2M`).
pub fn format_size_human(bytes: u64) -> String {
    let exact = format_size(bytes);
    let digits = exact.trim_end_matches(['K', 'M', 'G']);
    let round = digits.len() < exact.len()
        && (exact.ends_with('G') || digits.parse::<u64>().is_ok_and(|n| n < 1024));
    if bytes < 10_000 || round {
        return exact;
    }
    for (suffix, mult) in [
        ("G", (1u64 << 30) as f64),
        ("M", (1u64 << 20) as f64),
        ("K", 1024.0),
    ] {
        // As it reads: 1048575 bytes are 1.0M, not 1024.0K.
        let v = bytes as f64 / mult;
        if (v * 10.0).round() >= 10.0 {
            return format!("{v:.1}{suffix}");
        }
    }
    exact
}

/// `bytes` in the unit `like` is written in (`like` as [`format_size`] writes it), so
/// that a figure reads beside a limit: `1510.0M` beside `1500M`, not `1.5G` beside `1.5G`.
pub fn format_size_as(bytes: u64, like: u64) -> String {
    let unit = format_size(like);
    let (suffix, mult) = match unit.chars().last() {
        Some('G') => ("G", (1u64 << 30) as f64),
        Some('M') => ("M", (1u64 << 20) as f64),
        Some('K') => ("K", 1024.0),
        _ => return bytes.to_string(),
    };
    format!("{:.1}{suffix}", bytes as f64 / mult)
}

/// Formats a duration compactly and losslessly for whole milliseconds: `10s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// Formats bits per second for humans: `9.41 Gbit/s`.
pub fn format_bps(bps: f64) -> String {
    let (v, unit) = if bps >= 1e9 {
        (bps / 1e9, "Gbit/s")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbit/s")
    } else if bps >= 1e3 {
        (bps / 1e3, "kbit/s")
    } else {
        (bps, "bit/s")
    };
    format!("{v:.2} {unit}")
}

/// Formats nanoseconds for humans: `23.4us`, `1.20ms`.
pub fn format_ns(ns: u64) -> String {
    let v = ns as f64;
    if v >= 1e9 {
        format!("{:.2}s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}us", v / 1e3)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1400"), Ok(1400));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1_048_576));
        assert_eq!(parse_size("1.5M"), Ok(1_572_864));
        assert_eq!(parse_size("2G"), Ok(2_147_483_648));
        assert_eq!(parse_size(" 16K "), Ok(16384));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_are_refused_with_the_input_named() {
        for bad in [
            "banana", "", "K", "-1", "-64K", "1.2.3", "12Q", "0.5", "1e3",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(
                err.to_string().contains(&format!("'{bad}'")),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            parse_size("99999999999G"),
            Err(UnitError::SizeOverflow(_))
        ));
    }

    #[test]
    fn durations_parse_with_suffixes() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_are_refused() {
        assert!(matches!(
            parse_duration("-1s"),
            Err(UnitError::NegativeDuration(_))
        ));
        assert!(matches!(
            parse_duration("-5"),
            Err(UnitError::NegativeDuration(_))
        ));
        for bad in ["banana", "", "s", "10 parsecs", "1..2s"] {
            assert!(
                matches!(parse_duration(bad), Err(UnitError::BadDuration(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rates_are_decimal() {
        assert_eq!(parse_rate("100M"), Ok(100_000_000));
        assert_eq!(parse_rate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_rate("2000"), Ok(2000));
        assert_eq!(parse_rate("10k"), Ok(10_000));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn formatting_round_trips() {
        for s in ["64K", "1M", "1400", "3G"] {
            assert_eq!(format_size(parse_size(s).unwrap()), s);
        }
        for s in ["10s", "500ms", "250us"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_size_human(4_281_510), "4.1M");
        assert_eq!(format_size_human(1400), "1400");
        assert_eq!(format_size_human(64 << 10), "64K");
        assert_eq!(format_size_human(2187 << 10), "2.1M");
        assert_eq!(format_size_human(69_120), "67.5K");
        assert_eq!(format_size_human(3 << 30), "3G");
        assert_eq!(format_size_human(2048 << 30), "2048G");
        assert_eq!(format_size_human((1 << 20) - 1), "1.0M");
        assert_eq!(format_size_as(1510 << 20, 1500 << 20), "1510.0M");
        assert_eq!(format_size_as(1400, 1000), "1400");
        assert_eq!(format_bps(9.41e9), "9.41 Gbit/s");
        assert_eq!(format_ns(23_400), "23.4us");
    }
}
