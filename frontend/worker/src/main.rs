//! Ferry's transfer worker (a dedicated Web Worker built by Trunk with `data-type="worker"`).
//!
//! Argon2id, AES-256-GCM and the WebSocket transfer all run here, so the page's main
//! thread only renders progress. One worker serves one transfer; the page terminates it
//! afterwards, which also frees the 64 MiB that Argon2id grew the wasm memory by (wasm
//! memory never shrinks).
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("ferry-worker runs only in a browser, as wasm32 (build it with trunk)");
}
