//! A custom libFuzzer mutator for targets fed control frames (a 4-byte length, then JSON).
//! Byte-level mutation seldom turns `"bytes_received":80794000` into a value at a type's
//! limit in two roles at once; half of the time this one parses the frames and changes one
//! JSON value: a number to a boundary (0, 255, 65535, 2^31-1, 2^32-1, 2^63-1, 2^64-1, 1e308,
//! ...), an array element duplicated (two roles, two flows), or a value replaced by null,
//! an empty list or a long string. The other half, and whenever the input is not frames of
//! JSON, libFuzzer's own mutations run.

use serde_json::Value;

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "255",
    "256",
    "1023",
    "1024",
    "5000",
    "16385",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "1e308",
    "-1e308",
    "0.5",
    "-0.0",
];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// JSON pointers of every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{at}/{key}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn number(rng: &mut Rng) -> Value {
    serde_json::from_str(NUMBERS[rng.below(NUMBERS.len())]).expect("a JSON number")
}

pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut rng = Rng(u64::from(seed) | 1 << 40);
    if rng.below(2) == 0 {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let mut frames = Vec::new();
    let mut rest = &data[..size];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            break;
        };
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            break;
        };
        frames.push(v);
        rest = &rest[4 + len..];
    }
    if frames.is_empty() {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let f = rng.below(frames.len());
    let mut ptrs = Vec::new();
    pointers(&frames[f], String::new(), &mut ptrs);
    let p = ptrs[rng.below(ptrs.len())].clone();
    let target = frames[f].pointer_mut(&p).expect("a pointer just collected");
    match (rng.below(4), &mut *target) {
        (2, Value::Array(a)) if !a.is_empty() => {
            let copy = a[rng.below(a.len())].clone();
            a.push(copy);
        }
        (2, _) => *target = Value::Array(vec![number(&mut rng)]),
        (3, _) => {
            *target = match rng.below(4) {
                0 => Value::Null,
                1 => Value::Array(Vec::new()),
                2 => Value::String(String::new()),
                _ => Value::String("\u{301}x".repeat(200)),
            }
        }
        _ => *target = number(&mut rng),
    }
    let tail = rest.to_vec();
    let mut out = Vec::with_capacity(size);
    for v in &frames {
        let body = serde_json::to_vec(v).expect("a JSON value serializes");
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out.extend_from_slice(&tail);
    if out.len() > max_size {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    data[..out.len()].copy_from_slice(&out);
    out.len()
}
