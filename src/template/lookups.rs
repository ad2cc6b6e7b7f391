//! Ansible's lookup plugins as template functions: `lookup(name, *terms, **kwargs)` and
//! `query(name, *terms, **kwargs)` (alias `q`). Lookups run on the controller, reading the
//! current variables (`role_path`, `playbook_dir`, …) from the render state.
//!
//! Supported: `file`, `template`, `env`, `pipe`, `lines`, `first_found`, `fileglob`, `vars`,
//! `password`. `lookup` joins several string results with commas unless `wantlist=True`;
//! `query` always returns a list. `errors='strict'|'warn'|'ignore'` controls failures.
//!
//! Known differences from Ansible: the `template` lookup sees only the variables its file
//! names directly (plus `playbook_dir`, `role_path`, `inventory_hostname`), so a `vars`
//! lookup with a computed name inside a looked-up template can miss; `fileglob` supports
//! `*` and `?` in the last path component only; `password` ignores `encrypt`/`seed`.

use minijinja::value::{from_args, Kwargs, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};
use std::borrow::Cow;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The lookups drover implements, for error messages.
pub const SUPPORTED: &[&str] = &[
    "config",
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "indexed_items",
    "items",
    "lines",
    "list",
    "nested",
    "password",
    "pipe",
    "template",
    "together",
    "vars",
    "varnames",
];

/// Registers `lookup`, `query` and `q` as global functions on `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

fn err(msg: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// `lookup(name, *terms, **kwargs)`: one string for string results (comma-joined), the single
/// value for one non-string result, else the list; a list with `wantlist=True`.
fn lookup(state: &State, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let values = args.into_values();
    let (name, terms, kwargs) = split_args(&values)?;
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    // As ansible-core: an error ignored (`errors=ignore|warn`) gives None ([] with
    // `wantlist`), no result an empty list, one result itself, several strings one
    // comma-joined string.
    let Some(results) = run_lenient(state, &name, terms, &kwargs)? else {
        return Ok(if wantlist {
            Value::from(Vec::<Value>::new())
        } else {
            Value::from(())
        });
    };
    if wantlist || results.is_empty() {
        return Ok(Value::from(results));
    }
    if results.len() == 1 {
        return Ok(results.into_iter().next().unwrap_or_default());
    }
    if results.iter().all(|v| v.kind() == ValueKind::String) {
        let parts: Vec<&str> = results.iter().filter_map(Value::as_str).collect();
        return Ok(Value::from(parts.join(",")));
    }
    Ok(Value::from(results))
}

/// `query(name, *terms, **kwargs)`: always a list.
fn query(state: &State, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let values = args.into_values();
    let (name, terms, kwargs) = split_args(&values)?;
    // Accepted (and meaningless) for query, as in Ansible.
    let _ = kwargs.get::<Option<bool>>("wantlist")?;
    Ok(Value::from(run(state, &name, terms, &kwargs)?))
}

fn split_args(values: &[Value]) -> Result<(String, &[Value], Kwargs), Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(values)?;
    let Some((name, terms)) = args.split_first() else {
        return Err(err("lookup() needs the name of a lookup plugin"));
    };
    let Some(name) = name.as_str() else {
        return Err(err(format!(
            "lookup plugin name must be a string, got {}",
            name.kind()
        )));
    };
    Ok((name.to_string(), terms, kwargs))
}

/// One lookup plugin: terms and options in, results out.
type LookupFn = fn(&State, &[Value], &Kwargs) -> Result<Vec<Value>, Error>;

/// Runs the named lookup, applying `errors=`: `None` when an error was ignored.
fn run_lenient(
    state: &State,
    name: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    let errors: Option<String> = kwargs.get("errors")?;
    let ignoring = matches!(errors.as_deref(), Some("ignore" | "warn"));
    match run(state, name, terms, kwargs) {
        Ok(v) if v.is_empty() && ignoring && LAST_IGNORED.with(|c| c.replace(false)) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) => Err(e),
    }
}

thread_local! {
    /// Whether the last `run` on this thread ignored an error (`errors=ignore|warn`).
    static LAST_IGNORED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Rendering ahead of a task (`without_lookups`): every lookup fails at once.
    static AHEAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a rendering made ahead of the task, to foresee what it will do) with every lookup
/// failing before it runs: a lookup may run a command or write a file, and only the task's
/// own rendering may do that, once.
pub fn without_lookups<T>(f: impl FnOnce() -> T) -> T {
    let before = AHEAD.with(|c| c.replace(true));
    let out = f();
    AHEAD.with(|c| c.set(before));
    out
}

