//! The namespace lab of `scripts/lab.sh` for tests: a sender host, a router with an
//! optional tbf bottleneck, a receiver host (198.51.100.2), built under a unique name and
//! torn down on drop, pass or fail.

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

/// The lab of scripts/lab.sh, torn down on drop (pass or fail), with its receiver.
pub struct Lab {
    pub name: String,
    server: Option<Child>,
}

impl Lab {
    /// A lab named after this process and `tag`; `rate` is the tbf bottleneck (none
    /// without), `latency` the longest its queue may hold (the script's default without).
    pub fn up(tag: &str, rate: Option<&str>, latency: Option<&str>) -> Lab {
        let name = format!("sbt{}{tag}", std::process::id() % 10000);
        let lab = Lab { name, server: None };
        let mut cmd = Command::new("bash");
        cmd.arg(lab_script())
            .arg("up")
            .env("LAB", &lab.name)
            .env("RATE", rate.unwrap_or(""));
        if let Some(latency) = latency {
            cmd.env("LATENCY", latency);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    /// The namespace of one host: `snd`, `rtr` or `rcv`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.name)
    }

    /// `sockbench serve` on the receiver host, once it listens.
    pub fn serve(&mut self) {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns("rcv"),
                bin(),
                "serve",
                "--listen",
                "198.51.100.2:5301",
                "--quiet",
            ])
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
        assert!(line.starts_with("listening on 198.51.100.2:5301"), "{line}");
    }

    /// `sockbench run --to the receiver host ARGS` on the sender host.
    pub fn run(&self, args: &[&str]) -> RunResult {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let ns = self.ns("snd");
        let mut all = vec![
            "netns",
            "exec",
            &ns,
            bin(),
            "run",
            "--to",
            "198.51.100.2",
            "--out",
            dir.to_str().unwrap(),
        ];
        all.extend(args);
        let output = Command::new("ip")
            .args(&all)
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
        all.push(bin());
        all.extend(args);
        Command::new("ip").args(&all).output().unwrap()
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
        let _ = Command::new("bash")
            .arg(lab_script())
            .arg("down")
            .env("LAB", &self.name)
            .output();
    }
}
