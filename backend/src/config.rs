//! Server configuration: command-line flags with matching environment variables.
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::Parser;

use ferry_common::protocol::UploadAccess;

pub use crate::metrics::serve::MetricsToken;
use crate::{
    blobs::{BlobBackend, S3Credentials, S3Settings},
    origin::Origin,
    rate::Rate,
};

/// Largest chunk size (plaintext bytes per chunk) the server accepts in a header: 4 MiB.
/// Every WebSocket binary frame holds one sealed chunk, so this bounds frame sizes.
pub const SERVER_MAX_CHUNK_SIZE: u32 = 4 * 1024 * 1024;
/// Largest sealed metadata block accepted in an upload's `start` message.
pub const MAX_METADATA_LEN: usize = ferry_common::metadata::MAX_SEALED_LEN;

/// Everything the server needs to run. Build it from flags with [`Cli`] or by hand
/// (tests use [`Config::for_tests`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (port 0 picks a free one; see `Application::port`).
    pub listen: SocketAddr,
    /// Directory for blobs and the SQLite database; created if missing.
    pub data_dir: PathBuf,
    /// Where the blobs go: under `data_dir` (the default) or in an S3 bucket.
    pub blobs: BlobBackend,
    /// Metadata database URL; `None` means SQLite at `<data_dir>/ferry.db`.
    pub database_url: Option<String>,
    /// Largest plaintext file accepted, in bytes.
    pub max_file_size: u64,
    /// Longest expiry accepted, in seconds.
    pub max_expiry_secs: u64,
    /// Largest download limit accepted.
    pub max_downloads: u32,
    /// The built web app (Trunk's `dist/`); `None` or a missing directory serves a
    /// placeholder page.
    pub static_dir: Option<PathBuf>,
    /// PEM certificate chain; with `tls_key` the server speaks HTTPS/WSS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a download's claim lasts without progress before another recipient may
    /// take that download.
    pub lease: Duration,
    /// How often expired shares are swept.
    pub sweep_interval: Duration,
    /// An unfinished upload with no segment stored for this long is abandoned: swept with
    /// everything it stored, and no longer resumable.
    pub abandon_uploads_after: Duration,
    /// Wrong download tokens a share survives before it is deleted.
    pub max_attempts: u32,
    /// A WebSocket that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// After its close frame, how long the server waits for the client's before closing
    /// the TCP connection anyway (it closes at once when the client's arrives).
    pub close_grace: Duration,
    /// HTTP worker threads (`None`: actix-web's default, one per core).
    pub workers: Option<usize>,
    /// Disk space held back on the data directory's filesystem: uploads never take the
    /// last `reserve_space` bytes, and as much again sits in a ballast file that is given
    /// up so that deletions go through on a full disk.
    pub reserve_space: u64,
    /// Web origins besides the server's own whose pages may open the WebSockets (the
    /// public `https://` address behind a reverse proxy, a LAN name over plain http).
    pub allowed_origins: Vec<Origin>,
    /// Most WebSockets open at once from one client address (an IPv6 client: its /64).
    pub max_sockets_per_ip: usize,
    /// Most WebSockets open at once in total; `None` derives it from the open-file limit
    /// ([`crate::descriptors::default_max_sockets`]).
    pub max_sockets: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the per-address cap).
    pub trusted_proxies: Vec<IpAddr>,
    /// Who may upload: anyone, or only with an upload token or an invitation.
    pub upload_access: UploadAccess,
    /// Most ciphertext bytes the server holds at once (live shares and unfinished
    /// uploads); `None`: only the disk's free space limits it.
    pub storage_quota: Option<u64>,
    /// Per client address: new uploads started.
    pub rate_upload_starts: Rate,
    /// Per client address: downloads started (not resumed).
    pub rate_download_starts: Rate,
    /// Per client address: wrong passphrases, over every share.
    pub rate_wrong_passphrases: Rate,
    // -- observability (docs/DEPLOYMENT.md, "Metrics and logs") -- //
    /// Serve `/metrics` on a listener of its own at this address (no authentication).
    pub metrics_listen: Option<SocketAddr>,
    /// Serve `/metrics` on the main listener to requests bearing this token.
    pub metrics_token: Option<MetricsToken>,
}

