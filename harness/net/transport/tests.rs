use super::*;

#[test]
fn dgram_header_round_trips() {
    let mut buf = [0u8; 32];
    dgram::put_header(&mut buf, 123456789, dgram::DATA, 7);
    assert_eq!(dgram::header(&buf), Some((123456789, dgram::DATA, 7)));
    assert_eq!(dgram::header(&buf[..15]), None);
}

#[test]
fn probe_refuses_missing_protocols_and_bad_knobs() {
    assert!(probe(Protocol::Tcp, &[&SocketKnobs::default()]).is_ok());
    let err = probe(Protocol::Dccp, &[]).unwrap_err().to_string();
    assert!(err.starts_with("protocol dccp:"), "{err}");
    let bad = SocketKnobs {
        congestion: Some("warp-drive".into()),
        ..Default::default()
    };
    let err = probe(Protocol::Tcp, &[&bad]).unwrap_err().to_string();
    assert!(err.contains("TCP_CONGESTION=warp-drive"), "{err}");
}

#[test]
fn server_and_client_attach_every_protocol() {
    for proto in [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::UnixStream,
        Protocol::UnixDgram,
    ] {
        let spec = TestSpec {
            protocol: proto,
            flows: 3,
            msg_size: 1000,
            ..TestSpec::default()
        };
        let token = 0xfeed_beef;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (server, endpoints) = ServerData::open(&spec, ip, token, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let spec2 = spec.clone();
        let t = std::thread::spawn(move || {
            server.attach(&spec2, token, deadline, &AtomicBool::new(false))
        });
        let client = ClientData::attach(&spec, ip, &endpoints, token, deadline).unwrap();
        let server_conns = t.join().unwrap().unwrap();
        assert_eq!(client.conns.len(), 3, "{proto}");
        assert_eq!(server_conns.len(), 3, "{proto}");
        for (i, c) in server_conns.iter().enumerate() {
            assert_eq!(c.plan.id, i as u32);
        }
    }
}

/// Connections beyond CONNS_PER_LISTENER are dealt over several listening ports, each
/// attached connection lands in its own slot, and on loopback they come from
/// 127.1.0.0/16.
#[test]
fn many_connections_spread_over_listeners() {
    let flows = 2 * CONNS_PER_LISTENER + 1;
    let spec = TestSpec {
        flows: flows as u32,
        msg_size: 1000,
        ..TestSpec::default()
    };
    let token = 0x5ca1e;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let (server, endpoints) = ServerData::open(&spec, ip, token, None).unwrap();
    let mut ports = endpoints.clone();
    ports.sort_by_key(|e| format!("{e:?}"));
    ports.dedup();
    assert_eq!(ports.len(), 3, "{ports:?}");
    assert_eq!(endpoints[0], endpoints[3]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let spec2 = spec.clone();
    let t =
        std::thread::spawn(move || server.attach(&spec2, token, deadline, &AtomicBool::new(false)));
    let client = ClientData::attach(&spec, ip, &endpoints, token, deadline).unwrap();
    let server_conns = t.join().unwrap().unwrap();
    assert_eq!(client.conns.len(), flows);
    assert_eq!(server_conns.len(), flows);
    for (i, c) in server_conns.iter().enumerate() {
        assert_eq!(c.plan.id, i as u32);
        let peer = c.sock.peer_addr().unwrap().as_socket().unwrap();
        let group = (i / CONNS_PER_LISTENER) as u8;
        assert_eq!(peer.ip(), IpAddr::from([127, 1, 0, group]));
        let local = c.sock.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(endpoints[i], DataEndpoint::Port(local.port()));
    }
}

/// A --data-ports range with fewer ports than listeners wanted: the ports it has take
/// all the connections.
#[test]
fn a_narrow_data_port_range_takes_all_connections() {
    let spec = TestSpec {
        flows: (3 * CONNS_PER_LISTENER) as u32,
        ..TestSpec::default()
    };
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let low = probe.local_addr().unwrap().port();
    drop(probe);
    let (_server, endpoints) = ServerData::open(&spec, ip, 1, Some((low, low))).unwrap();
    assert!(endpoints.iter().all(|e| *e == DataEndpoint::Port(low)));
}

/// A datagram hello attaches only from the control connection's address, or from
/// loopback to a loopback control connection (the sender's 127.1.0.0/16 sources): a
/// forged source cannot aim a reverse test's data at another host.
#[test]
fn a_hello_counts_from_the_control_peer_only() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let ok = |source: &str, control: &str| hello_source_ok(Some(ip(source)), ip(control));
    assert!(ok("192.0.2.2", "192.0.2.2"));
    assert!(ok("::ffff:192.0.2.2", "192.0.2.2"));
    assert!(ok("127.1.0.0", "127.0.0.1"));
    assert!(ok("::1", "::1"));
    assert!(!ok("192.0.2.3", "192.0.2.2"));
    assert!(!ok("198.51.100.7", "127.0.0.1"));
    assert!(!ok("127.0.0.1", "192.0.2.2"));
    assert!(!hello_source_ok(None, ip("192.0.2.2")));
}

/// A hello refused for its address is named when no other comes: the sender learns why
/// (a NAT giving UDP another address than TCP), not only that no hello came.
#[test]
fn a_hello_from_elsewhere_is_named_when_it_is_refused() {
    let spec = TestSpec {
        protocol: Protocol::Udp,
        msg_size: 100,
        ..TestSpec::default()
    };
    let token = 0x5eed;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let (mut server, endpoints) = ServerData::open(&spec, ip, token, None).unwrap();
    let control: IpAddr = "192.0.2.9".parse().unwrap();
    server.hellos_from(control);
    let deadline = Instant::now() + Duration::from_millis(600);
    let spec2 = spec.clone();
    let t =
        std::thread::spawn(move || server.attach(&spec2, token, deadline, &AtomicBool::new(false)));
    // The client's hello comes from 127.1.0.0, not from the control address.
    let client = ClientData::attach(&spec, ip, &endpoints, token, deadline);
    assert!(client.is_err(), "an ack to a refused hello");
    let Err(e) = t.join().unwrap() else {
        panic!("a refused hello attached")
    };
    let e = e.to_string();
    assert!(
        e.contains("its hello came from 127.1.0.0, not from 192.0.2.9"),
        "{e}"
    );
}
