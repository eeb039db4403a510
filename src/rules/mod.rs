//! Rule files: loading, validation and the compiled rule set.
//!
//! Loading is in two stages, as in ast-grep: `schema` mirrors the TOML file (serde, with the
//! span of every field and unknown keys refused), then `compile` checks each rule against its
//! kind and builds a [`Rule`] that is valid by construction: `compile.rs` holds the checks every
//! kind shares and one function per kind, and `compile_rule` picks the kind's. A [`RuleSet`] is the rules of every
//! file given, in file order, with the one [`PhraseMatcher`] over all their phrases and, for each
//! distinct phrase, the rules and roles that use it.
//!
//! Every error names the file, the line and the field.

mod compile;
mod listing;
mod pattern;
pub(crate) mod schema;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::deadline::Windows;
use crate::engine::{Candidate, Cue, Element, PhraseMatcher, SentenceCondition};
use crate::transcript::Speaker;
use pattern::{Lists, Variant};
pub use schema::{KeptBy, Severity};
use schema::{RawFile, RawKind, RawOverride, RawRule};

/// The default pack, built into the binary.
pub(crate) const DEFAULT_PACK: &str = include_str!("../../rules/default.toml");
/// How the built-in pack is named in messages and in `--rules`.
pub(crate) const DEFAULT_PACK_NAME: &str = "default";

/// The TOML of the built-in pack `name` (`callqa rules print`).
pub fn built_in_pack(name: &str) -> Result<&'static str, String> {
    if name == DEFAULT_PACK_NAME {
        Ok(DEFAULT_PACK)
    } else {
        Err(format!(
            "rules print: unknown pack {name:?}; the built-in pack is \"{DEFAULT_PACK_NAME}\""
        ))
    }
}

/// A rule file error: where, which field, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: about the whole file (it is missing, or could not be read).
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}: ", self.file, self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

/// The text of one rule file and the name it is shown under.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub name: String,
    pub text: String,
}

impl RuleSource {
    /// The built-in default pack.
    pub fn default_pack() -> RuleSource {
        RuleSource {
            name: "rules/default.toml (built in)".into(),
            text: DEFAULT_PACK.into(),
        }
    }

    /// Reads the rule files a `--rules` argument names: a file, a folder (its `*.toml` files,
    /// sorted), or `default` for the built-in pack.
    pub fn from_arg(arg: &Path) -> Result<Vec<RuleSource>, RuleError> {
        if arg.as_os_str() == DEFAULT_PACK_NAME && !arg.exists() {
            return Ok(vec![RuleSource::default_pack()]);
        }
        let io_error = |path: &Path, err: std::io::Error| RuleError {
            file: path.display().to_string(),
            line: 0,
            field: None,
            message: match err.kind() {
                std::io::ErrorKind::NotFound => "no such rule file".into(),
                _ => format!("cannot read rule file: {err}"),
            },
        };
        if arg.is_dir() {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(arg)
                .map_err(|err| io_error(arg, err))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
                .collect();
            paths.sort();
            if paths.is_empty() {
                return Err(RuleError {
                    file: arg.display().to_string(),
                    line: 0,
                    field: None,
                    message: "the folder holds no .toml rule file".into(),
                });
            }
            paths
                .iter()
                .map(|path| {
                    Ok(RuleSource {
                        name: path.display().to_string(),
                        text: std::fs::read_to_string(path).map_err(|err| io_error(path, err))?,
                    })
                })
                .collect()
        } else {
            Ok(vec![RuleSource {
                name: arg.display().to_string(),
                text: std::fs::read_to_string(arg).map_err(|err| io_error(arg, err))?,
            }])
        }
    }
}

/// Which turns of its speaker a `require` rule looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    FirstTurns(usize),
    LastTurns(usize),
    /// The speaker's turns that start within this many ms of the end of the last timed turn.
    LastMillis(i64),
}

/// What a rule checks, with the settings of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `speaker` says one of the phrases: one finding per hit.
    Forbid,
    /// `speaker` says one of the phrases inside `window`, or a finding.
    Require { window: Window },
    /// After a trigger by `trigger_speaker`, `speaker` says a phrase within `within_turns`
    /// (or, with `count_earlier`, already said one before the trigger).
    Respond {
        trigger_speaker: Speaker,
        within_turns: usize,
        count_earlier: bool,
    },
    /// `speaker` starts while the other party still speaks (or right after a cut-off).
    Overlap {
        min_overlap_ms: i64,
        max_gap_ms: i64,
        min_words: usize,
    },
    /// `speaker` promises a later contact; judged against the customer's later
    /// conversations after the whole input is read.
    Promise { windows: Windows, kept_by: KeptBy },
}

