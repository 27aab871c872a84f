//! The fault lab: etcd (v3 API) on host 5, the RR on host 10 running
//! `rrd run` with a *managed* BIRD 2 (`manage_process = true`, left running
//! when rrd dies), three Calico-like BIRD 1.6 clients (21..23, graceful
//! restart) with a route monitor (`ip -ts monitor route`) each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rrd_lab::calico_client::CalicoClient;
use rrd_lab::etcd::EtcdHost;
use rrd_lab::route_monitor::{Mark, RouteMonitor, Withdrawals};
use rrd_lab::route_reflector::tail;
use rrd_lab::{bins, poll, Host, Lab, Process, Signal};

use crate::datastore::Datastore;
use crate::model::{Model, ASN, CLIENTS, PREFIX};
use crate::schedule::{BadKey, Cut};
use crate::watcher::{bird_sessions, Watcher};

/// rrd's HTTP endpoint inside the RR's namespace.
const HTTP: &str = "127.0.0.1:9180";

fn rrd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rrd")
}

/// Fields drop in order: the watcher, monitors, clients, rrd, etcd, then
/// the lab (which SIGKILLs what is left in its namespaces: BIRD).
pub struct FaultLab {
    pub watcher: Watcher,
    monitors: Vec<RouteMonitor>,
    pub clients: Vec<CalicoClient>,
    rrd: Option<Process>,
    pub etcd: EtcdHost,
    pub store: Datastore,
    pub rr: Host,
    etcd_host: Host,
    pub model: Model,
    /// Bad keys present in etcd.
    pub bad_keys: Vec<BadKey>,
    config: PathBuf,
    bird_ctl: PathBuf,
    bird_pid_file: PathBuf,
    log: PathBuf,
    lab: Lab,
}

impl FaultLab {
    /// etcd with the model's keys, rrd converged on them, clients up and
    /// holding each other's blocks. `guard_release_after` is the
    /// mass-removal guard's `release_after` ("0s": never by itself).
    pub fn new(setup_within: Duration, guard_release_after: &str) -> FaultLab {
        let mut lab = Lab::new("fs");
        let etcd_host = lab.add_host("etcd", 5);
        let rr = lab.add_host("rr", 10);
        let etcd = EtcdHost::start(&lab, &etcd_host);
        let store = Datastore::new(&etcd_host, etcd.url());
        let model = Model::new(rr.ipv4);
        store.put_all(model.kvs());
        let bird_conf = lab.path("rr-bird.conf");
        let mut f = FaultLab {
            watcher: Watcher::start(lab.path("rr-bird.ctl")),
            monitors: Vec::new(),
            clients: Vec::new(),
            rrd: None,
            store,
            model,
            bad_keys: Vec::new(),
            config: lab.path("rrd.toml"),
            bird_ctl: lab.path("rr-bird.ctl"),
            bird_pid_file: PathBuf::from(format!("{}.rrd.pid", bird_conf.display())),
            log: lab.path("rrd.log"),
            etcd,
            rr,
            etcd_host,
            lab,
        };
        f.write_config(&bird_conf, guard_release_after);
        f.start_rrd();
        for i in CLIENTS {
            let host = f.lab.add_host(&format!("c{i}"), i);
            f.monitors.push(RouteMonitor::start(&f.lab, &host));
            f.clients
                .push(CalicoClient::start(&f.lab, &host, ASN, &[f.rr.ipv4]));
        }
        f.converge(setup_within, "at setup");
        f
    }

