//! The template engine: one process-wide minijinja environment with Ansible's filters and
//! tests, strict undefined, Python-style methods, and a compile-once cache so each distinct
//! template string is parsed a single time however many hosts render it. Variable lookup
//! lives in `crate::vars`; filters in `filters.rs`; tests in `jinja_tests.rs`; argument trees
//! in `tree.rs`.

pub mod conditional;
mod crypt;
pub mod file;
pub mod filters;
pub(crate) mod filters_extra;
pub mod filters_more;
mod guards;
pub mod jinja_tests;
pub mod lookups;
mod lookups_lists;
mod markers;
mod methods;
mod path_tests;
mod pyformat;
pub mod tree;

#[cfg(test)]
mod test_cases;
mod unary;

use minijinja::{Environment, Error, ErrorKind, Expression, Template, UndefinedBehavior, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Builds an environment configured the way drover renders templates: strict undefined
/// values, Python string/dict/list methods, Ansible's filters and tests, and Ansible's
/// whitespace defaults (Jinja2 drops one final newline of the source, `restore_newlines`
/// puts back what the result lacks; the newline after a block tag is trimmed).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(false)
        .trim_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_unknown_method_callback(methods::call);
    // As ansible-core's finalize: `{{ none }}` inside text prints nothing.
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        if let Some(e) = first_invalid(value) {
            return Err(e);
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_function("__drover_get", guards::get);
    env.add_filter("__drover_pyformat", pyformat::pyformat);
    env.add_function(
        "__drover_undecryptable",
        |n: usize| -> Result<Value, Error> {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                crate::yaml::undecryptable_message(n),
            ))
        },
    );
    env.add_function("__drover_untrusted", || -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "Encountered untrusted template or expression.",
        ))
    });
    env.add_function("joiner", minijinja_contrib::globals::joiner);
    env.add_function("cycler", minijinja_contrib::globals::cycler);
    env.set_recursion_limit(200);
    markers::builtins(&mut env);
    filters::register(&mut env);
    filters_more::register(&mut env);
    filters_extra::register(&mut env);
    jinja_tests::register(&mut env);
    path_tests::register(&mut env);
    lookups::register(&mut env);
    env
}

/// The error of the first element of a list or mapping (at any depth) that fails where used:
/// a lazily templated element naming an undefined variable, or an undefined value
/// (`{'k': nope}`: Ansible fails such a result where it is finalized).
pub fn first_invalid(v: &Value) -> Option<Error> {
    first_invalid_in(v, false)
}

fn first_invalid_in(v: &Value, nested: bool) -> Option<Error> {
    use minijinja::value::ValueKind;
    let inner = |x: &Value| first_invalid_in(x, true);
    match v.kind() {
        ValueKind::Undefined if nested => {
            Some(Error::new(ErrorKind::UndefinedError, "undefined value"))
        }
        // minijinja keeps the error to itself: its display is `<invalid value: ERROR>`.
        ValueKind::Invalid => {
            let text = v.to_string();
            let inner = text
                .strip_prefix("<invalid value: ")
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or(&text);
            let detail = inner.strip_prefix("undefined value: ").unwrap_or(inner);
            let detail = detail.split(" (in ").next().unwrap_or(detail);
            Some(Error::new(ErrorKind::UndefinedError, detail.to_string()))
        }
        ValueKind::Seq => {
            let items = v.downcast_object_ref::<Vec<Value>>()?;
            items.iter().find_map(inner)
        }
        ValueKind::Map => {
            if let Some(map) = v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>() {
                return map.values().find_map(inner);
            }
            let map = v.downcast_object_ref::<std::collections::BTreeMap<Value, Value>>()?;
            map.values().find_map(inner)
        }
        _ => None,
    }
}

/// The shared environment, configured once.
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(environment)
}

/// A compiled template string. A string that is exactly one `{{ expression }}` renders to the
/// expression's native value (a list stays a list), as ansible-core's native templating does;
/// anything else renders to a string.
pub struct Tmpl {
    source: &'static str,
    kind: TmplKind,
    /// A condition written as a whole template (`when: "{{ x }}"`): a string it gives is an
    /// expression to evaluate in turn, if trusted (see `conditional`).
    whole_template: bool,
}

