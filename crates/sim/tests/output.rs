//! What `switchyard simulate --out DIR` writes: `results.json` in its documented shape,
//! SVG charts and `index.html`; and runs being a pure function of scenario and seed.

use std::path::Path;

use serde_json::Value;
use switchyard_sim::{run, run_file, Scenario};

const SCENARIO: &str = r#"
seed = 7
duration = "60s"
algorithms = ["round_robin", "least_connections"]
direct = "A"
arrivals = { process = "bursty", rate = 40.0, on = "5s", off = "5s" }
service = { distribution = "lognormal", mean = "80ms", sigma = 1.0 }
health = { interval = "2s", timeout = "1s" }
retries = 1

[[server]]
name = "A"
speed = 2.0
concurrency = 2
queue = 10

[[server]]
name = "B"
concurrency = 2
queue = 10

[[event]]
at = "20s"
slow = { server = "B", factor = 4.0 }

[[event]]
at = "30s"
kill = "A"

[[event]]
at = "40s"
revive = "A"

[[event]]
at = "45s"
set_weight = { server = "B", weight = 3 }
"#;

fn json_text(text: &str) -> String {
    let scenario = Scenario::parse(text).expect("parses");
    run(&scenario, false).expect("runs").to_json()
}

/// The parsed document (`serde_json::Value` sorts keys: order is checked on the text).
fn json_of(text: &str) -> Value {
    serde_json::from_str(&json_text(text)).expect("valid JSON")
}

#[test]
fn results_json_has_the_documented_shape() {
    let text = json_text(SCENARIO);
    let at = |key: &str| {
        text.find(&format!("\"{key}\": {{"))
            .unwrap_or_else(|| panic!("{key}"))
    };
    assert!(
        at("direct") < at("round_robin") && at("round_robin") < at("least_connections"),
        "scenario order"
    );
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let algorithms = doc["algorithms"].as_object().expect("algorithms object");
    assert_eq!(algorithms.len(), 3);
    for (name, run) in algorithms {
        let keys: Vec<&String> = run.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            ["completed", "dropped", "errors", "latency_ms", "share"],
            "{name}"
        );
        for k in ["completed", "dropped", "errors"] {
            assert!(run[k].is_u64(), "{name}.{k}");
        }
        let latency: Vec<&String> = run["latency_ms"]
            .as_object()
            .expect("latency")
            .keys()
            .collect();
        assert_eq!(latency, ["mean", "p50", "p95", "p99"]);
        let share = run["share"].as_object().expect("share");
        assert_eq!(share.keys().collect::<Vec<_>>(), ["A", "B"]);
        let sum: f64 = share.values().map(|v| v.as_f64().expect("fraction")).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{name}: shares sum to {sum}");
        assert!(run["completed"].as_u64().unwrap() > 0);
    }
    assert_eq!(doc["algorithms"]["direct"]["share"]["A"], 1.0);
}

#[test]
fn runs_are_deterministic_for_a_seed() {
    let a = json_of(SCENARIO);
    assert_eq!(a, json_of(SCENARIO));
    let other = json_of(&SCENARIO.replace("seed = 7", "seed = 8"));
    assert_ne!(a["algorithms"], other["algorithms"]);
}

#[test]
fn out_dir_gets_json_charts_and_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let out = dir.path().join("out");
    let report = run_file(&scenario, Some(&out), false).expect("runs");
    assert!(report.table().contains("least_connections"));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for f in [
        "results.json",
        "index.html",
        "share.svg",
        "latency-p99.svg",
        "latency-round_robin.svg",
        "load-direct.svg",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} missing from {files:?}");
    }
    for f in files.iter().filter(|f| f.ends_with(".svg")) {
        let svg = std::fs::read_to_string(out.join(f)).expect("svg");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
                && svg.trim_end().ends_with("</svg>"),
            "{f}"
        );
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "{f} has a non-number"
        );
        assert!(!svg.contains("<script"), "{f}");
    }
    let index = std::fs::read_to_string(out.join("index.html")).expect("index");
    assert!(index.contains("<img src=\"share.svg\""));
}

#[test]
fn trace_arrivals_are_replayed_from_a_file_next_to_the_scenario() {
    let dir = tempfile::tempdir().expect("temp dir");
    let times: String = (0..500).map(|i| format!("{}\n", i as f64 * 0.1)).collect();
    std::fs::write(
        dir.path().join("arrivals.txt"),
        format!("# one time per line\n{times}"),
    )
    .expect("trace");
    let scenario = dir.path().join("s.toml");
    let text = SCENARIO.replace(
        r#"arrivals = { process = "bursty", rate = 40.0, on = "5s", off = "5s" }"#,
        r#"arrivals = { process = "trace", file = "arrivals.txt" }"#,
    );
    // 30 s: the events at 30 s and later would be after the end (an error)
    let (text, _events) = text.split_once("[[event]]\nat = \"30s\"").expect("events");
    std::fs::write(
        &scenario,
        text.replace("duration = \"60s\"", "duration = \"30s\""),
    )
    .expect("write");
    let report = run_file(&scenario, None, false).expect("runs");
    for r in &report.runs {
        // Times 0.0 .. 29.9 s are inside the duration: 300 requests.
        assert_eq!(r.completed + r.dropped + r.errors, 300, "{}", r.name);
    }
}

