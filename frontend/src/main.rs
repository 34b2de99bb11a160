//! Mounts the app (see `lib.rs`).
fn main() {
    leptos::mount::mount_to_body(ferry_frontend::App);
}