enum TmplKind {
    /// One `{{ expression }}`, with the newlines that followed it (a string value keeps them,
    /// any other value is native, as in ansible-core: `>` folding leaves one).
    Expr(Expression<'static, 'static>, &'static str),
    Text(Template<'static, 'static>),
    /// A template that does not compile: rendering it fails with this message. Ansible
    /// templates lazily, so a syntax error fails the task that reaches it, not the load.
    Broken(String),
}

impl std::fmt::Debug for Tmpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tmpl({:?})", self.source)
    }
}

/// True if the string contains template syntax and must be rendered.
pub fn is_templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

fn cache() -> &'static RwLock<HashMap<String, Arc<Tmpl>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<Tmpl>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The inner expression if `s` is exactly one `{{ … }}` block (text around it, even a
/// newline, makes it a string template).
pub fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    // Delimiters inside the expression's string literals (`{{ x == "{{" }}`) are text.
    let outside = outside_strings(inner);
    if outside.contains("{{") || outside.contains("}}") || outside.contains("{%") {
        return None;
    }
    Some(inner)
}

/// `expr` with the contents of its string literals blanked out.
fn outside_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                    continue;
                }
                out.push(' ');
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The source with `ansible.builtin.`/`ansible.legacy.` dropped from filter and test names
/// (`x | ansible.builtin.to_json`, `x is ansible.builtin.match(...)`): drover's filters and
/// tests are ansible-core's builtin ones.
fn short_plugin_names(source: &str) -> std::borrow::Cow<'_, str> {
    static FQCN: OnceLock<regex::Regex> = OnceLock::new();
    if !source.contains("ansible.") {
        return std::borrow::Cow::Borrowed(source);
    }
    let re = FQCN.get_or_init(|| {
        regex::Regex::new(r"(\|\s*|\bis\s+(?:not\s+)?)ansible\.(?:builtin|legacy)\.")
            .expect("the FQCN pattern compiles")
    });
    re.replace_all(source, "$1")
}

/// Compiles a template string once; later calls with the same text share the result.
/// Backslashes in string constants inside `{{ }}` are kept as written (`regex_replace('(a)',
/// '\1')` passes a backreference), as ansible-core's lexer keeps them.
pub fn compile(source: &str) -> Result<Arc<Tmpl>, Error> {
    compile_as(source, true)
}

/// Compiles a template file's text (see `file`): never backslash-escaped, and always text
/// (a file that is one `{{ expr }}` still renders to a string).
pub fn compile_file(source: &str) -> Result<Arc<Tmpl>, Error> {
    compile_mode(source, false, true, false)
}

pub(crate) fn compile_as(source: &str, escape: bool) -> Result<Arc<Tmpl>, Error> {
    compile_mode(source, escape, false, false)
}

fn compile_mode(source: &str, escape: bool, file: bool, whole: bool) -> Result<Arc<Tmpl>, Error> {
    let key: std::borrow::Cow<'_, str> = match (escape, file) {
        _ if whole => format!("\u{2}{source}").into(),
        (true, _) => source.into(),
        (false, false) => format!("\u{0}{source}").into(),
        (false, true) => format!("\u{1}{source}").into(),
    };
    if let Ok(map) = cache().read() {
        if let Some(t) = map.get(key.as_ref()) {
            return Ok(t.clone());
        }
    }
    let text = preprocess(source, escape);
    // Leaked on purpose: compiled templates live for the whole run and borrow their source.
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    let kind = match single_expression(leaked).filter(|_| !file) {
        Some(expr) => TmplKind::Expr(env().compile_expression(expr)?, ""),
        None if !file && leaked.ends_with('\n') => {
            let body = leaked.trim_end_matches('\n');
            match single_expression(body) {
                Some(expr) => {
                    TmplKind::Expr(env().compile_expression(expr)?, &leaked[body.len()..])
                }
                None => TmplKind::Text(env().template_from_str(leaked)?),
            }
        }
        None => TmplKind::Text(env().template_from_str(leaked)?),
    };
    let t = Arc::new(Tmpl {
        source: Box::leak(source.to_string().into_boxed_str()),
        kind,
        whole_template: whole,
    });
    if let Ok(mut map) = cache().write() {
        map.insert(key.into_owned(), t.clone());
    }
    Ok(t)
}

