//! `ferry-server admin …`: operator commands on the server's database and store (the
//! same `--database-url`, `--data-dir` and `--s3-*` settings as the server, flags or
//! environment), safe while servers run. Share IDs are shortened unless asked; tokens and
//! invitations are shown once, when made, and listed by their public handle only.
use std::{fmt::Write as _, time::Duration};

use clap::{Args, Subcommand};

use crate::{
    AppState,
    config::{parse_duration, parse_size},
    credentials::{Credential, Kind},
    ids,
    lifecycle::remove_share,
    store::{GoneReason, InvitationRow, TokenRow},
    upload::human_size,
};

/// An operator command.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Operator commands: storage use, shares, upload tokens and invitations.
    #[command(subcommand)]
    Admin(Admin),
}

/// What `ferry-server admin` does.
#[derive(Subcommand, Debug, Clone)]
pub enum Admin {
    /// Storage held, against --storage-quota, and what the database holds.
    Usage,
    /// Every live share: size, expiry, downloads left, its upload token.
    Shares {
        /// Print whole share IDs (they are link paths: whoever has one and the
        /// passphrase can download).
        #[arg(long)]
        full_ids: bool,
    },
    /// Delete a share (its link then answers "deleted").
    Delete {
        /// The share ID (whole).
        id: String,
    },
    /// Upload tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Invitations (one file each, for someone without a token).
    #[command(subcommand)]
    Invite(InviteCommand),
}

/// `ferry-server admin token …`.
#[derive(Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Make an upload token; it is printed once and stored only as a verifier.
    Create {
        /// Who or what it is for (shown in listings).
        #[arg(long)]
        label: String,
        /// Most ciphertext its shares may hold at once (e.g. 10GiB); none by default.
        #[arg(long, value_parser = parse_size)]
        quota: Option<u64>,
    },
    /// Every token: handle, label, bytes held, quota, revoked.
    List,
    /// Revoke a token (and its unused invitations): no new uploads with it.
    Revoke {
        /// The token's handle (the part after `ft1.`).
        id: String,
    },
}

/// `ferry-server admin invite …`.
#[derive(Subcommand, Debug, Clone)]
pub enum InviteCommand {
    /// Make an invitation for one file; printed once.
    Create(InviteArgs),
    /// Every invitation: handle, size, expiry, used, revoked.
    List,
    /// Revoke an unused invitation.
    Revoke {
        /// The invitation's handle (the part after `fi1.`).
        id: String,
    },
}

/// The terms of a new invitation.
#[derive(Args, Debug, Clone)]
pub struct InviteArgs {
    /// Largest file it allows (ciphertext; e.g. 500MiB).
    #[arg(long, value_parser = parse_size)]
    pub max_size: u64,
    /// How long it can be used.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub expires: Duration,
    /// The upload token whose quota its file counts against (its handle).
    #[arg(long)]
    pub token: Option<String>,
    /// The server's public address, to print a whole invitation link.
    #[arg(long)]
    pub url: Option<String>,
}

/// Runs `admin` on `state`, returning what to print.
pub async fn run(state: &AppState, admin: Admin) -> anyhow::Result<String> {
    match admin {
        Admin::Usage => usage(state).await,
        Admin::Shares { full_ids } => shares(state, full_ids).await,
        Admin::Delete { id } => delete(state, &id).await,
        Admin::Token(cmd) => token(state, cmd).await,
        Admin::Invite(cmd) => invite(state, cmd).await,
    }
}

async fn usage(state: &AppState) -> anyhow::Result<String> {
    let held = state.shares.storage_held().await?;
    let counts = state.shares.counts(state.shares.now_ms()).await?;
    let quota = state
        .config
        .storage_quota
        .map_or("none".to_owned(), human_size);
    Ok(format!(
        "stored:             {} (quota {quota})\nshares:             {}\nunfinished uploads: {}\n\
         downloads running:  {}\ntombstones:         {}\n",
        human_size(held),
        counts.live,
        counts.uploading,
        counts.claimed + counts.held,
        counts.tombstones
    ))
}

