//! The command line as a new user meets it, black box on the real binary:
//! signals, configuration errors, pipes, output formats, exit statuses,
//! completions and the manual page. Each test names a defect a first run
//! once hit; none needs a BGP daemon (the engine points at a socket that
//! does not exist, which rrd survives and reports).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

mod bad_input;

fn rrd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rrd"));
    cmd.env_remove("RUST_LOG").env_remove("IP");
    cmd
}

/// A configuration directory: a topology file and an rrd.toml whose engine
/// socket does not exist, `extra` appended.
struct Setup {
    dir: tempfile::TempDir,
    port: u16,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let topology = dir.path().join("topology.toml");
        std::fs::write(
            &topology,
            "rules = \"legacy\"\n[defaults]\nasn = 64512\n\n\
             [[route_reflectors]]\nip = \"198.51.100.10\"\ncluster_id = \"1.0.0.1\"\n\n\
             [[peers]]\nip = \"198.51.100.10\"\nasn = 64512\n\n\
             [[nodes]]\nname = \"n21\"\nipv4 = \"198.51.100.21\"\n",
        )
        .expect("write topology");
        let setup = Setup {
            dir,
            port: free_port(),
        };
        setup.write_config(extra);
        setup
    }

    fn write_config(&self, extra: &str) {
        let d = self.dir.path();
        let port = self.port;
        std::fs::write(
            self.config(),
            format!(
                "[identity]\nipv4 = \"198.51.100.10\"\n[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\n\
                 [engine]\nkind = \"bird\"\n[engine.bird]\nconfig_path = \"{}\"\nsocket = \"{}\"\n\
                 [http]\nlisten = \"127.0.0.1:{port}\"\nadmin_socket = \"{}\"\n{extra}",
                d.join("topology.toml").display(),
                d.join("bird.conf").display(),
                d.join("no-such-bird.ctl").display(),
                d.join("rrd.sock").display(),
            ),
        )
        .expect("write rrd.toml");
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("rrd.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        rrd()
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .expect("run rrd")
    }

    fn listen(&self) -> String {
        let text = std::fs::read_to_string(self.config()).expect("read rrd.toml");
        let line = text
            .lines()
            .find(|l| l.starts_with("listen = "))
            .expect("listen line");
        line.trim_start_matches("listen = ")
            .trim_matches('"')
            .to_owned()
    }

    /// `rrd run`, stderr into a file (the log).
    fn spawn_run(&self) -> Running {
        let log = self.dir.path().join("rrd.log");
        let child = rrd()
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn rrd run");
        Running { child, log }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal rrd");
    }

    /// Poll the log until `what` appears.
    fn wait_for_log(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(what) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "rrd exited with {status} before logging {what:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn sighup_reloads_the_log_level_and_never_ends_rrd_run() {
    let s = Setup::new("[log]\nlevel = \"info\"\n");
    let mut run = s.spawn_run();
    run.wait_for_log("rrd starting");
    s.write_config("[log]\nlevel = \"debug\"\n");
    run.signal(Signal::SIGHUP);
    run.wait_for_log("SIGHUP: log filter changed");
    run.wait_for_log("DEBUG rrd::commands::run: SIGHUP: configuration loaded");
    assert!(
        !run.log().contains("take effect when rrd restarts"),
        "{}",
        run.log()
    );
    // A configuration that no longer loads changes nothing and is named.
    std::fs::write(s.config(), "[runtime]\ndebounce = 3\n").expect("break rrd.toml");
    run.signal(Signal::SIGHUP);
    run.wait_for_log("SIGHUP: configuration not reloaded");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "rrd run ended on SIGHUP:\n{}",
        run.log()
    );
    run.signal(Signal::SIGTERM);
    let status = run.child.wait().expect("wait");
    assert!(status.success(), "{status}:\n{}", run.log());
}

#[test]
fn an_unknown_log_level_is_refused_by_check_and_by_run_naming_the_key() {
    let s = Setup::new("[log]\nlevel = \"loud\"\n");
    for args in [&["check"][..], &["run"][..]] {
        let out = s.run(args);
        let all = stdout(&out) + &stderr(&out);
        assert_eq!(out.status.code(), Some(1), "rrd {args:?}: {all}");
        assert!(all.contains("log.level: \"loud\""), "rrd {args:?}: {all}");
    }
}

