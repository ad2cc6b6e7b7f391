//! Modes: Ansible's mode arithmetic (symbolic modes computed exactly from the current mode).

use super::*;

/// Ansible's mode display for file results: `'0%03o'`.
pub fn fmt_mode(m: u32) -> String {
    format!("0{m:03o}")
}

/// Computes the mode a symbolic mode (`u+x,go-w`, `=r`, `a+X`) gives a file whose mode is
/// `current`, exactly as Ansible's `_symbolic_mode_to_octal` does. An empty "who" means `a`
/// with the `umask` bits left alone.
pub fn symbolic_to_octal(spec: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32> {
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let bad = || fail(format!("bad symbolic permission for mode: {clause}"));
        let op_pos = clause.find(['+', '-', '=']).ok_or_else(bad)?;
        let (who, rest) = clause.split_at(op_pos);
        let use_umask = who.is_empty();
        let users = if who.is_empty() || who == "a" {
            "ugo"
        } else {
            who
        };
        if users.chars().any(|c| !"ugo".contains(c)) {
            return Err(bad());
        }
        // Split `+r-w=x` into (op, perms) pairs.
        let mut pairs: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if "+-=".contains(c) {
                pairs.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                if let Some(last) = pairs.last_mut() {
                    last.1.push(c);
                }
            } else {
                return Err(bad());
            }
        }
        for (op, perms) in &pairs {
            for user in users.chars() {
                let apply = perms_for(user, perms, mode, is_dir, use_umask, umask);
                mode = match op {
                    '=' => {
                        let mask = match user {
                            'u' => 0o4700,
                            'g' => 0o2070,
                            _ => 0o1007,
                        };
                        (mode & (mask ^ 0o7777)) | apply
                    }
                    '+' => mode | apply,
                    _ => mode & !apply,
                };
            }
        }
    }
    Ok(mode)
}

pub(super) fn perms_for(
    user: char,
    perms: &str,
    prev: u32,
    is_dir: bool,
    use_umask: bool,
    umask: u32,
) -> u32 {
    let rev = if use_umask { !umask & 0o7777 } else { 0o7777 };
    let apply_x = is_dir || prev & 0o111 != 0;
    let (shift, s_bit, t_bit) = match user {
        'u' => (6, 0o4000, 0),
        'g' => (3, 0o2000, 0),
        _ => (0, 0, 0o1000),
    };
    let mut out = 0;
    for p in perms.chars() {
        out |= match p {
            'r' => rev & (0o4 << shift),
            'w' => rev & (0o2 << shift),
            'x' => rev & (0o1 << shift),
            'X' if apply_x => 0o1 << shift,
            'X' => 0,
            's' => s_bit,
            't' => t_bit,
            'u' => ((prev >> 6) & 0o7) << shift,
            'g' => ((prev >> 3) & 0o7) << shift,
            'o' => (prev & 0o7) << shift,
            _ => 0,
        };
    }
    out
}

/// The mode `want` (octal or symbolic, as `Args::mode` gives it) yields on a file whose mode
/// is `current`.
pub fn resolve_mode(want: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32> {
    match crate::yaml::parse_mode_str(want) {
        Some(m) => Ok(m),
        None => symbolic_to_octal(want, current, is_dir, umask),
    }
}

/// The default mode of a new file (0666 & ~umask) or directory (0777 & ~umask).
pub fn new_mode(is_dir: bool, umask: u32) -> u32 {
    (if is_dir { 0o777 } else { 0o666 }) & !umask
}
