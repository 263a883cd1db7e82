//! A real browser: Debian's Chromium driven through ChromeDriver with the W3C WebDriver JSON
//! protocol. The simulated org's web tab (on `http://localhost:<sim>`) frames Outpost (on
//! `http://127.0.0.1:<outpost>`), a different site, exactly as Salesforce frames a web tab.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::salesforce_sim::SessionKind;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The narrowest width a web tab must work at.
const PHONE_WIDTH: u32 = 360;

/// ChromeDriver as a child process, in its own process group so Chromium goes with it.
struct ChromeDriver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    fn spawn() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).is_file(),
                "{binary} is missing: the browser test needs Debian's chromium and chromium-driver \
                 (infra/test.sh installs them: apt-get install chromium chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|err| panic!("{CHROMEDRIVER} does not start: {err}"))
        };
        Self { child, url: format!("http://127.0.0.1:{port}"), profile: tempfile::tempdir().unwrap() }
    }

    /// Ends ChromeDriver and everything in its process group (Chromium and its helpers).
    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One WebDriver session.
#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    session: String,
    /// Where downloads land.
    downloads: std::path::PathBuf,
}

impl Browser {
    async fn open(driver: &ChromeDriver) -> Self {
        salesforce_sim::install_tls_provider();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{}/status", driver.url)).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "ChromeDriver did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", driver.profile.path().display()),
        ];
        let downloads = driver.profile.path().join("downloads");
        let prefs = json!({"download.default_directory": downloads, "download.prompt_for_download": false});
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args, "prefs": prefs},
        }}});
        let created: Value = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
        Self { http, session: format!("{}/session/{session}", driver.url), downloads }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|err| panic!("WebDriver {path}: {err}"));
        let status = response.status();
        let reply: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path} failed: {reply}");
        reply["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// The first finished download, once there is one.
    async fn downloaded(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let finished = std::fs::read_dir(&self.downloads)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|ext| ext == "csv"));
            if let Some(path) = finished {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                return (name, std::fs::read_to_string(&path).unwrap());
            }
            assert!(Instant::now() < deadline, "nothing was downloaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css})).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    async fn switch_to_frame(&self, css: &str) {
        let frame = self.element(css).await;
        self.post("/frame", json!({ "id": { ELEMENT: frame } })).await;
    }

    /// Back from a frame to the document that holds it.
    async fn parent_frame(&self) {
        self.post("/frame/parent", json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        self.post(&format!("/element/{input}/clear"), json!({})).await;
        self.post(&format!("/element/{input}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/click"), json!({})).await;
    }

    /// Polls a script until it returns `expected` (the page loads and navigates on its own time).
    async fn wait_until(&self, script: &str, expected: Value) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.script(script).await;
            if value == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{script} is {value}, not {expected}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn heading(&self) -> String {
        self.script("const h = document.querySelector('h1'); return h ? h.textContent : null;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// Runs `journey` in a fresh browser; the browser and ChromeDriver end even when it fails.
async fn with_browser<F, Fut>(journey: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut driver = ChromeDriver::spawn();
    let browser = Browser::open(&driver).await;
    let outcome = tokio::spawn(journey(browser.clone())).await;
    browser.quit().await;
    driver.kill();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

const INSIDE_FRAME: &str = "return window.self !== window.top;";
const PATH: &str = "return location.pathname;";

#[tokio::test]
async fn a_web_tab_framing_outpost_cross_site_reaches_the_app() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let tab = stack.sim(acme).tab_url(ada.user_id.as_str(), None, SessionKind::Api);
    let outpost = url::Url::parse(&stack.stack.base_url).unwrap();
    let salesforce = url::Url::parse(&tab).unwrap();
    assert_ne!(outpost.host_str(), salesforce.host_str(), "the tab frames Outpost from another site");

    with_browser(async move |browser: Browser| {
        browser.navigate(&tab).await;
        let tab_host = format!("{}:{}", salesforce.host_str().unwrap(), salesforce.port().unwrap());
        assert_eq!(browser.script("return location.host;").await, json!(tab_host));
        browser.switch_to_frame("#outpost-frame").await;
        assert_eq!(browser.script(INSIDE_FRAME).await, json!(true));
        browser.wait_until(PATH, json!("/app")).await;
        assert_eq!(browser.heading().await, "Hello, Ada Lovelace");
        let href = browser.script("return location.href;").await;
        assert!(!href.as_str().unwrap().contains("sid="), "the frame's address holds no session id: {href}");
        assert_eq!(browser.script("return location.origin;").await, json!(outpost.origin().ascii_serialization()));
        let text = browser.script("return document.body.innerText;").await;
        assert!(text.as_str().unwrap().contains("Acme Sim"), "{text}");
        let cookies = browser.script("return document.cookie;").await;
        assert!(!cookies.as_str().unwrap().contains("__Host-outpost_session"), "HttpOnly: scripts never see it");
        drop(stack);
    })
    .await;
}

#[tokio::test]
async fn a_new_user_onboards_inside_the_web_tab_at_phone_width() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let grace = stack.user(acme, UserKind::New);
    let tab = stack.sim(acme).tab_url(grace.user_id.as_str(), None, SessionKind::Api);
    let (org, user) = (acme.registration.org_id, grace.user_id);

    with_browser(async move |browser: Browser| {
        // Headless Chromium clamps `--window-size` to 500 px; WebDriver's window rect is exact.
        browser.post("/window/rect", json!({"width": PHONE_WIDTH, "height": 780})).await;
        browser.navigate(&tab).await;
        assert_eq!(browser.script("return window.innerWidth;").await, json!(PHONE_WIDTH), "a 360 px window");
        browser.switch_to_frame("#outpost-frame").await;
        browser.wait_until(PATH, json!("/onboarding")).await;
        assert_eq!(browser.heading().await, "Welcome to Outpost");
        // Nothing is wider than the frame: no sideways scrolling, every control fully visible.
        let fits = "const w = document.documentElement.clientWidth; \
            return document.documentElement.scrollWidth <= w && \
            [...document.querySelectorAll('input:not([type=hidden]), button, label')] \
              .every(e => { const r = e.getBoundingClientRect(); return r.left >= 0 && r.right <= w; });";
        assert_eq!(browser.script(fits).await, json!(true), "the form fits the frame at {PHONE_WIDTH} px");
        let frame_width = browser.script("return document.documentElement.clientWidth;").await;
        assert!(frame_width.as_u64().unwrap() < u64::from(PHONE_WIDTH), "the frame is narrower than the window");

        // Without consent the form comes back with the error and the typed name kept.
        browser.type_into("#display_name", "Grace H.").await;
        browser.click("button[type=submit]").await;
        browser.wait_until("return !!document.querySelector('#consent_error');", json!(true)).await;
        assert_eq!(browser.script("return document.querySelector('#display_name').value;").await, json!("Grace H."));
        assert_eq!(browser.script(fits).await, json!(true), "the errors fit too");

        browser.type_into("#reply_to", "grace@example.com").await;
        browser.click("#consent").await;
        browser.click("button[type=submit]").await;
        browser.wait_until(PATH, json!("/app")).await;
        assert_eq!(browser.heading().await, "Hello, Grace H.");
        let mapping = stack.stack.services.store.get_user(&org, &user).await.unwrap().expect("onboarded");
        assert_eq!((mapping.display_name.as_str(), mapping.reply_to.as_str()), ("Grace H.", "grace@example.com"));
        drop(stack);
    })
    .await;
}

#[tokio::test]
async fn the_list_builder_counts_as_the_marketer_types_inside_the_web_tab() {
    let stack = crate::lists::synced(outpost_tests::StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let tab = stack.sim(acme).tab_url(ada.user_id.as_str(), None, SessionKind::Api);
    let api = crate::lists::Api::new(&stack, acme, ada);
    let everyone = api.preview(&json!({"objects": ["Contact", "Lead"]})).await["count"].clone();
    let germany =
        json!({"objects": ["Contact", "Lead"], "conditions": [{"field": "Country", "op": "eq", "value": "Germany"}]});
    let germans = api.preview(&germany).await["count"].clone();
    assert_ne!(everyone, germans, "the condition changes the count");
    let count = "return document.querySelector('#count').textContent;";

    with_browser(async move |browser: Browser| {
        browser.navigate(&tab).await;
        browser.switch_to_frame("#outpost-frame").await;
        browser.wait_until(PATH, json!("/app")).await;
        browser.click("a[href='/app/lists/new']").await;
        browser.wait_until(PATH, json!("/app/lists/new")).await;
        // The script counts on load, and again as the form changes: no button pressed.
        browser.wait_until(count, json!(everyone.to_string())).await;
        browser
            .script(
                "const field = document.querySelector('#c0_field'); field.value = 'CreatedDate'; \
                 field.dispatchEvent(new Event('change', {bubbles: true}));",
            )
            .await;
        let hidden = "return document.querySelector('#c0_op option[value=starts_with]').hidden;";
        assert_eq!(browser.script(hidden).await, json!(true), "a date offers no text comparisons");
        browser
            .script(
                "const field = document.querySelector('#c0_field'); field.value = 'Country'; \
                 field.dispatchEvent(new Event('change', {bubbles: true}));",
            )
            .await;
        assert_eq!(browser.script(hidden).await, json!(false), "text does");
        browser.type_into("#c0_value", "Germany").await;
        browser.wait_until(count, json!(germans.to_string())).await;
        let sample_rows = "return document.querySelectorAll('#sample tr').length;";
        let rows = browser.script(sample_rows).await.as_u64().unwrap();
        assert_eq!(rows, germans.as_u64().unwrap().min(20), "a sample of the members");

        browser.type_into("#name", "Germany").await;
        browser.click("button[value=save]").await;
        browser.wait_until("return location.pathname.split('/').length;", json!(4)).await;
        assert_eq!(browser.heading().await, "Germany");
        assert_eq!(browser.script(count).await, json!(germans.to_string()));

        browser.click("a[href$='/members']").await;
        browser.wait_until("return location.pathname.endsWith('/members');", json!(true)).await;
        let members = browser.script("return document.querySelectorAll('tbody tr').length;").await;
        assert_eq!(members, json!(germans.as_u64().unwrap().min(50)), "the first page of members");
        // The export, downloaded from inside the frame.
        browser.script("history.back();").await;
        browser.wait_until("return location.pathname.split('/').length;", json!(4)).await;
        browser.click("a[href$='/export']").await;
        let (name, csv) = browser.downloaded().await;
        assert!(name.starts_with("outpost-germany-"), "{name}");
        assert!(csv.starts_with("Id,Object,FirstName,LastName,Email"), "{csv}");
        assert_eq!(csv.lines().count() as u64, germans.as_u64().unwrap() + 1, "a header and a row per member");
        drop(stack);
    })
    .await;
}

#[tokio::test]
async fn a_campaign_is_previewed_and_sent_from_its_page_inside_the_web_tab() {
    let stack = crate::lists::synced(outpost_tests::StoreKind::Embedded).await;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let tab = stack.sim(acme).tab_url(ada.user_id.as_str(), None, SessionKind::Api);
    let api = crate::lists::Api::new(&stack, acme, ada);
    let list = api.create(&json!({"name": "Everyone", "objects": ["Contact", "Lead"], "conditions": []})).await;
    let members = list["count"].as_u64().unwrap();
    let created = api
        .post(
            "/api/v1/campaigns",
            &json!({
                "list_id": list["id"],
                "subject": "Spring news for {{FirstName|you}}",
                "from": "news@acme.example",
                "html": "<html><body><p>Hello {{FirstName|there}},</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p></body></html>",
                "text": "Hello {{FirstName|there}},\n\nUnsubscribe: {{unsubscribe_url}}\n",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let page = format!("/app/campaigns/{id}");
    let status = "const s = document.querySelector('#status'); return s ? s.dataset.status : null;";

    with_browser(async move |browser: Browser| {
        browser.navigate(&tab).await;
        browser.switch_to_frame("#outpost-frame").await;
        browser.wait_until(PATH, json!("/app")).await;
        browser.click("a[href='/app/campaigns']").await;
        browser.wait_until(PATH, json!("/app/campaigns")).await;
        browser.click(&format!("a[href='{page}']")).await;
        browser.wait_until(PATH, json!(page)).await;
        assert_eq!(browser.script(status).await, json!("draft"));

        // The preview's HTML is rendered in its sandboxed frame (an opaque origin: the page
        // cannot reach into it), greeting the member the subject was rendered for.
        let subject = browser.script("return document.querySelector('#preview-subject').textContent;").await;
        let first = subject.as_str().unwrap().trim_start_matches("Spring news for ").to_owned();
        let greeting = if first == "you" { "Hello there,".to_owned() } else { format!("Hello {first},") };
        let sealed = "return document.querySelector('#preview-html').contentDocument === null;";
        assert_eq!(browser.script(sealed).await, json!(true), "the preview is sandboxed");
        browser.switch_to_frame("#preview-html").await;
        let body = browser.script("return document.body ? document.body.innerText : '';").await;
        let body = body.as_str().unwrap();
        assert!(body.contains(&greeting), "the member's name is merged: {body}");
        assert!(body.contains("1 Market Street"), "the postal address ends it: {body}");
        // The message's own styles apply, as in a mail client: the footer is grey (#666).
        let footer = "return getComputedStyle(document.body.lastElementChild).color;";
        assert_eq!(browser.script(footer).await, json!("rgb(102, 102, 102)"), "the email's inline styles apply");
        browser.parent_frame().await;

        browser.click("#send-button").await;
        browser.wait_until("return location.search;", json!("?done=sent")).await;
        let notice = browser.script("return document.querySelector('#notice').textContent;").await;
        assert!(notice.as_str().unwrap().starts_with("Sending started"), "{notice}");
        let api = crate::lists::Api::new(&stack, stack.acme(), stack.user(stack.acme(), UserKind::Known));
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.get(&format!("/api/v1/campaigns/{id}")).await.json()["status"] != "sent" {
            assert!(Instant::now() < deadline, "the campaign was not sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        browser.script("location.reload();").await;
        browser.wait_until(status, json!("sent")).await;
        let sent = browser.script("return document.querySelector('#count-sent').textContent;").await;
        assert_eq!(sent, json!(members.to_string()), "every member was sent to");
        drop(stack);
    })
    .await;
}
