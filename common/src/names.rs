//! Making an untrusted file name (from a share's sealed metadata or manifest) safe to
//! create on any common file system, and numbering it when it is taken.

/// The name used when the metadata's name is unusable.
pub const FALLBACK_NAME: &str = "ferry-download";
/// Longest file name written, in UTF-8 bytes (common file-system limit), counting the
/// ` (N)` a taken name gets.
const MAX_NAME_BYTES: usize = 255;
/// A final `.xyz` this long or shorter is kept when a name is cut or numbered.
const MAX_EXTENSION_BYTES: usize = 16;
/// Names Windows reserves for devices, whatever the extension (`CON.txt` opens the console).
const WINDOWS_DEVICES: [&str; 32] = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
];

/// Makes the sender-chosen name safe to use as one file name in one directory, on Unix
/// and on Windows alike (a name received on one may be copied to the other).
///
/// Path separators, characters Windows forbids (`: < > " | ? *`), control characters and
/// bidirectional-override characters (which can disguise an extension) become `_`;
/// leading dots and spaces are dropped (no hidden files, no `..`), trailing dots and
/// spaces too; a Windows device name (`CON`, `nul.txt`, `COM1.log`, ...) gets a leading
/// `_`; the result is cut to 255 bytes keeping the extension. An empty result becomes
/// [`FALLBACK_NAME`].
pub fn sanitize(name: &str) -> String {
    let replaced: String = name.chars().map(safe_char).collect();
    let trimmed = replaced
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '_') {
        return FALLBACK_NAME.to_owned();
    }
    let (stem, ext) = split_extension(trimmed);
    if is_windows_device(trimmed) {
        return fit(&format!("_{stem}"), ext);
    }
    fit(stem, ext)
}

fn safe_char(c: char) -> char {
    let bidi =
        matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let windows = matches!(c, ':' | '<' | '>' | '"' | '|' | '?' | '*');
    if c == '/' || c == '\\' || c.is_control() || bidi || windows {
        '_'
    } else {
        c
    }
}

/// Whether Windows takes `name` for a device: the part before the first dot, without
/// trailing spaces, is a reserved name in any case.
fn is_windows_device(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or(name).trim_end();
    WINDOWS_DEVICES
        .iter()
        .any(|device| base.eq_ignore_ascii_case(device))
}

/// The alternative to a taken (already sanitised) `name`: `stem (n).ext`, cut to fit 255
/// bytes, so even a 255-byte name has free alternatives.
pub fn numbered(name: &str, n: u32) -> String {
    let (stem, ext) = split_extension(name);
    fit(stem, &format!(" ({n}){ext}"))
}

/// `(stem, ".ext")`; the extension is empty when there is none or it is implausibly long.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_EXTENSION_BYTES => name.split_at(i),
        _ => (name, ""),
    }
}

