//! Ctrl-C during a transfer. The handler is installed only once a transfer starts, so
//! Ctrl-C at the passphrase prompt still ends the program at once, as people expect.
use crate::error::{Error, Result};

/// A registered Ctrl-C (SIGINT) listener.
pub struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    /// Starts catching Ctrl-C now (from here on it no longer kills the process).
    pub fn listen() -> Result<Interrupt> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::interrupt())
                .map_err(|e| Error::Other(format!("cannot watch for Ctrl-C: {e}")))?;
            Ok(Interrupt { signal })
        }
        #[cfg(not(unix))]
        Ok(Interrupt {})
    }

    /// Completes when Ctrl-C is pressed.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
