//! `deltastream creds`: the NATS credentials of the components and of outside
//! subscribers (add, show, rotate, render for compose and Kubernetes), and the
//! per-component connections `up` makes with them.

use anyhow::Context as _;
use clap::Subcommand;
use ds_runtime::auth::{authorization_block, Component, LocalCreds};
use ds_runtime::config::Config;
use ds_runtime::connect::{self, Patience};
use ds_runtime::servers::{ServerAuth, PID_FILE};
use std::path::{Path, PathBuf};

/// `creds` actions.
#[derive(Subcommand, Debug)]
pub enum CredsAction {
    /// Create a read-only subscriber credential for an outside service; the
    /// server of `up` reloads its users at once (others: re-render and reload).
    Add {
        /// The service's name ([a-z0-9_-]+).
        #[arg(long)]
        name: String,
        /// Its role (only `subscriber`: md.enriched.> and ordered consumers on MD_ENRICHED).
        #[arg(long, default_value = "subscriber")]
        role: String,
        /// Write the seed here (default: <dir>/subscribers/<name>.nk).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The credentials directory (default: <data-dir>/creds).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List the identities: public key and seed file of each.
    Show {
        /// The credentials directory (default: <data-dir>/creds).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Give a component a new seed; the server of `up` reloads its users.
    /// Restart the component (or `up`) afterwards: it still holds the old seed.
    Rotate {
        /// The component (feed, enrich, project, gateway, replay, redrive, admin, subscriber).
        #[arg(long)]
        name: String,
        /// The credentials directory (default: <data-dir>/creds).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Generate (or reuse) the seeds in a directory and write the server's
    /// authorization config there (`auth.conf`); with --k8s also Secret
    /// manifests (`secrets.yaml`): one per component and one for the server.
    Render {
        /// Where the seeds and files go (created 0700; never commit it).
        #[arg(long)]
        out: PathBuf,
        /// Also write Kubernetes Secret manifests.
        #[arg(long)]
        k8s: bool,
        /// Namespace of the Kubernetes Secrets.
        #[arg(long, default_value = "deltastream")]
        namespace: String,
    },
}

/// `deltastream creds`.
pub async fn run(cfg: Config, action: CredsAction) -> anyhow::Result<()> {
    let default_dir = cfg.data_dir.join("creds");
    match action {
        CredsAction::Add {
            name,
            role,
            out,
            dir,
        } => {
            anyhow::ensure!(
                role == "subscriber",
                "only the `subscriber` role can be added (components have theirs already)"
            );
            let local = LocalCreds::ensure(&dir.unwrap_or(default_dir))?;
            let (key, seed) = local.add_subscriber(&name, out.as_deref())?;
            println!("subscriber {name}: public key {key}");
            println!("seed (keep it secret; mode 0600): {}", seed.display());
            println!(
                "connect with it: DS_NATS_CREDS={} (inbox prefix {})",
                seed.display(),
                Component::Subscriber.inbox_prefix()
            );
            reload_up_servers(&cfg.data_dir, &local);
        }
        CredsAction::Show { dir } => {
            let local = LocalCreds::ensure(&dir.unwrap_or(default_dir))?;
            for c in Component::ALL {
                let key = local.credential(c)?.public_key().unwrap_or_default();
                println!("{:<12} {key}  {}", c.name(), local.path(c).display());
            }
            for (name, key) in local.subscribers()? {
                println!("{:<12} {key}  (outside subscriber {name})", "subscriber");
            }
        }
        CredsAction::Rotate { name, dir } => {
            let c =
                Component::parse(&name).with_context(|| format!("no component called {name:?}"))?;
            let local = LocalCreds::ensure(&dir.unwrap_or(default_dir))?;
            let key = local.rotate(c)?;
            println!("{name}: new public key {key} ({})", local.path(c).display());
            reload_up_servers(&cfg.data_dir, &local);
            println!("now restart {name} (or `deltastream up`): it still holds the old seed");
        }
        CredsAction::Render {
            out,
            k8s,
            namespace,
        } => render(&out, k8s, &namespace)?,
    }
    Ok(())
}

/// Re-renders the users of `up`'s servers under `data_dir` and has each running
/// one reload them (SIGHUP to the pid in its pid file).
fn reload_up_servers(data_dir: &Path, local: &LocalCreds) {
    let mut stores = vec![data_dir.join("nats")];
    if let Ok(entries) = std::fs::read_dir(data_dir.join("nats-cluster")) {
        stores.extend(entries.flatten().map(|e| e.path()));
    }
    let mut reloaded = 0;
    for store in stores {
        let conf = store.join("nats-server.conf");
        if !conf.exists() {
            continue;
        }
        if let Err(e) = local.write_server_config(&conf) {
            eprintln!("warning: cannot update {}: {e}", conf.display());
            continue;
        }
        let pid = std::fs::read_to_string(store.join(PID_FILE))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            if ds_runtime::servers::signal_reload(pid).is_ok() {
                reloaded += 1;
            }
        }
    }
    if reloaded > 0 {
        println!("the running server of `up` reloaded its users");
    } else {
        println!("`up` is not running: its server loads the users at its next start");
    }
}

/// Seeds and the server's authorization config in `out`; with `k8s`, Secret
/// manifests of them.
fn render(out: &Path, k8s: bool, namespace: &str) -> anyhow::Result<()> {
    let local = LocalCreds::ensure(out)?;
    let users = local.users()?;
    let conf = out.join("auth.conf");
    local.write_server_config(&conf)?;
    println!("seeds and {} written to {}", conf.display(), out.display());
    if k8s {
        let yaml = k8s_secrets(&local, &authorization_block(&users), namespace)?;
        let path = out.join("secrets.yaml");
        write_private(&path, &yaml)?;
        println!(
            "Kubernetes Secrets written to {} (kubectl apply -f {} before the manifests)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// One Secret `nats-creds-<component>` per component (key `nkey`: its seed)
/// and `nats-auth` (key `auth.conf`: the server's users).
fn k8s_secrets(local: &LocalCreds, auth_conf: &str, namespace: &str) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Generated by `deltastream creds render --k8s`: real seeds. Never commit this file.\n",
    );
    for c in Component::ALL {
        let seed = std::fs::read_to_string(local.path(c))
            .with_context(|| format!("reading {}", local.path(c).display()))?;
        out.push_str(&secret(
            &format!("nats-creds-{}", c.name()),
            namespace,
            "nkey",
            seed.trim(),
        ));
    }
    out.push_str(&secret("nats-auth", namespace, "auth.conf", auth_conf));
    Ok(out)
}

fn secret(name: &str, namespace: &str, key: &str, value: &str) -> String {
    let indented: String = value.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  \
         labels:\n    app.kubernetes.io/part-of: deltastream\ntype: Opaque\nstringData:\n  {key}: |\n{indented}"
    )
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// The credentials of `up`'s embedded servers (`<data-dir>/creds`, generated
/// on first run), or `None` when `up` uses a server given by URL.
///
/// # Errors
/// When the directory cannot be written.
pub fn local_for_up(cfg: &Config, data_dir: &Path) -> anyhow::Result<Option<LocalCreds>> {
    if cfg.nats_url.is_some() {
        return Ok(None);
    }
    Ok(Some(LocalCreds::ensure(&data_dir.join("creds"))?))
}

/// The users of an embedded server.
pub fn server_auth(local: Option<&LocalCreds>) -> ServerAuth {
    local
        .cloned()
        .map_or(ServerAuth::Generate, ServerAuth::Users)
}

/// How `up` connects each component: with its own seed on the embedded
/// servers, else with the configured credential (`DS_NATS_CREDS`).
pub struct Bus {
    cfg: Config,
    local: Option<LocalCreds>,
}

impl Bus {
    /// For `cfg` (its NATS URL set) and the embedded servers' credentials.
    pub fn new(cfg: &Config, local: Option<LocalCreds>) -> Self {
        Self {
            cfg: cfg.clone(),
            local,
        }
    }

    /// A connection as `c`, waiting for the server like any long-running
    /// component ([`crate::setup::connect_nats`]).
    ///
    /// # Errors
    /// When the credential cannot be read or the server refuses it.
    pub async fn connect(&self, c: Component) -> anyhow::Result<async_nats::Client> {
        let patience = Patience::of(&self.cfg, true);
        Ok(match &self.local {
            Some(l) => connect::nats_as(&self.cfg, &l.identity(c)?, patience).await?,
            None => crate::setup::connect_nats(&self.cfg, c, true).await?,
        })
    }

    /// JetStream on a connection as `c`.
    ///
    /// # Errors
    /// As [`Bus::connect`].
    pub async fn js(&self, c: Component) -> anyhow::Result<async_nats::jetstream::Context> {
        Ok(ds_runtime::nats::jetstream(self.connect(c).await?))
    }
}

/// The banner's subscribe line (with the subscriber credential on `up`'s
/// servers) and where the components' credentials are.
pub fn print_bus_hints(cfg: &Config, local: Option<&LocalCreds>, product: &str) {
    let url = cfg.nats_url_or_default();
    match local {
        Some(l) => {
            let seed = l.path(Component::Subscriber);
            eprintln!(
                "  Subscribe   DS_NATS_CREDS={} deltastream sub --nats-url {url} 'md.enriched.{product}.>'",
                seed.display()
            );
            eprintln!(
                "              (JSON lines; any NATS client works too with that read-only subscriber credential; more: deltastream creds add)"
            );
            eprintln!(
                "  NATS users  {}/<name>.nk: one nkey seed per component (deltastream creds show); operator commands take the admin's:",
                l.dir().display()
            );
            eprintln!(
                "              DS_NATS_CREDS={} deltastream dlq list --nats-url {url}",
                l.path(Component::Admin).display()
            );
        }
        None => eprintln!(
            "  Subscribe   deltastream sub --nats-url {url} 'md.enriched.{product}.>'   (JSON lines; any NATS client works too)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_secrets_hold_every_component_and_the_server_users() {
        let dir = tempfile::tempdir().expect("dir");
        let local = LocalCreds::ensure(dir.path()).expect("creds");
        let yaml = k8s_secrets(&local, "authorization {\n}\n", "ds").expect("yaml");
        for c in Component::ALL {
            assert!(yaml.contains(&format!("name: nats-creds-{}\n", c.name())));
        }
        assert!(yaml.contains("  auth.conf: |\n    authorization {\n    }\n"));
        assert_eq!(
            yaml.matches("namespace: ds\n").count(),
            Component::ALL.len() + 1
        );
    }
}