/// `stem` + `tail`, the stem cut on a character boundary so the whole fits
/// [`MAX_NAME_BYTES`]; a cut stem loses trailing dots and spaces (Windows drops them).
fn fit(stem: &str, tail: &str) -> String {
    if stem.len() + tail.len() <= MAX_NAME_BYTES {
        return format!("{stem}{tail}");
    }
    let mut cut = MAX_NAME_BYTES.saturating_sub(tail.len()).min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let kept = stem[..cut].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{kept}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_through() {
        assert_eq!(sanitize("report.pdf"), "report.pdf");
        assert_eq!(sanitize("Grüße 📄.txt"), "Grüße 📄.txt");
        assert_eq!(sanitize("a..b"), "a..b");
    }

    #[test]
    fn separators_and_traversal_are_neutralised() {
        assert_eq!(sanitize("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize("/etc/passwd"), "_etc_passwd");
        assert_eq!(sanitize("..\\..\\boot.ini"), "_.._boot.ini");
        assert_eq!(sanitize("dir/file"), "dir_file");
        for name in ["..", ".", "...", "", "   ", "/", "//", "\\", ". .", "\u{0}"] {
            assert_eq!(sanitize(name), FALLBACK_NAME, "{name:?}");
        }
        assert!(!sanitize("../x").contains('/'));
    }

    #[test]
    fn control_and_bidi_characters_are_replaced() {
        assert_eq!(sanitize("a\nb\tc\u{7f}.txt"), "a_b_c_.txt");
        assert_eq!(sanitize("evil\u{202e}fdp.exe"), "evil_fdp.exe");
        assert_eq!(sanitize("x\u{0}y"), "x_y");
        assert_eq!(sanitize("\u{1b}[31mred"), "_[31mred");
    }

    #[test]
    fn hidden_and_trailing_dots_are_dropped() {
        assert_eq!(sanitize(".bashrc"), "bashrc");
        assert_eq!(sanitize("name. "), "name");
        assert_eq!(sanitize(" ..hidden"), "hidden");
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.tar.gz", "é".repeat(300));
        let s = sanitize(&long);
        assert!(s.len() <= 255, "{}", s.len());
        assert!(s.ends_with(".gz"));
        assert!(s.starts_with('é'));
    }

    #[test]
    fn windows_forbidden_characters_are_replaced() {
        assert_eq!(sanitize("a<b>c:d\"e|f?g*h.txt"), "a_b_c_d_e_f_g_h.txt");
        assert_eq!(sanitize("C:\\Windows\\win.ini"), "C__Windows_win.ini");
        assert_eq!(
            sanitize("report.pdf:Zone.Identifier"),
            "report.pdf_Zone.Identifier"
        );
        assert_eq!(sanitize("???"), FALLBACK_NAME);
    }

    #[test]
    fn windows_device_names_get_a_leading_underscore() {
        for (name, safe) in [
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Nul.tar.gz", "_Nul.tar.gz"),
            ("aux .log", "_aux .log"),
            ("COM1", "_COM1"),
            ("lpt9.bin", "_lpt9.bin"),
            ("COM\u{b9}.txt", "_COM\u{b9}.txt"),
            ("conin$", "_conin$"),
            ("CON.", "_CON"),
        ] {
            assert_eq!(sanitize(name), safe, "{name:?}");
        }
        for name in [
            "CONSOLE.txt",
            "COM10",
            "LPT",
            "xCON",
            "con-1.txt",
            "prn_.txt",
        ] {
            assert_eq!(sanitize(name), name, "{name:?} is not a device");
        }
    }

    #[test]
    fn names_of_236_to_255_bytes_are_kept_whole() {
        for len in 236..=255 {
            let name = format!("{}.bin", "n".repeat(len - 4));
            assert_eq!(sanitize(&name), name, "{len} bytes");
        }
    }

    #[test]
    fn numbered_names_fit_255_bytes_and_keep_the_extension() {
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("a.tar.gz", 2), "a.tar (2).gz");
        assert_eq!(numbered("noext", 3), "noext (3)");
        assert_eq!(numbered("_CON.txt", 1), "_CON (1).txt");
        let long = format!("{}.bin", "n".repeat(251));
        let n = numbered(&long, 999);
        assert_eq!(n.len(), 255);
        assert!(n.ends_with(" (999).bin"), "{n}");
        // A cut never splits a character.
        let wide = format!("{}.txt", "\u{e9}".repeat(125));
        for i in [1, 10, 999] {
            let n = numbered(&wide, i);
            assert!(n.len() <= 255, "{}", n.len());
            assert!(n.ends_with(&format!(" ({i}).txt")), "{n}");
            assert!(n.starts_with('\u{e9}'));
        }
        // A name without a plausible extension is cut at its end.
        let n = numbered(&"x".repeat(255), 7);
        assert_eq!(n.len(), 255);
        assert!(n.ends_with("x (7)"));
    }

    #[test]
    fn cut_names_lose_trailing_dots_and_spaces() {
        let name = format!("{} {}", "a".repeat(250), "b".repeat(10));
        assert_eq!(numbered(&name, 1), format!("{} (1)", "a".repeat(250)));
        assert_eq!(fit("abc. ", ".txt"), "abc. .txt", "not cut, not changed");
    }
}
