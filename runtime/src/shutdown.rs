//! Graceful shutdown: one token every task watches, fired by SIGINT or SIGTERM.

use tokio::sync::watch;

/// A cloneable handle that tells tasks when to stop.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that fires a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A new pair: the trigger and the first handle.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Whether shutdown has been requested.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is requested (at once if it already was).
    pub async fn wait(&mut self) {
        // An Err means every trigger is gone, which also means: stop.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

impl ShutdownTrigger {
    /// Asks every handle to stop.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// A new handle on this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A [`Shutdown`] fired by SIGINT/SIGTERM.
pub fn on_signal() -> (ShutdownTrigger, Shutdown) {
    let (trigger, handle) = Shutdown::new();
    let t = trigger.subscribe();
    let tx = trigger.tx.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("signal received, draining");
        let _ = tx.send(true);
        drop(t);
    });
    (trigger, handle)
}