impl RuleKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            RuleKind::Forbid => "forbid",
            RuleKind::Require { .. } => "require",
            RuleKind::Respond { .. } => "respond",
            RuleKind::Overlap { .. } => "overlap",
            RuleKind::Promise { .. } => "promise",
        }
    }
}

/// One example conversation a rule carries, in the plain-text script form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Example {
    pub(crate) text: String,
    /// Line of the example in its rule file.
    pub(crate) line: usize,
    /// The 1-based turn a `fail` example's finding must be on (any when `None`).
    pub(crate) turn: Option<usize>,
    /// Words the finding's evidence must hold (any when `None`).
    pub(crate) words: Option<String>,
    /// The conversation's channel.
    pub(crate) channel: Option<String>,
}

/// How a rule's window walks the conversation (`require` rules): the rule's settings, and
/// per channel those that differ.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Structure {
    pub(crate) all: WindowSettings,
    /// Per channel name (as written), its settings (`None`: the rule's).
    pub(crate) by_channel: Vec<(String, ChannelSettings)>,
}

/// A rule's window settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowSettings {
    /// Turns made only of `ignore` phrases (goodbyes, thanks, "anything else?") count in no
    /// window.
    pub(crate) skip_courtesies: bool,
    /// Consecutive messages of the speaker that continue one reply ("1/2" … "2/2", a short
    /// trailing fragment) count as one turn.
    pub(crate) merge_parts: bool,
}

/// The settings of one `[rule.channel.NAME]` table; `None` keeps the rule's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChannelSettings {
    pub(crate) skip_courtesies: Option<bool>,
    pub(crate) merge_parts: Option<bool>,
}

impl Default for Structure {
    fn default() -> Self {
        Structure {
            all: WindowSettings {
                skip_courtesies: true,
                merge_parts: false,
            },
            by_channel: Vec::new(),
        }
    }
}

impl Structure {
    /// The settings on a conversation of this channel.
    pub(crate) fn on(&self, channel: Option<&str>) -> WindowSettings {
        let own = channel.and_then(|c| {
            self.by_channel
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(c))
        });
        match own {
            None => self.all,
            Some((_, settings)) => WindowSettings {
                skip_courtesies: settings.skip_courtesies.unwrap_or(self.all.skip_courtesies),
                merge_parts: settings.merge_parts.unwrap_or(self.all.merge_parts),
            },
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub(crate) id: String,
    pub kind: RuleKind,
    pub speaker: Speaker,
    pub(crate) severity: Severity,
    pub(crate) weight: u32,
    pub(crate) message: String,
    /// Only conversations of these channels (any when `None`).
    pub(crate) channels: Option<Vec<String>>,
    pub(crate) fail_examples: Vec<Example>,
    pub(crate) pass_examples: Vec<Example>,
    /// How its window walks the conversation.
    pub(crate) structure: Structure,
    /// The rule file it came from and the line of its `[[rule]]`.
    pub(crate) file: String,
    pub(crate) line: usize,
}

impl Rule {
    /// Whether the rule runs on a conversation of this channel.
    pub fn applies_to_channel(&self, channel: Option<&str>) -> bool {
        match &self.channels {
            None => true,
            Some(channels) => {
                channel.is_some_and(|c| channels.iter().any(|x| x.eq_ignore_ascii_case(c)))
            }
        }
    }
}

/// What a phrase is to the rule that lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `phrases`: what the rule looks for.
    Phrase,
    /// `unless`: cancels an overlapping `phrases` hit.
    Unless,
    /// `trigger.phrases` of a `respond` rule.
    Trigger,
    /// `trigger.unless`.
    TriggerUnless,
    /// `ignore` of an `overlap` rule (backchannel words) or a `require` rule (turns of only
    /// these words, such as a goodbye, count in no window).
    Ignore,
    /// `unless_sentence`: cancels every `phrases` hit in its sentence.
    UnlessSentence,
    /// `trigger.unless_sentence`: cancels every trigger hit in its sentence.
    TriggerUnlessSentence,
}

impl Role {
    /// The role whose hits a hit of this role cancels by sentence, if any.
    pub(crate) fn cancels_in_sentence(self) -> Option<Role> {
        match self {
            Role::UnlessSentence => Some(Role::Phrase),
            Role::TriggerUnlessSentence => Some(Role::Trigger),
            _ => None,
        }
    }
}

/// One use of a distinct phrase by a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhraseUse {
    pub rule: u32,
    pub role: Role,
    /// The check a hit must pass for this use ([`RuleSet::candidates`]); `None` for a
    /// literal phrase, whose hits count as they are.
    pub(crate) check: Option<u32>,
}

