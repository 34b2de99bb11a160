//! `ferry`: send and receive end-to-end encrypted files through a Ferry server.
//!
//! The envelope (keys, chunks, metadata) is `ferry-common`'s; this crate is argument
//! parsing, terminal UX and the transfer over the server's WebSocket protocol. Modules
//! return typed errors ([`error::Error`]); only `main` deals in `anyhow`.
#![forbid(unsafe_code)]

mod credential;
mod error;
mod fetch;
mod interrupt;
mod invite;
mod keys;
mod lanes;
mod link;
mod names;
mod net;
mod passphrase;
mod pending;
mod private;
mod progress;
mod receive;
mod rerun;
mod save;
mod sealer;
mod selection;
mod send;
mod time;
mod tree;
mod unfinished;
mod writer;

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::error::{EXIT_OK, EXIT_OTHER};

const AFTER_HELP: &str = "\
Passphrase:
  Asked on the terminal without echo (twice when sending), or read from
  --passphrase-file FILE (its first line; '-' reads standard input) or from the
  FERRY_PASSPHRASE environment variable. No option takes the passphrase itself:
  it would end up in shell history and process lists.

Exit codes:
  0    success
  1    other failure (local file error, -o FILE exists without --force, no free
       name: the verified file is kept and the message says where, server refusal)
  2    usage error (bad arguments, malformed or incomplete link, no passphrase source)
  3    wrong passphrase (or a damaged link)
  4    link gone: unknown, expired, or no downloads left
  5    tampered or corrupted data: verification failed, nothing was saved
  6    network or server failure (unreachable, connection broke, server error,
       too many requests from this address: try again later)
  130  interrupted by Ctrl-C (an interrupted upload creates no share)

Several files and folders:
  `ferry send a.pdf b.png photos/` sends them as one share (a folder with
  everything under it, named by its last component; symbolic links are skipped).
  `ferry receive` recreates the tree in -o DIR (made if it does not exist) or
  here, renaming what would replace an existing name; the web app saves a ZIP.

Upload tokens:
  A server started with --upload-access credential takes uploads only with an
  upload token, read from FERRY_TOKEN or from --token-file FILE (never an option
  value, for the same reason as the passphrase), or with an invitation link
  someone made with `ferry invite` (ferry send FILE --invitation LINK; the link
  names the server and works for one file).

Resuming:
  Run the same command again. An interrupted upload (Ctrl-C, a lost connection)
  continues where it stopped; so does an interrupted download (also after the
  process was killed), into its partial file .ferry-XXXXXXXX.part beside the
  target. What that takes is kept, readable only by you, in $FERRY_STATE_DIR
  (else $XDG_STATE_HOME/ferry, else ~/.local/state/ferry) until the transfer
  completes or fails for good.";

/// Send and receive end-to-end encrypted files through a Ferry server.
///
/// Files are encrypted on this machine; the server only ever stores ciphertext. A link
/// made here opens in the web app, and the web app's links work here.
#[derive(Parser)]
#[command(name = "ferry", version, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Also trust the CA certificates in FILE (PEM) for https:// servers, beside the
    /// usual public roots: for a server whose certificate comes from your own CA (a LAN
    /// install).
    #[arg(long, global = true, env = "FERRY_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypt FILE, upload it, and print the share link on standard output.
    #[command(after_help = AFTER_HELP)]
    Send(SendArgs),
    /// Download, verify and decrypt the file behind LINK.
    #[command(after_help = AFTER_HELP)]
    Receive(ReceiveArgs),
    /// Make an invitation link that lets someone without an upload token send you one
    /// file (needs your upload token: FERRY_TOKEN or --token-file).
    Invite(InviteArgs),
}