/// Runs the named lookup, applying `errors=`.
fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    LAST_IGNORED.with(|c| c.set(false));
    if AHEAD.with(std::cell::Cell::get) {
        return Err(err("lookups are not run ahead of their task"));
    }
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    let f: LookupFn = match short {
        "file" => file,
        "template" => template,
        "env" => env_lookup,
        "config" => config,
        "pipe" => pipe,
        "lines" => lines,
        "first_found" => first_found,
        "fileglob" => fileglob,
        "vars" => vars,
        "varnames" => varnames,
        "password" => password,
        "list" => super::lookups_lists::list,
        "items" => super::lookups_lists::items,
        "indexed_items" => super::lookups_lists::indexed_items,
        "dict" => super::lookups_lists::dict,
        "together" => super::lookups_lists::together,
        "nested" => super::lookups_lists::nested,
        _ => {
            return Err(err(format!(
                "lookup plugin `{name}` not found; drover supports: {}",
                SUPPORTED.join(", ")
            )))
        }
    };
    let errors: Option<String> = kwargs.get("errors")?;
    let mode = errors.as_deref().unwrap_or("strict");
    if !matches!(mode, "strict" | "warn" | "ignore") {
        return Err(err(format!(
            "lookup `{name}`: errors must be 'strict', 'warn' or 'ignore', got '{mode}'"
        )));
    }
    // A command may change anything, and `password` writes a file: on the controller, which
    // may be a host of the run (looks made ahead of file tasks no longer serve).
    let acts = matches!(short, "pipe" | "lines" | "password");
    if acts {
        crate::connection::note_host_change();
    }
    let result = f(state, terms, kwargs);
    if acts {
        crate::connection::note_host_change();
    }
    match result {
        Ok(v) => Ok(v),
        Err(e) if mode == "strict" => Err(err(format!("lookup `{short}`: {e}"))),
        Err(e) => {
            LAST_IGNORED.with(|c| c.set(true));
            if mode == "warn" {
                let msg = format!("lookup `{short}` failed: {e}");
                crate::output::eprintln_above(&format!(
                    "[WARNING]: {}",
                    crate::vault::redact(&msg)
                ));
            }
            Ok(Vec::new())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn str_var(state: &State, name: &str) -> Option<String> {
    let v = state.lookup(name)?;
    if v.is_undefined() || v.is_none() {
        return None;
    }
    v.as_str()
        .map(str::to_string)
        .or_else(|| Some(v.to_string()))
}

/// The controller directories searched for relative paths: `ansible_search_path` (the role,
/// the task file's directory, the playbook's), else the role's, then the playbook's.
fn search_dirs(state: &State) -> Vec<PathBuf> {
    if let Some(v) = state
        .lookup("ansible_search_path")
        .filter(|v| !v.is_undefined())
    {
        if let Ok(items) = v.try_iter() {
            let dirs: Vec<PathBuf> = items
                .filter_map(|i| i.as_str().map(PathBuf::from))
                .collect();
            if !dirs.is_empty() {
                return dirs;
            }
        }
    }
    let mut dirs = Vec::new();
    for name in ["role_path", "playbook_dir"] {
        if let Some(d) = str_var(state, name) {
            if !d.is_empty() {
                dirs.push(PathBuf::from(d));
            }
        }
    }
    dirs
}

/// The playbook's dir (or the current dir), where commands run and `password` files live.
fn base_dir(state: &State) -> PathBuf {
    str_var(state, "playbook_dir")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Finds a controller file: absolute as is; relative in `<dir>/<kind>/<path>` then
/// `<dir>/<path>` for the role dir then the playbook dir, then relative to the current dir.
fn find(state: &State, kind: &str, path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        return p.exists().then_some(p);
    }
    for d in search_dirs(state) {
        for cand in [d.join(kind).join(&p), d.join(&p)] {
            if cand.exists() {
                return Some(cand);
            }
        }
    }
    p.exists().then_some(p)
}

fn term_str(term: &Value) -> Result<String, Error> {
    match term.as_str() {
        Some(s) => Ok(s.to_string()),
        None if term.is_undefined() => Err(err("a term is undefined")),
        None => Ok(term.to_string()),
    }
}

/// Terms with list terms flattened one level (Ansible accepts both `'a', 'b'` and `['a', 'b']`).
fn flat_terms(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() == ValueKind::Seq {
            out.extend(t.try_iter()?);
        } else {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))
}

/// A file for the `file` lookup: a vault-encrypted one is decrypted in memory, as Ansible's
/// lookup does; the flag says it was.
fn read_maybe_vaulted(path: &Path) -> Result<(String, bool), Error> {
    let data =
        std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let (plain, vaulted) = crate::vault::open_bytes(data)
        .map_err(|e| err(format!("cannot decrypt {}: {}", path.display(), e.report())))?;
    let text = String::from_utf8(plain)
        .map_err(|_| err(format!("cannot read {}: not valid UTF-8", path.display())))?;
    Ok((text, vaulted))
}

fn run_command(state: &State, cmd: &str) -> Result<String, Error> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(base_dir(state))
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run `{cmd}`: {e}")))?;
    if !out.status.success() {
        let code = out
            .status
            .code()
            .map_or_else(|| "a signal".to_string(), |c| c.to_string());
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(err(format!(
            "command `{cmd}` returned {code}: {}",
            stderr.trim_end()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// The lookups.

fn file(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
    let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let name = term_str(&t)?;
        let path = find(state, "files", &name)
            .ok_or_else(|| err(format!("could not locate file in lookup: {name}")))?;
        let (text, vaulted) = read_maybe_vaulted(&path)?;
        let mut s = text.as_str();
        if lstrip {
            s = s.trim_start();
        }
        if rstrip {
            s = s.trim_end();
        }
        if vaulted {
            // Output masks it like any other vault value.
            crate::vault::mark_secret(s);
        }
        out.push(Value::from(s));
    }
    Ok(out)
}

/// `template`: each term's file rendered as the template action renders (see `file`), with
/// the variables in scope plus Ansible's template variables and `template_vars`. A file that
/// renders nothing gives none; one that is a single `{{ expr }}` gives its native value.
fn template(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let _ = kwargs.get::<Option<Value>>("convert_data")?;
    let _ = kwargs.get::<Option<Value>>("jinja2_native")?;
    let extra: Option<Value> = kwargs.get("template_vars")?;
    let mut opts = super::file::Options {
        trim_blocks: kwargs.get::<Option<bool>>("trim_blocks")?.unwrap_or(true),
        ..Default::default()
    };
    for (slot, key) in opts.delimiters.iter_mut().zip(super::file::DELIMITER_KEYS) {
        // The lookup has no block delimiter options.
        if key.starts_with("block_") {
            continue;
        }
        if let Some(v) = kwargs.get::<Option<String>>(key)? {
            *slot = v;
        }
    }
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let name = term_str(&t)?;
        let path = find(state, "templates", &name)
            .ok_or_else(|| err(format!("the template file {name} could not be found")))?;
        let source = read_file(&path)?;
        let mut ctx = indexmap::IndexMap::new();
        let (over, under) = super::file::template_vars(&name, &path, None);
        for (k, v) in under {
            ctx.insert(Value::from(k), v);
        }
        for n in state.known_variables() {
            if let Some(v) = state.lookup(&n).filter(|v| !v.is_undefined()) {
                ctx.insert(Value::from(n.as_ref()), v);
            }
        }
        for (k, v) in over {
            ctx.insert(Value::from(k), v);
        }
        if let Some(extra) = extra.as_ref().filter(|e| e.kind() == ValueKind::Map) {
            for k in extra.try_iter()? {
                let v = extra.get_item(&k)?;
                ctx.insert(k, v);
            }
        }
        let vars = Value::from_object(ctx);
        let mut search: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
        for d in search_dirs(state) {
            search.push(d.join("templates"));
            search.push(d);
        }
        let single = opts.delimiters[2] == "{{"
            && super::single_expression(source.trim_end_matches('\n')).is_some();
        if single {
            let t = super::compile_as(source.trim_end_matches('\n'), false)?;
            out.push(t.render(&vars)?);
            continue;
        }
        let name = path.display().to_string();
        let rendered = super::file::render(&name, &source, vars, &search, &opts)
            .map_err(|e| err(format!("error templating {}: {e}", path.display())))?;
        // Ansible's native rendering gives none for a template without output (only the
        // newline a file ends with, which Jinja drops, is left here).
        out.push(if rendered.trim_start_matches('\n').is_empty() {
            Value::from(())
        } else {
            Value::from(rendered)
        });
    }
    Ok(out)
}

fn env_lookup(_state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let name = term_str(&t)?;
        match std::env::var(&name) {
            Ok(v) => out.push(Value::from(v)),
            Err(_) => out.push(default.clone().unwrap_or_else(|| Value::from(""))),
        }
    }
    Ok(out)
}

/// `config`: Ansible configuration settings (`on_missing=error|warn|skip`, `plugin_type`
/// and `plugin_name` for a plugin's options), as far as drover knows them.
fn config(_state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let on_missing: Option<String> = kwargs.get("on_missing")?;
    let plugin_type: Option<String> = kwargs.get("plugin_type")?;
    let plugin_name: Option<String> = kwargs.get("plugin_name")?;
    let plugin = match (&plugin_type, &plugin_name) {
        (Some(t), Some(n)) => Some((t.as_str(), n.as_str())),
        (None, None) => None,
        _ => return Err(err("Both plugin_type and plugin_name are required")),
    };
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let name = term_str(&t)?;
        match crate::config_lookup::setting(&name, plugin) {
            Some(v) => out.push(v),
            None => match on_missing.as_deref().unwrap_or("error") {
                "skip" => {}
                "warn" => crate::output::eprintln_above(&format!(
                    "[WARNING]: Skipping, did not find setting {name}"
                )),
                _ => return Err(err(format!("Unable to find setting {name}"))),
            },
        }
    }
    Ok(out)
}

fn pipe(state: &State, terms: &[Value], _kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let stdout = run_command(state, &term_str(&t)?)?;
        out.push(Value::from(stdout.trim_end()));
    }
    Ok(out)
}