/// The compiled rules of one run.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// The names of the files, joined with `+`.
    pub(crate) name: String,
    /// `sha256:` of the files' contents, in order.
    pub(crate) digest: String,
    /// Distinct anchors: normalized literal phrases, and the anchors of patterns (an open
    /// one ends in `*`); a hit's `phrase` indexes this and [`RuleSet::uses`].
    pub phrases: Vec<String>,
    /// The phrases as the files wrote them (a pattern's anchors as they are), for
    /// `rules list --phrases`.
    pub written_phrases: Vec<String>,
    pub uses: Vec<Vec<PhraseUse>>,
    /// The checks of pattern hits, indexed by [`PhraseUse::check`].
    pub(crate) candidates: Vec<Candidate>,
    /// Whether some rule has a `{sentence}` exception.
    pub(crate) sentence_exceptions: bool,
    /// The cues rules use, each with a use: found in the original text, not by the matcher.
    pub(crate) cues: Vec<(Cue, PhraseUse)>,
    pub matcher: PhraseMatcher,
}

/// One entry of a rule's phrase lists, as the file wrote it: what `callqa eval --ablate` takes
/// out in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The rule's index in its [`RuleSet`].
    pub rule: u32,
    /// Its place in the entries of that rule (what [`RuleSet::load_without`] skips).
    pub index: usize,
    /// The list it is written in: `phrases`, `unless`, `trigger.phrases`, `trigger.unless`
    /// or `ignore`.
    pub field: &'static str,
    pub written: String,
}

impl Role {
    /// The field of a rule file this role's entries are written in.
    fn field(self) -> &'static str {
        match self {
            Role::Phrase => "phrases",
            Role::Unless | Role::UnlessSentence => "unless",
            Role::Trigger => "trigger.phrases",
            Role::TriggerUnless | Role::TriggerUnlessSentence => "trigger.unless",
            Role::Ignore => "ignore",
        }
    }
}

impl RuleSet {
    /// Loads and compiles the given rule files, in order.
    pub fn load(sources: &[RuleSource]) -> Result<RuleSet, RuleError> {
        RuleSet::load_without(sources, None)
    }

    /// Every entry of every rule's phrase lists, rule by rule in the order the files wrote
    /// them.
    pub fn entries(sources: &[RuleSource]) -> Result<Vec<Entry>, RuleError> {
        let mut entries = Vec::new();
        let mut rule = 0u32;
        for source in sources {
            for (_, phrases) in compile(source)?.rules {
                entries.extend(phrases.iter().enumerate().map(|(index, entry)| Entry {
                    rule,
                    index,
                    field: entry.role.field(),
                    written: entry.written.clone(),
                }));
                rule += 1;
            }
        }
        Ok(entries)
    }

    /// As [`RuleSet::load`], with one entry of one rule left out (`(rule, index)` of an
    /// [`Entry`]): the rule set a file without that line would make.
    pub fn load_without(
        sources: &[RuleSource],
        skip: Option<(u32, usize)>,
    ) -> Result<RuleSet, RuleError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut rule_phrases: Vec<Vec<PhraseEntry>> = Vec::new();
        let mut names = Vec::new();
        let mut hasher = Sha256::new();
        for source in sources {
            let Compiled {
                name,
                rules: compiled,
                included,
                ..
            } = compile(source)?;
            for text in std::iter::once(source.text.as_str()).chain(included) {
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            names.push(name);
            for (rule, phrases) in compiled {
                if let Some(earlier) = rules.iter().find(|r| r.id == rule.id) {
                    return Err(RuleError {
                        file: rule.file.clone(),
                        line: rule.line,
                        field: Some("id".into()),
                        message: format!(
                            "rule id `{}` is defined twice (first at {}:{})",
                            rule.id, earlier.file, earlier.line
                        ),
                    });
                }
                rules.push(rule);
                rule_phrases.push(phrases);
            }
        }
        if let Some((rule, index)) = skip
            && let Some(phrases) = rule_phrases.get_mut(rule as usize)
            && index < phrases.len()
        {
            phrases.remove(index);
        }
        let anchors = Anchors::of(&rule_phrases);
        let Anchors {
            phrases,
            written_phrases,
            uses,
            candidates,
            cues,
        } = anchors;
        let sentence_exceptions = rule_phrases
            .iter()
            .flatten()
            .any(|entry| entry.role.cancels_in_sentence().is_some());
        let matcher = PhraseMatcher::new(&phrases).map_err(|err| RuleError {
            file: sources.first().map(|s| s.name.clone()).unwrap_or_default(),
            line: 0,
            field: None,
            message: format!("the phrases do not fit in one automaton: {err}"),
        })?;
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok(RuleSet {
            rules,
            name: names.join("+"),
            digest: format!("sha256:{digest}"),
            phrases,
            written_phrases,
            uses,
            candidates,
            sentence_exceptions,
            cues,
            matcher,
        })
    }

    /// The built-in default pack.
    pub fn default_pack() -> Result<RuleSet, RuleError> {
        RuleSet::load(&[RuleSource::default_pack()])
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    // Asked once per example and pattern of a pack: memchr counts the file's newlines by the
    // vector, where a byte-by-byte count took a tenth of every start.
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset.min(text.len())]).count() + 1
}

