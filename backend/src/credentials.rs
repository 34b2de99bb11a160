//! Upload credentials: upload tokens the operator issues (`ft1.<id>.<secret>`) and
//! invitations a token holder hands to someone without one (`fi1.<id>.<secret>`).
//!
//! The `id` is a public handle (it appears in `ferry-server admin` listings); the secret
//! is 32 random bytes of which the server stores only a verifier (the same labelled
//! SHA-256 as download tokens), so a copy of the database issues nothing. A credential is
//! shown once, when it is made.
use std::fmt;

use ferry_common::{
    b64,
    keys::{random_token, verifier, verify_token},
};

/// Random bytes in a credential's public handle.
const ID_BYTES: usize = 9;

/// Which kind of credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An upload token (`ft1.`).
    Token,
    /// An invitation (`fi1.`).
    Invitation,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Token => "ft1",
            Kind::Invitation => "fi1",
        }
    }
}

/// A credential as presented: its kind, public handle and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Token or invitation.
    pub kind: Kind,
    /// The public handle.
    pub id: String,
    secret: [u8; 32],
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({:?} {}, <secret>)", self.kind, self.id)
    }
}

/// Text that is not a credential.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an upload token or invitation (expected ft1.… or fi1.…)")]
pub struct Malformed;

impl Credential {
    /// A new credential of `kind` with a fresh handle and secret.
    pub fn generate(kind: Kind) -> anyhow::Result<Credential> {
        let mut id = [0u8; ID_BYTES];
        getrandom::getrandom(&mut id)?;
        Ok(Credential {
            kind,
            id: b64::encode(&id),
            secret: random_token()?,
        })
    }

    /// Parses `ft1.<id>.<secret>` or `fi1.<id>.<secret>`.
    pub fn parse(text: &str) -> Result<Credential, Malformed> {
        let mut parts = text.trim().split('.');
        let (Some(prefix), Some(id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed);
        };
        let kind = match prefix {
            "ft1" => Kind::Token,
            "fi1" => Kind::Invitation,
            _ => return Err(Malformed),
        };
        let id_ok = b64::decode(id).is_ok_and(|b| b.len() == ID_BYTES);
        let secret: [u8; 32] = b64::decode(secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Malformed)?;
        if !id_ok {
            return Err(Malformed);
        }
        Ok(Credential {
            kind,
            id: id.to_owned(),
            secret,
        })
    }

    /// What the server stores in place of the secret.
    pub fn verifier(&self) -> [u8; 32] {
        verifier(&self.secret)
    }

    /// Whether this credential's secret matches `stored` (in constant time).
    pub fn matches(&self, stored: &[u8]) -> bool {
        verify_token(&self.secret, stored)
    }

    /// The text to hand out, shown once.
    pub fn reveal(&self) -> String {
        format!(
            "{}.{}.{}",
            self.kind.prefix(),
            self.id,
            b64::encode(&self.secret)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_and_forgeries_fail() {
        let token = Credential::generate(Kind::Token).unwrap();
        let text = token.reveal();
        assert!(text.starts_with("ft1."));
        let parsed = Credential::parse(&text).unwrap();
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.verifier()));
        assert!(!format!("{parsed:?}").contains(&text[text.len() - 43..]));
        // Another secret under the same handle does not match.
        let other = Credential::generate(Kind::Token).unwrap();
        let forged = format!("ft1.{}.{}", token.id, &other.reveal()[17..]);
        assert!(
            !Credential::parse(&forged)
                .unwrap()
                .matches(&token.verifier())
        );
        for bad in [
            "",
            "ft1",
            "ft2.AAAAAAAAAAAA.AAAA",
            &text.replacen("ft1", "fx1", 1),
            &format!("{text}.x"),
            &text[..text.len() - 1],
        ] {
            assert_eq!(Credential::parse(bad), Err(Malformed), "{bad}");
        }
        let invitation = Credential::generate(Kind::Invitation).unwrap();
        assert_eq!(
            Credential::parse(&invitation.reveal()).unwrap().kind,
            Kind::Invitation
        );
    }
}
