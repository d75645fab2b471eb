use super::*;

/// An Ethernet frame of `ethertype` carrying IP protocol `proto`, numbered `seq`.
fn frame(ethertype: u16, proto: u8, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f[14 + 9] = proto;
    f[40..44].copy_from_slice(&seq.to_be_bytes());
    f
}

fn udp(seq: u32) -> Vec<u8> {
    frame(0x0800, 17, seq)
}

/// A departure at `at`, nothing excused.
fn left(at: Instant) -> Departure {
    Departure {
        at,
        excused: Duration::ZERO,
    }
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[40], f[41], f[42], f[43]])
}

fn imp(delay_ms: u64, jitter_ms: u64, loss: f64) -> Impairment {
    Impairment {
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(jitter_ms),
        loss,
    }
}

/// Offers `n` frames `gap` apart from `t0` and drains the line in time order: each
/// frame's (sequence, departure - arrival).
fn run_line(line: &mut DelayLine, t0: Instant, n: u32, gap: Duration) -> Vec<(u32, Duration)> {
    for i in 0..n {
        line.offer(t0 + gap * i, &udp(i));
    }
    let mut out = Vec::new();
    while let Some(due) = line.next_due() {
        let f = line.due(due).expect("due at its own time");
        let seq = seq_of(f);
        out.push((seq, due - (t0 + gap * seq)));
        line.pop(Some(left(due)));
    }
    out
}

#[test]
fn frames_leave_after_the_delay_in_order_and_not_before() {
    let t0 = Instant::now();
    let mut line = DelayLine::new(imp(20, 0, 0.0), 1, 100_000);
    line.offer(t0, &udp(0));
    line.offer(t0 + Duration::from_millis(1), &udp(1));
    assert!(line.due(t0 + Duration::from_millis(19)).is_none());
    assert_eq!(line.next_due(), Some(t0 + Duration::from_millis(20)));
    assert_eq!(seq_of(line.due(t0 + Duration::from_millis(20)).unwrap()), 0);
    line.pop(Some(left(t0 + Duration::from_millis(20))));
    assert!(line.due(t0 + Duration::from_millis(20)).is_none());
    let mut line = DelayLine::new(imp(20, 0, 0.0), 1, 100_000);
    let out = run_line(&mut line, t0, 1000, Duration::from_micros(100));
    assert_eq!(out.len(), 1000);
    for (i, (seq, d)) in out.iter().enumerate() {
        assert_eq!(*seq, i as u32);
        assert_eq!(*d, Duration::from_millis(20));
    }
}

#[test]
fn jitter_spreads_the_delay_but_keeps_the_order() {
    let t0 = Instant::now();
    let (lo, hi) = (Duration::from_millis(15), Duration::from_millis(25));
    // Frames further apart than the jitter's span: each keeps its own draw.
    let mut line = DelayLine::new(imp(20, 5, 0.0), 7, 100_000);
    let out = run_line(&mut line, t0, 1000, Duration::from_millis(11));
    assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "order kept");
    assert!(
        out.iter().all(|(_, d)| *d >= lo && *d <= hi),
        "within 20 ± 5 ms"
    );
    let min = out.iter().map(|o| o.1).min().unwrap();
    let max = out.iter().map(|o| o.1).max().unwrap();
    assert!(min < Duration::from_millis(16) && max > Duration::from_millis(24));
    assert_eq!(line.counts.forwarded, 1000);
    // Dense frames: a frame never overtakes the one ahead, so it waits for it and the
    // delays crowd toward the top of the range (netem's jitter reorders instead).
    let mut line = DelayLine::new(imp(20, 5, 0.0), 7, 100_000);
    let out = run_line(&mut line, t0, 10_000, Duration::from_micros(100));
    assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "order kept");
    assert!(
        out.iter().all(|(_, d)| *d >= lo && *d <= hi),
        "within 20 ± 5 ms"
    );
    let mean = out.iter().map(|o| o.1).sum::<Duration>() / out.len() as u32;
    assert!(mean > Duration::from_millis(22), "{mean:?}");
}

