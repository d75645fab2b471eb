use super::*;

/// The KS statistic of `samples` against a sampler's CDF, over every whole size.
fn ks(s: &SizeSampler, samples: &mut [u32]) -> f64 {
    samples.sort_unstable();
    let n = samples.len() as f64;
    let mut d: f64 = 0.0;
    let mut i = 0usize;
    for k in s.lo..=s.hi {
        while i < samples.len() && samples[i] <= k {
            i += 1;
        }
        d = d.max((i as f64 / n - s.cdf(k)).abs());
    }
    d
}

fn draw(d: &SizeDist, n: usize) -> (SizeSampler, Vec<u32>) {
    let s = SizeSampler::new(d);
    let mut rng = rng_for(7, 0, 0);
    let v = (0..n).map(|_| s.sample(&mut rng)).collect();
    (s, v)
}

fn resolve(text: &str, floor: u32, ceiling: u32) -> SizeDist {
    DistSpec::parse(text, None)
        .unwrap()
        .resolve(floor, ceiling)
        .unwrap()
}

#[test]
fn samples_follow_their_distribution_ks_1pct() {
    let n = 20_000;
    let critical = 1.628 / (n as f64).sqrt();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sizes.csv");
    std::fs::write(&file, "size,cdf\n100,0.2\n1000,0.7\n1500,0.9\n9000,1\n").unwrap();
    let dists = [
        resolve("uniform:min=64,max=4K", 4, 1 << 26),
        resolve("lognormal:median=1K,p99=64K", 4, 65507),
        resolve("pareto:", 4, 1 << 26),
        resolve(&format!("empirical:file={}", file.display()), 16, 65507),
    ];
    for d in &dists {
        let (s, mut v) = draw(d, n);
        let stat = ks(&s, &mut v);
        assert!(stat < critical, "{d:?}: D = {stat} >= {critical}");
    }
    // And a sampler that is wrong is caught: uniform samples against lognormal's CDF.
    let (_, mut v) = draw(&dists[0], n);
    let wrong = SizeSampler::new(&dists[1]);
    assert!(ks(&wrong, &mut v) > critical);
}

#[test]
fn the_distributions_have_the_asked_shape() {
    let d = resolve("lognormal:median=1K,p99=64K", 1, 1 << 26);
    let s = SizeSampler::new(&d);
    assert!((s.cdf(1024) - 0.5).abs() < 0.001, "{}", s.cdf(1024));
    assert!((s.cdf(65536) - 0.99).abs() < 0.001, "{}", s.cdf(65536));
    // ETC: mean value size of the generalized Pareto is scale / (1 - shape) = 329 B.
    let d = resolve("pareto:", 1, 1 << 26);
    let (_, v) = draw(&d, 200_000);
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    assert!((mean - 329.0).abs() < 15.0, "ETC mean {mean}");
    let d = resolve("uniform:min=10,max=20", 4, 100);
    let (_, v) = draw(&d, 10_000);
    assert_eq!(*v.iter().min().unwrap(), 10);
    assert_eq!(*v.iter().max().unwrap(), 20);
    // Truncated to what the protocol carries.
    let d = resolve("lognormal:median=1K,p99=64K", 16, 65507);
    assert_eq!((d.min(), d.max()), (16, 65507));
}

#[test]
fn seeded_draws_repeat() {
    let d = resolve("pareto:scale=100,shape=0.2", 4, 1 << 20);
    let s = SizeSampler::new(&d);
    let a: Vec<u32> = {
        let mut r = rng_for(42, 3, 1);
        (0..100).map(|_| s.sample(&mut r)).collect()
    };
    let mut r = rng_for(42, 3, 1);
    assert!(a.iter().all(|&x| x == s.sample(&mut r)));
    let mut other = rng_for(42, 4, 1);
    assert!(a.iter().any(|&x| x != s.sample(&mut other)));
}

