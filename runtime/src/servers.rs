//! Local `nats-server` and `mongod` child processes, for `deltastream up`, the
//! benchmarks and the tests: started on free loopback ports with their data in a
//! given directory, waited on until they answer, and stopped on drop (also when a
//! test panics, and — through `PR_SET_PDEATHSIG` — when the parent dies).

use crate::auth::LocalCreds;
use crate::{Error, Result};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds `binary` in `$DS_TOOLS_DIR/bin`, in `.tools/bin` of the working directory
/// or of any parent of it or of the running executable, then on `PATH`.
///
/// # Errors
/// [`Error::MissingBinary`] saying where it looked.
pub fn find_binary(binary: &'static str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("DS_TOOLS_DIR") {
        dirs.push(PathBuf::from(d).join("bin"));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.push(exe);
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for root in roots {
        for dir in root.ancestors() {
            dirs.push(dir.join(".tools").join("bin"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    for d in &dirs {
        let candidate = d.join(binary);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::MissingBinary {
        binary,
        looked: ".tools/bin, $DS_TOOLS_DIR/bin and PATH".into(),
    })
}

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free at the time of the call).
///
/// # Errors
/// When no socket can be bound.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading a bound port", e))
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
fn wait_for_port(what: &'static str, child: &mut Child, port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::ServerStart {
                what,
                reason: format!(
                    "exited with {status}; log {}:\n{}",
                    log.display(),
                    tail(log)
                ),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::ServerStart {
                what,
                reason: format!(
                    "no answer on port {port} within 60 s; log {}",
                    log.display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A local server's process, stopped with SIGTERM (then SIGKILL) on drop:
/// what [`NatsServer`] and [`Mongod`] share (they dereference to it), so a
/// test can stop, kill or restart either the same way.
#[derive(Debug)]
pub struct Supervised {
    what: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    port: u16,
    /// `GOMEMLIMIT` in MiB (Go servers only).
    memory_limit_mib: Option<u32>,
    child: Option<Child>,
}

impl Supervised {
    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        let err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating a log handle", e))?;
        let mut cmd = Command::new(&self.program);
        if let Some(mib) = self.memory_limit_mib {
            if std::env::var_os("GOMEMLIMIT").is_none() {
                // A soft memory limit for the Go runtime: the server collects
                // garbage harder instead of growing past it (JetStream data is
                // on disk anyway); see `nats_memory_limit_mib`.
                cmd.env("GOMEMLIMIT", format!("{mib}MiB"));
            }
        }
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Own process group: a Ctrl-C on the terminal reaches us, and we stop the
            // servers after draining, instead of the servers dying under the drain.
            cmd.process_group(0);
            // SAFETY: prctl is async-signal-safe; it makes the kernel stop the child
            // if the parent dies without running its destructors (kill -9).
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| Error::ServerStart {
            what: self.what,
            reason: format!("{}: {e}", self.program.display()),
        })?;
        if let Err(e) = wait_for_port(self.what, &mut child, self.port, &self.log) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        self.child = Some(child);
        Ok(())
    }

    /// Stops it gracefully (SIGTERM, then SIGKILL after 10 s).
    pub fn stop(&mut self) {
        self.stop_within(Duration::from_secs(10));
    }

    /// Starts it again on the same port with the same data.
    ///
    /// # Errors
    /// When it does not start or answer on its port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    fn stop_within(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: plain kill(2) on our own, not yet reaped, child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it at once, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `$server` dereferences to its [`Supervised`] process (`stop`, `kill9`,
/// `pid`, `restart`).
macro_rules! supervised {
    ($server:ty) => {
        impl std::ops::Deref for $server {
            type Target = Supervised;
            fn deref(&self) -> &Supervised {
                &self.proc
            }
        }

        impl std::ops::DerefMut for $server {
            fn deref_mut(&mut self) -> &mut Supervised {
                &mut self.proc
            }
        }
    };
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Who may connect to a local `nats-server`.
#[derive(Debug, Clone, Default)]
pub enum ServerAuth {
    /// DeltaStream's users with their permissions, seeds generated into
    /// `<store_dir>/creds` (the default: permission mistakes show up in tests).
    #[default]
    Generate,
    /// DeltaStream's users from these credentials (`up`: `<data-dir>/creds`).
    Users(LocalCreds),
    /// Anyone, with every permission (no `authorization` block).
    Open,
}

/// Options of a local `nats-server`.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// JetStream store directory (created if missing).
    pub store_dir: PathBuf,
    /// Client port; a free one when `None`.
    pub port: Option<u16>,
    /// Extra command-line arguments (e.g. cluster routes).
    pub extra_args: Vec<String>,
    /// The `nats-server` binary to run; the one [`find_binary`] finds when `None`.
    pub binary: Option<PathBuf>,
    /// Who may connect.
    pub auth: ServerAuth,
    /// The Go runtime's soft memory limit (`GOMEMLIMIT`) in MiB, unless the
    /// environment sets one; 256 (the default universe's) when `None`.
    pub memory_limit_mib: Option<u32>,
}

/// The Go memory limit nats-server runs with for a universe of `products`.
///
/// Below what the server keeps in memory while it writes (recent blocks of
/// every stream, consumer state), the collector runs non-stop: at 256 MiB the
/// 205-product `nse-fo` universe's day spent ~40% of nats-server's CPU in
/// garbage collection (`perf`) and stored 1.4x fewer messages in the same
/// 150 s than at 512 MiB (BENCHMARKS.md); the default four products need 256.
pub fn nats_memory_limit_mib(products: usize) -> u32 {
    if products > 64 {
        512
    } else {
        256
    }
}

/// A running local `nats-server` with JetStream.
#[derive(Debug)]
pub struct NatsServer {
    proc: Supervised,
    /// Its client URL, `nats://127.0.0.1:<port>`.
    pub url: String,
    /// Its client port.
    pub port: u16,
    /// The users' credentials (`None`: an open server).
    pub creds: Option<LocalCreds>,
    /// Its configuration file (the rendered `authorization` block).
    pub config_file: PathBuf,
}

impl NatsServer {
    /// Starts `nats-server -js` and waits until it accepts connections.
    ///
    /// # Errors
    /// When the binary is missing, the directory cannot be made, or it does not answer.
    pub fn start(opts: NatsOptions) -> Result<Self> {
        let program = match opts.binary {
            Some(p) => p,
            None => find_binary("nats-server")?,
        };
        std::fs::create_dir_all(&opts.store_dir)
            .map_err(|e| Error::io(format!("creating {}", opts.store_dir.display()), e))?;
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        let creds = match opts.auth {
            ServerAuth::Generate => Some(LocalCreds::ensure(&opts.store_dir.join("creds"))?),
            ServerAuth::Users(c) => Some(c),
            ServerAuth::Open => None,
        };
        let config_file = opts.store_dir.join("nats-server.conf");
        render_config(creds.as_ref(), &config_file)?;
        let mut args = vec![
            "-c".to_string(),
            config_file.display().to_string(),
            "-P".into(),
            opts.store_dir.join(PID_FILE).display().to_string(),
            "-js".to_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-sd".into(),
            opts.store_dir.display().to_string(),
        ];
        args.extend(opts.extra_args);
        let mut proc = Supervised {
            what: "nats-server",
            program,
            args,
            log: opts.store_dir.join("nats-server.log"),
            port,
            memory_limit_mib: Some(
                opts.memory_limit_mib
                    .unwrap_or_else(|| nats_memory_limit_mib(0)),
            ),
            child: None,
        };
        proc.spawn()?;
        Ok(Self {
            proc,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            creds,
            config_file,
        })
    }

    /// Renders the users again (after `creds add` or `rotate`) and has the
    /// running server reload them (SIGHUP); connections keep running.
    ///
    /// # Errors
    /// When the configuration cannot be written or the server is not running.
    pub fn reload(&self) -> Result<()> {
        render_config(self.creds.as_ref(), &self.config_file)?;
        let pid = self.pid().ok_or_else(|| Error::ServerStart {
            what: "nats-server",
            reason: "not running".into(),
        })?;
        signal_reload(pid)
    }
}

supervised!(NatsServer);

/// The pid file a local `nats-server` writes into its store directory (what
/// `deltastream creds` signals to reload the users of `up`'s server).
pub const PID_FILE: &str = "nats-server.pid";

/// Writes the server's configuration: the `authorization` block of `creds`, or
/// an empty file for an open server.
fn render_config(creds: Option<&LocalCreds>, path: &Path) -> Result<()> {
    match creds {
        Some(c) => c.write_server_config(path),
        None => std::fs::write(path, "# An open server: no users, every permission.\n")
            .map_err(|e| Error::io(format!("writing {}", path.display()), e)),
    }
}

/// Asks the `nats-server` with process id `pid` to reload its configuration.
///
/// # Errors
/// When the signal cannot be sent (no such process).
pub fn signal_reload(pid: u32) -> Result<()> {
    let pid = i32::try_from(pid).map_err(|_| Error::Config(format!("bad pid {pid}")))?;
    // SAFETY: plain kill(2); SIGHUP makes nats-server reload its configuration.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::io(
            format!("signalling nats-server (pid {pid}) to reload"),
            std::io::Error::last_os_error(),
        ))
    }
}

/// WiredTiger cache of a local `mongod`, in MiB.
const MONGOD_CACHE_MIB: u32 = 80;

/// Options of a local `mongod`.
#[derive(Debug, Clone, Default)]
pub struct MongodOptions {
    /// Database directory (created if missing).
    pub db_path: PathBuf,
    /// Port; a free one when `None`.
    pub port: Option<u16>,
    /// Extra command-line arguments (e.g. another journal compressor).
    pub extra_args: Vec<String>,
}

/// A running local `mongod`.
#[derive(Debug)]
pub struct Mongod {
    proc: Supervised,
    /// Its URL, `mongodb://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
}

impl Mongod {
    /// Starts `mongod` and waits until it accepts connections.
    ///
    /// # Errors
    /// When the binary is missing, the directory cannot be made, or it does not answer.
    pub fn start(opts: MongodOptions) -> Result<Self> {
        let program = find_binary("mongod")?;
        std::fs::create_dir_all(&opts.db_path)
            .map_err(|e| Error::io(format!("creating {}", opts.db_path.display()), e))?;
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        let log = opts.db_path.join("mongod.log");
        let mut args = vec![
            "--dbpath".to_string(),
            opts.db_path.display().to_string(),
            "--port".into(),
            port.to_string(),
            "--bind_ip".into(),
            "127.0.0.1".into(),
            // Below the 0.25 GiB `--wiredTigerCacheSizeGB` accepts: the projections
            // are write-mostly (a day's chains never fit in any small cache), and
            // a small cache keeps mongod under 300 MiB resident with the same write
            // throughput (measured: 410 MiB at 0.25 GiB, 259 MiB at 96 MiB for the
            // default universe; the nse-fo day peaked at 308 MiB with 96 MiB and
            // 290 MiB with 80 MiB).
            "--wiredTigerEngineConfigString".into(),
            format!("cache_size={MONGOD_CACHE_MIB}M"),
            "--setParameter".into(),
            "diagnosticDataCollectionEnabled=false".into(),
            "--logpath".into(),
            log.display().to_string(),
            "--logappend".into(),
        ];
        args.extend(opts.extra_args);
        let mut proc = Supervised {
            what: "mongod",
            program,
            args,
            log,
            port,
            memory_limit_mib: None,
            child: None,
        };
        proc.spawn()?;
        Ok(Self {
            proc,
            url: format!("mongodb://127.0.0.1:{port}"),
            port,
        })
    }
}

supervised!(Mongod);

/// A JetStream cluster of local `nats-server`s on loopback: each with its own
/// client port, cluster port and store directory, server name `n<i>` and the
/// cluster name `deltastream`, routed to all the others.
#[derive(Debug)]
pub struct NatsCluster {
    /// The servers, `n1` first.
    pub servers: Vec<NatsServer>,
    /// The users' credentials, shared by every server (`None`: open servers).
    pub creds: Option<LocalCreds>,
}

impl NatsCluster {
    /// Starts `size` clustered servers with their data under `dir/n<i>` and waits
    /// until each accepts client connections. JetStream elects its meta leader
    /// a little later: retry the first JetStream request (e.g. `topology apply`)
    /// until it succeeds.
    ///
    /// # Errors
    /// As [`NatsServer::start`]; also when `size` is 0.
    pub fn start(dir: &Path, size: usize) -> Result<Self> {
        Self::start_with(dir, size, None, ServerAuth::Generate)
    }

    /// As [`NatsCluster::start`], running the `nats-server` binary `binary`
    /// (the one [`find_binary`] finds when `None`), with `auth` (generated
    /// seeds go to `dir/creds`).
    ///
    /// # Errors
    /// As [`NatsCluster::start`].
    pub fn start_with(
        dir: &Path,
        size: usize,
        binary: Option<PathBuf>,
        auth: ServerAuth,
    ) -> Result<Self> {
        let creds = match auth {
            ServerAuth::Generate => Some(LocalCreds::ensure(&dir.join("creds"))?),
            ServerAuth::Users(c) => Some(c),
            ServerAuth::Open => None,
        };
        if size == 0 {
            return Err(Error::Config("a cluster needs at least one server".into()));
        }
        let route_ports = (0..size).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let mut servers = Vec::with_capacity(size);
        for (i, own) in route_ports.iter().enumerate() {
            let routes = route_ports
                .iter()
                .filter(|p| *p != own)
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            let name = format!("n{}", i + 1);
            servers.push(NatsServer::start(NatsOptions {
                store_dir: dir.join(&name),
                port: None,
                binary: binary.clone(),
                extra_args: vec![
                    "--server_name".into(),
                    name,
                    "--cluster_name".into(),
                    "deltastream".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{own}"),
                    "--routes".into(),
                    routes,
                ],
                auth: creds.clone().map_or(ServerAuth::Open, ServerAuth::Users),
                memory_limit_mib: None,
            })?);
        }
        Ok(Self { servers, creds })
    }

    /// Every client URL, comma-separated (what `--nats-url` takes).
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Stops every server gracefully.
    pub fn stop(&mut self) {
        for s in &mut self.servers {
            s.stop();
        }
    }
}