#[test]
fn losses_follow_the_seed_and_the_share_and_spare_arp() {
    let t0 = Instant::now();
    let drops = |seed: u64| {
        let mut line = DelayLine::new(imp(1, 0, 0.01), seed, 1_000_000);
        let lost: Vec<u32> = (0..100_000)
            .filter(|&i| line.offer(t0, &udp(i)) == Verdict::Lost)
            .collect();
        (lost, line.counts)
    };
    let (a, counts) = drops(42);
    assert_eq!(a, drops(42).0, "the same seed drops the same frames");
    assert_ne!(a, drops(43).0);
    // 1% of 100,000: the binomial's standard deviation is about 31.
    assert!((800..1200).contains(&a.len()), "{}", a.len());
    assert_eq!(counts.dropped, a.len() as u64);
    assert_eq!(counts.dropped_udp, counts.dropped);
    assert_eq!(counts.received, 100_000);
    assert_eq!(counts.queued, 100_000 - counts.dropped);

    let mut line = DelayLine::new(imp(1, 0, 1.0), 1, 1000);
    assert_eq!(line.offer(t0, &frame(0x0806, 0, 0)), Verdict::Queued);
    assert_eq!(line.offer(t0, &frame(0x0800, 6, 1)), Verdict::Lost);
    assert_eq!(line.offer(t0, &frame(0x86dd, 58, 2)), Verdict::Lost);
    assert_eq!((line.counts.dropped_tcp, line.counts.dropped_other), (1, 1));
}

#[test]
fn a_full_line_refuses_and_counts() {
    let t0 = Instant::now();
    let mut line = DelayLine::new(imp(10, 0, 0.0), 1, 3);
    for i in 0..5 {
        line.offer(t0, &udp(i));
    }
    assert_eq!(line.counts.overflow, 2);
    assert_eq!(line.counts.queued, 3);
    line.pop(None);
    assert_eq!(line.counts.send_errors, 1);
}

#[test]
fn short_or_odd_frames_are_classified_without_panicking() {
    assert_eq!(kind_of(&[]), Kind::NotIp);
    assert_eq!(kind_of(&[0; 13]), Kind::NotIp);
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    assert_eq!(kind_of(&f), Kind::OtherIp);
    assert_eq!(kind_of(&frame(0x0800, 17, 0)), Kind::Udp);
}

#[test]
fn a_frame_that_leaves_after_its_time_is_counted_late_and_the_systems_share_told_apart() {
    let t0 = Instant::now();
    let mut line = DelayLine::new(imp(20, 0, 0.0), 1, 100);
    for i in 0..4 {
        line.offer(t0, &udp(i));
    }
    let due = t0 + Duration::from_millis(20);
    line.pop(Some(left(due)));
    line.pop(Some(left(due + Duration::from_micros(900))));
    assert_eq!(
        (line.counts.late_max_ns, line.counts.late_over_1ms),
        (900_000, 0)
    );
    assert_eq!(line.counts.own_late_max_ns, 900_000);
    // 3 ms late, but the element was woken 2.5 ms after it asked: 0.5 ms its own.
    line.pop(Some(Departure {
        at: due + Duration::from_millis(3),
        excused: Duration::from_micros(2500),
    }));
    assert_eq!(line.counts.late_max_ns, 3_000_000);
    assert_eq!(line.counts.late_over_1ms, 1);
    assert_eq!(line.counts.own_late_max_ns, 900_000);
    // Woken later than the frame was late: none of it the element's.
    line.pop(Some(Departure {
        at: due + Duration::from_millis(2),
        excused: Duration::from_millis(5),
    }));
    assert_eq!(line.counts.own_late_max_ns, 900_000);
    assert_eq!(line.counts.forwarded, 4);
    line.read_lag(Duration::from_micros(7));
    line.read_lag(Duration::from_micros(5));
    assert_eq!(line.counts.read_lag_max_ns, 7_000);
}
