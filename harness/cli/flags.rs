//! Flag plumbing: values kept as text with their choices shown, and the socket knob flags
//! generated from the knob table.

use super::*;

/// A value kept as text (the config layer parses it, with its own messages) whose known
/// choices clap shows in `--help`, in completions and in the man page.
#[derive(Clone)]
pub struct Choices(Vec<&'static str>);

impl Choices {
    pub(super) fn of(names: impl IntoIterator<Item = &'static str>) -> Choices {
        Choices(names.into_iter().collect())
    }
}

impl std::fmt::Debug for Choices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Choices").field(&self.0).finish()
    }
}

impl TypedValueParser for Choices {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        value
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        if self.0.is_empty() {
            return None;
        }
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}

macro_rules! value_enum {
    ($($t:ty),+) => {$(
        /// Its names, as the config layer spells them, are the choices clap shows.
        impl ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                <$t>::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.as_str()))
            }
        }
    )+};
}

value_enum!(Protocol, Pattern, Direction);

/// The socket knob flags, one per entry of the knob table
/// ([`crate::spec::knobs::KNOBS`]): flag, help, value name and choices come from the
/// table. Values are kept as text, as for [`KnobArgs`], and parsed by the table's parser.
#[derive(Debug, Clone, Default)]
pub struct SocketKnobFlags {
    /// (key, value) of each flag given, in table order; a switch's value is `true`.
    pub settings: Vec<(&'static str, String)>,
}

impl SocketKnobFlags {
    fn arg(knob: &Knob) -> Arg {
        let arg = Arg::new(knob.key)
            .long(knob.key.replace('_', "-"))
            .help(knob.help)
            .help_heading(
                "Socket knobs (both sides; one side: --set sender.KEY=VALUE or receiver.KEY=VALUE)",
            );
        match knob.takes {
            Takes::Switch => arg.action(ArgAction::SetTrue),
            Takes::Value { name, choices } => arg
                .value_name(name)
                .allow_hyphen_values(true)
                .action(ArgAction::Set)
                .value_parser(Choices::of(choices.iter().copied())),
        }
    }
}

impl clap::FromArgMatches for SocketKnobFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Vec::new();
        for knob in KNOBS {
            match knob.takes {
                Takes::Switch if m.get_flag(knob.key) => settings.push((knob.key, "true".into())),
                Takes::Switch => {}
                Takes::Value { .. } => {
                    if let Some(v) = m.get_one::<String>(knob.key) {
                        settings.push((knob.key, v.clone()));
                    }
                }
            }
        }
        Ok(SocketKnobFlags { settings })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SocketKnobFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        KNOBS.iter().fold(cmd, |cmd, knob| cmd.arg(Self::arg(knob)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The flags of the test as a whole, one per entry of the key table
/// ([`crate::spec::config::TEST_KEYS`]): flag, one-letter spelling, help, value name and
/// choices come from the table. Values are kept as text and parsed by the table's parser.
#[derive(Debug, Clone, Default)]
pub struct TestKeyFlags {
    /// (key, value) of each flag given, in table order.
    pub settings: Vec<(&'static str, String)>,
}

impl TestKeyFlags {
    /// The flags of a key table.
    pub fn args_of(table: &[TestKey]) -> Vec<Arg> {
        table.iter().map(Self::arg).collect()
    }

    fn arg(key: &TestKey) -> Arg {
        let mut arg = Arg::new(key.key)
            .long(key.key.replace('_', "-"))
            .help(key.help)
            .value_name(key.value)
            .allow_hyphen_values(true)
            .action(ArgAction::Set);
        if let Some(c) = key.short {
            arg = arg.short(c);
        }
        if key.only_choices {
            arg = arg.value_parser(clap::builder::PossibleValuesParser::new(
                key.choices.iter().copied(),
            ));
        } else {
            arg = arg.value_parser(Choices::of(key.choices.iter().copied()));
        }
        arg
    }

    /// The settings the flags of a key table gave.
    pub fn settings_of(table: &'static [TestKey], m: &clap::ArgMatches) -> TestKeyFlags {
        let settings = table
            .iter()
            .filter_map(|k| Some((k.key, m.get_one::<String>(k.key)?.clone())))
            .collect();
        TestKeyFlags { settings }
    }

    /// The value given to `key`'s flag.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl clap::FromArgMatches for TestKeyFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self::settings_of(TEST_KEYS, m))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for TestKeyFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(Self::args_of(TEST_KEYS))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}
