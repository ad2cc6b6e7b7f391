//! Ansible's time formats in results: `start`/`end` (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) and
//! `delta` (`H:MM:SS.ffffff`).

/// Days since the epoch as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
pub fn ymd(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY`, `MM`, `DD` as days since the epoch (the inverse of [`ymd`]).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration as Ansible's `delta`.
pub fn format_delta(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros()
    )
}

/// The wall clock as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), Ansible's `start`/`end` format.
pub fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{} {:02}:{:02}:{:02}.{:06}",
        ymd(days),
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_both_ways() {
        for days in [-1, 0, 59, 60, 19_000, 20_454] {
            let t = ymd(days);
            let p: Vec<i64> = t.split('-').map(|x| x.parse().unwrap()).collect();
            assert_eq!(days_from_civil(p[0], p[1], p[2]), days, "{t}");
        }
    }

    #[test]
    fn timestamps_look_like_ansible() {
        let t = chrono_like_now();
        assert_eq!(t.len(), 26, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(
            format_delta(std::time::Duration::from_millis(1500)),
            "0:00:01.500000"
        );
    }
}
