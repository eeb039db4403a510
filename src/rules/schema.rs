//! The rule file as it is written: a serde mirror of the TOML, with spans.
//!
//! Nothing here is validated beyond what serde checks (types, known keys, known enum values);
//! the compile step in `rules/mod.rs` turns it into rules that are valid by construction. Every field keeps its
//! span so that an error can name the line of the field at fault. Unknown keys are errors.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) version: Spanned<i64>,
    pub(crate) name: Option<Spanned<String>>,
    /// Packs whose rules come first (`"default"`: the built-in pack).
    pub(crate) include: Option<Spanned<Vec<Spanned<String>>>>,
    /// Ids of included rules to leave out.
    pub(crate) disable: Option<Spanned<Vec<Spanned<String>>>>,
    /// Per included rule id, the settings to change.
    #[serde(rename = "override")]
    pub(crate) overrides: Option<std::collections::BTreeMap<Spanned<String>, Spanned<RawOverride>>>,
    /// Named word lists (`@name` in a phrase), per name its items.
    pub(crate) lists: RawLists,
    #[serde(default)]
    pub(crate) rule: Vec<Spanned<RawRule>>,
}

/// What a file may change in a rule it includes: its weight, its severity, its window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverride {
    pub(crate) weight: Option<Spanned<i64>>,
    pub(crate) severity: Option<Spanned<Severity>>,
    pub(crate) first_turns: Option<Spanned<i64>>,
    pub(crate) last_turns: Option<Spanned<i64>>,
    pub(crate) last_seconds: Option<Spanned<f64>>,
    pub(crate) within_turns: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawKind {
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
pub(crate) enum RawSpeaker {
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

pub(crate) type Phrases = Spanned<Vec<Spanned<String>>>;

/// `[lists]`: per name, its items.
pub(crate) type RawLists = Option<std::collections::BTreeMap<Spanned<String>, Phrases>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) id: Spanned<String>,
    pub(crate) kind: Spanned<RawKind>,
    pub(crate) speaker: Option<Spanned<RawSpeaker>>,
    pub(crate) severity: Spanned<Severity>,
    pub(crate) weight: Option<Spanned<i64>>,
    pub(crate) message: Spanned<String>,
    pub(crate) channels: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) examples: Option<Spanned<RawExamples>>,

    pub(crate) phrases: Option<Phrases>,
    pub(crate) unless: Option<Phrases>,

    // require
    pub(crate) first_turns: Option<Spanned<i64>>,
    pub(crate) last_turns: Option<Spanned<i64>>,
    pub(crate) last_seconds: Option<Spanned<f64>>,
    /// Turns made only of `ignore` phrases count in no window (default `true`).
    pub(crate) skip_courtesies: Option<Spanned<bool>>,
    /// Consecutive messages of the speaker that continue one reply count as one turn.
    pub(crate) merge_parts: Option<Spanned<bool>>,
    /// Per channel (`[rule.channel.voice]`), window settings that differ from the rule's.
    pub(crate) channel: Option<std::collections::BTreeMap<Spanned<String>, Spanned<RawChannel>>>,

    // respond
    pub(crate) trigger: Option<Spanned<RawTrigger>>,
    pub(crate) within_turns: Option<Spanned<i64>>,
    pub(crate) count_earlier: Option<Spanned<bool>>,

    // overlap
    pub(crate) min_overlap_ms: Option<Spanned<i64>>,
    pub(crate) max_gap_ms: Option<Spanned<i64>>,
    pub(crate) ignore: Option<Phrases>,
    pub(crate) min_words: Option<Spanned<i64>>,

    // promise
    pub(crate) default_within: Option<Spanned<String>>,
    pub(crate) shortly: Option<Spanned<String>>,
    pub(crate) asap: Option<Spanned<String>>,
    pub(crate) kept_by: Option<Spanned<KeptBy>>,
}

/// The window settings of a `require` rule on one channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannel {
    pub(crate) skip_courtesies: Option<Spanned<bool>>,
    pub(crate) merge_parts: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrigger {
    pub(crate) speaker: Option<Spanned<RawSpeaker>>,
    pub(crate) phrases: Option<Phrases>,
    pub(crate) unless: Option<Phrases>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExamples {
    #[serde(default)]
    pub(crate) fail: Vec<Spanned<RawExample>>,
    #[serde(default)]
    pub(crate) pass: Vec<Spanned<RawExample>>,
}

/// An example: a script, or a table that also says on which channel it runs and, for a
/// `fail` example, on which turn (and words) its finding must be.
#[derive(Debug)]
pub(crate) enum RawExample {
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
pub(crate) struct RawPlacedExample {
    pub(crate) text: String,
    pub(crate) turn: Option<i64>,
    pub(crate) words: Option<String>,
    pub(crate) channel: Option<String>,
}
