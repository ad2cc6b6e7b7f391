//! Timestamps: `modification_time`/`access_time` arguments (`now`, `preserve`, a time in a
//! format) and the fractional times `stat` reports.

use super::*;

/// A timestamp argument: leave it, set it to now, or set it to a given local time.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Ts {
    Preserve,
    Now,
    /// Epoch seconds (as the host reads the local time) and `touch -t` form.
    At(f64, String),
}

/// A timestamp argument before the host converted it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum TsArg {
    Preserve,
    Now,
    /// `YYYY-MM-DD hh:mm:ss` for `date -d`, and `CCYYMMDDhhmm.ss` for `touch -t`.
    Local(String, String),
}

/// Parses a timestamp with a `strftime` format made of `%Y %y %m %d %H %M %S` and literals.
pub(super) fn parse_time(value: &str, format: &str) -> Result<TsArg> {
    let bad = || {
        fail(format!(
            "Error while obtaining timestamp for time {value} using format {format}"
        ))
    };
    let (mut y, mut mo, mut d, mut h, mut mi, mut s) = (1900i64, 1i64, 1i64, 0i64, 0i64, 0i64);
    let v = value.as_bytes();
    let mut i = 0;
    let mut f = format.chars().peekable();
    while let Some(c) = f.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if v.get(i) != Some(&b) {
                    return Err(bad());
                }
                i += 1;
            }
            continue;
        }
        let spec = f.next().ok_or_else(bad)?;
        // As Python's strptime: `%Y` four digits, `%y` two, the others one or two.
        let width = match spec {
            'Y' => 4,
            'y' => 2,
            _ if v.get(i + 1).is_some_and(u8::is_ascii_digit) => 2,
            _ => 1,
        };
        let digits = v.get(i..i + width).ok_or_else(bad)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let n: i64 = std::str::from_utf8(digits)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?;
        i += width;
        match spec {
            'Y' => y = n,
            'y' => y = if n < 69 { 2000 + n } else { 1900 + n },
            'm' => mo = n,
            'd' => d = n,
            'H' => h = n,
            'M' => mi = n,
            'S' => s = n,
            _ => return Err(bad()),
        }
    }
    if i != v.len()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 61
    {
        return Err(bad());
    }
    Ok(TsArg::Local(
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}.{s:02}"),
    ))
}

pub(super) fn ts_arg(args: &Args, key: &str, fmt_key: &str, state: Option<&str>) -> Result<TsArg> {
    match args.str(key).as_deref() {
        None => Ok(if state == Some("touch") {
            TsArg::Now
        } else {
            TsArg::Preserve
        }),
        Some("preserve") => Ok(TsArg::Preserve),
        Some("now") => Ok(TsArg::Now),
        Some(v) => parse_time(
            v,
            &args
                .str(fmt_key)
                .unwrap_or_else(|| "%Y%m%d%H%M.%S".to_string()),
        ),
    }
}

pub(super) fn frac(secs: &str, clock: &str) -> f64 {
    let whole: f64 = secs.parse().unwrap_or(0.0);
    whole
        + clock
            .split_once('.')
            .and_then(|(_, f)| format!("0.{f}").parse::<f64>().ok())
            .unwrap_or(0.0)
}
