use super::*;

/// The unit from a probe written as `show` lines, `@is-enabled`, its answer and `@rc N`.
fn parse_probe(text: &str) -> UnitStatus {
    let (show, rest) = text.split_once("@is-enabled\n").unwrap_or((text, ""));
    let (answer, rc) = rest.split_once("@rc ").unwrap_or((rest, ""));
    unit_status(show, answer, rc.trim().parse().ok())
}

fn unit(active: &str, file_state: &str, is_enabled: &str, rc: i32) -> UnitStatus {
    let text = format!(
        "Id=x.service\nLoadState={}\nActiveState={active}\nSubState=dead\nUnitFileState={file_state}\n@is-enabled\n{is_enabled}\n@rc {rc}\n",
        if file_state == "masked" { "masked" } else { "loaded" }
    );
    parse_probe(&text)
}

fn want(state: Option<&str>, enabled: Option<bool>, masked: Option<bool>) -> Want {
    Want {
        state: state.map(str::to_string),
        enabled,
        masked,
    }
}

#[test]
fn parses_show_and_is_enabled() {
    let st = parse_probe("Id=a.service\nDescription=x=y\n@is-enabled\nenabled\n@rc 0\n");
    assert_eq!(st.props["Description"], "x=y");
    assert_eq!(st.is_enabled, "enabled");
    assert_eq!(st.is_enabled_rc, 0);
    assert!(st.enabled());
}

#[test]
fn decisions_table() {
    let stopped_disabled = unit("inactive", "disabled", "disabled", 1);
    let running_enabled = unit("active", "enabled", "enabled", 0);
    let masked = unit("inactive", "masked", "masked", 1);
    let deactivating = unit("deactivating", "enabled", "enabled", 0);
    let static_unit = unit("active", "static", "static", 0);
    let indirect_unit = unit("active", "indirect", "indirect", 0);
    let table: Vec<(&UnitStatus, Want, Vec<&str>)> = vec![
        (
            &stopped_disabled,
            want(Some("started"), None, None),
            vec!["start"],
        ),
        (
            &running_enabled,
            want(Some("started"), Some(true), None),
            vec![],
        ),
        (
            &stopped_disabled,
            want(Some("started"), Some(true), None),
            vec!["enable", "start"],
        ),
        (
            &running_enabled,
            want(Some("stopped"), Some(false), None),
            vec!["disable", "stop"],
        ),
        (&stopped_disabled, want(Some("stopped"), None, None), vec![]),
        (
            &running_enabled,
            want(Some("restarted"), None, None),
            vec!["restart"],
        ),
        (
            &stopped_disabled,
            want(Some("restarted"), None, None),
            vec!["start"],
        ),
        (
            &running_enabled,
            want(Some("reloaded"), None, None),
            vec!["reload"],
        ),
        (
            &stopped_disabled,
            want(Some("reloaded"), None, None),
            vec!["start"],
        ),
        (&masked, want(None, None, Some(true)), vec![]),
        (
            &masked,
            want(Some("started"), None, Some(false)),
            vec!["unmask", "start"],
        ),
        (
            &stopped_disabled,
            want(None, None, Some(true)),
            vec!["mask"],
        ),
        (
            &deactivating,
            want(Some("stopped"), None, None),
            vec!["stop"],
        ),
        (&static_unit, want(None, Some(true), None), vec![]),
        (&indirect_unit, want(None, Some(true), None), vec!["enable"]),
    ];
    for (st, w, expect) in table {
        assert_eq!(decide("x", st, &w).unwrap(), expect, "{st:?} {w:?}");
    }
}

#[test]
fn missing_units_fail() {
    let st = parse_probe(
        "Id=nope.service\nLoadState=not-found\nActiveState=inactive\n@is-enabled\n@rc 1\n",
    );
    let err = decide("nope", &st, &want(Some("started"), None, None))
        .unwrap_err()
        .msg;
    assert!(
        err.contains("Could not find the requested service nope"),
        "{err}"
    );
    assert!(decide("nope", &st, &want(None, Some(true), None)).is_err());
    assert_eq!(
        decide("nope", &st, &want(None, None, None)).unwrap(),
        Vec::<&str>::new()
    );
}