/// A phrase of a rule as compiled: its role, how it was written, its literal variants, and
/// the conditions of its list.
#[derive(Debug, Clone)]
struct PhraseEntry {
    role: Role,
    written: String,
    variants: Vec<Variant>,
    cancel_negated: bool,
    sentence: SentenceCondition,
}

/// A rule and the phrases it uses.
type RuleWithPhrases = (Rule, Vec<PhraseEntry>);

/// One file compiled: its name, its rules (included ones first), the texts it included, and
/// its lists (with those of the packs it includes).
struct Compiled {
    name: String,
    rules: Vec<RuleWithPhrases>,
    included: Vec<&'static str>,
    lists: Lists,
}

/// The anchors of every phrase of a rule set, what uses them, and the checks of their hits.
#[derive(Default)]
struct Anchors {
    phrases: Vec<String>,
    written_phrases: Vec<String>,
    uses: Vec<Vec<PhraseUse>>,
    candidates: Vec<Candidate>,
    cues: Vec<(Cue, PhraseUse)>,
}

impl Anchors {
    /// Each variant of each phrase goes on the automaton by its anchor. A literal phrase in a
    /// list without conditions has no check (its anchor is all of it); any other variant's
    /// use carries the check of what its anchor leaves out.
    fn of(rule_phrases: &[Vec<PhraseEntry>]) -> Anchors {
        let mut anchors = Anchors::default();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut candidate_index: HashMap<Candidate, u32> = HashMap::new();
        let mut patterns = 0;
        for (rule_index, list) in rule_phrases.iter().enumerate() {
            for entry in list {
                let literal = pattern::is_literal(&entry.variants);
                let pattern = (entry.variants.len() > 1).then(|| {
                    patterns += 1;
                    patterns - 1
                });
                for variant in &entry.variants {
                    if let [Element::Cue(cue)] = variant.as_slice() {
                        let cue_use = PhraseUse {
                            rule: rule_index as u32,
                            role: entry.role,
                            check: None,
                        };
                        if !anchors.cues.contains(&(*cue, cue_use)) {
                            anchors.cues.push((*cue, cue_use));
                        }
                        continue;
                    }
                    let (key, open, tail) = pattern::split_anchor(variant);
                    let candidate = Candidate {
                        open,
                        tail,
                        cancel_negated: entry.cancel_negated,
                        sentence: entry.sentence,
                        pattern,
                    };
                    let check = (candidate != Candidate::default()).then(|| {
                        *candidate_index.entry(candidate.clone()).or_insert_with(|| {
                            anchors.candidates.push(candidate);
                            (anchors.candidates.len() - 1) as u32
                        })
                    });
                    let written = if literal {
                        entry.written.trim().to_string()
                    } else {
                        key.clone()
                    };
                    let id = *index.entry(key.clone()).or_insert_with(|| {
                        anchors.phrases.push(key);
                        anchors.written_phrases.push(written);
                        anchors.uses.push(Vec::new());
                        (anchors.phrases.len() - 1) as u32
                    });
                    let phrase_use = PhraseUse {
                        rule: rule_index as u32,
                        role: entry.role,
                        check,
                    };
                    if !anchors.uses[id as usize].contains(&phrase_use) {
                        anchors.uses[id as usize].push(phrase_use);
                    }
                }
            }
        }
        anchors
    }
}

/// Compiles a file's `[lists]` onto the lists of the packs it includes (a list of the same
/// name replaces the included one for the file's own rules).
fn compile_lists(
    raw: &schema::RawLists,
    lists: &mut Lists,
    at: &dyn Fn(std::ops::Range<usize>, &str, String) -> RuleError,
) -> Result<(), RuleError> {
    for (name, items) in raw.iter().flatten() {
        let written: Vec<&str> = items
            .get_ref()
            .iter()
            .map(|i| i.get_ref().as_str())
            .collect();
        let field = format!("lists.{}", name.get_ref());
        lists
            .define(name.get_ref(), &written)
            .map_err(|(index, message)| {
                let span = items
                    .get_ref()
                    .get(index)
                    .map_or_else(|| items.span(), Spanned::span);
                at(span, &field, message)
            })?;
    }
    Ok(())
}

