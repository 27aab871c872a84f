//! The RR host of the migration lab: rrd with *managed* daemons (BIRD,
//! gobgpd and FRR's bgpd started and supervised by rrd, left running when
//! rrd stops, as the migration procedure needs), every engine table in one
//! rrd.toml, and the operator's commands: `rrd run`, `rrd migrate`,
//! switching `engine.kind`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rrd_lab::route_reflector::{desired_and_established, tail};
use rrd_lab::{bins, poll, Host, Lab, Process};

/// rrd's HTTP endpoint inside the RR's namespace.
const HTTP: &str = "127.0.0.1:9180";

/// Which BIRD release the RR runs before (and after) GoBGP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bird {
    V2,
    V1_6,
}

/// What one `rrd migrate` did.
#[derive(Debug)]
pub struct MigrateRun {
    pub code: Option<i32>,
    pub output: String,
    pub elapsed: Duration,
}

impl MigrateRun {
    /// The report's `handover N ms: ...` line, as (name, ms) pairs:
    /// `handover`, `target configured`, `all Established`, `End-of-RIB
    /// exchanged`, `route counts matched` (ms since the old daemon stopped).
    pub fn timings(&self) -> Vec<(String, u64)> {
        let Some(line) = self.output.lines().find(|l| l.starts_with("handover ")) else {
            return Vec::new();
        };
        let mut parts = line.split("-> ");
        let head = parts.next().unwrap_or_default();
        let mut out = Vec::new();
        let named = |text: &str| {
            let text = text.trim().trim_end_matches(',').trim_end_matches(':');
            let text = text.strip_suffix(" ms")?;
            let (name, value) = text.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        };
        if let Some(h) = head.split(": ").next().and_then(named) {
            out.push(h);
        }
        out.extend(parts.filter_map(named));
        out
    }
}

/// Fields drop in order: rrd first; the daemons it left belong to the
/// namespace, which the lab empties (SIGKILL by PID) and deletes.
#[derive(Debug)]
pub struct ManagedRr {
    rrd: Option<Process>,
    pub host: Host,
    pub bird: Bird,
    rrd_binary: PathBuf,
    config: PathBuf,
    topology: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    migrations: usize,
    /// bgpd's pathspace (`/run/frr/<it>` is removed on drop).
    frr_pathspace: String,
}

impl Drop for ManagedRr {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(bins::frr_pathspace_dir(&self.frr_pathspace));
    }
}

