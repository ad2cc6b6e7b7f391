//! community.general's `do_ini`, line for line: the section found (with `section_has_values`),
//! the option's lines updated, the extra ones removed (`exclusive`), new ones added after the
//! section's last non-blank, non-comment line, or the section added at the end.

/// What to do to the file's lines.
pub struct IniEdit {
    pub section: Option<String>,
    /// `(option, values)` a section must have to be the one.
    pub has_values: Vec<(String, Vec<String>)>,
    pub option: Option<String>,
    pub values: Vec<String>,
    pub present: bool,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub allow_no_value: bool,
    pub modify_inactive_option: bool,
}

/// Python's `match_opt` (`active`: `match_active_opt`, no comment mark allowed): the comment
/// mark and the value, when `line` sets `option`.
fn match_opt<'l>(option: &str, line: &'l str, active: bool) -> Option<(&'l str, &'l str)> {
    let blank = |s: &'l str| s.trim_start_matches([' ', '\t']);
    let mut rest = blank(line);
    let mut mark = "";
    if !active && (rest.starts_with('#') || rest.starts_with(';')) {
        mark = &rest[..1];
        rest = blank(&rest[1..]);
    }
    let rest = rest.strip_prefix(option)?;
    let rest = blank(rest);
    // `(=|$)`: `$` is the end, or a final newline.
    let rest = match rest.strip_prefix('=') {
        Some(r) => r,
        None if rest.is_empty() || rest == "\n" => "",
        None => return None,
    };
    let value = blank(rest);
    Some((mark, value.split('\n').next().unwrap_or_default()))
}

/// `^[ \t]*([#;].*)?$`: a blank or comment line.
fn blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    t.is_empty() || t == "\n" || t.starts_with('#') || t.starts_with(';')
}

/// `^\[\s*SECTION\s*]`
fn section_line(section: &str, line: &str) -> bool {
    line.strip_prefix('[')
        .map(|r| r.trim_start())
        .and_then(|r| r.strip_prefix(section))
        .map(|r| r.trim_start())
        .is_some_and(|r| r.starts_with(']'))
}