#[test]
fn bad_distributions_say_what_and_where() {
    let e = |t: &str| DistSpec::parse(t, None).unwrap_err();
    assert_eq!(e("gamma:k=1").field.as_deref(), Some("dist"));
    assert!(e("gamma:k=1").msg.contains("unknown dist 'gamma'"));
    let p = e("lognormal:median=1K,p99=512");
    assert_eq!(p.field.as_deref(), Some("p99"));
    assert!(p.msg.contains("above the median"), "{}", p.msg);
    let n = e("uniform:min=-5,max=10");
    assert_eq!(n.field.as_deref(), Some("min"));
    assert!(n.msg.contains("negative"));
    assert!(e("uniform:min=5").msg.contains("needs max"));
    assert_eq!(
        e("uniform:min=5,max=10,mode=3").field.as_deref(),
        Some("mode")
    );
    assert!(e("empirical:file=/nonexistent/sizes.csv")
        .msg
        .contains("/nonexistent"));
}

#[test]
fn malformed_resolved_distributions_are_refused() {
    let good = resolve("lognormal:median=1K,p99=64K", 4, 1 << 20);
    assert!(good.check().is_ok());
    let bad = [
        SizeDist::Uniform { min: 10, max: 5 },
        SizeDist::Lognormal {
            median: 100,
            p99: 50,
            min: 4,
            max: 1000,
        },
        SizeDist::Pareto {
            location: 0.0,
            scale: f64::NAN,
            shape: 0.3,
            min: 4,
            max: 1000,
        },
        SizeDist::Empirical {
            file: String::new(),
            knots: vec![],
            min: 4,
            max: 1000,
        },
        SizeDist::Empirical {
            file: String::new(),
            knots: vec![(10.0, 0.5), (5.0, 1.0)],
            min: 4,
            max: 1000,
        },
    ];
    for d in bad {
        assert!(d.check().is_err(), "{d:?}");
        // Sampling one anyway stays within its bounds' order and does not panic.
        let _ = SizeSampler::new(&d).sample(&mut rng_for(1, 0, 0));
    }
}

