//! Where the passphrase comes from: `--passphrase-file`, `FERRY_PASSPHRASE`, or a
//! no-echo prompt on the terminal. Never a command-line argument (shell history, `ps`).
use std::{io::Read, path::Path};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The environment variable scripts set to pass the passphrase.
pub const ENV_VAR: &str = "FERRY_PASSPHRASE";

/// Whether a prompt asks once or twice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Ask once (receiving).
    Once,
    /// Ask twice and require both to match (sending: a typo would lock the file away).
    Confirm,
}

/// Gets the passphrase from the first source that is set.
pub fn obtain(file: Option<&Path>, prompt: Prompt) -> Result<Zeroizing<String>> {
    let passphrase = if let Some(path) = file {
        from_file(path)?
    } else if let Some(value) = std::env::var_os(ENV_VAR) {
        let value = value
            .into_string()
            .map_err(|_| Error::Usage(format!("{ENV_VAR} is not valid UTF-8")))?;
        Zeroizing::new(value)
    } else {
        from_terminal(prompt)?
    };
    if passphrase.is_empty() {
        return Err(Error::Usage("the passphrase must not be empty".into()));
    }
    Ok(passphrase)
}

/// Reads a passphrase file (`-` is standard input): its first line, without the newline.
fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new(Vec::new());
    let what = format!("cannot read the passphrase file {}", path.display());
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(Error::io(what))?;
    } else {
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(Error::io(what))?;
    }
    let text = std::str::from_utf8(&raw).map_err(|_| {
        Error::Usage(format!(
            "the passphrase file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    Ok(Zeroizing::new(first_line(text).to_owned()))
}

/// The text up to the first line break (`\n` or `\r\n`).
fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

fn from_terminal(prompt: Prompt) -> Result<Zeroizing<String>> {
    let no_tty = |e: std::io::Error| {
        Error::Usage(format!(
            "no passphrase: cannot prompt on a terminal ({e}); set {ENV_VAR} or use --passphrase-file"
        ))
    };
    let first = Zeroizing::new(rpassword::prompt_password("Passphrase: ").map_err(no_tty)?);
    if prompt == Prompt::Confirm {
        if first.is_empty() {
            return Err(Error::Usage("the passphrase must not be empty".into()));
        }
        let second =
            Zeroizing::new(rpassword::prompt_password("Passphrase (again): ").map_err(no_tty)?);
        if *first != *second {
            return Err(Error::Usage("the two passphrases do not match".into()));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_strips_newlines_only() {
        assert_eq!(first_line("secret\n"), "secret");
        assert_eq!(first_line("secret\r\nmore"), "secret");
        assert_eq!(first_line("  spaced  "), "  spaced  ");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn file_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "correct horse\n").unwrap();
        assert_eq!(
            obtain(Some(&path), Prompt::Confirm).unwrap().as_str(),
            "correct horse"
        );
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(
            obtain(Some(&path), Prompt::Once).unwrap_err().exit_code(),
            2
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            obtain(Some(&missing), Prompt::Once)
                .unwrap_err()
                .exit_code(),
            1
        );
    }
}