impl Config {
    /// A configuration for integration tests: loopback, a free port, default limits,
    /// everything stored under `data_dir`.
    pub fn for_tests(data_dir: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            blobs: BlobBackend::Local,
            database_url: None,
            max_file_size: 10 << 30,
            max_expiry_secs: 7 * 86_400,
            max_downloads: 100,
            static_dir: None,
            tls_cert: None,
            tls_key: None,
            lease: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60),
            abandon_uploads_after: Duration::from_secs(24 * 3600),
            max_attempts: 10,
            idle_timeout: Duration::from_secs(120),
            close_grace: Duration::from_secs(1),
            workers: Some(2),
            reserve_space: 1 << 20,
            allowed_origins: Vec::new(),
            // Generous: the suite opens many sockets at once from 127.0.0.1; the caps
            // have their own tests.
            max_sockets_per_ip: 64,
            max_sockets: Some(256),
            trusted_proxies: Vec::new(),
            upload_access: UploadAccess::Open,
            storage_quota: None,
            // Off: the suites start many transfers from 127.0.0.1; the limits have their
            // own tests.
            rate_upload_starts: Rate::OFF,
            rate_download_starts: Rate::OFF,
            rate_wrong_passphrases: Rate::OFF,
            metrics_listen: None,
            metrics_token: None,
        }
    }

    /// The database URL actually used.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ferry.db").display()
            ),
        }
    }
}

