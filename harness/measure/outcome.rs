//! How a test ended, with both sides' reports.

use super::hostinfo::HostFacts;
use super::SideReport;

/// How a test ended.
/// The default is `error`: a results row read back without its status is never `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Cut short: the figures are partial.
    Aborted,
    /// Never ran.
    #[default]
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Aborted => "aborted",
            Status::Error => "error",
        }
    }

    /// The status a results file names (`as_str`'s text), if it is one.
    pub fn from_name(name: &str) -> Option<Status> {
        [Status::Ok, Status::Aborted, Status::Error]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Both sides' measurements of one test.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestOutcome {
    pub sender: SideReport,
    pub receiver: Option<SideReport>,
    pub status: Status,
    pub error: Option<String>,
    /// Wall-clock start of the traffic, for the interval log.
    pub started: std::time::SystemTime,
}

impl TestOutcome {
    pub fn failed(status: Status, error: String) -> TestOutcome {
        TestOutcome {
            sender: SideReport::default(),
            receiver: None,
            status,
            error: Some(error),
            started: std::time::SystemTime::now(),
        }
    }
}

/// What a daemon asked to send reports back: the test as a `run` would have seen it, and
/// the receiving host's facts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RelayOutcome {
    pub outcome: TestOutcome,
    pub receiver_host: Option<HostFacts>,
}
