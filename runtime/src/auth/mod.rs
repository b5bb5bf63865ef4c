//! Least privilege on the bus: one NATS identity per component, the permission
//! table that says what each may publish and subscribe, the credentials they
//! connect with, the seeds `up` and the tests generate, the `authorization`
//! block rendered for nats-server, and the permission violations the server
//! reports back.

mod credential;
mod local;
mod permissions;
mod render;
pub mod violations;

pub use credential::{Credential, Identity};
pub use local::{LocalCreds, SUBSCRIBERS_DIR};
pub use permissions::{Component, Permissions, REPLAY_NAMESPACE};
pub use render::{
    authorization_block, example as example_authorization, readme_table, ServerUser, README_MARKERS,
};
