//! A component's NATS credential (an nkey seed, a `.creds` file, or user and
//! password) and the identity it connects as; secrets never print.

use super::Component;
use crate::config::{Config, Secret};
use crate::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// How a connection authenticates.
#[derive(Clone)]
pub enum Credential {
    /// An nkey user seed (`SU…`), read from `path`.
    Seed {
        /// Where it was read from.
        path: PathBuf,
        /// The seed.
        seed: Secret,
    },
    /// A standard `.creds` file (user JWT + seed), for servers run in operator mode.
    CredsFile(PathBuf),
    /// User and password (servers configured with passwords).
    Password {
        /// The user.
        user: String,
        /// The password.
        password: Secret,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Credential {
    /// Reads `path`: a `.creds` file (it holds a user JWT block) or an nkey seed.
    ///
    /// # Errors
    /// [`Error::Config`] when it cannot be read or holds neither.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("reading NATS credential {}: {e}", path.display()))
        })?;
        if text.contains("BEGIN NATS USER JWT") {
            return Ok(Credential::CredsFile(path.to_owned()));
        }
        let seed = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        if !seed.starts_with("SU") || nkeys::KeyPair::from_seed(seed).is_err() {
            return Err(Error::Config(format!(
                "{} holds neither an nkey user seed (SU…) nor a .creds file",
                path.display()
            )));
        }
        Ok(Credential::Seed {
            path: path.to_owned(),
            seed: Secret::new(seed),
        })
    }

    /// The nkey public key (`U…`) of a seed credential.
    pub fn public_key(&self) -> Option<String> {
        match self {
            Credential::Seed { seed, .. } => nkeys::KeyPair::from_seed(seed.expose())
                .ok()
                .map(|k| k.public_key()),
            _ => None,
        }
    }

    /// Who this is, without the secret: for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Credential::Seed { path, .. } => format!(
                "nkey {} ({})",
                self.public_key().unwrap_or_default(),
                path.display()
            ),
            Credential::CredsFile(path) => format!("creds file {}", path.display()),
            Credential::Password { user, .. } => format!("user {user:?} (password)"),
        }
    }

    /// Adds the credential to connect options.
    ///
    /// # Errors
    /// When a `.creds` file does not parse.
    pub async fn apply(
        &self,
        opts: async_nats::ConnectOptions,
    ) -> Result<async_nats::ConnectOptions> {
        Ok(match self {
            Credential::Seed { seed, .. } => opts.nkey(seed.expose().to_owned()),
            Credential::CredsFile(path) => opts
                .credentials_file(path)
                .await
                .map_err(|e| Error::Config(format!("NATS creds file {}: {e}", path.display())))?,
            Credential::Password { user, password } => {
                opts.user_and_password(user.clone(), password.expose().to_owned())
            }
        })
    }
}

/// Who a connection is: the component (its name for logs, its inbox prefix)
/// and its credential (`None`: anonymous, for a server without users).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The component it acts as.
    pub component: Component,
    /// The user name in logs (the component's, or the subscriber's name).
    pub user: String,
    /// Its credential.
    pub credential: Option<Credential>,
}

impl Identity {
    /// `component` with `credential`.
    pub fn new(component: Component, credential: Option<Credential>) -> Self {
        Self {
            component,
            user: component.name().to_owned(),
            credential,
        }
    }

    /// `component` with the credential the configuration gives (`DS_NATS_CREDS`,
    /// or `DS_NATS_USER` + `DS_NATS_PASSWORD`; none: anonymous); the identity
    /// of the credential's owner instead when its file is named after one.
    ///
    /// # Errors
    /// When the credential file cannot be read.
    pub fn from_config(cfg: &Config, component: Component) -> Result<Self> {
        let credential = match (&cfg.nats_creds, &cfg.nats_user, &cfg.nats_password) {
            (Some(path), _, _) => Some(Credential::from_file(path)?),
            (None, Some(user), Some(password)) => Some(Credential::Password {
                user: user.clone(),
                password: password.clone(),
            }),
            (None, Some(_), None) => {
                return Err(Error::Config(
                    "DS_NATS_USER is set without DS_NATS_PASSWORD".into(),
                ))
            }
            _ => None,
        };
        // The credential's owner, when its file says (`admin.nk`, or an outside
        // subscriber's `subscribers/<name>.nk`): its inbox is the one its
        // permissions allow.
        let owner = cfg.nats_creds.as_deref().and_then(|p| {
            let stem = p.file_stem()?.to_str()?;
            let dir = p.parent()?.file_name()?.to_str()?;
            Component::parse(stem)
                .or((dir == super::SUBSCRIBERS_DIR).then_some(Component::Subscriber))
        });
        Ok(Self::new(owner.unwrap_or(component), credential))
    }

    /// The prefix of its inboxes.
    pub fn inbox_prefix(&self) -> String {
        self.component.inbox_prefix()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_file_reads_and_never_prints() {
        let dir = tempfile_dir();
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().expect("seed");
        let path = dir.join("x.nk");
        std::fs::write(&path, format!("{seed}\n")).expect("write");
        let c = Credential::from_file(&path).expect("reads");
        assert_eq!(c.public_key(), Some(kp.public_key()));
        let shown = format!("{c:?} {}", c.describe());
        assert!(!shown.contains(&seed), "{shown}");
        std::fs::write(&path, "not a seed").expect("write");
        assert!(Credential::from_file(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ds-cred-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }
}