#[test]
fn a_bad_trace_line_is_reported_with_its_line_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("t.txt"), "0.5\n1.0\nsoon\n").expect("trace");
    let text = SCENARIO.replace(
        r#"arrivals = { process = "bursty", rate = 40.0, on = "5s", off = "5s" }"#,
        r#"arrivals = { process = "trace", file = "t.txt" }"#,
    );
    let scenario = Scenario::parse_named(&text, "s.toml", dir.path()).expect("parses");
    let err = run(&scenario, false).expect_err("bad line").to_string();
    assert!(
        err.ends_with("t.txt:3: \"soon\" is not an arrival time in seconds"),
        "{err}"
    );
    assert!(Path::new(&dir.path().join("t.txt")).exists());
}

#[test]
fn requests_arriving_at_time_zero_find_servers_already_checked() {
    // With health checks, servers start down and the first checks (at time 0) bring them
    // up; arrivals at that same instant come after them.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("t.txt"), "0\n0\n0.5\n").expect("trace");
    let text = r#"duration = "1s"
        algorithms = ["least_connections"]
        arrivals = { process = "trace", file = "t.txt" }
        service = { distribution = "constant", mean = "10ms" }
        health = { interval = "1s", timeout = "100ms" }
        [[server]]
        name = "a""#;
    let scenario = Scenario::parse_named(text, "s.toml", dir.path()).expect("parses");
    let report = run(&scenario, false).expect("runs");
    assert_eq!(report.runs[0].completed, 3);
}

/// Every `<text>` of an SVG: (x, y, font size, anchor, turned, content).
fn texts(svg: &str) -> Vec<(f64, f64, f64, String, bool, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..].split('"').next()?.to_string())
    };
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let (tag, rest) = t.split_once('>').expect("a text tag");
            let num = |n: &str| attr(tag, n).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            (
                num("x"),
                num("y"),
                num("font-size"),
                attr(tag, "text-anchor").unwrap_or_else(|| "start".into()),
                tag.contains("rotate("),
                rest.split("</text>").next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn long_run_names_stay_inside_the_charts_and_apart() {
    // Nine algorithms: the names must not be cut at the SVG's edge (legend) nor run into
    // each other (share bars), as they did at a fixed 800 px with horizontal labels.
    let all = "[\"round_robin\", \"weighted_round_robin\", \"least_connections\", \
               \"weighted_least_connections\", \"random\", \"power_of_two\", \"peak_ewma\", \
               \"ring_hash\", \"maglev\"]";
    let text = SCENARIO.replace("[\"round_robin\", \"least_connections\"]", all);
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, text).expect("write scenario");
    let out = dir.path().join("out");
    run_file(&scenario, Some(&out), false).expect("runs");
    // a sans-serif glyph is about 0.55 em wide on average; 0.6 leaves a margin
    let width_of = |s: &str, size: f64| s.chars().count() as f64 * size * 0.6;
    for f in ["latency-p99.svg", "errors.svg", "share.svg"] {
        let svg = std::fs::read_to_string(out.join(f)).expect("svg");
        let dim = |name: &str| -> f64 {
            let at = svg.find(&format!("{name}=\"")).expect("dimension") + name.len() + 2;
            svg[at..]
                .split('"')
                .next()
                .unwrap()
                .parse()
                .expect("a number")
        };
        let (w, h) = (dim("width"), dim("height"));
        let texts = texts(&svg);
        for (x, y, size, anchor, turned, s) in &texts {
            let tw = width_of(s, *size);
            let right = match anchor.as_str() {
                "middle" => x + tw / 2.0,
                "end" => *x,
                _ if *turned => x + tw * 30f64.to_radians().cos(),
                _ => x + tw,
            };
            assert!(
                right <= w,
                "{f}: {s:?} ends at {right:.0}, the SVG is {w} wide"
            );
            let bottom = if *turned {
                y + tw * 30f64.to_radians().sin()
            } else {
                *y
            };
            assert!(
                bottom <= h,
                "{f}: {s:?} reaches {bottom:.0}, the SVG is {h} high"
            );
        }
        // labels on one line below the plot: (y, left, right, text)
        let mut labels: Vec<(f64, f64, f64, &str)> = texts
            .iter()
            .filter(|t| t.3 == "middle" && t.1 > 320.0 && !t.5.is_empty() && !t.4)
            .map(|t| {
                let half = width_of(&t.5, t.2) / 2.0;
                (t.1, t.0 - half, t.0 + half, t.5.as_str())
            })
            .collect();
        labels.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        for pair in labels.windows(2).filter(|p| p[0].0 == p[1].0) {
            assert!(
                pair[0].2 <= pair[1].1,
                "{f}: labels {:?} and {:?} overlap",
                pair[0].3,
                pair[1].3
            );
        }
    }
}

#[test]
fn an_out_dir_that_is_a_file_is_refused_before_the_run() {
    // it was found only after the whole run, as "FILE/results.json: cannot write: File
    // exists (os error 17)"
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let err = run_file(&scenario, Some(&scenario), false)
        .expect_err("a file is no output directory")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: cannot write: it is a file, not a directory",
            scenario.display()
        )
    );
}