/// Compiles one file into its name and its rules, each with the phrases it uses: first the
/// rules of the packs it includes, less those it disables and with its overrides applied,
/// then its own.
fn compile(source: &RuleSource) -> Result<Compiled, RuleError> {
    let file = source.name.as_str();
    let text = source.text.as_str();
    let raw: RawFile = toml::from_str(text).map_err(|err| RuleError {
        file: file.to_string(),
        line: err.span().map_or(1, |span| line_of(text, span.start)),
        field: None,
        message: err.message().trim().to_string(),
    })?;
    let at = |span: std::ops::Range<usize>, field: &str, message: String| RuleError {
        file: file.to_string(),
        line: line_of(text, span.start),
        field: Some(field.to_string()),
        message,
    };
    if *raw.version.get_ref() != 1 {
        return Err(at(
            raw.version.span(),
            "version",
            format!(
                "unsupported version {} (this callqa reads version 1)",
                raw.version.get_ref()
            ),
        ));
    }
    let name = raw
        .name
        .map(Spanned::into_inner)
        .unwrap_or_else(|| file.to_string());
    let mut rules: Vec<RuleWithPhrases> = Vec::new();
    let mut included = Vec::new();
    let mut lists = Lists::default();
    for pack in raw.include.iter().flat_map(|list| list.get_ref()) {
        if pack.get_ref().trim() != DEFAULT_PACK_NAME {
            return Err(at(
                pack.span(),
                "include",
                format!(
                    "unknown pack {:?}: only \"{DEFAULT_PACK_NAME}\" (the built-in pack) can be included",
                    pack.get_ref()
                ),
            ));
        }
        if included.contains(&DEFAULT_PACK) {
            return Err(at(
                pack.span(),
                "include",
                "the default pack is included twice".into(),
            ));
        }
        let pack = compile(&RuleSource::default_pack())?;
        rules.extend(pack.rules);
        lists.extend(&pack.lists);
        included.push(DEFAULT_PACK);
    }
    let unknown = |id: &str, rules: &[RuleWithPhrases]| {
        if rules.is_empty() {
            format!(
                "unknown rule id `{id}`: this file includes no pack (add include = [\"{DEFAULT_PACK_NAME}\"])"
            )
        } else {
            let ids: Vec<&str> = rules.iter().map(|(r, _)| r.id.as_str()).collect();
            format!(
                "unknown rule id `{id}`: the included rules are {}",
                ids.join(", ")
            )
        }
    };
    for id in raw.disable.iter().flat_map(|list| list.get_ref()) {
        match rules.iter().position(|(r, _)| r.id == id.get_ref().trim()) {
            Some(index) => {
                rules.remove(index);
            }
            None => return Err(at(id.span(), "disable", unknown(id.get_ref(), &rules))),
        }
    }
    for (id, changes) in raw.overrides.iter().flatten() {
        let field = format!("override.{}", id.get_ref());
        let Some((rule, _)) = rules.iter_mut().find(|(r, _)| r.id == id.get_ref().trim()) else {
            return Err(at(changes.span(), &field, unknown(id.get_ref(), &rules)));
        };
        apply_override(rule, changes.get_ref(), &field, &at)?;
    }
    compile_lists(&raw.lists, &mut lists, &at)?;
    for spanned in raw.rule {
        let rule_line = line_of(text, spanned.span().start);
        let raw_rule = spanned.into_inner();
        rules.push(compile_rule(raw_rule, file, text, rule_line, &lists)?);
    }
    Ok(Compiled {
        name,
        rules,
        included,
        lists,
    })
}