#[test]
fn zero_intervals_are_refused_by_check_and_by_run_without_a_panic() {
    for key in ["observe_interval", "resync_interval"] {
        let s = Setup::new(&format!("[runtime]\n{key} = \"0s\"\n"));
        for args in [&["check"][..], &["run"][..]] {
            let out = s.run(args);
            let all = stdout(&out) + &stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "rrd {args:?} with {key} = 0s: {all}"
            );
            assert!(all.contains(&format!("runtime.{key}")), "{all}");
            assert!(!all.contains("panicked"), "{all}");
        }
    }
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let s = Setup::new("");
    let mut child = rrd()
        .arg("--config")
        .arg(s.config())
        .arg("check")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rrd check");
    // `rrd check | head -0`: the reader is gone before rrd writes.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.success(), "{status}: {err}");
}

#[test]
fn an_environment_override_error_names_the_variable_not_the_file() {
    let s = Setup::new("");
    let out = rrd()
        .arg("--config")
        .arg(s.config())
        .arg("check")
        .env("RRD_HTTP__LISTEN", "nowhere")
        .output()
        .expect("run rrd");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("http.listen") && text.contains("environment variable RRD_HTTP__LISTEN"),
        "{text}"
    );
}

#[test]
fn every_error_of_a_configuration_is_reported_at_once() {
    let s = Setup::new("[runtime]\ndebounse = \"1s\"\nobserve_interval = \"0s\"\n[log]\nlevel = \"loud\"\nformat = \"xml\"\n");
    let out = s.run(&["check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for key in [
        "runtime.debounse",
        "runtime.observe_interval",
        "log.level",
        "log.format",
    ] {
        assert!(text.contains(key), "{key} not reported:\n{text}");
    }
}

#[test]
fn output_formats_are_parseable_and_help_documents_exit_statuses() {
    let s = Setup::new("");
    let check: serde_json::Value =
        serde_json::from_str(&stdout(&s.run(&["check", "-o", "json"]))).expect("check -o json");
    assert_eq!(check["this_rr"]["rr_clients"], 1, "{check:#}");
    let render: serde_yaml::Value =
        serde_yaml::from_str(&stdout(&s.run(&["render", "-o", "yaml"]))).expect("render -o yaml");
    assert!(
        render["config"]["neighbors"]["Global_198_51_100_21"].is_mapping(),
        "{render:?}"
    );
    let help = stdout(&rrd().arg("--help").output().expect("rrd --help"));
    assert!(
        help.contains("Exit status:") && help.contains("3  `status`"),
        "{help}"
    );
    let status_help = stdout(&rrd().args(["status", "--help"]).output().expect("help"));
    assert!(
        status_help.contains("3 running but not ready"),
        "{status_help}"
    );
}

#[test]
fn status_exits_3_while_not_ready_and_prints_json_without_escapes() {
    let s = Setup::new("");
    let mut run = s.spawn_run();
    run.wait_for_log("serving /metrics");
    let listen = s.listen();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = s.run(&["status", "-o", "json", "--url", &listen]);
        if out.status.code() == Some(3) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let status: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status -o json");
    assert_eq!(status["engine"]["kind"], "bird", "{status:#}");
    run.signal(Signal::SIGTERM);
    let _ = run.child.wait();
    // Not a terminal: no colour escapes in the log.
    assert!(!run.log().contains('\u{1b}'), "{}", run.log());
}

#[test]
fn completions_and_the_manual_page_come_from_the_cli_definition() {
    let bash = stdout(
        &rrd()
            .args(["completions", "bash"])
            .output()
            .expect("completions"),
    );
    assert!(
        bash.contains("_rrd()") && bash.contains("migrate"),
        "{bash}"
    );
    let man = stdout(&rrd().arg("man").output().expect("man"));
    assert!(man.starts_with(".ie") || man.contains(".TH rrd"), "{man}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = rrd()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .expect("man --dir");
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["rrd.1", "rrd-run.1", "rrd-status.1", "rrd-migrate.1"] {
        assert!(
            Path::new(&dir.path().join(page)).exists(),
            "{page} not written"
        );
    }
}
