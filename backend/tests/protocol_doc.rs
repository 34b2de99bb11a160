//! docs/PROTOCOL.md's examples agree with the server (issue 13 item 5): every header shown
//! in full is one a reader accepts (the example session used to show a header below the KDF
//! floor, which the server refuses, so its `ready` could not occur), and the windows in
//! the download and example-session `ready` messages are the ones the server announces for
//! those headers' chunk sizes (a 64 KiB example showed 63 where the server says 64).
use ferry_backend::ws::window_for;
use ferry_common::Header;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// The text of the section that starts with `heading`, up to the next heading of its level.
fn section(heading: &str) -> &'static str {
    let start = DOC
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let body = &DOC[start + heading.len() + 2..];
    let end = body.find(&format!("\n{level} ")).unwrap_or(body.len());
    &body[..end]
}

/// The string values of `"field"` in `text`, written `"field": "v"` or `"field":"v"`.
fn strings<'a>(text: &'a str, field: &str) -> Vec<&'a str> {
    let key = format!("\"{field}\":");
    text.match_indices(&key)
        .map(|(i, _)| {
            let rest = text[i + key.len()..].trim_start();
            let rest = rest.strip_prefix('"').expect("a string value");
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// The integer values of `"field"` in `text`.
fn numbers(text: &str, field: &str) -> Vec<u64> {
    let key = format!("\"{field}\":");
    text.match_indices(&key)
        .map(|(i, _)| {
            let rest = text[i + key.len()..].trim_start();
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a number")
        })
        .collect()
}

fn header(text: &str) -> Header {
    let bytes = ferry_common::b64::decode(text).unwrap_or_else(|_| panic!("{text}: base64url"));
    Header::parse(&bytes).unwrap_or_else(|e| panic!("{text}: a reader refuses it: {e}"))
}

fn window(h: &Header) -> u64 {
    u64::from(window_for(u64::from(h.chunk_size) + 16))
}

#[test]
fn headers_shown_are_ones_a_reader_accepts() {
    let shown = strings(DOC, "header");
    let full: Vec<_> = shown.iter().filter(|h| !h.starts_with('<')).collect();
    assert!(full.len() >= 3, "{shown:?}");
    for h in full {
        header(h);
    }
}

#[test]
fn example_windows_are_what_the_server_announces() {
    let session = section("## Example session");
    let headers = strings(session, "header");
    let h = header(headers[0]);
    assert!(headers.iter().all(|other| *other == headers[0]));
    let windows = numbers(session, "window");
    assert!(!windows.is_empty(), "the session's `ready` messages");
    assert!(windows.iter().all(|w| *w == window(&h)), "{windows:?}");

    // The download socket's `ready` is the share of the ShareInfo example.
    let info = header(strings(section("### ShareInfo"), "header")[0]);
    let download = section("## Download socket");
    let at = download
        .find("{\"type\": \"ready\"")
        .expect("a `ready` example");
    let ready = &download[at..at + download[at..].find('}').unwrap()];
    let size = numbers(ready, "ciphertext_size")[0];
    let sealed = u64::from(info.chunk_size) + 16;
    assert_eq!(numbers(ready, "chunks")[0], size.div_ceil(sealed));
    assert_eq!(numbers(ready, "window")[0], window(&info));
}