/// Applies an `[override.ID]` table to an included rule: weight, severity, and the window of
/// its kind (`first_turns`, `last_turns` or `last_seconds` for `require`; `within_turns` for
/// `respond`).
fn apply_override(
    rule: &mut Rule,
    changes: &RawOverride,
    field: &str,
    at: &dyn Fn(std::ops::Range<usize>, &str, String) -> RuleError,
) -> Result<(), RuleError> {
    let positive = |value: &Spanned<i64>, name: &str| -> Result<usize, RuleError> {
        match usize::try_from(*value.get_ref()) {
            Ok(v) if v >= 1 => Ok(v),
            _ => Err(at(
                value.span(),
                &format!("{field}.{name}"),
                format!("must be 1 or more, not {}", value.get_ref()),
            )),
        }
    };
    let (kind_name, id) = (rule.kind.name(), rule.id.clone());
    let not_for_kind = |span: std::ops::Range<usize>, name: &str| {
        at(
            span,
            &format!("{field}.{name}"),
            format!("`{name}` does not apply to kind `{kind_name}` (rule `{id}`)"),
        )
    };
    if let Some(weight) = &changes.weight {
        match u32::try_from(*weight.get_ref()) {
            Ok(w) if (1..=1000).contains(&w) => rule.weight = w,
            _ => {
                return Err(at(
                    weight.span(),
                    &format!("{field}.weight"),
                    format!(
                        "must be a whole number from 1 to 1000, not {}",
                        weight.get_ref()
                    ),
                ));
            }
        }
    }
    if let Some(severity) = &changes.severity {
        rule.severity = *severity.get_ref();
    }
    let windows = [
        changes
            .first_turns
            .as_ref()
            .map(|v| ("first_turns", v.span())),
        changes
            .last_turns
            .as_ref()
            .map(|v| ("last_turns", v.span())),
        changes
            .last_seconds
            .as_ref()
            .map(|v| ("last_seconds", v.span())),
    ];
    let given: Vec<(&str, std::ops::Range<usize>)> = windows.into_iter().flatten().collect();
    if let Some((name, span)) = given.first() {
        if !matches!(rule.kind, RuleKind::Require { .. }) {
            return Err(not_for_kind(span.clone(), name));
        }
        if given.len() > 1 {
            return Err(at(
                given[1].1.clone(),
                &format!("{field}.{}", given[1].0),
                "give one window: `first_turns`, `last_turns` or `last_seconds`".into(),
            ));
        }
        let window = if let Some(n) = &changes.first_turns {
            Window::FirstTurns(positive(n, "first_turns")?)
        } else if let Some(n) = &changes.last_turns {
            Window::LastTurns(positive(n, "last_turns")?)
        } else {
            let seconds = changes.last_seconds.as_ref().map_or(0.0, |s| *s.get_ref());
            if !(seconds > 0.0 && seconds.is_finite()) {
                return Err(at(
                    span.clone(),
                    &format!("{field}.last_seconds"),
                    format!("must be more than 0, not {seconds}"),
                ));
            }
            Window::LastMillis((seconds * 1000.0).round() as i64)
        };
        rule.kind = RuleKind::Require { window };
    }
    if let Some(within) = &changes.within_turns {
        match &mut rule.kind {
            RuleKind::Respond { within_turns, .. } => {
                *within_turns = positive(within, "within_turns")?;
            }
            _ => return Err(not_for_kind(within.span(), "within_turns")),
        }
    }
    Ok(())
}

