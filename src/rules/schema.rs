//! The rule file as it is written: a serde mirror of the TOML, with spans.
//!
//! Nothing here is validated beyond what serde checks (types, known keys, known enum values);
//! the compile step in `rules/mod.rs` turns it into rules that are valid by construction. Every field keeps its
//! span so that an error can name the line of the field at fault. Unknown keys are errors.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub version: Spanned<i64>,
    pub name: Option<Spanned<String>>,
    /// Packs whose rules come first (`"default"`: the built-in pack).
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    /// Ids of included rules to leave out.
    pub disable: Option<Spanned<Vec<Spanned<String>>>>,
    /// Per included rule id, the settings to change.
    #[serde(rename = "override")]
    pub overrides: Option<std::collections::BTreeMap<Spanned<String>, Spanned<RawOverride>>>,
    /// Named word lists (`@name` in a phrase), per name its items.
    pub lists: RawLists,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
}

/// What a file may change in a rule it includes: its weight, its severity, its window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    pub weight: Option<Spanned<i64>>,
    pub severity: Option<Spanned<Severity>>,
    pub first_turns: Option<Spanned<i64>>,
    pub last_turns: Option<Spanned<i64>>,
    pub last_seconds: Option<Spanned<f64>>,
    pub within_turns: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawKind {
    Forbid,
    Require,
    Respond,
    Overlap,
    Promise,
}

/// Which later contacts keep a promise.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeptBy {
    /// Any conversation of the customer, inbound or outbound.
    Any,
    /// Only outbound conversations (the company called back).
    Outbound,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawSpeaker {
    Agent,
    Customer,
    System,
}

/// How bad a finding is. Its names are also the values of `--fail-on`.
#[derive(
    Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

pub type Phrases = Spanned<Vec<Spanned<String>>>;

/// `[lists]`: per name, its items.
pub type RawLists = Option<std::collections::BTreeMap<Spanned<String>, Phrases>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: Spanned<String>,
    pub kind: Spanned<RawKind>,
    pub speaker: Option<Spanned<RawSpeaker>>,
    pub severity: Spanned<Severity>,
    pub weight: Option<Spanned<i64>>,
    pub message: Spanned<String>,
    pub channels: Option<Spanned<Vec<Spanned<String>>>>,
    pub examples: Option<Spanned<RawExamples>>,

    pub phrases: Option<Phrases>,
    pub unless: Option<Phrases>,

    // require
    pub first_turns: Option<Spanned<i64>>,
    pub last_turns: Option<Spanned<i64>>,
    pub last_seconds: Option<Spanned<f64>>,
    /// Turns made only of `ignore` phrases count in no window (default `true`).
    pub skip_courtesies: Option<Spanned<bool>>,
    /// Consecutive messages of the speaker that continue one reply count as one turn.
    pub merge_parts: Option<Spanned<bool>>,
    /// Per channel (`[rule.channel.voice]`), window settings that differ from the rule's.
    pub channel: Option<std::collections::BTreeMap<Spanned<String>, Spanned<RawChannel>>>,

    // respond
    pub trigger: Option<Spanned<RawTrigger>>,
    pub within_turns: Option<Spanned<i64>>,
    pub count_earlier: Option<Spanned<bool>>,

    // overlap
    pub min_overlap_ms: Option<Spanned<i64>>,
    pub max_gap_ms: Option<Spanned<i64>>,
    pub ignore: Option<Phrases>,
    pub min_words: Option<Spanned<i64>>,

    // promise
    pub default_within: Option<Spanned<String>>,
    pub shortly: Option<Spanned<String>>,
    pub asap: Option<Spanned<String>>,
    pub kept_by: Option<Spanned<KeptBy>>,
}

/// The window settings of a `require` rule on one channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub skip_courtesies: Option<Spanned<bool>>,
    pub merge_parts: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    pub speaker: Option<Spanned<RawSpeaker>>,
    pub phrases: Option<Phrases>,
    pub unless: Option<Phrases>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExamples {
    #[serde(default)]
    pub fail: Vec<Spanned<RawExample>>,
    #[serde(default)]
    pub pass: Vec<Spanned<RawExample>>,
}

/// An example: a script, or a table that also says on which channel it runs and, for a
/// `fail` example, on which turn (and words) its finding must be.
#[derive(Debug)]
pub enum RawExample {
    Text(String),
    Placed(RawPlacedExample),
}

/// A string or a table, the table read field by field so that a mistyped key is named (an
/// untagged enum would only say that nothing matched).
impl<'de> Deserialize<'de> for RawExample {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = RawExample;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a script, or a table with `text` and `turn`, `words`, `channel`")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawExample, E> {
                Ok(RawExample::Text(text.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawExample, A::Error> {
                RawPlacedExample::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawExample::Placed)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlacedExample {
    pub text: String,
    pub turn: Option<i64>,
    pub words: Option<String>,
    pub channel: Option<String>,
}
