//! Scenario errors name the file, line and column, in the scenario author's words.

use switchyard_sim::{Action, Arrivals, DeadServer, Scenario, Service, DEFAULT_TIMEOUT};

const BASE: &str = r#"duration = "10s"
algorithms = ["round_robin"]
arrivals = { process = "poisson", rate = 5.0 }
service = { distribution = "constant", mean = "10ms" }

[[server]]
name = "a"
"#;

fn error(text: &str) -> String {
    Scenario::parse_named(text, "s.toml", std::path::Path::new("."))
        .expect_err("invalid scenario")
        .to_string()
}

#[test]
fn a_minimal_scenario_gets_the_documented_defaults() {
    let s = Scenario::parse(BASE).expect("valid");
    assert_eq!(s.seed, 1);
    assert_eq!(s.balancers, 1);
    assert_eq!(s.timeout, Some(DEFAULT_TIMEOUT));
    assert_eq!(s.retries, 0);
    assert_eq!(s.dead_server, DeadServer::Timeout);
    assert_eq!(s.windows, 60);
    assert_eq!(s.arrivals, Arrivals::Poisson { rate: 5.0 });
    assert_eq!(s.service, Service::Constant { mean: 10_000_000 });
    let a = &s.servers[0];
    assert_eq!(
        (a.speed, a.concurrency, a.queue, a.weight),
        (1.0, 1, u32::MAX, 1)
    );
    assert!(s.health.is_none() && s.dns.is_none() && s.direct.is_none());
}

#[test]
fn a_scenario_missing_a_required_part_says_what_every_scenario_needs() {
    let e = error("duration = \"10s\"\n");
    assert!(e.contains("missing field `algorithms`"), "{e}");
    assert!(e.contains("see docs/simulate.md"), "{e}");
}

#[test]
fn unknown_keys_are_errors_with_their_position() {
    let err = error(&format!("{BASE}spede = 2.0\n"));
    assert!(
        err.starts_with("s.toml:8:1: unknown field `spede`"),
        "{err}"
    );
}

#[test]
fn events_must_name_existing_servers_and_exactly_one_action() {
    let err = error(&format!("{BASE}[[event]]\nat = \"1s\"\nkill = \"z\"\n"));
    assert!(
        err.starts_with("s.toml:8:") && err.contains("no server called \"z\""),
        "{err}"
    );
    let err = error(&format!(
        "{BASE}[[event]]\nat = \"1s\"\nkill = \"a\"\nrevive = \"a\"\n"
    ));
    assert!(
        err.contains("exactly one of kill, revive, set_weight, slow"),
        "{err}"
    );
    let ok = Scenario::parse(&format!("{BASE}[[event]]\nat = \"2s\"\nslow = {{ server = \"a\", factor = 2.5 }}\n[[event]]\nat = \"1s\"\nkill = \"a\"\n"))
        .expect("valid");
    assert_eq!(
        ok.events[0].action,
        Action::Kill,
        "events are sorted by time"
    );
    assert_eq!(ok.events[1].action, Action::Slow(2.5));
}

#[test]
fn events_after_the_end_of_the_run_are_errors_not_silently_skipped() {
    // duration is 10s: "30s" here is a typo a user would otherwise never notice
    let err = error(&format!("{BASE}[[event]]\nat = \"30s\"\nkill = \"a\"\n"));
    assert_eq!(
        err,
        "s.toml:8:1: event at 30s is not before the end of the run (duration = \"10s\"): \
         it would never happen"
    );
    let err = error(&format!("{BASE}[[event]]\nat = \"10s\"\nkill = \"a\"\n"));
    assert!(err.contains("event at 10s is not before the end"), "{err}");
    Scenario::parse(&format!("{BASE}[[event]]\nat = \"9.5s\"\nkill = \"a\"\n"))
        .expect("an event before the end is valid");
}

#[test]
fn dns_shares_say_what_is_wrong_and_huge_ones_still_normalise() {
    let dns =
        |shares: &str| format!("{BASE}[dns]\nresolvers = 2\nttl = \"1s\"\nshares = {shares}\n");
    assert_eq!(
        error(&dns("[1.0]")),
        "s.toml:8:1: dns: shares has 1 numbers for 2 resolvers; \
         give one non-negative number per resolver"
    );
    assert_eq!(
        error(&dns("[0.0, 0.0]")),
        "s.toml:8:1: dns: shares are all 0; at least one resolver needs clients"
    );
    assert_eq!(
        error(&dns("[inf, 1.0]")),
        "s.toml:8:1: dns: shares must be finite numbers of 0 or more"
    );
    // their sum overflows to infinity: all clients went to the last resolver
    let s = Scenario::parse(&dns("[1e308, 1e308]")).expect("valid");
    assert_eq!(s.dns.expect("dns").shares, [0.5, 0.5]);
}

#[test]
fn unknown_algorithms_list_the_known_ones() {
    let err = error(&BASE.replace("round_robin", "leastconn"));
    assert!(err.starts_with("s.toml:2:15:"), "{err}");
    assert!(
        err.contains("leastconn") && err.contains("least_connections"),
        "{err}"
    );
}

#[test]
fn durations_need_units_and_references_must_resolve() {
    let err = error(&BASE.replace("\"10s\"", "\"10\""));
    assert!(
        err.starts_with("s.toml:1:12:") && err.contains("no unit"),
        "{err}"
    );
    let err = error(&format!("direct = \"nope\"\n{BASE}"));
    assert!(
        err.starts_with("s.toml:1:10:") && err.contains("no server named \"nope\""),
        "{err}"
    );
    let err = error(&BASE.replace("rate = 5.0", "rate = 0.0"));
    assert!(err.contains("rate must be greater than 0"), "{err}");
    let err = error(&format!("{BASE}[[server]]\nname = \"a\"\n"));
    assert!(err.contains("server \"a\" is defined twice"), "{err}");
    let err = error(&format!(
        "{BASE}[dns]\nresolvers = 2\nttl = \"30s\"\nshares = [1.0]\n"
    ));
    assert!(
        err.contains("one non-negative number per resolver"),
        "{err}"
    );
}

#[test]
fn timeouts_may_be_none_but_not_zero() {
    let s = Scenario::parse(&format!("timeout = \"none\"\n{BASE}")).expect("valid");
    assert_eq!(s.timeout, None);
    let err = error(&format!("timeout = \"0s\"\n{BASE}"));
    assert!(err.contains("timeout must be greater than 0"), "{err}");
}

proptest::proptest! {
    /// The parser never panics, whatever it is given: random text, and valid scenarios
    /// with a random slice replaced by random text.
    #[test]
    fn the_parser_never_panics(
        junk in "\\PC{0,200}",
        start in 0usize..300,
        len in 0usize..40,
        insert in "[ -~\\n]{0,30}",
    ) {
        let _ = Scenario::parse(&junk);
        let mut text = format!("{BASE}[[event]]\nat = \"1s\"\nset_weight = {{ server = \"a\", weight = 3 }}\n");
        let start = start.min(text.len());
        let end = (start + len).min(text.len());
        if text.is_char_boundary(start) && text.is_char_boundary(end) {
            text.replace_range(start..end, &insert);
            let _ = Scenario::parse(&text);
        }
    }
}

#[test]
fn the_documented_example_scenario_parses_and_runs() {
    let doc = include_str!("../../../docs/simulate.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("closed");
    let scenario = Scenario::parse(&doc[start..end]).expect("the example is valid");
    assert_eq!(scenario.servers.len(), 2);
    let report = switchyard_sim::run(&scenario, false).expect("runs");
    assert_eq!(report.runs.len(), 4);
}
