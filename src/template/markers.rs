//! Undefined values through filters, as ansible-core 2.19's undefined markers: a filter given
//! an undefined value (as its input or as any argument) does not run and returns that
//! undefined value, which fails only where it is finally used. So
//! `nope | upper | default('x')` is `x`, `(nope | int) is undefined` holds, and
//! `nope | map('upper')` still fails when printed, naming `nope`.
//!
//! Filters meant to receive undefined values (`default`/`d`, `mandatory`, `ternary`,
//! `type_debug`) are registered with `Environment::add_filter` directly; every other filter
//! goes through [`add`]. [`builtins`] re-registers minijinja's own filters that way.

use minijinja::functions::Function;
use minijinja::value::{FunctionArgs, FunctionResult, Rest, Value, ValueOrKwargs};
use minijinja::{Environment, Error, State};

/// Registers filter `f` as `name`, short-circuiting on undefined arguments.
pub fn add<F, Rv, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: Function<Rv, Args>,
    Rv: FunctionResult,
    Args: for<'a> FunctionArgs<'a>,
{
    let inner = Value::from_function(f);
    env.add_filter(
        name,
        move |state: &mut State, args: Rest<ValueOrKwargs>| -> Result<Value, Error> {
            let args: Vec<Value> = args.0.into_iter().map(Value::from).collect();
            match args.iter().find(|a| is_marker(a)) {
                Some(_) => Ok(Value::UNDEFINED),
                None => inner.call(state, &args),
            }
        },
    );
}

/// Whether an argument is undefined (a keyword argument's value included).
fn is_marker(v: &Value) -> bool {
    if v.is_undefined() {
        return true;
    }
    if !v.is_kwargs() {
        return false;
    }
    v.try_iter()
        .is_ok_and(|mut keys| keys.any(|k| v.get_item(&k).is_ok_and(|x| x.is_undefined())))
}

/// minijinja's builtin filters that drover keeps, registered through [`add`] (drover's own
/// replacements are registered after these and win).
pub fn builtins(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    add(env, "lower", f::lower);
    add(env, "upper", f::upper);
    add(env, "title", f::title);
    add(env, "capitalize", f::capitalize);
    add(env, "length", f::length);
    add(env, "count", f::length);
    add(env, "dictsort", f::dictsort);
    add(env, "items", f::items);
    add(env, "reverse", f::reverse);
    add(env, "trim", f::trim);
    add(env, "join", f::join);
    add(env, "split", f::split);
    add(env, "lines", f::lines);
    add(env, "round", f::round);
    add(env, "abs", f::abs);
    add(env, "attr", f::attr);
    add(env, "first", f::first);
    add(env, "last", f::last);
    add(env, "min", f::min);
    add(env, "max", f::max);
    add(env, "sort", f::sort);
    add(env, "list", f::list);
    add(env, "string", f::string);
    add(env, "batch", f::batch);
    add(env, "slice", f::slice);
    add(env, "sum", f::sum);
    add(env, "indent", f::indent);
    add(env, "select", f::select);
    add(env, "reject", f::reject);
    add(env, "selectattr", f::selectattr);
    add(env, "rejectattr", f::rejectattr);
    add(env, "map", f::map);
    add(env, "groupby", f::groupby);
    add(env, "chain", f::chain);
    add(env, "zip", f::zip);
    add(env, "pprint", f::pprint);
    add(env, "format", f::format);
    add(env, "tojson", f::tojson);
}

#[cfg(test)]
mod tests {
    use crate::template::env;
    use minijinja::context;

    fn eval(expr: &str) -> Result<String, String> {
        env()
            .compile_expression(expr)
            .and_then(|e| e.eval(context! { x => "a" }))
            .map(|v| v.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_undefined_input_or_argument_passes_through() {
        assert_eq!(eval("nope | upper | default('d')").unwrap(), "d");
        assert_eq!(eval("(nope | int) is undefined").unwrap(), "True");
        assert_eq!(eval("x | replace(nope, 'b') is undefined").unwrap(), "True");
        assert_eq!(eval("x | regex_replace('a', nope) | d('k')").unwrap(), "k");
        assert_eq!(eval("nope | map('upper') | list | d([])").unwrap(), "[]");
        assert_eq!(eval("x | upper").unwrap(), "A");
        // Filters that take undefined values still see them.
        assert_eq!(eval("true | ternary(1, nope)").unwrap(), "1");
    }
}