impl ManagedRr {
    /// The RR host with rrd.toml naming `kind` (`bird`, `gobgp`, `frr`)
    /// as the engine rrd starts with.
    pub fn new(
        lab: &Lab,
        host: &Host,
        bird: Bird,
        kind: &str,
        topology: &Path,
        rrd_binary: &Path,
    ) -> Self {
        let rr = ManagedRr {
            rrd: None,
            host: host.clone(),
            bird,
            rrd_binary: rrd_binary.to_owned(),
            config: lab.path("rrd.toml"),
            topology: topology.to_owned(),
            dir: lab.dir().to_owned(),
            log: lab.path("rrd.log"),
            migrations: 0,
            frr_pathspace: format!("{}rr", lab.id),
        };
        rr.write_config(kind);
        rr
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// rrd.toml with `engine.kind = kind` and both engine tables.
    pub fn write_config(&self, kind: &str) {
        let (version, bird, bird6) = match self.bird {
            Bird::V2 => ("2", bins::bird2(), bins::bird2()),
            Bird::V1_6 => ("1.6", bins::bird16(), bins::bird16_v6()),
        };
        let p = |n: &str| self.path(n).display().to_string();
        let text = format!(
            "[identity]\nipv4 = \"{ip}\"\n\n\
             [source]\nkind = \"file\"\n[source.file]\npath = \"{topology}\"\npoll_interval = \"100ms\"\n\n\
             [engine]\nkind = \"{kind}\"\n\
             [engine.bird]\nversion = \"{version}\"\nmanage_process = true\n\
             config_path = \"{bc}\"\nconfig_path_v6 = \"{bc6}\"\nsocket = \"{bs}\"\nsocket_v6 = \"{bs6}\"\n\
             binary = \"{bird}\"\nbinary_v6 = \"{bird6}\"\n\
             [engine.gobgp]\nmanage_process = true\napi = \"127.0.0.1:50051\"\nstate_dir = \"{state}\"\n\
             binary = \"{gobgpd}\"\nlog_file = \"{glog}\"\n\
             [engine.frr]\nmanage_process = true\npathspace = \"{ps}\"\nsocket_dir = \"{fs}\"\n\
             config_path = \"{fc}\"\nstate_dir = \"{fst}\"\nbinary = \"{bgpd}\"\nlog_file = \"{flog}\"\n\n\
             [http]\nlisten = \"{HTTP}\"\nadmin_socket = \"{admin}\"\n\n[log]\nlevel = \"info\"\n",
            ip = self.host.ipv4,
            topology = self.topology.display(),
            bc = p("rr-bird.conf"),
            bc6 = p("rr-bird6.conf"),
            bs = p("rr-bird.ctl"),
            bs6 = p("rr-bird6.ctl"),
            bird = bird.display(),
            bird6 = bird6.display(),
            state = p("gobgp-state"),
            gobgpd = bins::gobgpd().display(),
            glog = p("gobgpd.log"),
            ps = self.frr_pathspace,
            fs = p("frr-run"),
            fc = p("frr-bgpd.conf"),
            fst = p("frr-state"),
            bgpd = bins::bgpd().display(),
            flog = p("bgpd.log"),
            admin = p("rrd.sock"),
        );
        std::fs::write(&self.config, text).expect("write rrd.toml");
    }

    pub fn start_rrd(&mut self) {
        self.stop_rrd();
        let config = self.config.display().to_string();
        self.rrd = Some(self.host.spawn(
            "rrd run",
            &self.rrd_binary,
            &["run", "--config", &config],
            self.log.clone(),
        ));
    }

    /// SIGTERM: rrd exits and leaves its daemon running with its sessions.
    pub fn stop_rrd(&mut self) {
        if let Some(mut p) = self.rrd.take() {
            p.stop();
        }
        // Its HTTP endpoint is gone once the process is.
    }

    /// `rrd run` expected to exit by itself within `limit` (killed by
    /// `timeout` otherwise): its exit code and output.
    pub fn run_once(&self, limit: Duration) -> (Option<i32>, String) {
        let config = self.config.display().to_string();
        let limit = limit.as_secs().to_string();
        let out = self
            .host
            .command("timeout")
            .arg(&limit)
            .arg(&self.rrd_binary)
            .args(["run", "--config", &config])
            .output()
            .expect("run rrd run");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }

    /// `rrd migrate --to <to> [--deadline <d>]` in the RR's namespace.
    pub fn migrate(&mut self, to: &str, deadline: Option<&str>) -> MigrateRun {
        self.migrations += 1;
        let out = self.path(&format!("migrate-{}.out", self.migrations));
        let file = std::fs::File::create(&out).expect("migrate output");
        let config = self.config.display().to_string();
        let mut args = vec!["migrate", "--to", to, "--config", &config];
        if let Some(d) = deadline {
            args.extend(["--deadline", d]);
        }
        let started = Instant::now();
        let status = self
            .host
            .command(&self.rrd_binary)
            .args(&args)
            .stdout(file.try_clone().expect("clone"))
            .stderr(file)
            .status()
            .expect("run rrd migrate");
        MigrateRun {
            code: status.code(),
            output: std::fs::read_to_string(&out).unwrap_or_default(),
            elapsed: started.elapsed(),
        }
    }

    pub fn status_json(&self) -> serde_json::Value {
        let out = self
            .host
            .command(&self.rrd_binary)
            .args(["status", "--json", "--url", HTTP])
            .output()
            .expect("rrd status");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn rrd_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until rrd is in sync and every desired session is Established.
    pub fn wait_established(&self, timeout: Duration) -> serde_json::Value {
        poll::until("every session Established under rrd", timeout, || {
            let s = self.status_json();
            let (desired, established) = desired_and_established(&s);
            if s["in_sync"] == true && !desired.is_empty() && desired == established {
                Ok(s)
            } else {
                Err(format!(
                    "desired {desired:?}, established {established:?}\nstatus {s:#}\nrrd log (tail):\n{}",
                    tail(&self.rrd_log(), 30)
                ))
            }
        })
    }

    /// The managed gobgpd's PID (its PID file), if it runs.
    pub fn gobgpd_pid(&self) -> Option<u32> {
        live_pid(&self.path("gobgp-state/gobgpd.pid"))
    }

    /// The managed BIRD's PID (the IPv4 daemon for 1.6), if it runs.
    pub fn bird_pid(&self) -> Option<u32> {
        live_pid(&self.path("rr-bird.conf.rrd.pid"))
    }

    /// The managed bgpd's PID (rrd's PID file), if it runs.
    pub fn bgpd_pid(&self) -> Option<u32> {
        live_pid(&self.path("frr-state/bgpd.pid"))
    }

    /// The PID of the daemon of engine `kind`, if it runs.
    pub fn pid_of(&self, kind: &str) -> Option<u32> {
        match kind {
            "gobgp" => self.gobgpd_pid(),
            "frr" => self.bgpd_pid(),
            _ => self.bird_pid(),
        }
    }

    /// `vtysh -c <command>` against the RR's bgpd.
    pub fn vtysh(&self, command: &str) -> String {
        let out = self
            .host
            .command(bins::vtysh())
            .arg("--vty_socket")
            .arg(self.path("frr-run"))
            .args(["-c", command])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// `show protocols` of the RR's BIRD.
    pub fn birdc(&self, command: &str) -> String {
        let birdc = match self.bird {
            Bird::V2 => bins::birdc2(),
            Bird::V1_6 => bins::birdc16(),
        };
        rrd_lab::calico_client::birdc(&birdc, &self.path("rr-bird.ctl"), command)
    }

    /// gobgpd's peers as `gobgp neighbor -j` shows them.
    pub fn gobgp_neighbors(&self) -> String {
        let out = self
            .host
            .command(bins::gobgp())
            .args(["-u", "127.0.0.1", "-p", "50051", "neighbor", "-j"])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

fn live_pid(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Whether `pid` is alive (not a zombie either).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name in parentheses.
    let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    !matches!(state, Some(Some('Z')) | None)
}
