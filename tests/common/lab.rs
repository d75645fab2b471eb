//! The namespace lab of `scripts/lab.sh` for tests: a sender host, a router with an
//! optional tbf bottleneck and, on request, a path with delay, jitter and loss (netem, or
//! the delay element `sockbench-delay`), a receiver host (198.51.100.2), built under a
//! unique name and torn down on drop, pass or fail.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{bin, need_root, need_tool, RunResult};

/// What every lab test needs: root to build namespaces, and iproute2's ip and tc.
pub fn lab_needs() -> bool {
    need_root()
        && need_tool("ip", "apt-get install -y iproute2")
        && need_tool("tc", "apt-get install -y iproute2")
}

pub fn lab_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/lab.sh")
        .to_string_lossy()
        .into_owned()
}

/// What a path lab needs beyond [`lab_needs`]: ethtool, to turn the veths' offloads off
/// for the delay element (kernels without netem).
pub fn path_lab_needs() -> bool {
    lab_needs() && need_tool("ethtool", "apt-get install -y ethtool")
}

/// Moves the calling thread into the network namespace `name` (`ip netns add NAME`).
#[cfg(target_os = "linux")]
pub fn enter_netns(name: &str) {
    let path = format!("/var/run/netns/{name}");
    let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&ns),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
}

/// Network namespaces are Linux's: the lab tests skip before they get here elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn enter_netns(name: &str) {
    panic!("network namespace {name}: Linux only");
}

/// The path between the lab's hosts: scripts/lab.sh's RATE, LATENCY, DELAY, JITTER,
/// LOSS and SEED. `None` leaves the script's default (no rate limit, no delay).
#[derive(Debug, Clone, Default)]
pub struct LabPath<'a> {
    pub rate: Option<&'a str>,
    /// The longest the tbf queue may hold (tbf latency).
    pub queue: Option<&'a str>,
    /// One-way delay, each direction.
    pub delay: Option<&'a str>,
    pub jitter: Option<&'a str>,
    pub loss: Option<&'a str>,
    pub seed: Option<u64>,
}

/// The lab of scripts/lab.sh, torn down on drop (pass or fail), with its receiver.
pub struct Lab {
    pub name: String,
    server: Option<Child>,
    /// The lab's state (LAB_DIR): the delay element's pid, log and stats file.
    dir: tempfile::TempDir,
    /// The path as the lab describes it (`lab.sh path`), given to runs as SOCKBENCH_PATH.
    pub note: String,
    /// What the hosts' sockbench processes run under: `chrt -r 40` once
    /// [`Lab::hosts_at_realtime`] found it allowed, else nothing.
    sched: Vec<&'static str>,
}

impl Lab {
    /// A lab named after this process and `tag`; `rate` is the tbf bottleneck (none
    /// without), `latency` the longest its queue may hold (the script's default without).
    pub fn up(tag: &str, rate: Option<&str>, latency: Option<&str>) -> Lab {
        let path = LabPath {
            rate,
            queue: latency,
            ..LabPath::default()
        };
        Lab::build(&format!("sbt{}{tag}", std::process::id() % 10000), &path)
    }

    /// A lab with a path, its namespaces named `sbp<pid><tag>-*`.
    pub fn with_path(tag: &str, path: &LabPath) -> Lab {
        Lab::build(&format!("sbp{}{tag}", std::process::id() % 10000), path)
    }

