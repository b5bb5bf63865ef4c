//! Who may open a WebSocket: the same credentials as REST, parsed by the same
//! [`Presented`] and checked by the state's one [`crate::auth::identity::Auth`]
//! (same keys, same caches); anonymous read-only sockets only in development mode.

use super::outbox::CloseReason;
use crate::auth::credential::Presented;
use crate::auth::identity::Identity;
use crate::state::AppState;

/// Close code for a socket without valid credentials.
pub const UNAUTHENTICATED: u16 = 4401;
/// Close code when credentials cannot be checked now (the client retries).
pub const UNAVAILABLE: u16 = 1011;

fn close(code: u16, reason: impl Into<String>) -> CloseReason {
    CloseReason {
        code,
        reason: reason.into(),
    }
}

/// Checks what a socket presents: `Ok(Some(role))`, `Ok(None)` for an
/// anonymous reader in development mode, or the close to send.
pub async fn check(state: &AppState, presented: &Presented) -> Result<Option<String>, CloseReason> {
    match state.auth.identify(&state.db, presented).await {
        Ok(Identity::Authenticated(p)) => Ok(Some(p.role.as_str().to_owned())),
        // Development mode reads anonymously anyway (its tokens may come from a
        // gateway with another random secret).
        Ok(Identity::Invalid(reason)) if state.cfg.dev => {
            tracing::debug!(
                reason,
                "invalid WebSocket token accepted anonymously in development mode"
            );
            Ok(None)
        }
        Ok(Identity::Anonymous) if state.cfg.dev => Ok(None),
        Ok(Identity::Invalid(reason)) => Err(close(UNAUTHENTICATED, reason)),
        Ok(Identity::Anonymous) => Err(close(UNAUTHENTICATED, "no token")),
        Err(e) => Err(close(UNAVAILABLE, e.to_string())),
    }
}