#[test]
fn sizes_files_are_checked_line_by_line() {
    assert!(parse_sizes("").unwrap_err().msg.contains("empty"));
    assert!(parse_sizes("size,cdf\n").unwrap_err().msg.contains("empty"));
    let e = parse_sizes("size,cdf\n100,0.5\n50,1\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.msg.contains("increase"));
    let e = parse_sizes("size,cdf\n100,0.5\n200,0.4\n300,1\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.msg.contains("must not decrease"));
    assert!(parse_sizes("size,cdf\n100,0.5\n")
        .unwrap_err()
        .msg
        .contains("end at 1"));
    assert!(parse_sizes("100,0.5\n").unwrap_err().msg.contains("header"));
    // A histogram: exact sizes with their weights.
    let k = parse_sizes("size,count\n# comment\n64,3\n1500,1\n").unwrap();
    let s = SizeSampler::new(&SizeDist::Empirical {
        file: String::new(),
        knots: k,
        min: 1,
        max: 1500,
    });
    assert!((s.cdf(64) - 0.75).abs() < 1e-9);
    assert!((s.cdf(1499) - 0.75).abs() < 1e-9);
    let mut rng = rng_for(1, 0, 0);
    for _ in 0..1000 {
        assert!(matches!(s.sample(&mut rng), 64 | 1500));
    }
}

#[test]
fn poisson_gaps_are_exponential_and_fixed_are_even() {
    let rate = 5000;
    let mut a = Arrivals::new(Arrival::Poisson, rate, rng_for(9, 0, 2));
    let gaps: Vec<f64> = (0..50_000).map(|_| a.next_gap().as_secs_f64()).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((mean * rate as f64 - 1.0).abs() < 0.02, "mean {mean}");
    assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
    let mut f = Arrivals::new(Arrival::Fixed, rate, rng_for(9, 0, 2));
    let gaps: Vec<f64> = (0..10_000).map(|_| f.next_gap().as_secs_f64()).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((mean * rate as f64 - 1.0).abs() < 0.02, "mean {mean}");
    assert!(sd / mean < 0.05, "cv {}", sd / mean);
}

#[test]
fn think_times_have_their_mean_and_spread() {
    let t = TimeDist::parse("exponential:mean=2ms").unwrap();
    let mut rng = rng_for(3, 0, 3);
    let v: Vec<f64> = (0..50_000)
        .map(|_| t.sample(&mut rng).as_secs_f64())
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!((mean / 0.002 - 1.0).abs() < 0.02, "mean {mean}");
    assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
    let u = TimeDist::parse("uniform:min=100us,max=300us").unwrap();
    for _ in 0..1000 {
        let d = u.sample(&mut rng).as_micros();
        assert!((100..=300).contains(&d), "{d}");
    }
    assert_eq!(
        TimeDist::parse("1ms").unwrap(),
        TimeDist::Fixed { ns: 1_000_000 }
    );
    assert_eq!(TimeDist::parse(&u.text()).unwrap(), u);
    assert!(TimeDist::parse("uniform:min=2ms,max=1ms").is_err());
    // A key given twice is refused, as for a size distribution.
    let twice = TimeDist::parse("uniform:min=1ms,min=2ms,max=3ms").unwrap_err();
    assert!(twice.to_string().contains("given twice"), "{twice}");
    assert!(TimeDist::parse("-1ms")
        .unwrap_err()
        .msg
        .contains("negative"));
    assert_eq!(
        TimeDist::parse("gamma:k=1").unwrap_err().field.as_deref(),
        Some("dist")
    );
    assert!(TimeDist::parse("2h").is_err());
}

#[test]
fn frames_come_apart_at_any_cut() {
    let sizes = [4u32, 5, 300, 4, 70_000, 9];
    let mut stream = Vec::new();
    for &s in &sizes {
        let mut m = vec![0xabu8; s as usize];
        put_frame(&mut m, s);
        stream.extend_from_slice(&m);
    }
    for cut in [1usize, 2, 3, 7, 4096] {
        let mut d = Framer::framed(1 << 20);
        let mut got = Vec::new();
        for chunk in stream.chunks(cut) {
            d.feed(chunk, |s, _| got.push(s as u32)).unwrap();
        }
        assert_eq!(got, sizes, "cut {cut}");
        assert!(d.idle());
    }
    let mut d = Framer::framed(100);
    assert!(d.feed(&[0, 0, 0, 2], |_, _| {}).is_err());
    let mut d = Framer::framed(100);
    assert!(d.feed(&[0, 0, 1, 0], |_, _| {}).is_err());
}

#[test]
fn frames_give_their_sizes_and_ids_at_any_cut() {
    let mut stream = Vec::new();
    let msgs: [(u32, u64); 4] = [(12, 7), (300, 8), (12, 9), (5000, 10)];
    for (size, id) in msgs {
        let mut m = vec![0u8; size as usize];
        m[..4].copy_from_slice(&size.to_be_bytes());
        m[4..12].copy_from_slice(&id.to_le_bytes());
        stream.extend_from_slice(&m);
    }
    for cut in [1, 3, 5, 11, 4096] {
        let mut s = Framer::new(true, 8192, 12, Some(4));
        let mut got = Vec::new();
        for c in stream.chunks(cut) {
            s.feed(c, |size, id| got.push((size as u32, id))).unwrap();
        }
        assert_eq!(got, msgs, "cut {cut}");
    }
    // Fixed-size messages with the id first.
    let mut fixed = Vec::new();
    for id in 0..5u64 {
        let mut m = vec![1u8; 64];
        m[..8].copy_from_slice(&id.to_le_bytes());
        fixed.extend_from_slice(&m);
    }
    let mut s = Framer::new(false, 64, 8, Some(0));
    let mut ids = Vec::new();
    for c in fixed.chunks(7) {
        s.feed(c, |size, id| {
            assert_eq!(size, 64);
            ids.push(id)
        })
        .unwrap();
    }
    assert_eq!(ids, vec![0, 1, 2, 3, 4]);
    // A header beyond the largest size, or below the least (a header and an id), is
    // refused, and says so.
    let mut s = Framer::new(true, 100, 12, None);
    let e = s.feed(&1000u32.to_be_bytes(), |_, _| {}).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a message header says 1000 bytes; expected 12 to 100"
    );
    let mut s = Framer::new(true, 100, 12, Some(4));
    assert!(s.feed(&8u32.to_be_bytes(), |_, _| {}).is_err());
}
