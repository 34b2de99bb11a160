//! Progress on standard error: a bar with speed and time left on a terminal, nothing
//! otherwise (scripts and logs stay clean).
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether informational lines and bars go to standard error.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte-count bar, hidden when standard error is not a terminal.
pub fn bar(total: u64, verb: &str) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
    // unwrap: the template is a constant checked by the test below.
    bar.set_style(style().expect("valid progress template"));
    bar.set_prefix(verb.to_owned());
    bar
}

fn style() -> Result<ProgressStyle, indicatif::style::TemplateError> {
    Ok(ProgressStyle::with_template(
        "{prefix:>11} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {eta} left",
    )?
    .progress_chars("=> "))
}

/// Prints an informational line to standard error (always: it is not progress).
pub fn info(line: impl std::fmt::Display) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_parses() {
        super::style().unwrap();
    }
}
