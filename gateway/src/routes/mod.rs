//! The HTTP routes, one module per resource. Each depends on the state, the
//! extractors and the views; only [`crate::router`] depends on the routes.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod chain;
pub mod docs;
pub mod health;
pub mod legacy;
pub mod products;
pub mod underlying;