async fn shares(state: &AppState, full_ids: bool) -> anyhow::Result<String> {
    let mut out = String::from("ID\tSIZE\tEXPIRES\tDOWNLOADS LEFT\tTOKEN\n");
    for s in state.shares.share_summaries().await? {
        let id = if full_ids {
            s.id.as_str()
        } else {
            ids::short(&s.id)
        };
        writeln!(
            out,
            "{id}\t{}\t{}\t{} of {}\t{}",
            human_size(s.ciphertext_size),
            time(s.expires_at),
            s.downloads_left,
            s.max_downloads,
            s.token_id.as_deref().unwrap_or("-")
        )?;
    }
    Ok(out)
}

async fn delete(state: &AppState, id: &str) -> anyhow::Result<String> {
    anyhow::ensure!(ids::is_share_id(id), "not a share ID (give the whole ID)");
    if remove_share(state, id, GoneReason::Deleted).await? {
        Ok(format!("deleted {}\n", ids::short(id)))
    } else {
        anyhow::bail!("no live share {}", ids::short(id))
    }
}

async fn token(state: &AppState, cmd: TokenCommand) -> anyhow::Result<String> {
    match cmd {
        TokenCommand::Create { label, quota } => {
            let credential = Credential::generate(Kind::Token)?;
            state
                .shares
                .insert_token(&TokenRow {
                    id: credential.id.clone(),
                    label,
                    verifier: credential.verifier().to_vec(),
                    quota_bytes: quota,
                    held_bytes: 0,
                    created_at: state.shares.now_ms(),
                    revoked_at: None,
                })
                .await?;
            Ok(format!("{}\n", credential.reveal()))
        }
        TokenCommand::List => {
            let mut out = String::from("ID\tLABEL\tHELD\tQUOTA\tCREATED\tREVOKED\n");
            for t in state.shares.tokens().await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.label,
                    human_size(t.held_bytes),
                    t.quota_bytes.map_or("none".into(), human_size),
                    time(t.created_at),
                    t.revoked_at.map_or("-".into(), time)
                )?;
            }
            Ok(out)
        }
        TokenCommand::Revoke { id } => match state.shares.revoke_token(&id).await? {
            true => Ok(format!("revoked token {id}\n")),
            false => anyhow::bail!("no unrevoked token {id}"),
        },
    }
}

async fn invite(state: &AppState, cmd: InviteCommand) -> anyhow::Result<String> {
    match cmd {
        InviteCommand::Create(args) => create_invitation(state, args).await,
        InviteCommand::List => {
            let mut out = String::from("ID\tMAX SIZE\tEXPIRES\tUSED\tREVOKED\tTOKEN\n");
            for i in state.shares.invitations().await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    i.id,
                    human_size(i.max_bytes),
                    time(i.expires_at),
                    if i.used { "yes" } else { "no" },
                    i.revoked_at.map_or("-".into(), time),
                    i.token_id.as_deref().unwrap_or("-")
                )?;
            }
            Ok(out)
        }
        InviteCommand::Revoke { id } => match state.shares.revoke_invitation(&id).await? {
            true => Ok(format!("revoked invitation {id}\n")),
            false => anyhow::bail!("no unused, unrevoked invitation {id}"),
        },
    }
}

async fn create_invitation(state: &AppState, args: InviteArgs) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        anyhow::ensure!(
            state.shares.token(token).await?.is_some(),
            "no upload token {token}"
        );
    }
    let credential = Credential::generate(Kind::Invitation)?;
    let now = state.shares.now_ms();
    state
        .shares
        .insert_invitation(&InvitationRow {
            id: credential.id.clone(),
            token_id: args.token,
            verifier: credential.verifier().to_vec(),
            max_bytes: args.max_size,
            created_at: now,
            expires_at: now.saturating_add(args.expires.as_millis() as i64),
            used: false,
            revoked_at: None,
        })
        .await?;
    Ok(match args.url {
        Some(url) => format!(
            "{}/#invite={}\n",
            url.trim_end_matches('/'),
            credential.reveal()
        ),
        None => format!("{}\n", credential.reveal()),
    })
}

/// An instant as `YYYY-MM-DD HH:MM UTC`.
fn time(epoch_ms: i64) -> String {
    ferry_common::utc::format_utc(epoch_ms)
}
