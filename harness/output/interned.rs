//! Reading the writers' `&'static str` columns back.

/// A `&'static str` column of a writer's row, read back through `interned` (spelt as an
/// alias so that serde does not take it for a borrow of the input).
pub type Interned = &'static str;

/// For `&'static str` columns of the writers' rows: the value, kept once per distinct
/// string (a file has a handful: forward, reverse, sender, receiver, ...).
pub fn interned<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let s: String = serde::Deserialize::deserialize(d)?;
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let set = seen.get_or_insert_with(HashSet::new);
    if let Some(v) = set.get(s.as_str()) {
        return Ok(v);
    }
    if set.len() >= 1024 {
        return Err(serde::de::Error::custom(format!("unexpected value {s:?}")));
    }
    let v: &'static str = Box::leak(s.into_boxed_str());
    set.insert(v);
    Ok(v)
}