/// Compiles one `[[rule]]`: the checks every kind shares, then its kind's own ([`compile`]).
fn compile_rule(
    raw: RawRule,
    file: &str,
    text: &str,
    rule_line: usize,
    lists: &Lists,
) -> Result<RuleWithPhrases, RuleError> {
    let mut rule = compile::RuleContext::new(&raw, file, text, rule_line, lists)?;
    let kind = match *raw.kind.get_ref() {
        RawKind::Forbid => compile::forbid(&mut rule, &raw)?,
        RawKind::Require => compile::require(&mut rule, &raw)?,
        RawKind::Respond => compile::respond(&mut rule, &raw)?,
        RawKind::Overlap => compile::overlap(&mut rule, &raw)?,
        RawKind::Promise => compile::promise(&mut rule, &raw)?,
    };
    rule.finish(&raw, kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Within;

    fn load(text: &str) -> Result<RuleSet, RuleError> {
        RuleSet::load(&[RuleSource {
            name: "t.toml".into(),
            text: text.into(),
        }])
    }

    const GOOD: &str = r#"version = 1
name = "t"

[[rule]]
id = "blame"
kind = "forbid"
severity = "major"
weight = 3
message = "Agent blamed the customer"
phrases = ["you should have read", "calm down"]
unless = ["not your fault"]
examples.fail = ["agent: Well, you should have read the terms."]
examples.pass = ["agent: It's not your fault at all."]
"#;

    #[test]
    fn entries_are_listed_and_each_can_be_left_out() {
        let sources = [RuleSource {
            name: "t.toml".into(),
            text: GOOD.into(),
        }];
        let entries = RuleSet::entries(&sources).unwrap();
        let listed: Vec<(u32, usize, &str, &str)> = entries
            .iter()
            .map(|e| (e.rule, e.index, e.field, e.written.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                (0, 0, "phrases", "you should have read"),
                (0, 1, "phrases", "calm down"),
                (0, 2, "unless", "not your fault"),
            ]
        );
        for entry in &entries {
            let set = RuleSet::load_without(&sources, Some((entry.rule, entry.index))).unwrap();
            let expected: Vec<&str> = entries
                .iter()
                .filter(|other| other.index != entry.index)
                .map(|other| other.written.as_str())
                .collect();
            assert_eq!(set.phrases, expected);
            assert_eq!(set.digest, load(GOOD).unwrap().digest);
        }
    }

    #[test]
    fn a_good_file_compiles() {
        let set = load(GOOD).unwrap();
        assert_eq!(set.name, "t");
        assert_eq!(set.rules.len(), 1);
        let rule = &set.rules[0];
        assert_eq!(rule.kind, RuleKind::Forbid);
        assert_eq!(rule.weight, 3);
        assert_eq!(rule.line, 4);
        assert_eq!(rule.fail_examples[0].line, 12);
        assert_eq!(
            set.phrases,
            vec!["you should have read", "calm down", "not your fault"]
        );
        assert!(set.digest.starts_with("sha256:"));
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases: Vec<(String, usize, &str)> = vec![
            (
                GOOD.replace("phrases = [", "phrasez = ["),
                10,
                "unknown field `phrasez`",
            ),
            (
                GOOD.replace("\"forbid\"", "\"forbidden\""),
                6,
                "unknown variant `forbidden`",
            ),
            (
                GOOD.replace("weight = 3", "weight = 0"),
                8,
                "field `weight`",
            ),
            (
                GOOD.replace("version = 1", "version = 2"),
                1,
                "field `version`",
            ),
            (
                GOOD.replace("\"calm down\"", "\"!!\""),
                10,
                "\"!!\" is not a word",
            ),
            (
                GOOD.replace("id = \"blame\"", "id = \"Blame Rule\""),
                5,
                "field `id`",
            ),
            (
                GOOD.replace(
                    "examples.pass = [\"agent: It's not your fault at all.\"]",
                    "",
                ),
                12,
                "field `examples.pass`",
            ),
            (
                GOOD.replace("agent: Well", "robot: Well"),
                12,
                "field `examples.fail`",
            ),
            (
                format!("{GOOD}within_turns = 2\n"),
                14,
                "field `within_turns`: `within_turns` does not apply",
            ),
            (
                format!("{GOOD}\n{}", &GOOD[GOOD.find("[[rule]]").unwrap()..]),
                15,
                "defined twice",
            ),
        ];
        for (text, line, needle) in cases {
            let err = load(&text).unwrap_err();
            let shown = err.to_string();
            assert_eq!(err.line, line, "{shown}");
            assert!(shown.contains(needle), "{shown} lacks {needle}");
            assert!(shown.starts_with("t.toml:"), "{shown}");
        }
    }

    #[test]
    fn kinds_need_their_fields() {
        let require = GOOD.replace("\"forbid\"", "\"require\"");
        assert!(
            load(&require)
                .unwrap_err()
                .to_string()
                .contains("exactly one window")
        );
        let with_window = format!("{require}last_turns = 1\n");
        assert_eq!(
            load(&with_window).unwrap().rules[0].kind,
            RuleKind::Require {
                window: Window::LastTurns(1)
            }
        );
        let respond = GOOD.replace("\"forbid\"", "\"respond\"");
        assert!(
            load(&respond)
                .unwrap_err()
                .to_string()
                .contains("needs `trigger`")
        );
    }

    #[test]
    fn promise_fields_compile_and_their_errors_name_the_field() {
        let promise = GOOD.replace("\"forbid\"", "\"promise\"");
        let with = |extra: &str| format!("{promise}{extra}\n");
        let set = load(&with(
            "default_within = \"3 business days\"\nkept_by = \"outbound\"",
        ))
        .unwrap();
        assert_eq!(
            set.rules[0].kind,
            RuleKind::Promise {
                windows: Windows {
                    default_within: Within::BusinessDays(3),
                    ..Windows::default()
                },
                kept_by: KeptBy::Outbound,
            }
        );
        let cases = [
            (
                with("default_within = \"soonish\""),
                14,
                "field `default_within`",
            ),
            (with("shortly = \"4\""), 14, "field `shortly`"),
            (
                with("kept_by = \"inbound\""),
                14,
                "unknown variant `inbound`",
            ),
            (
                format!("{GOOD}asap = \"1 hour\"\n"),
                14,
                "`asap` does not apply to kind `forbid`",
            ),
        ];
        for (text, line, needle) in cases {
            let err = load(&text).unwrap_err();
            let shown = err.to_string();
            assert_eq!(err.line, line, "{shown}");
            assert!(shown.contains(needle), "{shown} lacks {needle}");
        }
    }

    const EXTENDS: &str = r#"version = 1
name = "team"
include = ["default"]
disable = ["interruption"]

[override.closing]
last_turns = 2
weight = 4

[override.apology]
severity = "critical"
within_turns = 3
"#;

    #[test]
    fn a_file_extends_the_default_pack() {
        let set = load(EXTENDS).unwrap();
        let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["blame", "apology", "closing", "callback"]);
        let closing = &set.rules[2];
        assert_eq!(
            closing.kind,
            RuleKind::Require {
                window: Window::LastTurns(2)
            }
        );
        assert_eq!(closing.weight, 4);
        let apology = &set.rules[1];
        assert_eq!(apology.severity, Severity::Critical);
        assert!(matches!(
            apology.kind,
            RuleKind::Respond {
                within_turns: 3,
                ..
            }
        ));
        // The included pack's text counts in the digest.
        let default = RuleSet::default_pack().unwrap();
        assert_ne!(set.digest, default.digest);
        assert_eq!(set.name, "team");
    }

    #[test]
    fn extension_errors_name_line_and_field() {
        let cases: Vec<(String, usize, &str)> = vec![
            (
                EXTENDS.replace("[\"interruption\"]", "[\"interuption\"]"),
                4,
                "field `disable`: unknown rule id `interuption`: the included rules are interruption, blame",
            ),
            (
                EXTENDS.replace("[override.apology]", "[override.apologies]"),
                10,
                "field `override.apologies`: unknown rule id `apologies`",
            ),
            (
                EXTENDS.replace("include = [\"default\"]", "include = [\"defaults\"]"),
                3,
                "field `include`: unknown pack \"defaults\"",
            ),
            (
                EXTENDS.replace("include = [\"default\"]\n", ""),
                3,
                "field `disable`: unknown rule id `interruption`: this file includes no pack",
            ),
            (
                EXTENDS.replace("last_turns = 2", "last_turns = 0"),
                7,
                "field `override.closing.last_turns`: must be 1 or more",
            ),
            (
                EXTENDS.replace("within_turns = 3", "last_turns = 3"),
                12,
                "field `override.apology.last_turns`: `last_turns` does not apply to kind `respond`",
            ),
            (
                EXTENDS.replace("weight = 4", "weight = 0"),
                8,
                "field `override.closing.weight`",
            ),
            (
                EXTENDS.replace("weight = 4", "message = \"x\""),
                8,
                "unknown field `message`",
            ),
        ];
        for (text, line, needle) in cases {
            let err = load(&text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(needle), "{shown} lacks {needle}");
            assert_eq!(err.line, line, "{shown}");
            assert!(shown.starts_with("t.toml:"), "{shown}");
        }
    }

    const LISTS: &str = r#"version = 1

[lists]
negative = ["terrible", "awful*"]

[[rule]]
id = "angry"
kind = "forbid"
speaker = "customer"
severity = "minor"
message = "m"
phrases = ["{not-negated} this is @negative", "{not-negated} refund*"]
examples.fail = ["customer: this is awful"]
examples.pass = ["customer: this is fine"]
"#;

    #[test]
    fn patterns_compile_to_anchors_and_checks() {
        let set = load(LISTS).unwrap();
        assert_eq!(
            set.phrases,
            ["this is terrible", "this is awful*", "refund*"]
        );
        assert_eq!(set.written_phrases, set.phrases);
        // Negation puts a check on every use.
        assert!(set.uses.iter().flatten().all(|u| u.check.is_some()));
        // Without conditions, a plain phrase has no check; a stem has, and so has each
        // variant of a phrase with several (of overlapping hits, the longest counts).
        let plain = load(
            &LISTS
                .replace("{not-negated} ", "")
                .replace("\"refund*\"]", "\"refund*\", \"calm down\"]"),
        )
        .unwrap();
        let checks: Vec<bool> = plain.uses.iter().map(|u| u[0].check.is_some()).collect();
        assert_eq!(checks, [true, true, true, false]);
    }

    #[test]
    fn pattern_errors_name_line_and_field() {
        let cases: Vec<(String, usize, &str)> = vec![
            (
                LISTS.replace("@negative", "@negativ"),
                12,
                "field `phrases`: unknown list `@negativ`: the lists are negative",
            ),
            (
                LISTS.replace("\"awful*\"", "\"aw*ful\""),
                4,
                "field `lists.negative`: `*` must end a word",
            ),
            (
                LISTS.replace("refund*", "(refund"),
                12,
                "field `phrases`: `(` is not closed by `)`",
            ),
            (
                LISTS.replace("{not-negated} refund", "{negated} refund"),
                12,
                "field `phrases`: unknown condition `{negated}`",
            ),
            (
                LISTS.replace("{not-negated} refund", "{sentence} refund"),
                12,
                "field `phrases`: `{sentence}` belongs on an exception",
            ),
            (
                LISTS.replace("{not-negated} refund*", "{not-negated} <angry-emoji>"),
                12,
                "field `phrases`: a cue takes no condition",
            ),
            (
                LISTS.replace("\"awful*\"", "\"{question} awful\""),
                4,
                "field `lists.negative`: a list item cannot carry conditions",
            ),
            (
                format!("{LISTS}unless = [\"{{sentence}} ...\"]\n"),
                15,
                "field `unless`: phrase \"...\": a gap",
            ),
        ];
        for (text, line, needle) in cases {
            let err = load(&text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(needle), "{shown} lacks {needle}");
            assert_eq!(err.line, line, "{shown}");
        }
    }

    #[test]
    fn a_file_sees_the_lists_of_the_pack_it_includes() {
        let pack = format!("{EXTENDS}\n[lists]\nmine = [\"x\"]\n");
        assert!(load(&pack).is_ok());
    }

    #[test]
    fn the_default_pack_compiles() {
        let set = RuleSet::default_pack().unwrap();
        let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        for id in ["interruption", "blame", "apology", "closing"] {
            assert!(ids.contains(&id), "default pack lacks {id}");
        }
    }
}
