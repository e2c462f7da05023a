//! The dashboard in a real browser: headless Chromium driven through chromedriver's
//! W3C WebDriver HTTP API (spoken directly with reqwest), against the admin server and
//! the in-memory control.
//!
//! Without Chromium or chromedriver the test prints SKIP and passes, unless `CI` is set,
//! where their absence is a failure (`.ci/run` installs Debian's `chromium` and
//! `chromium-driver`).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_admin::ServerStatus;

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const TOKEN: &str = "dash-token";

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&paths).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

// === impl Driver ===

impl Driver {
    async fn start(chromium: PathBuf, chromedriver: PathBuf) -> Driver {
        let port = switchyard_testkit::free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await.ok();
            if let Some(resp) = ready {
                let status: Value = resp.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1440,1100".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let mut driver = Driver {
            child,
            base,
            http,
            session: String::new(),
            _profile: profile,
        };
        let created = driver.raw("POST", "/session", caps).await;
        driver.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        driver
    }

    async fn raw(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.expect("webdriver request");
        let status = resp.status();
        let value: Value = resp.json().await.expect("webdriver JSON");
        assert!(
            status.is_success(),
            "webdriver {method} {path}: {status} {value}"
        );
        value["value"].clone()
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT_KEY].as_str().expect("element id").to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Polls `script` until it returns `true` (bounded).
    async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.script(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.script("return document.body.innerText").await;
                panic!(
                    "timed out waiting for {what}; page shows:\n{}",
                    body.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let data = self.cmd("GET", "/screenshot", Value::Null).await;
        let png = decode_base64(data.as_str().unwrap_or(""));
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &d)| acc | (u32::from(d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len().saturating_sub(1))
        })
        .collect()
}

fn row(server: &str) -> String {
    format!("document.querySelector('tr[data-pool=\"app\"][data-server=\"{server}\"]')")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_live_state_and_drains_a_server_in_a_real_browser() {
    let chromium = find_binary(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find_binary("CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are required when CI is set (apt-get install chromium chromium-driver)"
        );
        println!("SKIP dashboard browser test: chromium or chromedriver not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let served = common::serve(Some(TOKEN)).await;
    let driver = Driver::start(chromium, chromedriver).await;
    driver.goto(&format!("{}/", served.base)).await;

    // Live data: rows for every server, states in colour, shares computed from deltas.
    driver
        .wait_for(
            "the server rows",
            &format!("return {} !== null", row("fast")),
        )
        .await;
    driver
        .wait_for(
            "traffic shares",
            &format!(
                "return /%$/.test({}.querySelector('.pct').textContent)",
                row("fast")
            ),
        )
        .await;
    driver
        .wait_for("dots in the traffic flow", "return Number(document.querySelector('canvas.flow[data-pool=\"app\"]').dataset.particles) > 0")
        .await;
    let fast_state = driver
        .script(&format!(
            "return {}.querySelector('.state').dataset.state",
            row("fast")
        ))
        .await;
    assert_eq!(fast_state, "up");
    let flaky_state = driver
        .script(&format!("return {}.dataset.state", row("flaky")))
        .await;
    assert_eq!(flaky_state, "down");
    let text = driver.script("return document.body.innerText").await;
    let text = text.as_str().unwrap();
    for expected in [
        "web",
        "virginia",
        "203.0.113.10/32",
        "PANIC",
        "connect refused",
    ] {
        assert!(text.contains(expected), "page lacks {expected:?}:\n{text}");
    }
    driver.screenshot("dashboard-live.png").await;

    // Without the token the API refuses the drain, and the page says why.
    driver
        .click("tr[data-pool=\"app\"][data-server=\"fast\"] button[data-action=\"drain\"]")
        .await;
    driver
        .wait_for(
            "the 401 toast",
            "return /token/.test(document.getElementById('toasts').innerText)",
        )
        .await;
    assert_eq!(served.control.server("app", "fast").state, ServerStatus::Up);

    // With the token saved in the page, the drain goes through and shows up.
    driver.type_into("#token", TOKEN).await;
    driver.click("#token-form button").await;
    driver
        .click("tr[data-pool=\"app\"][data-server=\"fast\"] button[data-action=\"drain\"]")
        .await;
    driver
        .wait_for(
            "fast draining in the page",
            &format!(
                "return {}.querySelector('.state').textContent === 'draining'",
                row("fast")
            ),
        )
        .await;
    assert_eq!(
        served.control.server("app", "fast").state,
        ServerStatus::Draining
    );
    // A drained server gets no new traffic: its share falls to zero within the rate window.
    driver
        .wait_for(
            "fast's share at zero",
            &format!(
                "return {}.querySelector('.pct').textContent === '0.00%'",
                row("fast")
            ),
        )
        .await;

    // Weight and algorithm through the page's controls.
    driver
        .type_into(
            "tr[data-pool=\"app\"][data-server=\"slow\"] input[type=number]",
            "42",
        )
        .await;
    driver
        .click("tr[data-pool=\"app\"][data-server=\"slow\"] button[data-action=\"weight\"]")
        .await;
    driver
        .wait_for(
            "slow weight 42",
            &format!("return {}.cells[2].textContent === '42'", row("slow")),
        )
        .await;
    assert_eq!(served.control.server("app", "slow").weight, 42);
    driver
        .click("select[data-pool=\"app\"] option[value=\"maglev\"]")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.control.algorithm("app") != "maglev" {
        assert!(
            Instant::now() < deadline,
            "algorithm selector did not switch the pool"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
        .click("tr[data-pool=\"app\"][data-server=\"fast\"] button[data-action=\"enable\"]")
        .await;
    driver
        .wait_for(
            "fast up again",
            &format!(
                "return {}.querySelector('.state').textContent === 'up'",
                row("fast")
            ),
        )
        .await;
    driver.screenshot("dashboard-after-actions.png").await;

    // Dark theme follows the system setting.
    let light_bg = driver
        .script("return getComputedStyle(document.body).backgroundColor")
        .await;
    let dark = json!({"cmd": "Emulation.setEmulatedMedia",
                      "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}});
    driver.cmd("POST", "/goog/cdp/execute", dark).await;
    let dark_bg = driver
        .script("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(light_bg, "rgb(245, 246, 248)");
    assert_eq!(dark_bg, "rgb(15, 18, 22)");
    driver.screenshot("dashboard-dark.png").await;
    // The page's script ran without errors (the refused 401 call is the only expected
    // console complaint, logged by the browser as a failed resource load).
    let logs = driver
        .cmd("POST", "/se/log", json!({"type": "browser"}))
        .await;
    let severe: Vec<&Value> = logs
        .as_array()
        .expect("browser log entries")
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            !e["message"]
                .as_str()
                .unwrap_or("")
                .contains("status of 401")
        })
        .collect();
    println!(
        "browser log: {} entries",
        logs.as_array().map_or(0, Vec::len)
    );
    assert!(severe.is_empty(), "browser console errors: {severe:?}");
    driver.quit().await;
    served.shutdown.cancel();
}