/// `ferry-server`: stores end-to-end encrypted files under one-time links.
///
/// The server only ever sees ciphertext, the public header and verifiers; every flag
/// also reads the environment variable named beside it.
#[derive(Parser, Debug)]
#[command(name = "ferry-server", version, about, long_about = None)]
pub struct Cli {
    /// Address and port to listen on.
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory holding the blobs and the SQLite database (created if missing).
    #[arg(long, global = true, env = "FERRY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Metadata database (sqlite://… or postgres://…); default: SQLite in the data directory.
    #[arg(long, global = true, env = "FERRY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest file accepted, in bytes or with a unit (500MiB, 10GiB, 2GB).
    #[arg(long, env = "FERRY_MAX_FILE_SIZE", default_value = "10GiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Longest expiry a sender may choose, in seconds or with a unit (90m, 24h, 7d).
    #[arg(long, env = "FERRY_MAX_EXPIRY", default_value = "7d", value_parser = parse_duration)]
    pub max_expiry: Duration,
    /// Largest download limit a sender may choose.
    #[arg(long, env = "FERRY_MAX_DOWNLOADS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_downloads: u32,
    /// The built web app to serve at `/` (Trunk's dist directory).
    #[arg(long, env = "FERRY_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS and WSS directly (needs --tls-key).
    #[arg(long, env = "FERRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "FERRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a stalled or cut-off download keeps its claim before someone else may
    /// take that download (seconds or with a unit).
    #[arg(long, env = "FERRY_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub lease: Duration,
    /// How often expired shares are deleted.
    #[arg(long, env = "FERRY_SWEEP_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub sweep_interval: Duration,
    /// An unfinished upload that stores nothing for this long is deleted and can no longer
    /// be resumed (seconds or with a unit).
    #[arg(long, env = "FERRY_ABANDON_UPLOADS_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub abandon_uploads_after: Duration,
    /// Wrong passphrase tries a share survives before it is deleted.
    #[arg(long, env = "FERRY_MAX_ATTEMPTS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,
    /// Close a WebSocket after this long without a message from the client.
    #[arg(long, env = "FERRY_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// After sending a WebSocket close frame, wait at most this long for the client's
    /// before closing the connection (it closes as soon as the client's arrives).
    #[arg(long, env = "FERRY_CLOSE_GRACE", default_value = "1s", value_parser = parse_duration)]
    pub close_grace: Duration,
    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "FERRY_WORKERS")]
    pub workers: Option<usize>,
    /// Disk space uploads leave free for the database, and as much again kept in a
    /// ballast file (`<data-dir>/reserve`) that is released to let deletions through on a
    /// full disk (bytes or with a unit; 0 turns both off).
    #[arg(long, env = "FERRY_RESERVE_SPACE", default_value = "64MiB", value_parser = parse_size)]
    pub reserve_space: u64,
    /// A web origin (https://host[:port]) besides the server's own whose pages may start
    /// transfers; needed behind a reverse proxy and for a host name over plain http.
    /// Repeatable; the environment variable takes a comma-separated list.
    #[arg(
        long = "allowed-origin",
        env = "FERRY_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Vec<Origin>,
    /// Most WebSockets open at once from one client address (IPv6: per /64); more are
    /// refused with `too-many-connections` (close code 1013).
    #[arg(long, env = "FERRY_MAX_SOCKETS_PER_IP", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_sockets_per_ip: u32,
    /// Most WebSockets open at once in total (default: what the open-file limit allows,
    /// two descriptors per socket beside 128 reserved, at most 4096).
    #[arg(long, env = "FERRY_MAX_SOCKETS",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_sockets: Option<u32>,
    /// Reverse proxies (IP addresses, comma-separated) whose last `X-Forwarded-For` entry
    /// names the client for the per-address cap.
    #[arg(
        long,
        env = "FERRY_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.1,::1"
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Keep the blobs in this S3 bucket (it must exist) instead of the data directory.
    /// Credentials come only from the environment: FERRY_S3_ACCESS_KEY_ID and
    /// FERRY_S3_SECRET_ACCESS_KEY (or the standard AWS_* variables).
    #[arg(long, global = true, env = "FERRY_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// The S3-compatible service's URL (default: AWS, by --s3-region).
    #[arg(
        long,
        global = true,
        env = "FERRY_S3_ENDPOINT",
        value_name = "URL",
        requires = "s3_bucket"
    )]
    pub s3_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(
        long,
        global = true,
        env = "FERRY_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,
    /// A prefix for every key, so that the bucket can hold other things too.
    #[arg(long, global = true, env = "FERRY_S3_PREFIX", default_value = "")]
    pub s3_prefix: String,
    /// Allow a plain http:// endpoint (loopback or a private network only: requests and
    /// ciphertext travel unencrypted).
    #[arg(long, global = true, env = "FERRY_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// Address the bucket as bucket.host (virtual-hosted style) instead of host/bucket.
    #[arg(long, global = true, env = "FERRY_S3_VIRTUAL_HOSTED")]
    pub s3_virtual_hosted: bool,
    /// Who may upload: `open` (anyone who reaches the server) or `credential` (only with
    /// an upload token from `ferry-server admin token create`, or an invitation).
    #[arg(long, env = "FERRY_UPLOAD_ACCESS", default_value = "open", value_parser = parse_access)]
    pub upload_access: UploadAccess,
    /// Most ciphertext the server holds at once (live shares and unfinished uploads);
    /// an upload that would pass it is refused at its start.
    #[arg(long, global = true, env = "FERRY_STORAGE_QUOTA", value_parser = parse_size)]
    pub storage_quota: Option<u64>,
    /// Per client address (IPv6: per /64): new uploads, as N/s, N/min, N/h or off; a
    /// burst of N, refilled evenly.
    #[arg(long, env = "FERRY_RATE_UPLOAD_STARTS", default_value = "60/min")]
    pub rate_upload_starts: Rate,
    /// Per client address: downloads started (resuming one is not a start).
    #[arg(long, env = "FERRY_RATE_DOWNLOAD_STARTS", default_value = "300/min")]
    pub rate_download_starts: Rate,
    /// Per client address: wrong passphrases, over every share (each share also allows
    /// only --max-attempts).
    #[arg(long, env = "FERRY_RATE_WRONG_PASSPHRASES", default_value = "30/h")]
    pub rate_wrong_passphrases: Rate,
    // -- observability (docs/DEPLOYMENT.md, "Metrics and logs") -- //
    /// Serve Prometheus metrics at GET /metrics on this address, without authentication
    /// (keep it on loopback or a private network).
    #[arg(long, env = "FERRY_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve GET /metrics on the main listener to requests with
    /// `Authorization: Bearer <token>` (at least 16 characters; prefer the environment
    /// variable: a flag's value shows in the process list).
    #[arg(
        long,
        env = "FERRY_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<MetricsToken>,
    /// Log lines as text or as one JSON object per line.
    #[arg(long, env = "FERRY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Operator commands on the database and store instead of serving.
    #[command(subcommand)]
    pub command: Option<crate::admin::Command>,
}

fn parse_access(text: &str) -> Result<UploadAccess, String> {
    match text.trim() {
        "open" => Ok(UploadAccess::Open),
        "credential" => Ok(UploadAccess::Credential),
        _ => Err(format!("expected open or credential, not {text:?}")),
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, ...).
    Json,
}

impl Cli {
    /// The blob store these flags choose (credentials read from the environment).
    fn blobs(&self) -> BlobBackend {
        let Some(bucket) = &self.s3_bucket else {
            return BlobBackend::Local;
        };
        BlobBackend::S3(S3Settings {
            endpoint: self.s3_endpoint.clone(),
            bucket: bucket.clone(),
            region: self.s3_region.clone(),
            prefix: self.s3_prefix.clone(),
            allow_http: self.s3_allow_http,
            virtual_hosted: self.s3_virtual_hosted,
            credentials: S3Credentials::from_env(),
        })
    }

