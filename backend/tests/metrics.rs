//! `/metrics` scraped over HTTP and parsed (a strict parser of the Prometheus text format
//! 0.0.4, below): values move as transfers run, refusals are counted by reason, the token
//! guards the main listener, and neither the metrics nor the logs (text and JSON) carry a
//! share ID, a token, a file name or a client address.
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    path::Path,
    process::{Child, Command},
};

use ferry_backend::config::MetricsToken;
use ferry_common::{
    b64,
    protocol::{
        DOWNLOAD_PATH, DownloadEvent, DownloadRequest, ErrorCode, PROTOCOL_VERSION, UPLOAD_PATH,
    },
};
use support::*;

/// One sample of a scrape.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape, and its text.
struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The value of the series `name{labels}` (exactly those labels), 0 if absent: a
    /// labelled counter appears at its first increment.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let found: Vec<_> = self
            .samples
            .iter()
            .filter(|s| s.name == name && s.labels == want)
            .collect();
        assert!(found.len() <= 1, "series {name}{want:?} twice");
        found.first().map_or(0.0, |s| s.value)
    }

    fn grew(&self, before: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels) - before.value(name, labels)
    }
}

/// Parses the Prometheus text format strictly: every line a `# HELP`, a `# TYPE` (once per
/// family, before its samples) or a sample of a declared family, with well-formed names,
/// quoted and escaped label values and a number.
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix("# ") {
            let (kind, rest) = comment.split_once(' ').ok_or_else(|| fail("comment"))?;
            let (name, value) = rest.split_once(' ').ok_or_else(|| fail("comment"))?;
            if !is_name(name) {
                return Err(fail("metric name"));
            }
            match kind {
                "HELP" => {}
                "TYPE" => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !known.contains(&value) {
                        return Err(fail("type"));
                    }
                    if types.insert(name.to_owned(), value.to_owned()).is_some() {
                        return Err(fail("a second TYPE"));
                    }
                }
                _ => return Err(fail("comment kind")),
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| fail(&why))?;
        let family = family_of(&sample.name, &types).ok_or_else(|| fail("no TYPE"))?;
        if sample.name.ends_with("_bucket")
            && types[family] == "histogram"
            && !sample.labels.contains_key("le")
        {
            return Err(fail("a bucket without le"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The declared family a sample belongs to (histograms add `_bucket`, `_sum`, `_count`).
fn family_of<'a>(name: &str, types: &'a HashMap<String, String>) -> Option<&'a String> {
    if let Some((family, _)) = types.get_key_value(name) {
        return Some(family);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        types
            .get_key_value(base)
            .filter(|(_, t)| *t == "histogram" || *t == "summary")
            .map(|(family, _)| family)
    })
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !is_name(name) {
        return Err("metric name".into());
    }
    let mut rest = &line[end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `k="v",k2="v2"}` → the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, rest) = s.split_once("=\"").ok_or("label")?;
        if !is_name(key) || key.contains(':') {
            return Err(format!("label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let close = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        s = &rest[close + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

async fn scrape_with(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    if let Some(token) = token {
        req = req.header("Authorization", format!("Bearer {token}"));
    }
    req.send().await.expect("GET /metrics")
}

async fn scrape(url: &str, token: Option<&str>) -> Scrape {
    let res = scrape_with(url, token).await;
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = res.text().await.unwrap();
    let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    Scrape { text, samples }
}

fn metrics_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/metrics")
}

fn loopback() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// The ciphertext size the server recorded for `share`.
async fn stored_size(port: u16, share: &Share) -> f64 {
    share_info(port, &share.id).await.unwrap().ciphertext_size as f64
}

const IN_PROGRESS: [(&str, &str); 3] = [
    ("ferry_uploads_in_progress", "ws"),
    ("ferry_downloads_in_progress", "ws"),
    ("ferry_downloads_in_progress", "http"),
];

/// Waits for every transfer gauge and the open sockets to read 0.
async fn idle(url: &str, token: Option<&str>) {
    eventually("the gauges read 0 when idle", async || {
        let s = scrape(url, token).await;
        IN_PROGRESS
            .iter()
            .all(|(name, t)| s.value(name, &[("transport", t)]) == 0.0)
            && s.value("ferry_open_sockets", &[]) == 0.0
    })
    .await;
}

/// A download over HTTP: claim, every chunk but the final, the final, `done`. Returns
/// the claim token (to look for it in logs).
async fn download_over_http(client: &reqwest::Client, port: u16, share: &Share) -> String {
    let api = |tail: &str| format!("http://127.0.0.1:{port}/api/shares/{}{tail}", share.id);
    let start = DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: share.id.clone(),
        token: share.token.to_vec().into(),
        claim_token: None,
        from_chunk: None,
    };
    let res = client
        .post(api("/claims"))
        .json(&start)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let DownloadEvent::Ready {
        chunks,
        claim_token: Some(claim),
        ..
    } = res.json().await.unwrap()
    else {
        panic!("not a fresh ready");
    };
    let claim = b64::encode(&claim.0);
    let froms = if chunks > 1 {
        vec![0, chunks - 1]
    } else {
        vec![0]
    };
    for from in froms {
        let res = client
            .get(api(&format!("/chunks?from={from}")))
            .header("Authorization", format!("Bearer {claim}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    let res = client
        .post(api("/claims/done"))
        .header("Authorization", format!("Bearer {claim}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    claim
}

#[tokio::test]
async fn values_move_as_transfers_run() {
    let server = TestServer::start(|c| {
        c.metrics_listen = loopback();
        c.max_file_size = 1 << 20;
    })
    .await;
    let port = server.port;
    let url = metrics_url(server.metrics_port.expect("a metrics listener"));
    let s0 = scrape(&url, None).await;
    assert_eq!(s0.value("ferry_shares", &[("state", "live")]), 0.0);

    // One upload and one download over the socket.
    let data = random_bytes(300_000);
    let share = upload(port, &data, &UploadOpts::default()).await.unwrap();
    let size = stored_size(port, &share).await;
    let s1 = scrape(&url, None).await;
    assert_eq!(s1.value("ferry_shares", &[("state", "live")]), 1.0);
    assert_eq!(s1.value("ferry_stored_bytes", &[]), size);
    assert_eq!(download(port, &share).await.unwrap().plaintext, data);
    let s2 = scrape(&url, None).await;
    let ws = [("transport", "ws")];
    assert!(s2.grew(&s0, "ferry_upload_received_bytes_total", &ws) >= size);
    assert!(s2.grew(&s1, "ferry_download_sent_bytes_total", &ws) >= size);
    assert_eq!(s2.grew(&s0, "ferry_uploads_committed_total", &[]), 1.0);
    assert_eq!(s2.grew(&s1, "ferry_downloads_counted_total", &[]), 1.0);
    // Used up: the share is a tombstone now.
    assert_eq!(s2.value("ferry_shares", &[("state", "live")]), 0.0);
    assert_eq!(s2.value("ferry_shares", &[("state", "tombstone")]), 1.0);
    assert_eq!(s2.value("ferry_stored_bytes", &[]), 0.0);
    for op in ["put", "get", "delete", "list"] {
        let n = s2.value(
            "ferry_store_operation_duration_seconds_count",
            &[("op", op)],
        );
        assert!(n >= 1.0, "no {op} timed");
    }
    for op in [
        "lookup",
        "begin_upload",
        "record_segment",
        "commit_upload",
        "claim",
    ] {
        let n = s2.value("ferry_db_operation_duration_seconds_count", &[("op", op)]);
        assert!(n >= 1.0, "no {op} timed");
    }

    // A download over HTTP.
    let opts = UploadOpts {
        max_downloads: 2,
        ..UploadOpts::default()
    };
    let share = upload(port, &data, &opts).await.unwrap();
    let size = stored_size(port, &share).await;
    let s3 = scrape(&url, None).await;
    download_over_http(&reqwest::Client::new(), port, &share).await;
    let s4 = scrape(&url, None).await;
    let http = [("transport", "http")];
    assert!(s4.grew(&s3, "ferry_download_sent_bytes_total", &http) >= size);
    assert_eq!(s4.grew(&s3, "ferry_downloads_counted_total", &[]), 1.0);
    assert_eq!(s4.value("ferry_shares", &[("state", "live")]), 1.0);

    // Refusals, each counted once under its wire spelling: a wrong download token over the
    // socket and over HTTP, a file over the limit, an unknown share.
    let wrong = download_with(port, &share, [7; 32], None)
        .await
        .err()
        .unwrap();
    assert_eq!(wrong.code, ErrorCode::WrongToken);
    let start = DownloadRequest::Start {
        version: PROTOCOL_VERSION,
        share_id: share.id.clone(),
        token: [8u8; 32].to_vec().into(),
        claim_token: None,
        from_chunk: None,
    };
    let res = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/api/shares/{}/claims",
            share.id
        ))
        .json(&start)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let big = upload(port, &random_bytes(2 << 20), &UploadOpts::default()).await;
    assert_eq!(big.err().unwrap().code, ErrorCode::TooLarge);
    let unknown = reqwest::get(server.http("/api/shares/AAAAAAAAAAAAAAAAAAAAAA"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let s5 = scrape(&url, None).await;
    let refusals = |reason| s5.grew(&s4, "ferry_refusals_total", &[("reason", reason)]);
    assert_eq!(refusals("wrong-token"), 2.0);
    assert_eq!(refusals("too-large"), 1.0);
    assert_eq!(refusals("not-found"), 1.0);

    // Without a token, `/metrics` on the main listener is the web app's 404.
    let main = reqwest::get(server.http("/metrics")).await.unwrap();
    assert_eq!(main.status(), 404);

    // An upload past `ready` and a download past its claim are in progress while their
    // sockets are open, and no longer once they close.
    let prep = prepare(&data, &UploadOpts::default());
    let mut up = connect(port, UPLOAD_PATH).await;
    start_upload(&mut up, &prep.start).await.unwrap();
    let mut down = connect(port, DOWNLOAD_PATH).await;
    let ready = start_by_hand(&mut down, &share).await;
    assert!(matches!(ready, DownloadEvent::Ready { .. }), "{ready:?}");
    let busy = scrape(&url, None).await;
    assert_eq!(busy.value("ferry_uploads_in_progress", &ws), 1.0);
    assert_eq!(busy.value("ferry_downloads_in_progress", &ws), 1.0);
    assert_eq!(busy.value("ferry_open_sockets", &[]), 2.0);
    assert_eq!(busy.value("ferry_shares", &[("state", "uploading")]), 1.0);
    assert_eq!(
        busy.value("ferry_download_claims", &[("state", "claimed")]),
        1.0
    );
    drop((up, down));
    idle(&url, None).await;
}

#[tokio::test]
async fn the_token_guards_metrics_on_the_main_listener() {
    const TOKEN: &str = "a-long-metrics-token-for-tests";
    let server = TestServer::start(|c| c.metrics_token = Some(MetricsToken::new(TOKEN))).await;
    let url = server.http("/metrics");
    assert_eq!(scrape_with(&url, None).await.status(), 401);
    let wrong = scrape_with(&url, Some("a-long-metrics-token-for-tesTS")).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(scrape_with(&url, Some("")).await.status(), 401);
    let before = scrape(&url, Some(TOKEN)).await;
    upload(server.port, &random_bytes(1000), &UploadOpts::default())
        .await
        .unwrap();
    let after = scrape(&url, Some(TOKEN)).await;
    assert_eq!(
        after.grew(&before, "ferry_uploads_committed_total", &[]),
        1.0
    );
    // No listener of its own unless asked for.
    assert_eq!(server.metrics_port, None);
}

/// Every label a scrape may carry, and the values each may take: the server's own
/// closed sets, never anything a client sent.
fn check_labels(scrape: &Scrape) {
    for s in &scrape.samples {
        for (key, value) in &s.labels {
            let fine = match key.as_str() {
                "transport" => ["ws", "http"].contains(&value.as_str()),
                "op" => value.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "state" => {
                    ["live", "uploading", "tombstone", "claimed", "held"].contains(&value.as_str())
                }
                "reason" => serde_json::from_value::<ErrorCode>(value.clone().into())
                    .is_ok_and(|c| c != ErrorCode::Unknown),
                "le" => value.parse::<f64>().is_ok() || value == "+Inf",
                _ => false,
            };
            assert!(fine, "label {key}={value:?} on {}", s.name);
        }
    }
}

/// The real binary with `--metrics-listen` and `--log-format format`, its standard output
/// and error in files under `logs`; returns it, its port and the metrics port.
fn spawn_server(data: &Path, logs: &Path, format: &str) -> (Child, u16, u16) {
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, metrics_port) = (free(), free());
    let file = |name: &str| std::fs::File::create(logs.join(name)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(["--log-format", format])
        .arg("--data-dir")
        .arg(data)
        .envs(blob_env(data))
        .env("RUST_LOG", "info")
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .expect("ferry-server starts");
    (child, port, metrics_port)
}

/// Runs every kind of transfer and refusal against the binary with logs in `format`;
/// returns the secrets that went by, the scrape and the logs.
async fn exercise(format: &str) -> (Vec<String>, Scrape, String, String) {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (mut child, port, metrics_port) = spawn_server(data.path(), logs.path(), format);
    let url = metrics_url(metrics_port);
    eventually("the metrics answer", async || {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // Another client address than the server's own.
    let client_ip = IpAddr::from([127, 0, 0, 2]);
    let client = reqwest::Client::builder()
        .local_address(client_ip)
        .build()
        .unwrap();
    let name = "quarterly-secret-plans.pdf";
    let opts = UploadOpts {
        name: name.into(),
        max_downloads: 3,
        ..UploadOpts::default()
    };
    let file = random_bytes(200_000);
    let share = upload(port, &file, &opts).await.unwrap();
    download(port, &share).await.unwrap();
    let claim = download_over_http(&client, port, &share).await;
    owner_status(port, &share).await;
    // A wrong token from the other address, and an upload left unfinished.
    let mut ws = connect_from(port, DOWNLOAD_PATH, client_ip).await;
    let wrong = [9u8; 32];
    send_json(
        &mut ws,
        &DownloadRequest::Start {
            version: PROTOCOL_VERSION,
            share_id: share.id.clone(),
            token: wrong.to_vec().into(),
            claim_token: None,
            from_chunk: None,
        },
    )
    .await;
    let (body, _, _) = expect_download_error(&mut ws).await;
    assert_eq!(body.code, ErrorCode::WrongToken);
    let prep = prepare(&file, &opts);
    let mut ws = connect_from(port, UPLOAD_PATH, client_ip).await;
    let ready = start_upload(&mut ws, &prep.start).await.unwrap();
    drop(ws);
    let scraped = scrape(&url, None).await;
    assert_eq!(
        scraped.value("ferry_shares", &[("state", "uploading")]),
        1.0
    );
    assert!(scraped.value("ferry_refusals_total", &[("reason", "wrong-token")]) >= 1.0);
    child.kill().unwrap();
    child.wait().unwrap();
    let read = |f: &str| std::fs::read_to_string(logs.path().join(f)).unwrap();
    let (stdout, stderr) = (read("stdout"), read("stderr"));
    assert!(stdout.contains("upload committed"), "{stdout}");
    let mut secrets = vec![
        share.id.clone(),
        ready.id.clone(),
        name.to_owned(),
        client_ip.to_string(),
        claim,
    ];
    let tokens = [
        share.token.to_vec(),
        share.owner_token.clone(),
        ready.upload_token.clone().unwrap(),
        ready.owner_token.clone().unwrap(),
        prep.token.to_vec(),
        wrong.to_vec(),
    ];
    for token in tokens {
        secrets.push(b64::encode(&token));
        secrets.push(token.iter().map(|b| format!("{b:02x}")).collect());
    }
    (secrets, scraped, stdout, stderr)
}

fn assert_no_secret(secrets: &[String], what: &str, text: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} shows {secret:?}:\n{text}"
        );
    }
}

#[tokio::test]
async fn text_logs_and_metrics_leak_nothing() {
    let (secrets, scraped, stdout, stderr) = exercise("text").await;
    check_labels(&scraped);
    assert_no_secret(&secrets, "the metrics", &scraped.text);
    assert_no_secret(&secrets, "the log", &stdout);
    assert_no_secret(&secrets, "standard error", &stderr);
}

#[tokio::test]
async fn json_logs_are_objects_and_leak_nothing() {
    let (secrets, scraped, stdout, stderr) = exercise("json").await;
    check_labels(&scraped);
    assert_no_secret(&secrets, "the metrics", &scraped.text);
    assert_no_secret(&secrets, "the log", &stdout);
    assert_no_secret(&secrets, "standard error", &stderr);
    let mut lines = 0;
    for line in stdout.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let level = value["level"].as_str();
        assert!(
            level.is_some_and(|l| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&l)),
            "{line}"
        );
        assert!(value["fields"]["message"].is_string(), "{line}");
        lines += 1;
    }
    assert!(lines >= 10, "only {lines} log lines");
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\"} 1\n";
    let samples = parse(good).unwrap();
    assert_eq!(samples[0].labels["x"], "q\"");
    for bad in [
        "a_total 1\n",                              // no TYPE
        "# TYPE a counter\na{x=\"1} 1\n",           // unterminated value
        "# TYPE a counter\na 1 2 3\n",              // not a number
        "# TYPE a counter\n# TYPE a counter\n",     // a second TYPE
        "# TYPE h histogram\nh_bucket 1\n",         // a bucket without le
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n", // a label twice
        "# TYPE a counter\n\n",                     // an empty line
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test]
async fn a_short_token_is_refused_without_being_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ferry_backend::Config::for_tests(dir.path().to_path_buf());
    config.metrics_token = Some(MetricsToken::new("  short-secret  "));
    let err = ferry_backend::Application::build(config)
        .await
        .err()
        .unwrap();
    let shown = format!("{err:#}");
    assert!(shown.contains("at least 16 characters"), "{shown}");
    assert!(!shown.contains("short-secret"), "{shown}");
}