fn lines(state: &State, terms: &[Value], _kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let stdout = run_command(state, &term_str(&t)?)?;
        out.extend(stdout.lines().map(Value::from));
    }
    Ok(out)
}

/// Splits a `files`/`paths` value: a list, or a string separated by `,`, `;` or `:`.
fn name_list(v: &Value) -> Result<Vec<String>, Error> {
    if v.is_undefined() || v.is_none() || v.kind() == ValueKind::Invalid {
        return Ok(Vec::new());
    }
    if let Some(s) = v.as_str() {
        return Ok(s
            .split([',', ';', ':'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect());
    }
    if v.kind() == ValueKind::Seq {
        let mut out = Vec::new();
        for item in v.try_iter()? {
            out.extend(name_list(&item)?);
        }
        return Ok(out);
    }
    Err(err(format!("expected a list of names, got {}", v.kind())))
}

fn first_found(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    let kw_files: Option<Value> = kwargs.get("files")?;
    let kw_paths: Option<Value> = kwargs.get("paths")?;
    let mut candidates: Vec<String> = Vec::new();
    let mut add = |files: Vec<String>, paths: Vec<String>| {
        if paths.is_empty() {
            candidates.extend(files);
        } else {
            for p in &paths {
                for f in &files {
                    candidates.push(Path::new(p).join(f).display().to_string());
                }
            }
        }
    };
    let kw_path_list = match &kw_paths {
        Some(p) => name_list(p)?,
        None => Vec::new(),
    };
    if let Some(f) = &kw_files {
        add(name_list(f)?, kw_path_list.clone());
    }
    // Terms nest (lists, tuples) at any depth; undefined ones are dropped, as Ansible's.
    fn walk(v: &Value, out: &mut Vec<Value>) -> Result<(), Error> {
        match v.kind() {
            ValueKind::Undefined | ValueKind::Invalid => {}
            ValueKind::Seq | ValueKind::Iterable => {
                for x in v.try_iter()? {
                    walk(&x, out)?;
                }
            }
            _ => out.push(v.clone()),
        }
        Ok(())
    }
    let mut all = Vec::new();
    for t in terms {
        walk(t, &mut all)?;
    }
    for t in all {
        if t.kind() == ValueKind::Map {
            let files = name_list(&t.get_attr("files")?)?;
            let paths = name_list(&t.get_attr("paths")?)?;
            let s = t.get_attr("skip")?;
            if !s.is_undefined() {
                skip = skip || s.is_true();
            }
            add(files, paths);
        } else if t.kind() == ValueKind::String {
            add(vec![term_str(&t)?], kw_path_list.clone());
        } else {
            return Err(err(format!(
                "Invalid term supplied. A string, dict or list is required, not '{}').",
                super::filters_more::type_debug(&t)
            )));
        }
    }
    // Invoked as `with_first_found`, the task's action names the subdirectory.
    let subdir = str_var(state, "__drover_lookup_subdir").unwrap_or_else(|| "files".into());
    for c in &candidates {
        if let Some(p) = find(state, &subdir, c) {
            return Ok(vec![Value::from(absolute(&p).display().to_string())]);
        }
    }
    if skip {
        return Ok(Vec::new());
    }
    Err(err(format!(
        "no file was found when using first_found (looked for: {})",
        candidates.join(", ")
    )))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Shell-style match of `*` and `?` against one path component (no leading-dot exception
/// besides Python's: `*` does not match a leading `.`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    crate::glob::wildcard(pattern, name)
}

/// `fileglob`: the files a pattern matches; a relative pattern is tried in each search
/// directory (its `files/` first) and the first one with matches wins, as Ansible's.
fn fileglob(state: &State, terms: &[Value], _kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let term = term_str(&t)?;
        let path = Path::new(&term);
        let pattern = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir_part = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let candidates: Vec<PathBuf> = if dir_part.is_absolute() {
            vec![dir_part]
        } else {
            let mut c: Vec<PathBuf> = search_dirs(state)
                .into_iter()
                .flat_map(|d| [d.join("files").join(&dir_part), d.join(&dir_part)])
                .collect();
            c.push(if dir_part.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir_part.clone()
            });
            c
        };
        for dir in candidates {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut found: Vec<String> = entries
                .flatten()
                .filter(|e| e.path().is_file())
                .filter(|e| glob_match(&pattern, &e.file_name().to_string_lossy()))
                .map(|e| absolute(&e.path()).display().to_string())
                .collect();
            if found.is_empty() {
                continue;
            }
            found.sort();
            out.extend(found.into_iter().map(Value::from));
            break;
        }
    }
    Ok(out)
}

fn vars(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let mut out = Vec::new();
    for t in terms {
        let Some(name) = t.as_str() else {
            return Err(err(format!(
                "Variable name must be 'str' not '{}'.",
                super::filters_more::type_debug(t)
            )));
        };
        match state.lookup(name).filter(|v| !v.is_undefined()) {
            Some(v) => out.push(v),
            None => match &default {
                Some(d) => out.push(d.clone()),
                None => return Err(err(format!("No variable named '{name}' was found."))),
            },
        }
    }
    Ok(out)
}

/// `varnames`: the names of the variables in scope matching each term (a Python regular
/// expression, matched at the start of the name).
fn varnames(state: &State, terms: &[Value], _kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let names = state.known_variables();
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let pattern = term_str(&t)?;
        let re = regex::Regex::new(&format!(
            "^(?:{})",
            crate::template::filters::translate_python_regex(&pattern)
        ))
        .map_err(|e| {
            err(format!(
                "Unable to use \"{pattern}\" as a search parameter: {e}"
            ))
        })?;
        for n in &names {
            if re.is_match(n) && !n.starts_with("__drover") && !crate::template::is_known_global(n)
            {
                out.push(Value::from(n.as_ref()));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// password

const ASCII_LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const ASCII_UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The character set for `chars=` names (Python's `string` module constants) or literals.
fn charset(spec: &[String]) -> Vec<char> {
    let mut out = String::new();
    for s in spec {
        match s.as_str() {
            "ascii_letters" | "letters" => {
                out.push_str(ASCII_LOWER);
                out.push_str(ASCII_UPPER);
            }
            "ascii_lowercase" => out.push_str(ASCII_LOWER),
            "ascii_uppercase" => out.push_str(ASCII_UPPER),
            "digits" => out.push_str(DIGITS),
            "hexdigits" => out.push_str("0123456789abcdefABCDEF"),
            "octdigits" => out.push_str("01234567"),
            "punctuation" => out.push_str(PUNCTUATION),
            other => out.push_str(other),
        }
    }
    let mut chars: Vec<char> = Vec::new();
    for c in out.chars() {
        if !chars.contains(&c) {
            chars.push(c);
        }
    }
    chars
}

/// A random string of `length` characters from `chars`, from /dev/urandom without bias.
fn random_string(length: usize, chars: &[char]) -> Result<String, Error> {
    if chars.is_empty() {
        return Err(err("password: the character set is empty"));
    }
    let mut f = std::fs::File::open("/dev/urandom")
        .map_err(|e| err(format!("cannot open /dev/urandom: {e}")))?;
    let n = chars.len();
    // Largest multiple of n that fits in 256: bytes at or above it are rejected.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.chars().count() < length {
        f.read_exact(&mut buf)
            .map_err(|e| err(format!("cannot read /dev/urandom: {e}")))?;
        for &b in &buf {
            if (b as usize) < limit && out.chars().count() < length {
                out.push(chars[b as usize % n]);
            }
        }
    }
    Ok(out)
}

/// Parses `path key=value …` into the path and the options.
fn parse_password_term(term: &str) -> (String, Vec<(String, String)>) {
    let mut parts = term.split_whitespace();
    let path = parts.next().unwrap_or_default().to_string();
    let opts = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (path, opts)
}

fn password(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in flat_terms(terms)? {
        let (path, opts) = parse_password_term(&term_str(&t)?);
        if path.is_empty() {
            return Err(err("password: a path is required"));
        }
        let mut length: usize = kwargs.get::<Option<usize>>("length")?.unwrap_or(20);
        let mut chars_spec: Vec<String> = match kwargs.get::<Option<Value>>("chars")? {
            Some(v) => name_list_commas(&v)?,
            None => Vec::new(),
        };
        for (k, v) in &opts {
            match k.as_str() {
                "length" => {
                    length = v
                        .parse()
                        .map_err(|_| err(format!("password: invalid length '{v}'")))?
                }
                "chars" => chars_spec = split_chars(v),
                "encrypt" | "ident" | "seed" | "salt" => {}
                other => return Err(err(format!("password: unknown option '{other}'"))),
            }
        }
        if chars_spec.is_empty() {
            chars_spec = vec!["ascii_letters".into(), "digits".into(), ".,:-_".into()];
        }
        let chars = charset(&chars_spec);
        let opt = |k: &str| opts.iter().find(|(o, _)| o == k).map(|(_, v)| v.clone());
        let kw = |k: &str| -> Result<Option<String>, Error> {
            Ok(kwargs
                .get::<Option<Value>>(k)?
                .filter(|v| !v.is_none())
                .map(|v| v.to_string()))
        };
        let encrypt = opt("encrypt").or(kw("encrypt")?).filter(|e| !e.is_empty());
        let seed = opt("seed").or(kw("seed")?);
        let want_ident = opt("ident").or(kw("ident")?);
        let alg = match &encrypt {
            None => None,
            Some(e) => Some(super::crypt::Alg::from_passlib(e).ok_or_else(|| {
                err(format!(
                    "password: encrypt={e} is not supported by drover (sha512_crypt, sha256_crypt, md5_crypt)"
                ))
            })?),
        };
        let generate = || match &seed {
            Some(_) if chars.is_empty() => Err(err("password: the character set is empty")),
            Some(s) => Ok(seeded_string(length, &chars, s)),
            None => random_string(length, &chars),
        };
        let dev_null = path == "/dev/null";
        let file = {
            let p = PathBuf::from(&path);
            if p.is_absolute() {
                p
            } else {
                base_dir(state).join(p)
            }
        };
        // As Ansible's: the stored `password [salt=S] [ident=I]`, or a new password; with
        // `encrypt`, a salt is made (and stored) when there is none, and the hash returned.
        let stored = if dev_null || !file.exists() {
            None
        } else {
            Some(read_file(&file)?)
        };
        let mut changed = stored.is_none();
        let (plain, mut salt, stored_ident) = match &stored {
            Some(text) => parse_password_content(text.lines().next().unwrap_or_default()),
            None => (generate()?, None, None),
        };
        if let (Some(a), None) = (alg, &salt) {
            salt = Some(super::crypt::random_salt(a.salt_size()));
            changed = true;
        }
        if let (Some(have), Some(want)) = (&stored_ident, &want_ident) {
            if have != want {
                return Err(err(format!(
                    "The ident parameter provided ({want}) does not match the stored one ({have})."
                )));
            }
        }
        let ident = stored_ident.or(want_ident);
        if changed && !dev_null {
            let content = match (&salt, &ident) {
                (Some(s), Some(i)) => format!("{plain} salt={s} ident={i}"),
                (Some(s), None) => format!("{plain} salt={s}"),
                _ => plain.clone(),
            };
            // Missing directories are made private (0700), as Ansible's `makedirs_safe`.
            if let Some(parent) = file.parent() {
                use std::os::unix::fs::DirBuilderExt as _;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| err(format!("cannot create {}: {e}", parent.display())))?;
            }
            if stored.is_some() {
                std::fs::write(&file, format!("{content}\n"))
                    .map_err(|e| err(format!("cannot write {}: {e}", file.display())))?;
            } else if !write_once(&file, &format!("{content}\n"))? {
                // Another host created it at the same time: the first one wins.
                out.push(Value::from(stored_password(&file)?));
                continue;
            }
        }
        match (alg, &salt) {
            (Some(a), Some(s)) => {
                let hashed = super::crypt::hash(a, plain.as_bytes(), s, a.default_rounds())
                    .ok_or_else(|| err("password: could not hash the password"))?;
                out.push(Value::from(hashed));
            }
            _ => out.push(Value::from(plain)),
        }
    }
    Ok(out)
}

/// A stored password file's line: the password, its `salt=` and `ident=`.
fn parse_password_content(line: &str) -> (String, Option<String>, Option<String>) {
    let Some(i) = line.find(" salt=") else {
        return (line.to_string(), None, None);
    };
    let plain = line[..i].to_string();
    let rest = &line[i + " salt=".len()..];
    match rest.split_once(" ident=") {
        Some((salt, ident)) => (plain, Some(salt.to_string()), Some(ident.to_string())),
        None => (plain, Some(rest.to_string()), None),
    }
}

/// `length` characters of `chars` chosen by a generator seeded with `seed`: the same seed
/// gives the same password (Ansible's `seed=`).
fn seeded_string(length: usize, chars: &[char], seed: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(seed.as_bytes());
    let mut x = u64::from_le_bytes(d[..8].try_into().unwrap_or([7; 8])) | 1;
    let mut out = String::with_capacity(length);
    for _ in 0..length {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(chars[(x % chars.len() as u64) as usize]);
    }
    out
}

/// The password in a password file (Ansible stores `password salt=…`: the part before).
fn stored_password(file: &Path) -> Result<String, Error> {
    let text = read_file(file)?;
    let first = text.lines().next().unwrap_or_default();
    Ok(match first.find(" salt=") {
        Some(i) => &first[..i],
        None => first,
    }
    .to_string())
}

/// `chars=ascii_letters,digits`: comma-separated, where `,,` stands for a literal comma.
fn split_chars(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let marker = "\u{0}";
    let replaced = s.replace(",,", marker);
    for part in replaced.split(',') {
        if !part.is_empty() {
            out.push(part.replace(marker, ","));
        }
    }
    out
}

fn name_list_commas(v: &Value) -> Result<Vec<String>, Error> {
    if let Some(s) = v.as_str() {
        return Ok(split_chars(s));
    }
    let mut out = Vec::new();
    for item in v.try_iter()? {
        out.push(term_str(&item)?);
    }
    Ok(out)
}

/// Creates `path` with `content` (mode 0600) atomically unless it exists: written to a
/// temp file, then hard-linked into place. False if the file already existed.
fn write_once(path: &Path, content: &str) -> Result<bool, Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = random_string(12, &charset(&["ascii_letters".into()]))?;
    let tmp = path.with_file_name(format!(".{name}.{}.{nonce}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|e| err(format!("cannot write {}: {e}", tmp.display())));
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(err(format!("cannot create {}: {e}", path.display()))),
    });
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(src: &str, ctx: Value) -> Result<String, Error> {
        let env = crate::template::environment();
        env.render_str(src, ctx)
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        pb: PathBuf,
        role: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let pb = tmp.path().join("pb");
        let role = pb.join("roles/r");
        std::fs::create_dir_all(&role).unwrap();
        Dirs {
            _tmp: tmp,
            pb,
            role,
        }
    }

    fn ctx(d: &Dirs) -> Value {
        context! {
            playbook_dir => d.pb.display().to_string(),
            role_path => d.role.display().to_string(),
            who => "world",
            items => vec!["a", "b"],
        }
    }

    #[test]
    fn lookups_that_act_count_as_changes_and_never_run_ahead() {
        let d = dirs();
        let marker = d.pb.join("ran");
        let src = format!(
            "{{{{ lookup('pipe', 'touch {}; echo hi') }}}}",
            marker.display()
        );
        let before = crate::connection::host_changes();
        assert_eq!(render(&src, ctx(&d)).unwrap(), "hi");
        assert!(crate::connection::host_changes() >= before + 2);
        std::fs::remove_file(&marker).unwrap();
        let ahead = without_lookups(|| render(&src, ctx(&d)));
        assert!(ahead.is_err(), "{ahead:?}");
        assert!(!marker.exists(), "the command ran ahead");
        let ignored = "{{ lookup('env', 'HOME', errors='ignore') }}";
        assert!(without_lookups(|| render(ignored, ctx(&d))).is_err());
        assert!(render(ignored, ctx(&d)).is_ok(), "lookups run again after");
    }

    #[test]
    fn file_prefers_role_files_and_strips_the_final_newline() {
        let d = dirs();
        write(&d.role, "files/a.txt", "role\n");
        write(&d.pb, "files/a.txt", "pb\n");
        write(&d.pb, "files/b.txt", "  pb b  \n\n");
        assert_eq!(
            render("{{ lookup('file', 'a.txt') }}", ctx(&d)).unwrap(),
            "role"
        );
        assert_eq!(
            render("[{{ lookup('file', 'b.txt', lstrip=True) }}]", ctx(&d)).unwrap(),
            "[pb b]"
        );
        assert_eq!(
            render("[{{ lookup('file', 'b.txt', rstrip=False) }}]", ctx(&d)).unwrap(),
            "[  pb b  \n\n]"
        );
        assert_eq!(
            render("{{ lookup('file', 'a.txt', 'b.txt') }}", ctx(&d)).unwrap(),
            "role,  pb b"
        );
        let e = render("{{ lookup('file', 'nope') }}", ctx(&d)).unwrap_err();
        assert!(format!("{e:#}").contains("could not locate file"), "{e:#}");
        assert_eq!(
            render("[{{ lookup('file', 'nope', errors='ignore') }}]", ctx(&d)).unwrap(),
            "[]"
        );
    }

    #[test]
    fn query_returns_lists_and_wantlist_too() {
        let d = dirs();
        write(&d.pb, "files/a.txt", "x");
        assert_eq!(
            render("{{ query('file', 'a.txt') }}", ctx(&d)).unwrap(),
            "['x']"
        );
        assert_eq!(
            render("{{ q('file', 'a.txt') | length }}", ctx(&d)).unwrap(),
            "1"
        );
        assert_eq!(
            render("{{ lookup('file', 'a.txt', wantlist=True) }}", ctx(&d)).unwrap(),
            "['x']"
        );
    }

    #[test]
    fn template_renders_with_current_variables() {
        let d = dirs();
        write(
            &d.role,
            "templates/t.j2",
            "hello {{ who }}{% for i in items %} {{ i }}{% endfor %}!\n",
        );
        assert_eq!(
            render("{{ lookup('template', 't.j2') }}", ctx(&d)).unwrap(),
            "hello world a b!\n"
        );
        assert_eq!(
            render(
                "{% set who = 'local' %}{{ lookup('template', 't.j2') }}",
                ctx(&d)
            )
            .unwrap(),
            "hello local a b!\n"
        );
    }

    #[test]
    fn env_pipe_and_lines() {
        let d = dirs();
        std::env::set_var("DROVER_LOOKUP_TEST_VAR", "val");
        assert_eq!(
            render("{{ lookup('env', 'DROVER_LOOKUP_TEST_VAR') }}", ctx(&d)).unwrap(),
            "val"
        );
        assert_eq!(
            render(
                "{{ lookup('env', 'DROVER_LOOKUP_NO_SUCH_VAR', default='dflt') }}",
                ctx(&d)
            )
            .unwrap(),
            "dflt"
        );
        assert_eq!(
            render("{{ lookup('pipe', 'echo hi; echo there') }}", ctx(&d)).unwrap(),
            "hi\nthere"
        );
        assert!(render("{{ lookup('pipe', 'exit 3') }}", ctx(&d)).is_err());
        assert_eq!(
            render("{{ query('lines', 'printf \"a\\nb\\n\"') }}", ctx(&d)).unwrap(),
            "['a', 'b']"
        );
    }

    #[test]
    fn first_found_and_fileglob() {
        let d = dirs();
        write(&d.pb, "files/two.txt", "2");
        write(&d.pb, "files/conf/a.conf", "a");
        write(&d.pb, "files/conf/b.conf", "b");
        write(&d.pb, "files/conf/c.txt", "c");
        let out = render(
            "{{ lookup('first_found', ['one.txt', 'two.txt']) }}",
            ctx(&d),
        )
        .unwrap();
        assert!(out.ends_with("files/two.txt"), "{out}");
        let out = render(
            "{{ lookup('first_found', {'files': ['x', 'y'], 'skip': True}) }}|",
            ctx(&d),
        )
        .unwrap();
        // No result is an empty list (ansible-core 2.19).
        assert_eq!(out, "[]|");
        assert!(render("{{ lookup('first_found', 'x') }}", ctx(&d)).is_err());
        let out = render(
            "{{ query('fileglob', 'conf/*.conf') | map('basename') | list }}",
            ctx(&d),
        )
        .unwrap();
        assert_eq!(out, "['a.conf', 'b.conf']");
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("*.conf", ".hidden.conf"));
        assert!(!glob_match("a*b", "acbc"));
    }

    #[test]
    fn vars_with_default() {
        let d = dirs();
        assert_eq!(
            render("{{ lookup('vars', 'who') }}", ctx(&d)).unwrap(),
            "world"
        );
        assert_eq!(
            render("{{ lookup('vars', 'nobody', default='d') }}", ctx(&d)).unwrap(),
            "d"
        );
        assert!(render("{{ lookup('vars', 'nobody') }}", ctx(&d)).is_err());
    }

    #[test]
    fn password_is_created_once() {
        let d = dirs();
        let src = "{{ lookup('password', 'creds/x length=12 chars=digits') }}";
        let a = render(src, ctx(&d)).unwrap();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_digit()), "{a}");
        assert_eq!(render(src, ctx(&d)).unwrap(), a);
        let stored = std::fs::read_to_string(d.pb.join("creds/x")).unwrap();
        assert_eq!(stored, format!("{a}\n"));
        // Hosts rendering the same new password file at once all get the same value.
        let src = "{{ lookup('password', 'creds/y') }}";
        let got: Vec<String> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| sc.spawn(|| render(src, ctx(&d)).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|p| p == &got[0] && p.len() == 20), "{got:?}");
        let b = render("{{ lookup('password', '/dev/null') }}", ctx(&d)).unwrap();
        assert_eq!(b.len(), 20);
    }

    #[test]
    fn unknown_lookup_lists_supported_ones() {
        let d = dirs();
        let e = render("{{ lookup('nosuch', 'x') }}", ctx(&d)).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("nosuch") && msg.contains("first_found"),
            "{msg}"
        );
        assert!(crate::template::is_known_global("lookup"));
        assert!(crate::template::is_known_global("query"));
        assert!(crate::template::is_known_global("q"));
    }
}