#[derive(Args)]
struct TokenArgs {
    /// Read the upload token from the first line of FILE (else FERRY_TOKEN). Servers
    /// started with --upload-access credential need one, or an invitation.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Args)]
struct ServerArg {
    /// The Ferry server.
    #[arg(
        long,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
}

#[derive(Args)]
struct InviteArgs {
    #[command(flatten)]
    server: ServerArg,
    /// The largest file it allows, e.g. 500MiB (counted as ciphertext, 16 bytes per
    /// 256 KiB more than the file).
    #[arg(long, value_parser = invite::parse_size, value_name = "SIZE")]
    max_size: u64,
    /// How long it can be used: e.g. 1h, 1d, 7d.
    #[arg(long, default_value = "7d", value_parser = time::parse_duration, value_name = "DURATION")]
    expires: u64,
    #[command(flatten)]
    token: TokenArgs,
}

#[derive(Args)]
struct SendArgs {
    /// The file to send, or several files and folders (sent as one share; the recipient
    /// gets the same tree).
    #[arg(required = true, value_name = "PATH")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    server: ServerArg,
    /// How long the link works: e.g. 5m, 1h, 1d, 7d [default: 1d, or the server's maximum if shorter].
    #[arg(long, value_parser = time::parse_duration, value_name = "DURATION")]
    expires: Option<u64>,
    /// How many complete downloads the link allows.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    downloads: u32,
    /// Make a passphrase-only link, without the random secret after '#'. Weaker: whoever
    /// holds the ciphertext (the server) can then try passphrases offline.
    #[arg(long)]
    no_link_secret: bool,
    /// Send with this invitation link (https://host/#invite=fi1.…) instead of an upload
    /// token; it also names the server.
    #[arg(long, value_name = "LINK", conflicts_with = "token_file")]
    invitation: Option<String>,
    #[command(flatten)]
    token: TokenArgs,
    /// How many connections to send over at once.
    #[arg(long, env = "FERRY_LANES", default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=4))]
    lanes: u8,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

#[derive(Args)]
struct ReceiveArgs {
    /// The share link, `https://host/s/ID#SECRET` (quote it: it contains '#').
    link: String,
    /// Where to save: a directory (the sender's file name is used) or a file path
    /// [default: the sender's file name in the current directory].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Overwrite the file given with -o FILE if it exists. A file under the sender's
    /// name is never overwritten: the download is saved as `name (1).ext` instead.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

#[derive(Args)]
struct PassphraseArgs {
    /// Read the passphrase from the first line of FILE ('-' for standard input).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit with 2 here
    match run(cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            let code = e
                .downcast_ref::<error::Error>()
                .map_or(EXIT_OTHER, error::Error::exit_code);
            eprintln!("ferry: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Only ring is compiled in; installing it explicitly keeps that unambiguous.
    let _ = rustls::crypto::ring::default_provider().install_default();
    net::init_tls(cli.ca_cert.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Send(args) => {
            let (server, credential) = match &args.invitation {
                Some(link) => {
                    let (server, invitation) = credential::invitation(link)?;
                    (server, Some(invitation))
                }
                None => (
                    args.server.server,
                    credential::token(args.token.token_file.as_deref())?,
                ),
            };
            let link = runtime.block_on(send::run(send::SendOptions {
                files: args.files,
                server,
                credential,
                expires: args.expires,
                downloads: args.downloads,
                passphrase_file: args.passphrase.passphrase_file,
                no_link_secret: args.no_link_secret,
                lanes: usize::from(args.lanes),
            }))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{link}")
                .and_then(|()| out.flush())
                .context("cannot write the link to standard output")?;
        }
        Command::Invite(args) => {
            let token = credential::token(args.token.token_file.as_deref())?.ok_or_else(|| {
                error::Error::Usage(
                    "an invitation is made with your upload token: set FERRY_TOKEN or --token-file"
                        .into(),
                )
            })?;
            let link = runtime.block_on(invite::run(
                &args.server.server,
                &token,
                args.max_size,
                args.expires,
            ))?;
            println!("{link}");
        }
        Command::Receive(args) => {
            runtime.block_on(receive::run(receive::ReceiveOptions {
                link: args.link,
                output: args.output,
                force: args.force,
                passphrase_file: args.passphrase.passphrase_file,
            }))?;
        }
    }
    // Don't wait for stray blocking tasks (a prompt, a reader) at exit.
    runtime.shutdown_background();
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
