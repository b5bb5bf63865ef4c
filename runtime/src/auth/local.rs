//! A directory of generated credentials (`<data-dir>/creds/` for `up`, a temp
//! dir for the tests): one nkey seed per component (`<name>.nk`, mode 0600 in a
//! 0700 directory), the outside subscribers added with `deltastream creds add`
//! (`subscribers/<name>.pub`, and their seed when it was not written elsewhere),
//! and the server's `authorization` block rendered from them.

use super::{authorization_block, Component, Credential, Identity, ServerUser};
use crate::{Error, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The sub-directory of the outside subscribers.
pub const SUBSCRIBERS_DIR: &str = "subscribers";

/// Generated credentials in one directory.
#[derive(Debug, Clone)]
pub struct LocalCreds {
    dir: PathBuf,
}

impl LocalCreds {
    /// Opens `dir`, creating it (0700) and a seed for every component that has
    /// none yet; existing seeds are kept.
    ///
    /// # Errors
    /// When the directory or a file cannot be written.
    pub fn ensure(dir: &Path) -> Result<Self> {
        make_private_dir(dir)?;
        make_private_dir(&dir.join(SUBSCRIBERS_DIR))?;
        let me = Self {
            dir: dir.to_owned(),
        };
        for c in Component::ALL {
            let path = me.path(c);
            if !path.exists() {
                write_seed(&path, &new_seed()?)?;
            }
        }
        Ok(me)
    }

    /// Where the credentials are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The seed file of `component`.
    pub fn path(&self, component: Component) -> PathBuf {
        self.dir.join(format!("{}.nk", component.name()))
    }

    /// The credential of `component`.
    ///
    /// # Errors
    /// When its seed file is missing or invalid.
    pub fn credential(&self, component: Component) -> Result<Credential> {
        Credential::from_file(&self.path(component))
    }

    /// `component` connecting with its own credential.
    ///
    /// # Errors
    /// As [`LocalCreds::credential`].
    pub fn identity(&self, component: Component) -> Result<Identity> {
        Ok(Identity::new(component, Some(self.credential(component)?)))
    }

    /// Replaces `component`'s seed with a new one; returns the new public key.
    /// The server must be given the re-rendered users (reload) before the
    /// component reconnects with it.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn rotate(&self, component: Component) -> Result<String> {
        let seed = new_seed()?;
        write_seed(&self.path(component), &seed)?;
        public_key(&seed)
    }

    /// Adds the outside subscriber `name` with a new key pair: its public key
    /// goes to `subscribers/<name>.pub` (the server lists it), its seed to `out`
    /// (default `subscribers/<name>.nk`). Returns the public key and the seed's path.
    ///
    /// # Errors
    /// When `name` is not `[a-z0-9_-]+`, is a component's, or already exists.
    pub fn add_subscriber(&self, name: &str, out: Option<&Path>) -> Result<(String, PathBuf)> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(Error::Config(format!(
                "subscriber name {name:?} must be [a-z0-9_-]+"
            )));
        }
        if Component::parse(name).is_some() {
            return Err(Error::Config(format!(
                "{name:?} is a component's name; choose another"
            )));
        }
        let pub_path = self.subscriber_pub(name);
        if pub_path.exists() {
            return Err(Error::Config(format!(
                "subscriber {name:?} exists ({}); remove it first to replace it",
                pub_path.display()
            )));
        }
        let seed = new_seed()?;
        let key = public_key(&seed)?;
        let seed_path = out
            .map(Path::to_owned)
            .unwrap_or_else(|| self.dir.join(SUBSCRIBERS_DIR).join(format!("{name}.nk")));
        write_seed(&seed_path, &seed)?;
        std::fs::write(&pub_path, format!("{key}\n"))
            .map_err(|e| Error::io(format!("writing {}", pub_path.display()), e))?;
        Ok((key, seed_path))
    }

    fn subscriber_pub(&self, name: &str) -> PathBuf {
        self.dir.join(SUBSCRIBERS_DIR).join(format!("{name}.pub"))
    }

    /// The outside subscribers: `(name, public key)`, by name.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn subscribers(&self) -> Result<Vec<(String, String)>> {
        let dir = self.dir.join(SUBSCRIBERS_DIR);
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
        };
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("pub") {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let key = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                .trim()
                .to_owned();
            out.push((name, key));
        }
        out.sort();
        Ok(out)
    }

    /// Every user the server must know: the components, then the subscribers.
    ///
    /// # Errors
    /// When a seed or a public key cannot be read.
    pub fn users(&self) -> Result<Vec<ServerUser>> {
        let mut users = Vec::new();
        for c in Component::ALL {
            let cred = self.credential(c)?;
            users.push(ServerUser {
                name: c.name().to_owned(),
                nkey: cred.public_key().unwrap_or_default(),
                permissions: c.permissions(),
            });
        }
        for (name, nkey) in self.subscribers()? {
            users.push(ServerUser {
                name: format!("subscriber {name}"),
                nkey,
                permissions: Component::Subscriber.permissions(),
            });
        }
        Ok(users)
    }

    /// Writes the server's `authorization` block to `path` (0600: it names the
    /// keys that may connect).
    ///
    /// # Errors
    /// When a credential cannot be read or the file written.
    pub fn write_server_config(&self, path: &Path) -> Result<()> {
        let text = authorization_block(&self.users()?);
        write_private(path, text.as_bytes())
    }
}

fn new_seed() -> Result<String> {
    nkeys::KeyPair::new_user()
        .seed()
        .map_err(|e| Error::Config(format!("generating an nkey: {e}")))
}

fn public_key(seed: &str) -> Result<String> {
    nkeys::KeyPair::from_seed(seed)
        .map(|k| k.public_key())
        .map_err(|e| Error::Config(format!("reading a generated nkey: {e}")))
}

fn make_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("restricting {}", dir.display()), e))?;
    }
    Ok(())
}

fn write_seed(path: &Path, seed: &str) -> Result<()> {
    write_private(path, format!("{seed}\n").as_bytes())
}

/// Writes `bytes` to a new file beside `path` (mode 0600 from the start) and
/// renames it over `path`, so a reader never sees half a key.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_generates_once_with_private_modes_and_subscribers_are_listed() {
        let dir = std::env::temp_dir().join(format!("ds-local-creds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = LocalCreds::ensure(&dir).expect("generated");
        let feed = a.credential(Component::Feed).expect("feed").public_key();
        let b = LocalCreds::ensure(&dir).expect("kept");
        assert_eq!(
            b.credential(Component::Feed).expect("feed").public_key(),
            feed
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&a.path(Component::Admin)), 0o600);
        }
        let (key, seed) = a.add_subscriber("analytics", None).expect("added");
        assert!(key.starts_with('U') && seed.exists());
        assert!(a.add_subscriber("analytics", None).is_err());
        assert!(a.add_subscriber("gateway", None).is_err());
        assert!(a.add_subscriber("Bad Name", None).is_err());
        let users = a.users().expect("users");
        assert_eq!(users.len(), Component::ALL.len() + 1);
        assert_eq!(users.last().map(|u| u.nkey.as_str()), Some(key.as_str()));
        let rotated = a.rotate(Component::Feed).expect("rotated");
        assert_ne!(Some(rotated), feed);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