impl IniEdit {
    fn matches<'l>(&self, option: &str, line: &'l str) -> Option<(&'l str, &'l str)> {
        match_opt(option, line, !self.modify_inactive_option)
    }

    fn assignment(&self, option: &str, value: &str) -> String {
        if self.no_extra_spaces {
            format!("{option}={value}\n")
        } else {
            format!("{option} = {value}\n")
        }
    }

    fn has_values(&self, lines: &[String]) -> bool {
        self.has_values.iter().all(|(opt, vals)| {
            lines.iter().any(|l| {
                match_opt(opt, l, false)
                    .is_some_and(|(_, v)| vals.is_empty() || vals.iter().any(|x| x == v))
            })
        })
    }

    /// The new lines, whether they changed, and Ansible's message.
    pub fn apply(&self, lines: Vec<String>) -> (Vec<String>, bool, &'static str) {
        let mut values: Vec<String> = Vec::new();
        for v in &self.values {
            if !values.contains(v) {
                values.push(v.clone());
            }
        }
        let mut ini = lines;
        let mut changed = false;
        if ini.is_empty() {
            ini.push("\n".into());
        }
        if ini.last().is_some_and(|l| !l.ends_with('\n')) {
            ini.last_mut().expect("a line").push('\n');
            changed = true;
        }
        const FAKE: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";
        ini.insert(0, format!("[{FAKE}]"));
        ini.push("[".into());
        let section = self
            .section
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| FAKE.to_string());
        // Python sets the fake name before it asks `not section`: never within at first.
        let mut within = false;
        let (mut start, mut end) = (0, 0);
        let mut msg = "OK";
        let mut no_value_present = false;
        let wanted = section.trim().to_string();
        for (i, line) in ini.iter().enumerate() {
            if within && line.starts_with('[') {
                if self.has_values(&ini[start..i]) {
                    end = i;
                    break;
                }
                within = false;
                start = 0;
                end = 0;
            }
            if section_line(&wanted, line) {
                within = true;
                start = i;
            }
        }
        let before: Vec<String> = ini[..start].to_vec();
        let mut sec: Vec<String> = ini[start..end].to_vec();
        let after: Vec<String> = ini[end..].to_vec();
        let mut touched = vec![false; sec.len()];
        let option = self.option.clone().unwrap_or_default();
        let has_option = self.option.is_some();
        let update = |sec: &mut Vec<String>,
                      touched: &mut Vec<bool>,
                      i: usize,
                      newline: String,
                      changed: &mut bool,
                      msg: &mut &'static str| {
            let mut option_changed = None;
            if self.ignore_spaces {
                if let Some((mark, old)) = match_opt(&option, &sec[i], false) {
                    if mark.is_empty() {
                        let new = match_opt(&option, &newline, false).map(|m| m.1);
                        option_changed = Some(Some(old) != new);
                    }
                }
            }
            let option_changed = option_changed.unwrap_or(sec[i] != newline);
            if option_changed {
                sec[i] = newline;
                *changed = true;
                *msg = "option changed";
            }
            touched[i] = true;
        };
        if self.present && has_option {
            for i in 0..sec.len() {
                let Some((_, value)) = self.matches(&option, &sec[i]) else {
                    continue;
                };
                let value = value.to_string();
                if !values.is_empty() && values.contains(&value) {
                    let newline = if value.is_empty() && self.allow_no_value {
                        no_value_present = true;
                        format!("{option}\n")
                    } else {
                        self.assignment(&option, &value)
                    };
                    update(&mut sec, &mut touched, i, newline, &mut changed, &mut msg);
                    values.retain(|v| *v != value);
                } else if values.is_empty() && self.allow_no_value {
                    update(
                        &mut sec,
                        &mut touched,
                        i,
                        format!("{option}\n"),
                        &mut changed,
                        &mut msg,
                    );
                    no_value_present = true;
                    break;
                }
            }
        }
        if self.present && self.exclusive && !self.allow_no_value {
            if !values.is_empty() {
                for i in 0..sec.len() {
                    if !touched[i] && self.matches(&option, &sec[i]).is_some() {
                        let v = values.remove(0);
                        update(
                            &mut sec,
                            &mut touched,
                            i,
                            self.assignment(&option, &v),
                            &mut changed,
                            &mut msg,
                        );
                        if values.is_empty() {
                            break;
                        }
                    }
                }
            }
            for i in (1..sec.len()).rev() {
                if !touched[i] && self.matches(&option, &sec[i]).is_some() {
                    sec.remove(i);
                    touched.remove(i);
                    changed = true;
                    msg = "option changed";
                }
            }
        }
        if self.present {
            for i in (1..=sec.len()).rev() {
                if !blank_or_comment(&sec[i - 1]) {
                    if has_option && !values.is_empty() {
                        for v in values.iter().rev() {
                            sec.insert(i, self.assignment(&option, v));
                            msg = "option added";
                            changed = true;
                        }
                    } else if has_option
                        && values.is_empty()
                        && self.allow_no_value
                        && !no_value_present
                    {
                        sec.insert(i, format!("{option}\n"));
                        msg = "option added";
                        changed = true;
                    }
                    break;
                }
            }
        }
        if !self.present {
            if has_option {
                let keep = |l: &String| match match_opt(&option, l, true) {
                    Some((_, v)) => !self.exclusive && !values.iter().any(|x| x == v),
                    None => true,
                };
                if self.exclusive || !values.is_empty() {
                    let new: Vec<String> = sec.iter().filter(|l| keep(l)).cloned().collect();
                    if new != sec {
                        changed = true;
                        msg = "option changed";
                        sec = new;
                    }
                }
            } else if !sec.is_empty() {
                sec.clear();
                msg = "section removed";
                changed = true;
            }
        }
        let mut out: Vec<String> = before;
        out.extend(sec);
        out.extend(after);
        out.remove(0);
        out.pop();
        if !within && self.present {
            out.push(format!("[{section}]\n"));
            msg = "section and option added";
            for (opt, vals) in &self.has_values {
                if *opt != option {
                    if !vals.is_empty() {
                        for v in vals {
                            out.push(self.assignment(opt, v));
                        }
                    } else if self.allow_no_value {
                        out.push(format!("{opt}\n"));
                    }
                } else if !self.exclusive {
                    for v in vals {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }
                }
            }
            if has_option && !values.is_empty() {
                for v in &values {
                    out.push(self.assignment(&option, v));
                }
            } else if has_option && values.is_empty() && self.allow_no_value {
                out.push(format!("{option}\n"));
            } else {
                msg = "only section added";
            }
            changed = true;
        }
        (out, changed, msg)
    }
}

/// Python's `readlines()` of a text file: universal newlines (`\r\n` and `\r` read as `\n`),
/// each line with its `\n`; a UTF-8 byte order mark dropped (`utf-8-sig`).
pub fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split_inclusive('\n').map(str::to_string).collect()
}
