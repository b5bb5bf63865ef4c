//! The private `nats-server` and `mongod` children of `up` and `bench`: started
//! only where the configuration names no server, and pointed at by it.

use ds_runtime::config::Config;
use ds_runtime::servers::{
    nats_memory_limit_mib, Mongod, MongodOptions, NatsOptions, NatsServer, ServerAuth,
};
use std::path::{Path, PathBuf};

/// The servers started (each stopped on drop).
#[derive(Debug)]
pub struct Embedded {
    /// The `nats-server`, when `cfg` named no NATS URL.
    pub nats: Option<NatsServer>,
    /// The `mongod`, when `cfg` named no MongoDB URL.
    pub mongod: Option<Mongod>,
    /// The `nats-server`'s JetStream store directory, when it was started.
    pub nats_store: Option<PathBuf>,
}

impl Embedded {
    /// Starts the servers `cfg` names no URL for, with their data under `dir`
    /// (`nats/`, `mongo/`), and points `cfg` at them. `nats_binary` is the
    /// `nats-server` to run (by default the one `find_binary` finds); `auth`
    /// who may connect to it; `products` the most products it will carry at
    /// once (its memory limit grows with them).
    ///
    /// # Errors
    /// When a server cannot start.
    pub fn start(
        cfg: &mut Config,
        dir: &Path,
        nats_binary: Option<PathBuf>,
        auth: ServerAuth,
        products: usize,
    ) -> anyhow::Result<Self> {
        let nats_options = NatsOptions {
            store_dir: dir.join("nats"),
            binary: nats_binary,
            auth,
            memory_limit_mib: Some(nats_memory_limit_mib(products)),
            ..Default::default()
        };
        let mongod_options = MongodOptions {
            db_path: dir.join("mongo"),
            ..Default::default()
        };
        let nats = (cfg.nats_url.is_none())
            .then(|| NatsServer::start(nats_options))
            .transpose()?;
        let mongod = (cfg.mongo_url.is_none())
            .then(|| Mongod::start(mongod_options))
            .transpose()?;
        if let Some(s) = &nats {
            cfg.nats_url = Some(s.url.clone());
        }
        if let Some(m) = &mongod {
            cfg.mongo_url = Some(m.url.clone());
        }
        let nats_store = nats.as_ref().map(|_| dir.join("nats"));
        Ok(Self {
            nats,
            mongod,
            nats_store,
        })
    }

    /// The servers' names and process ids.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        let nats = self.nats.as_ref().and_then(|s| s.pid());
        let mongod = self.mongod.as_ref().and_then(|s| s.pid());
        nats.map(|p| ("nats-server", p))
            .into_iter()
            .chain(mongod.map(|p| ("mongod", p)))
            .collect()
    }
}
