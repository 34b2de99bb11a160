//! Mounts the app (see `lib.rs`).
fn main() {
    ferry_frontend::save::register();
    leptos::mount::mount_to_body(ferry_frontend::App);
}