    /// rrd.toml: the etcd source with short keepalive and backoff (a
    /// dead connection is noticed in ~4 s, retried at most 2 s apart),
    /// managed BIRD 2 left running when rrd exits, the mass-removal guard
    /// at its defaults but for `release_after`.
    fn write_config(&self, bird_conf: &std::path::Path, release_after: &str) {
        let text = format!(
            "[identity]\nipv4 = \"{rr}\"\n\n\
             [source]\nkind = \"etcd\"\n[source.etcd]\napi = \"v3\"\nendpoints = [\"{etcd}\"]\n\
             layout = \"calico-v1\"\ndial_timeout = \"2s\"\nrequest_timeout = \"5s\"\n\
             keepalive_interval = \"2s\"\nkeepalive_timeout = \"2s\"\n\
             backoff_initial = \"200ms\"\nbackoff_max = \"2s\"\n\n\
             [engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"2\"\nmanage_process = true\n\
             stop_daemon_on_exit = false\nconfig_path = \"{conf}\"\nsocket = \"{ctl}\"\nbinary = \"{bird}\"\n\n\
             [runtime.mass_removal]\nthreshold = 0.5\nmin_sessions = 4\nrelease_after = \"{release_after}\"\n\n\
             [http]\nlisten = \"{HTTP}\"\nadmin_socket = \"{admin}\"\n\n[log]\nlevel = \"info\"\n",
            rr = self.rr.ipv4,
            etcd = self.etcd.url(),
            conf = bird_conf.display(),
            ctl = self.bird_ctl.display(),
            bird = bins::bird2().display(),
            admin = self.lab.path("rrd.sock").display(),
        );
        std::fs::write(&self.config, text).expect("write rrd.toml");
    }

    pub fn start_rrd(&mut self) {
        assert!(self.rrd.is_none(), "rrd already runs");
        let config = self.config.display().to_string();
        self.rrd = Some(self.rr.spawn(
            "rrd run",
            rrd_bin(),
            &["run", "--config", &config],
            self.log.clone(),
        ));
    }

    /// SIGKILL rrd (its managed BIRD keeps running).
    pub fn kill_rrd(&mut self) {
        if let Some(mut p) = self.rrd.take() {
            p.stop_with(Signal::SIGKILL);
        }
    }

    /// Stop rrd as an operator would (SIGTERM).
    pub fn stop_rrd(&mut self) {
        if let Some(mut p) = self.rrd.take() {
            p.stop();
        }
    }

    /// Remove BIRD's control socket file (BIRD keeps running).
    pub fn delete_bird_socket(&self) {
        std::fs::remove_file(&self.bird_ctl).expect("remove BIRD's control socket");
    }

    /// The managed BIRD's PID (rrd's PID file), if it runs.
    pub fn bird_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(&self.bird_pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        std::path::Path::new(&format!("/proc/{pid}"))
            .exists()
            .then_some(pid)
    }

    pub fn kill_bird(&self) -> u32 {
        let pid = self.bird_pid().expect("the managed BIRD runs");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
            Signal::SIGKILL,
        )
        .expect("SIGKILL BIRD");
        pid
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self
            .rr
            .command(rrd_bin())
            .args(["status", "--json", "--url", HTTP])
            .output()
            .expect("rrd status");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn rrd_log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// BIRD's sessions: name -> (since, state and info).
    pub fn bird_protocols(&self) -> BTreeMap<String, (String, String)> {
        let text = rrd_lab::calico_client::birdc(&bins::birdc2(), &self.bird_ctl, "show protocols");
        rrd_lab::since::sessions(&text)
    }

    /// The "since" of every client session (Established ones).
    pub fn client_since(&self) -> BTreeMap<String, String> {
        let clients = self.model.client_sessions();
        self.bird_protocols()
            .into_iter()
            .filter(|(name, _)| clients.contains(name))
            .map(|(name, (since, _))| (name, since))
            .collect()
    }

    pub fn cut(&self, cut: Cut) {
        self.set_cut(cut, true);
    }

    pub fn heal(&self, cut: Cut) {
        self.set_cut(cut, false);
    }

    /// Puts the partition in place (`on`) or takes it away again.
    fn set_cut(&self, cut: Cut, on: bool) {
        match cut {
            Cut::BlackholeRoute => {
                let dst = format!("{}/32", self.etcd_host.ipv4);
                let verb = if on { "add" } else { "del" };
                self.rr.exec("ip", &["route", verb, "blackhole", &dst]);
            }
            Cut::EtcdLinkDown => {
                let state = if on { "down" } else { "up" };
                self.etcd_host.exec("ip", &["link", "set", "eth0", state]);
            }
        }
    }

