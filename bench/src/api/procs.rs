//! The processes of `--mode api`: the server (`buildhooks serve`, this same binary) and the
//! receiver (`buildhooks bench --mode api-receiver`), each started as a child of the benchmark,
//! which is the load-generating client; and reading what each process costs from `/proc`
//! (CPU time, resident memory), the database's processes (PostgreSQL's backends) included.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A child process, killed when dropped.
pub(crate) struct Proc {
    child: Child,
    pub pid: u32,
}

impl Proc {
    /// `buildhooks <args>` (this binary) with `env` added to this process's environment, run
    /// under `wrapper` when given (a command line, such as `valgrind --tool=callgrind`).
    pub fn spawn(
        args: &[&str],
        env: &[(&str, String)],
        stdout: Stdio,
        wrapper: Option<&str>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("the benchmark's own binary")?;
        let mut words = wrapper.unwrap_or("").split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start buildhooks {}", args.join(" ")))?;
        let pid = child.id().context("the child's pid")?;
        Ok(Proc { child, pid })
    }

    /// The first line the child prints on stdout (the receiver's URL).
    pub async fn first_line(&mut self) -> anyhow::Result<String> {
        let stdout = self.child.stdout.take().context("the child's stdout")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .context("the receiver did not print its address within 60 s")??;
        Ok(line.trim().to_owned())
    }

    /// Stops the child: SIGTERM (a server drains its in-flight deliveries), then a kill after
    /// `grace`.
    pub async fn stop(mut self, grace: Duration) {
        // `kill(1)`: no signal crate needed; a child that already exited ignores it.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// Fails when the child has exited.
    pub fn check_alive(&mut self, what: &str) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the {what} process exited: {status}");
        }
        Ok(())
    }
}

/// Runs `buildhooks <args>` to its end with `env`; returns its stdout (it must exit 0).
pub async fn output(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("the benchmark's own binary")?;
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(Stdio::inherit())
        .output()
        .await?;
    if !out.status.success() {
        bail!("buildhooks {} failed: {}", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until `url` answers 200 (the server's `/readyz`), up to a minute.
pub async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    server: &mut Proc,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        server.check_alive("server")?;
        if let Ok(response) = client.get(url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{url} did not answer 200 within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free port on 127.0.0.1 (bound and released: the server binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// utime + stime of process `pid` in seconds (all its threads), `None` once it is gone.
pub fn cpu_of(pid: u32) -> Option<f64> {
    crate::stats::cpu_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The kernel's part (stime) of process `pid`'s CPU seconds.
pub fn system_cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    crate::stats::user_system_of_stat(&stat).map(|(_, system)| system)
}

/// CPU seconds of every process whose command name is `postgres` (the server's backends and
/// helpers): the database's share on PostgreSQL, 0 on SQLite (which runs inside the server).
pub fn database_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| crate::stats::cpu_of_stat(&stat))
        .sum()
}

/// (current, peak) resident memory of process `pid` in MB.
pub fn rss_of(pid: u32) -> (f64, f64) {
    crate::stats::rss_in(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default(),
    )
}
