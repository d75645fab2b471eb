//! The fuzzing entry to a daemon's handling of one control connection.

use super::*;

/// For fuzzing (`fuzz/`): plays `input` as the bytes a sender sends on one control
/// connection to a keyless daemon, and runs the daemon's handling of it — the handshake,
/// then any setups — to its end, over a real loopback connection. A panic or a hang is
/// the finding; nothing is returned. Setups that pass every check really open data
/// sockets; their setup deadline is short so that each input ends quickly.
pub fn fuzz_control_session(input: &[u8]) {
    use std::io::Read;
    use std::sync::OnceLock;
    static LISTENER: OnceLock<TcpListener> = OnceLock::new();
    let listener =
        LISTENER.get_or_init(|| TcpListener::bind(("127.0.0.1", 0)).expect("a loopback port"));
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let Ok(mut client) = TcpStream::connect(addr) else {
        return;
    };
    let Ok((server, peer)) = listener.accept() else {
        return;
    };
    let bytes = input.to_vec();
    let sender = thread::spawn(move || {
        let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = client.write_all(&bytes);
        let _ = client.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
    });
    let daemon = Daemon {
        opts: ServeOptions {
            quiet: true,
            handshake_timeout: Duration::from_millis(500),
            setup_timeout: Duration::from_millis(200),
            ..ServeOptions::default()
        },
        facts: HostFacts::default(),
        pending: Mutex::new(Pending::default()),
        tests: AtomicUsize::new(0),
        keyed: AtomicUsize::new(0),
        memory: AtomicU64::new(0),
        log: Mutex::new(LogLimit {
            window: Instant::now(),
            lines: 0,
            suppressed: 0,
        }),
    };
    let _ = handle_sender(&daemon, server, peer);
    let _ = sender.join();
}