    /// Wait until `probe(status)` holds; panics naming `what` after `within`.
    pub fn wait_status(
        &self,
        what: &str,
        within: Duration,
        probe: impl Fn(&serde_json::Value) -> bool,
    ) {
        poll::until(what, within, || {
            let s = self.status();
            if probe(&s) {
                Ok(())
            } else {
                Err(format!(
                    "status: {s:#}\nrrd log (tail):\n{}",
                    tail(&self.rrd_log(), 20)
                ))
            }
        });
    }

    pub fn put_bad_key(&mut self, bad: &BadKey) {
        self.store.put(full_key(&bad.key), bad.value.clone());
        self.bad_keys.push(bad.clone());
    }

    pub fn delete_bad_keys(&mut self) {
        for bad in std::mem::take(&mut self.bad_keys) {
            self.store.delete(full_key(&bad.key));
        }
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.monitors.iter().map(RouteMonitor::mark).collect()
    }

    /// Client block deletions since `marks`, all clients together.
    pub fn withdrawals_since(&self, marks: &[Mark]) -> Withdrawals {
        self.monitors
            .iter()
            .zip(marks)
            .map(|(m, mark)| m.withdrawals_since(*mark, "203.0.113."))
            .fold(Withdrawals::default(), Withdrawals::merge)
    }

    /// What is not converged yet, or `None` when everything is: rrd
    /// ready with exactly the model's sessions desired, BIRD holding
    /// exactly those, every client session Established, every client
    /// holding every other client's block in its kernel table.
    pub fn divergence(&self) -> Option<String> {
        let want = self.model.desired();
        let s = self.status();
        let ready = s["source"]["synced"] == true
            && s["source"]["connected"] == true
            && s["in_sync"] == true
            && s["pending_mass_removal"].is_null();
        if !ready {
            return Some(format!(
                "rrd not ready: source {} in_sync {} pending {} engine {}",
                s["source"], s["in_sync"], s["pending_mass_removal"], s["engine"]
            ));
        }
        let desired: BTreeSet<String> = s["desired"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if desired != want {
            return Some(format!("rrd desires {desired:?}, the model {want:?}"));
        }
        let Some(held) = bird_sessions(&self.bird_ctl) else {
            return Some("BIRD does not answer".into());
        };
        if held != want {
            return Some(format!("BIRD holds {held:?}, the model {want:?}"));
        }
        let protocols = self.bird_protocols();
        for name in self.model.client_sessions() {
            let state = protocols.get(&name).map(|(_, st)| st.as_str());
            if !state.is_some_and(|st| st.contains("Established")) {
                return Some(format!("{name} not Established: {state:?}"));
            }
        }
        for c in &self.clients {
            let have = c.host.bird_routes();
            for o in self.clients.iter().filter(|o| o.block != c.block) {
                if !have.contains(&o.block) {
                    return Some(format!("{} lacks {}: {have:?}", c.host.name, o.block));
                }
            }
        }
        None
    }

    /// Wait until converged; returns how long it took. Panics after
    /// `within` saying what is still off.
    pub fn converge(&self, within: Duration, when: &str) -> Duration {
        let t0 = Instant::now();
        poll::until(&format!("convergence {when}"), within, || {
            match self.divergence() {
                None => Ok(t0.elapsed()),
                Some(d) => Err(format!(
                    "{d}\nrrd log (tail):\n{}",
                    tail(&self.rrd_log(), 25)
                )),
            }
        })
    }
}

/// A key relative to the prefix, as bytes.
pub fn full_key(rel: &[u8]) -> Vec<u8> {
    let mut k = format!("{PREFIX}/").into_bytes();
    k.extend_from_slice(rel);
    k
}