    fn build(name: &str, path: &LabPath) -> Lab {
        let mut lab = Lab {
            name: name.to_string(),
            server: None,
            dir: tempfile::tempdir().unwrap(),
            note: String::new(),
            sched: Vec::new(),
        };
        let mut cmd = lab.script();
        cmd.arg("up").env("RATE", path.rate.unwrap_or(""));
        for (var, value) in [
            ("LATENCY", path.queue),
            ("DELAY", path.delay),
            ("JITTER", path.jitter),
            ("LOSS", path.loss),
        ] {
            if let Some(v) = value {
                cmd.env(var, v);
            }
        }
        if let Some(seed) = path.seed {
            cmd.env("SEED", seed.to_string());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = lab.script().arg("path").output().unwrap();
        lab.note = String::from_utf8_lossy(&out.stdout).trim().to_string();
        lab
    }

    /// scripts/lab.sh for this lab, with the delay element of this build.
    fn script(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(lab_script())
            .env("LAB", &self.name)
            .env("LAB_DIR", self.dir.path())
            .env("SOCKBENCH_DELAY", env!("CARGO_BIN_EXE_sockbench-delay"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the hosts' sockbench processes (the daemon, runs, `tune`) at real-time
    /// priority (SCHED_RR 40, below the delay element's 50), where the system allows it:
    /// then a loaded machine's ordinary processes (busy loops, a build) cannot delay their
    /// wake-ups, and a path's figures measure the path, not the machine's scheduling. For
    /// a path lab only, where the bottleneck keeps the hosts' work to a few percent of a
    /// core: an unpaced sender at real-time priority could hold a CPU. Call before
    /// [`Lab::serve`].
    pub fn hosts_at_realtime(&mut self) {
        let allowed = Command::new("chrt")
            .args(["-r", "40", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if allowed {
            self.sched = vec!["chrt", "-r", "40"];
        } else {
            eprintln!(
                "note: chrt -r 40 is not allowed here; the lab's hosts run at normal \
                 priority, and a loaded machine's scheduling may show in the path's figures"
            );
        }
    }

    /// What emulates the path: `element`, `netem` or `none`.
    pub fn emulator(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The delay element's stats file, once two reads 300 ms apart agree (the element
    /// rewrites it every 100 ms while its counts change); at most 10 s.
    pub fn element_stats(&self) -> serde_json::Value {
        let path = self.dir.path().join("delay.json");
        let read = || -> serde_json::Value {
            let text = std::fs::read_to_string(&path).expect("the delay element's stats");
            serde_json::from_str(&text).expect("stats are JSON")
        };
        let mut last = read();
        for _ in 0..33 {
            std::thread::sleep(Duration::from_millis(300));
            let now = read();
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    /// The delay element's pid (`lab.sh` execs it, so it is the element itself).
    pub fn element_pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.dir.path().join("delay.pid"))
            .expect("the delay element's pid file");
        text.trim().parse().expect("a pid")
    }

    /// The frames the delay element dropped on purpose, whole, from its pcap (`--drops`):
    /// all it dropped up to the counts [`Lab::element_stats`] last returned (the element
    /// writes a drop to the pcap before the counts that include it).
    pub fn element_drops(&self) -> Vec<Vec<u8>> {
        let b = std::fs::read(self.dir.path().join("drops.pcap")).expect("the element's pcap");
        assert!(
            b.len() >= 24 && b[0..4] == 0xa1b2_3c4d_u32.to_le_bytes(),
            "a pcap with nanosecond stamps"
        );
        let mut frames = Vec::new();
        let mut at = 24;
        while let Some(head) = b.get(at..at + 16) {
            let len = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
            let frame = b.get(at + 16..at + 16 + len).expect("a whole record");
            frames.push(frame.to_vec());
            at += 16 + len;
        }
        frames
    }

    /// The namespace of one host: `snd`, `rtr` or `rcv`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.name)
    }

    /// `sockbench serve` on the receiver host, once it listens.
    pub fn serve(&mut self) {
        self.serve_with("198.51.100.2:5301", &[]);
    }

    /// `sockbench serve --listen LISTEN --quiet EXTRA` on the receiver host, once it
    /// listens; `run` reaches it at 198.51.100.2:5301, so LISTEN must cover that.
    pub fn serve_with(&mut self, listen: &str, extra: &[&str]) {
        let ns = self.ns("rcv");
        let mut args = vec!["netns", "exec", &ns];
        args.extend(&self.sched);
        args.extend([bin(), "serve", "--listen", listen]);
        args.push("--quiet");
        args.extend(extra);
        let mut child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        self.server = Some(child);
        assert!(
            line.starts_with(&format!("listening on {listen}")),
            "{line}"
        );
    }

    /// The receiver host's daemon's process id (`ip netns exec` execs it).
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Moves the calling thread into one host's network namespace (`snd`, `rtr`, `rcv`):
    /// the sockets it makes from then on are that host's. For a thread of its own.
    pub fn enter(&self, host: &str) {
        enter_netns(&self.ns(host));
    }

    /// `sockbench run --to the receiver host ARGS` on the sender host.
    pub fn run(&self, args: &[&str]) -> RunResult {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let ns = self.ns("snd");
        let mut all = vec!["netns", "exec", &ns];
        all.extend(&self.sched);
        all.extend([
            bin(),
            "run",
            "--to",
            "198.51.100.2",
            "--out",
            dir.to_str().unwrap(),
        ]);
        all.extend(args);
        let output = Command::new("ip")
            .args(&all)
            .env("SOCKBENCH_PATH", &self.note)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        RunResult {
            _tmp: tmp,
            dir,
            output,
        }
    }

    /// `sockbench ARGS` on the sender host, killed after `limit`.
    pub fn sockbench(&self, args: &[&str], limit: Duration) -> Output {
        let ns = self.ns("snd");
        let mut all = vec!["netns", "exec", &ns, "timeout", "-s", "KILL"];
        let secs = format!("{}", limit.as_secs());
        all.push(&secs);
        all.extend(&self.sched);
        all.push(bin());
        all.extend(args);
        Command::new("ip")
            .args(&all)
            .env("SOCKBENCH_PATH", &self.note)
            .output()
            .unwrap()
    }

    /// Datagrams the kernel of host `host` (`snd`, `rtr`, `rcv`) dropped so far because
    /// a UDP socket's receive buffer was full (`RcvbufErrors` in its /proc/net/snmp).
    pub fn udp_rcvbuf_errors(&self, host: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(host), "cat", "/proc/net/snmp"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
        let (names, values) = (udp.next().unwrap_or(""), udp.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no Udp RcvbufErrors in {host}'s /proc/net/snmp: {text}"))
    }

    /// Packets dropped so far by the router's qdisc on `dev`.
    pub fn drops(&self, dev: &str) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns("rtr"),
                "tc",
                "-s",
                "qdisc",
                "show",
                "dev",
                dev,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let after = text.split("dropped ").nth(1).expect("a drop counter");
        after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A command on the router, which must succeed.
    pub fn router(&self, args: &[&str]) {
        let ns = self.ns("rtr");
        let mut all = vec!["netns", "exec", &ns];
        all.extend(args);
        let st = Command::new("ip").args(&all).status().unwrap();
        assert!(st.success(), "{args:?}");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.script().arg("down").output();
    }
}