/// What drover does to a template's source before compiling it: guarded chains made safe
/// (`guards`), FQCN filter and test names shortened, and (for templates, not conditions)
/// backslashes of expression strings kept.
pub fn preprocess(source: &str, escape: bool) -> String {
    let source = conditional::inline_lookup_templates(source);
    let plain = unary::drop_unary_plus(&source);
    let guarded = guards::rewrite(&plain);
    let formatted = pyformat::rewrite(&guarded);
    let short = short_plugin_names(&formatted);
    if escape {
        escape_backslashes(&short).into_owned()
    } else {
        short.into_owned()
    }
}

/// Doubles every backslash inside the string constants of `{{ }}` expressions (not of `{% %}`
/// statements), so that the engine's unescaping gives back the backslashes as written: what
/// ansible-core's `AnsibleLexer` does for templates (not for conditionals).
pub fn escape_backslashes(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains('\\') || !source.contains("{{") {
        return source.into();
    }
    let b = source.as_bytes();
    let mut out = String::with_capacity(source.len() + 8);
    let mut i = 0;
    let mut in_expr = false;
    let mut last = 0;
    while i < b.len() {
        if !in_expr {
            if b[i..].starts_with(b"{{") {
                in_expr = true;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'}' if b[i..].starts_with(b"}}") => {
                in_expr = false;
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                // A string constant: copy up to here, then its body with backslashes doubled.
                out.push_str(&source[last..=i]);
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        out.push_str("\\\\");
                        if i + 1 < b.len() && b[i + 1] == q {
                            out.push('\\');
                            out.push(q as char);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        continue;
                    }
                    let ch = source[i..].chars().next().unwrap_or('\0');
                    out.push(ch);
                    i += ch.len_utf8();
                }
                // Copying resumes at the closing quote; scanning after it.
                last = i;
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push_str(&source[last..]);
    out.into()
}

/// Compiles a bare expression such as a `when:` condition (its string constants are
/// unescaped as Jinja2 does: ansible-core does not keep their backslashes in conditionals).
pub fn compile_condition(expr: &str) -> Result<Arc<Tmpl>, Error> {
    let trimmed = expr.trim();
    // `'{{ a }} == {{ b }}'`: rendered as a template, as ansible-core does with anything that
    // starts and ends with delimiters; the string it gives is not trusted (meta-templating).
    if single_expression(trimmed).is_none() && trimmed.starts_with("{{") && trimmed.ends_with("}}")
    {
        return compile_mode(trimmed, false, false, true);
    }
    let whole = single_expression(trimmed).is_some();
    compile_mode(&condition_source(expr), false, false, whole)
}

fn condition_source(expr: &str) -> String {
    let trimmed = expr.trim();
    // Ansible allows (and warns about) `when: "{{ x }}"`; treat it as the inner expression.
    match single_expression(trimmed) {
        Some(inner) => format!("{{{{ {inner} }}}}"),
        None => format!("{{{{ {} }}}}", conditional::inline_const_templates(trimmed)),
    }
}

/// `compile`, but a template that does not compile becomes one that fails when rendered
/// (`Tmpl::broken` tells, for a load-time warning): as in Ansible, a syntax error is the
/// error of the task that reaches it.
pub fn compile_lenient(source: &str) -> Arc<Tmpl> {
    compile(source).unwrap_or_else(|e| broken(source, &e))
}

/// `compile_condition`, lenient as `compile_lenient`.
pub fn compile_condition_lenient(expr: &str) -> Arc<Tmpl> {
    compile_condition(expr).unwrap_or_else(|e| broken(expr, &e))
}

fn broken(source: &str, e: &Error) -> Arc<Tmpl> {
    let msg = match e.detail() {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => e.kind().to_string(),
    };
    Arc::new(Tmpl {
        source: Box::leak(source.to_string().into_boxed_str()),
        kind: TmplKind::Broken(msg),
        whole_template: false,
    })
}

impl Tmpl {
    /// Whether this condition was written as a whole template (`"{{ x }}"`).
    pub fn is_whole_template(&self) -> bool {
        self.whole_template
    }

    /// The template text as written.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Renders against a context object: native value for a single expression, else a string.
    pub fn render(&self, ctx: &Value) -> Result<Value, Error> {
        let v = self.render_keep_invalid(ctx)?;
        match first_invalid(&v) {
            Some(e) => Err(e),
            None => Ok(v),
        }
    }

    /// Renders, keeping a container's elements that fail where used (an element naming an
    /// undefined variable): what a lookup that drops such elements (`first_found`) reads.
    pub fn render_keep_invalid(&self, ctx: &Value) -> Result<Value, Error> {
        match &self.kind {
            TmplKind::Expr(e, newlines) => {
                let v = e.eval(ctx)?;
                if !newlines.is_empty() {
                    if let Some(text) = v.as_str() {
                        return Ok(Value::from(format!("{text}{newlines}")));
                    }
                }
                if v.is_undefined() {
                    return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
                }
                // A lazy sequence (`a + b` of two lists, `map(...)`) becomes a list, as in
                // Ansible: modules read lists, and would otherwise see its display string.
                if v.kind() == minijinja::value::ValueKind::Iterable {
                    return Ok(Value::from(v.try_iter()?.collect::<Vec<_>>()));
                }
                Ok(v)
            }
            TmplKind::Text(t) => t
                .render(ctx)
                .map(|out| Value::from(restore_newlines(self.source, out))),
            TmplKind::Broken(msg) => Err(Error::new(
                ErrorKind::SyntaxError,
                format!("template error while templating string: {msg}"),
            )),
        }
    }

    /// Renders to text: a native value (of a `{{ expr }}` template) as its display string.
    pub fn render_text(&self, ctx: &Value) -> Result<String, Error> {
        let v = self.render(ctx)?;
        Ok(v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()))
    }

    /// Why the template does not compile, if it does not.
    pub fn broken(&self) -> Option<&str> {
        match &self.kind {
            TmplKind::Broken(msg) => Some(msg),
            _ => None,
        }
    }

    /// Top-level variable names this template reads that it does not define itself.
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.kind {
            TmplKind::Expr(e, _) => e.undeclared_variables(false).into_iter().collect(),
            TmplKind::Text(t) => t.undeclared_variables(false).into_iter().collect(),
            TmplKind::Broken(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Dotted variable paths (`user.name`) this template reads, for naming what is undefined.
    pub fn variable_paths(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.kind {
            TmplKind::Expr(e, _) => e.undeclared_variables(true).into_iter().collect(),
            TmplKind::Text(t) => t.undeclared_variables(true).into_iter().collect(),
            TmplKind::Broken(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

/// Ansible's rule for the newlines at the end of a rendered template: Jinja2 drops one final
/// newline of the source, then as many newlines are added as the source ends with and the
/// result lacks. `a: {{ y }}\n` gives `a: 1\n`; a last line `{{ x | to_nice_yaml }}\n`
/// (whose output ends with a newline) gives no blank line after it.
pub fn restore_newlines(source: &str, mut rendered: String) -> String {
    let count = |s: &str| s.len() - s.trim_end_matches('\n').len();
    let (want, have) = (count(source), count(&rendered));
    for _ in have..want {
        rendered.push('\n');
    }
    rendered
}

/// Names the environment itself provides (functions, globals), which are never undefined.
pub fn is_known_global(name: &str) -> bool {
    env().globals().any(|(n, _)| n == name)
}

/// Evaluates a condition's truth the way Ansible does (a rendered string "False" is false).
pub fn truthy(v: &Value) -> bool {
    if let Some(s) = v.as_str() {
        let s = s.trim();
        return !(s.is_empty()
            || s.eq_ignore_ascii_case("false")
            || s.eq_ignore_ascii_case("no")
            || s == "0"
            || s.eq_ignore_ascii_case("none"));
    }
    v.is_true()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn single_expressions_stay_native() {
        let t = compile("{{ items }}").unwrap();
        let v = t.render(&context! { items => vec![1, 2] }).unwrap();
        assert_eq!(v.len(), Some(2));
        let t = compile("n={{ n }}").unwrap();
        assert_eq!(
            t.render(&context! { n => 3 }).unwrap().as_str(),
            Some("n=3")
        );
        // A concatenation of lists is a list, not a lazy iterable that displays as text.
        let t = compile("{{ a + b }}").unwrap();
        let v = t
            .render(&context! { a => vec!["x"], b => vec!["y", "z"] })
            .unwrap();
        assert_eq!(v.kind(), minijinja::value::ValueKind::Seq);
        assert_eq!(v.len(), Some(3));
        // Text around the expression, even only a newline, keeps it a string.
        let t = compile("{{ word }}\n").unwrap();
        assert_eq!(
            t.render(&context! { word => "hello" }).unwrap().as_str(),
            Some("hello\n")
        );
    }

    #[test]
    fn compile_is_cached() {
        let a = compile("{{ cached_x }}").unwrap();
        let b = compile("{{ cached_x }}").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn strict_undefined_fails_and_names_are_reported() {
        let t = compile("hello {{ nmae }}").unwrap();
        assert!(t.render(&context! { name => "x" }).is_err());
        assert_eq!(t.variables(), ["nmae"]);
    }

    #[test]
    fn conditions_accept_bare_and_braced() {
        let ctx = context! { a => 1 };
        assert!(truthy(
            &compile_condition("a == 1").unwrap().render(&ctx).unwrap()
        ));
        assert!(!truthy(
            &compile_condition("{{ a == 2 }}")
                .unwrap()
                .render(&ctx)
                .unwrap()
        ));
    }

    #[test]
    fn backslashes_in_expression_strings_are_kept() {
        let ctx = context! { s => "abc-def" };
        let r = |src: &str| compile(src).unwrap().render(&ctx).unwrap().to_string();
        // The regression: `\1` stays a backreference instead of becoming `\x01`.
        assert_eq!(
            r(r#"{{ s | regex_replace("(\w+)-(\w+)", "\2 \1") }}"#),
            "def abc"
        );
        assert_eq!(
            r(r#"x {{ s | regex_replace('(\w+)-(\w+)', '\2 \1') }}"#),
            "x def abc"
        );
        assert_eq!(r(r#"{{ "a\"b" }}"#), "a\\\"b");
        assert_eq!(r(r#"{{ 'c:\new' }}"#), "c:\\new");
        // Text between expressions is untouched, whatever quotes the expressions hold.
        assert_eq!(r(r#"{{ 'a' }} '\n' {{ "b" }}"#), r#"a '\n' b"#);
        // Statements and conditions keep Jinja2's unescaping.
        assert_eq!(r(r#"{% set t = "a\tb" %}{{ t }}"#), "a\tb");
        let c = compile_condition(r#""a\tb" == "a" ~ "\t" ~ "b""#).unwrap();
        assert!(truthy(&c.render(&ctx).unwrap()));
    }

    #[test]
    fn final_newlines_follow_ansible() {
        let ctx = context! { y => 1, x => "k: v\n" };
        let r = |src: &str| compile(src).unwrap().render(&ctx).unwrap().to_string();
        assert_eq!(r("a: {{ y }}\n"), "a: 1\n");
        assert_eq!(r("a: {{ y }}\n\n"), "a: 1\n\n");
        // The regression: a last line whose output already ends with a newline.
        assert_eq!(r("a: 1\n{{ x }}\n"), "a: 1\nk: v\n");
        assert_eq!(r("b: {{ x }}"), "b: k: v\n");
    }

    #[test]
    fn templates_keep_the_final_newline_and_trim_blocks() {
        let t = compile("{% for i in xs %}\n{{ i }}\n{% endfor %}\n").unwrap();
        let out = t.render(&context! { xs => vec![1, 2] }).unwrap();
        assert_eq!(out.as_str(), Some("1\n2\n"));
    }
}
