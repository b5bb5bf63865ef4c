//! `deltastream user`: manages gateway users (how the first admin is made).

use crate::setup::connect_mongo;
use anyhow::Context as _;
use clap::Subcommand;
use ds_runtime::config::Config;

/// `user` actions.
#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user (bootstraps the first admin).
    Add {
        /// E-mail address (the login).
        #[arg(long)]
        email: String,
        /// Role: viewer or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Password (at least 8 characters). Prefer the DS_USER_PASSWORD
        /// environment variable: command lines are visible to other users.
        #[arg(long, env = "DS_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `deltastream user add`: creates a user directly in MongoDB (how the first
/// admin is made; later ones can register over HTTP and be promoted).
///
/// # Errors
/// When the role or input is invalid, the e-mail is taken, or MongoDB fails.
pub async fn run(cfg: Config, action: UserAction) -> anyhow::Result<()> {
    match action {
        UserAction::Add {
            email,
            role,
            password,
        } => {
            let role: ds_gateway::auth::Role =
                role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let password = password.filter(|p| !p.is_empty()).context(
                "no password: pass --password or set DS_USER_PASSWORD (there is no prompt, so scripts and CI work)",
            )?;
            let db = connect_mongo(&cfg, false).await?;
            ds_runtime::collections::ensure_indexes(&db).await?;
            let u = ds_gateway::auth::users::add_user(&db, &email, &password, role).await?;
            println!("added {} user {} (id {})", u.role.as_str(), u.email, u.id);
            println!(
                "get a token: POST /api/v1/auth/login {{\"email\": \"{}\", \"password\": …}}",
                u.email
            );
            Ok(())
        }
    }
}