    /// The [`Config`] these flags describe.
    pub fn into_config(self) -> Config {
        Config {
            blobs: self.blobs(),
            listen: self.listen,
            data_dir: self.data_dir,
            database_url: self.database_url,
            max_file_size: self.max_file_size,
            max_expiry_secs: self.max_expiry.as_secs().max(1),
            max_downloads: self.max_downloads,
            static_dir: self.static_dir,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            lease: self.lease,
            sweep_interval: self.sweep_interval,
            abandon_uploads_after: self.abandon_uploads_after,
            max_attempts: self.max_attempts,
            idle_timeout: self.idle_timeout,
            close_grace: self.close_grace,
            workers: self.workers,
            reserve_space: self.reserve_space,
            allowed_origins: self.allowed_origins,
            max_sockets_per_ip: self.max_sockets_per_ip as usize,
            max_sockets: self.max_sockets.map(|n| n as usize),
            trusted_proxies: self.trusted_proxies,
            upload_access: self.upload_access,
            storage_quota: self.storage_quota,
            rate_upload_starts: self.rate_upload_starts,
            rate_download_starts: self.rate_download_starts,
            rate_wrong_passphrases: self.rate_wrong_passphrases,
            metrics_listen: self.metrics_listen,
            metrics_token: self.metrics_token,
        }
    }
}

pub use ferry_common::units::parse_size;

/// Parses `90` (seconds), `500ms`, `90s`, `15m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let num: u64 = num
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    let secs = |m: u64| {
        num.checked_mul(m)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration too long: {text:?}"))
    };
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(num)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        other => Err(format!("unknown duration unit {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("1x").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("1w").is_err());
    }

    #[test]
    fn defaults_match_the_issue() {
        let c = Cli::parse_from(["ferry-server"]).into_config();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.max_file_size, 10 << 30);
        assert_eq!(c.max_expiry_secs, 604_800);
        assert_eq!(c.max_downloads, 100);
        assert_eq!(c.max_attempts, 10);
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.reserve_space, 64 << 20);
        assert_eq!(c.max_sockets_per_ip, 16);
        assert_eq!(c.max_sockets, None);
        assert_eq!(c.blobs, BlobBackend::Local);
        assert_eq!(
            c.trusted_proxies,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            ]
        );
    }

    #[test]
    fn a_bucket_chooses_s3() {
        let c = Cli::parse_from([
            "ferry-server",
            "--s3-bucket",
            "ferry-blobs",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-allow-http",
            "--s3-prefix=a/",
        ])
        .into_config();
        let BlobBackend::S3(s3) = c.blobs else {
            panic!("not S3: {:?}", c.blobs);
        };
        assert_eq!(s3.bucket, "ferry-blobs");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.prefix, "a/");
        assert!(s3.allow_http && !s3.virtual_hosted);
        // An endpoint without a bucket is a mistake, not a silent local store.
        assert!(
            Cli::try_parse_from(["ferry-server", "--s3-endpoint", "http://127.0.0.1:9000"])
                .is_err()
        );
    }

    #[test]
    fn metrics_flags_keep_the_token_out_of_debug() {
        let defaults = Cli::parse_from(["ferry-server"]);
        assert_eq!(defaults.log_format, LogFormat::Text);
        let defaults = defaults.into_config();
        assert_eq!(
            (defaults.metrics_listen, defaults.metrics_token),
            (None, None)
        );
        let cli = Cli::parse_from([
            "ferry-server",
            "--metrics-listen",
            "127.0.0.1:9464",
            "--metrics-token=0123456789-very-secret",
            "--log-format",
            "json",
        ]);
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(!format!("{cli:?}").contains("secret"));
        let c = cli.into_config();
        assert_eq!(
            c.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert_eq!(
            c.metrics_token,
            Some(MetricsToken::new("0123456789-very-secret"))
        );
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn allowed_origins_repeat_or_come_comma_separated() {
        let c = Cli::parse_from([
            "ferry-server",
            "--allowed-origin",
            "https://ferry.example.org",
            "--allowed-origin=http://nas.lan:8080",
        ])
        .into_config();
        let shown: Vec<String> = c.allowed_origins.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["https://ferry.example.org", "http://nas.lan:8080"]);
        assert!(
            Cli::try_parse_from(["ferry-server", "--allowed-origin", "ferry.example.org"]).is_err()
        );
    }
}
