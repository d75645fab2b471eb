//! TCP_INFO, which socket2 has no getter for: the kernel's `struct tcp_info` read with
//! `getsockopt(2)` and turned into the fields a socket study needs.

use std::io;

use serde::{Deserialize, Serialize};
use socket2::Socket;

/// The kernel's `struct tcp_info` (include/uapi/linux/tcp.h) up to `tcpi_rcv_wnd`. An
/// older kernel fills less; the rest stays zero.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct RawTcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8, // snd_wscale:4 (low bits), rcv_wscale:4
    app_limited: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
    dsack_dups: u32,
    reord_seen: u32,
    rcv_ooopack: u32,
    snd_wnd: u32,
    rcv_wnd: u32,
}

/// The TCP_INFO fields a socket study needs, as the kernel reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpInfo {
    pub state: u8,
    /// tcpi_options: TCPI_OPT_TIMESTAMPS (1), SACK (2), WSCALE (4), ECN (8), ...
    pub options: u8,
    /// tcpi_total_retrans: segments retransmitted over the connection's life.
    pub total_retrans: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub min_rtt_us: u32,
    pub snd_cwnd: u32,
    pub snd_ssthresh: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub pmtu: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// Bytes per second.
    pub delivery_rate: u64,
    pub pacing_rate: u64,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub bytes_retrans: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub busy_time_us: u64,
    pub rwnd_limited_us: u64,
    pub sndbuf_limited_us: u64,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub rcv_space: u32,
}

/// Reads TCP_INFO off Linux: not yet (FreeBSD's `struct tcp_info` and macOS's
/// TCP_CONNECTION_INFO differ from Linux's); `mss_eff` and `tcp_retrans` stay empty there.
#[cfg(not(target_os = "linux"))]
pub fn tcp_info(_sock: &Socket) -> io::Result<TcpInfo> {
    Err(super::unsupported("TCP_INFO"))
}

/// Reads TCP_INFO with `getsockopt(IPPROTO_TCP, TCP_INFO)`.
#[cfg(target_os = "linux")]
pub fn tcp_info(sock: &Socket) -> io::Result<TcpInfo> {
    use std::mem;
    use std::os::fd::AsRawFd;
    let mut raw = RawTcpInfo::default();
    let mut len = mem::size_of::<RawTcpInfo>() as libc::socklen_t;
    // SAFETY: `raw` is a plain-old-data repr(C) struct of `len` bytes; the kernel writes at
    // most `len` bytes into it and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut RawTcpInfo).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: raw.state,
        options: raw.options,
        total_retrans: raw.total_retrans,
        rtt_us: raw.rtt,
        rttvar_us: raw.rttvar,
        min_rtt_us: raw.min_rtt,
        snd_cwnd: raw.snd_cwnd,
        snd_ssthresh: raw.snd_ssthresh,
        snd_mss: raw.snd_mss,
        rcv_mss: raw.rcv_mss,
        advmss: raw.advmss,
        pmtu: raw.pmtu,
        snd_wscale: raw.wscale & 0x0f,
        rcv_wscale: raw.wscale >> 4,
        delivery_rate: raw.delivery_rate,
        pacing_rate: raw.pacing_rate,
        bytes_sent: raw.bytes_sent,
        bytes_acked: raw.bytes_acked,
        bytes_received: raw.bytes_received,
        bytes_retrans: raw.bytes_retrans,
        segs_out: raw.segs_out,
        segs_in: raw.segs_in,
        busy_time_us: raw.busy_time,
        rwnd_limited_us: raw.rwnd_limited,
        sndbuf_limited_us: raw.sndbuf_limited,
        snd_wnd: raw.snd_wnd,
        rcv_wnd: raw.rcv_wnd,
        rcv_space: raw.rcv_space,
    })
}
