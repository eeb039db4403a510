//! Compiling one `[[rule]]` table into a [`Rule`]: the checks every kind shares, then one
//! function per kind (`forbid`, `require`, `respond`, `overlap`, `promise`) for its own fields.
//!
//! A rule is checked in a fixed order, and the first problem is the error: its id, then fields
//! that belong to another kind, then its kind's own fields ([`forbid`] … [`promise`]), then its
//! weight, message and examples ([`RuleContext::finish`]). Every error names the file, the line
//! and the field; a field the rule lacks is reported at the line of its `[[rule]]`.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::pattern::{self, Lists};
use super::schema::{KeptBy, Phrases, RawExample, RawKind, RawRule, RawSpeaker};
use super::{
    ChannelSettings, Example, PhraseEntry, Role, Rule, RuleError, RuleKind, RuleWithPhrases,
    Structure, Window, WindowSettings, line_of,
};
use crate::deadline::{Windows, Within};
use crate::engine::Element;
use crate::transcript::Speaker;
use crate::transcript::script::parse_script_from_line;

/// One rule being compiled: where it is (for errors), what it is, and the phrases it uses so far.
pub(super) struct RuleContext<'a> {
    file: &'a str,
    text: &'a str,
    /// The line of the rule's `[[rule]]`, where a missing field is reported.
    rule_line: usize,
    id: String,
    kind: RawKind,
    /// The file's named lists (with those of the packs it includes).
    lists: &'a Lists,
    phrases: Vec<PhraseEntry>,
}

impl<'a> RuleContext<'a> {
    /// Starts a rule: checks its id, and that it sets no field of another kind.
    pub(super) fn new(
        raw: &RawRule,
        file: &'a str,
        text: &'a str,
        rule_line: usize,
        lists: &'a Lists,
    ) -> Result<RuleContext<'a>, RuleError> {
        let mut rule = RuleContext {
            file,
            text,
            rule_line,
            id: String::new(),
            kind: *raw.kind.get_ref(),
            lists,
            phrases: Vec::new(),
        };
        let id = raw.id.get_ref().trim().to_string();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(rule.at(
                raw.id.span(),
                "id",
                format!("rule id {id:?} must be lower-case letters, digits, `-` or `_`"),
            ));
        }
        rule.id = id;
        rule.refuse_other_kinds_fields(raw)?;
        Ok(rule)
    }

    /// An error at `span`, in `field`.
    fn at(&self, span: Range<usize>, field: &str, message: String) -> RuleError {
        RuleError {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            field: Some(field.to_string()),
            message,
        }
    }

    /// An error at the rule's `[[rule]]` line, in `field`.
    fn at_rule(&self, field: &str, message: String) -> RuleError {
        RuleError {
            file: self.file.to_string(),
            line: self.rule_line,
            field: Some(field.to_string()),
            message,
        }
    }

    /// The rule lacks `field`, which its kind needs.
    fn missing(&self, field: &str) -> RuleError {
        self.at_rule(
            field,
            format!(
                "rule `{}` of kind `{}` needs `{field}`",
                self.id,
                kind_label(self.kind)
            ),
        )
    }

    /// The rule sets `field`, which its kind does not have.
    fn not_for_kind(&self, span: Range<usize>, field: &str) -> RuleError {
        self.at(
            span,
            field,
            format!(
                "`{field}` does not apply to kind `{}` (rule `{}`)",
                kind_label(self.kind),
                self.id
            ),
        )
    }

    /// Refuses the first field (in the schema's order) that only another kind has.
    fn refuse_other_kinds_fields(&self, raw: &RawRule) -> Result<(), RuleError> {
        let fields: [(&str, Option<Range<usize>>, RawKind); 16] = [
            (
                "default_within",
                raw.default_within.as_ref().map(Spanned::span),
                RawKind::Promise,
            ),
            (
                "shortly",
                raw.shortly.as_ref().map(Spanned::span),
                RawKind::Promise,
            ),
            (
                "asap",
                raw.asap.as_ref().map(Spanned::span),
                RawKind::Promise,
            ),
            (
                "kept_by",
                raw.kept_by.as_ref().map(Spanned::span),
                RawKind::Promise,
            ),
            (
                "first_turns",
                raw.first_turns.as_ref().map(Spanned::span),
                RawKind::Require,
            ),
            (
                "last_turns",
                raw.last_turns.as_ref().map(Spanned::span),
                RawKind::Require,
            ),
            (
                "last_seconds",
                raw.last_seconds.as_ref().map(Spanned::span),
                RawKind::Require,
            ),
            (
                "skip_courtesies",
                raw.skip_courtesies.as_ref().map(Spanned::span),
                RawKind::Require,
            ),
            (
                "merge_parts",
                raw.merge_parts.as_ref().map(Spanned::span),
                RawKind::Require,
            ),
            (
                "channel",
                raw.channel
                    .as_ref()
                    .and_then(|c| c.values().next())
                    .map(Spanned::span),
                RawKind::Require,
            ),
            (
                "trigger",
                raw.trigger.as_ref().map(Spanned::span),
                RawKind::Respond,
            ),
            (
                "within_turns",
                raw.within_turns.as_ref().map(Spanned::span),
                RawKind::Respond,
            ),
            (
                "count_earlier",
                raw.count_earlier.as_ref().map(Spanned::span),
                RawKind::Respond,
            ),
            (
                "min_overlap_ms",
                raw.min_overlap_ms.as_ref().map(Spanned::span),
                RawKind::Overlap,
            ),
            (
                "max_gap_ms",
                raw.max_gap_ms.as_ref().map(Spanned::span),
                RawKind::Overlap,
            ),
            (
                "min_words",
                raw.min_words.as_ref().map(Spanned::span),
                RawKind::Overlap,
            ),
        ];
        for (field, span, kind) in fields {
            if let Some(span) = span
                && kind != self.kind
            {
                return Err(self.not_for_kind(span, field));
            }
        }
        if let Some(ignore) = &raw.ignore
            && !matches!(self.kind, RawKind::Overlap | RawKind::Require)
        {
            return Err(self.not_for_kind(ignore.span(), "ignore"));
        }
        Ok(())
    }

    /// Adds the phrases of `list` in `role`; a `required` list must be given and not be empty.
    /// Every phrase must parse ([`pattern::parse`]) and have words; an exception that starts
    /// with `{sentence}` takes the sentence-wide role of its list.
    fn add_phrases(
        &mut self,
        list: &Option<Phrases>,
        field: &str,
        role: Role,
        required: bool,
    ) -> Result<(), RuleError> {
        let Some(list) = list else {
            return if required {
                Err(self.missing(field))
            } else {
                Ok(())
            };
        };
        if required && list.get_ref().is_empty() {
            return Err(self.at(list.span(), field, "the list is empty".into()));
        }
        for phrase in list.get_ref() {
            let error = |message| self.at(phrase.span(), field, message);
            let (modifiers, words) = pattern::modifiers(phrase.get_ref()).map_err(error)?;
            let variants = pattern::parse(words, Some(self.lists)).map_err(error)?;
            let conditions = modifiers.cancel_negated || modifiers.sentence != Default::default();
            if conditions && variants.iter().any(|v| matches!(v[0], Element::Cue(_))) {
                return Err(error(
                    "a cue takes no condition but `{sentence}` on an exception".into(),
                ));
            }
            let role = match (modifiers.sentence_scope, role) {
                (false, role) => role,
                (true, Role::Unless) => Role::UnlessSentence,
                (true, Role::TriggerUnless) => Role::TriggerUnlessSentence,
                (true, _) => {
                    return Err(error(
                        "`{sentence}` belongs on an exception (`unless`, `trigger.unless`)".into(),
                    ));
                }
            };
            self.phrases.push(PhraseEntry {
                role,
                written: phrase.get_ref().clone(),
                variants,
                cancel_negated: modifiers.cancel_negated,
                sentence: modifiers.sentence,
            });
        }
        Ok(())
    }

    /// `phrases` (required) and `unless`, which every kind but `overlap` has.
    fn add_phrases_and_unless(&mut self, raw: &RawRule) -> Result<(), RuleError> {
        self.add_phrases(&raw.phrases, "phrases", Role::Phrase, true)?;
        self.add_phrases(&raw.unless, "unless", Role::Unless, false)
    }

    /// A count of 1 or more.
    fn positive(&self, value: &Spanned<i64>, field: &str) -> Result<usize, RuleError> {
        let v = *value.get_ref();
        if v < 1 {
            return Err(self.at(value.span(), field, format!("must be 1 or more, not {v}")));
        }
        Ok(v as usize)
    }

    /// A number of 0 or more, `default` when not given.
    fn non_negative(
        &self,
        value: &Option<Spanned<i64>>,
        field: &str,
        default: i64,
    ) -> Result<i64, RuleError> {
        match value {
            None => Ok(default),
            Some(value) if *value.get_ref() < 0 => Err(self.at(
                value.span(),
                field,
                format!("must be 0 or more, not {}", value.get_ref()),
            )),
            Some(value) => Ok(*value.get_ref()),
        }
    }

    /// A promise window such as `"2 business days"`, `default` when not given.
    fn within(
        &self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Within,
    ) -> Result<Within, RuleError> {
        match value {
            None => Ok(default),
            Some(value) => Within::parse(value.get_ref())
                .map_err(|message| self.at(value.span(), field, message)),
        }
    }

    /// Ends the rule with the fields every kind shares (weight, message, channels, examples),
    /// and returns it with the phrases it uses.
    pub(super) fn finish(
        self,
        raw: &RawRule,
        kind: RuleKind,
    ) -> Result<RuleWithPhrases, RuleError> {
        let weight = self.weight(raw)?;
        let message = raw.message.get_ref().trim().to_string();
        if message.is_empty() {
            return Err(self.at(raw.message.span(), "message", "the message is empty".into()));
        }
        let channels = raw.channels.as_ref().map(|list| {
            list.get_ref()
                .iter()
                .map(|c| c.get_ref().trim().to_string())
                .collect::<Vec<_>>()
        });
        let (fail_examples, pass_examples) = self.examples(raw)?;
        let structure = structure(raw);
        let rule = Rule {
            id: self.id,
            kind,
            speaker: raw
                .speaker
                .as_ref()
                .map_or(Speaker::Agent, |s| speaker_of(*s.get_ref())),
            severity: *raw.severity.get_ref(),
            weight,
            message,
            channels,
            fail_examples,
            pass_examples,
            structure,
            file: self.file.to_string(),
            line: self.rule_line,
        };
        Ok((rule, self.phrases))
    }

    /// `weight`: 1 to 1000, 1 when not given.
    fn weight(&self, raw: &RawRule) -> Result<u32, RuleError> {
        match &raw.weight {
            None => Ok(1),
            Some(w) if *w.get_ref() >= 1 && *w.get_ref() <= 1000 => Ok(*w.get_ref() as u32),
            Some(w) => Err(self.at(
                w.span(),
                "weight",
                format!("must be a whole number from 1 to 1000, not {}", w.get_ref()),
            )),
        }
    }

    /// `examples.fail` and `examples.pass`: each at least one, each a script.
    fn examples(&self, raw: &RawRule) -> Result<(Vec<Example>, Vec<Example>), RuleError> {
        let examples = raw.examples.as_ref().ok_or_else(|| {
            self.at_rule(
                "examples",
                format!(
                    "rule `{}` carries no examples: give `examples.fail` and `examples.pass`",
                    self.id
                ),
            )
        })?;
        let fail = self.example_list(&examples.get_ref().fail, examples.span(), "examples.fail")?;
        let pass = self.example_list(&examples.get_ref().pass, examples.span(), "examples.pass")?;
        Ok((fail, pass))
    }

    /// One list of examples; an empty one is reported at `examples_span`.
    fn example_list(
        &self,
        list: &[Spanned<RawExample>],
        examples_span: Range<usize>,
        field: &str,
    ) -> Result<Vec<Example>, RuleError> {
        if list.is_empty() {
            return Err(self.at(
                examples_span,
                field,
                format!("rule `{}` needs at least one example in `{field}`", self.id),
            ));
        }
        list.iter()
            .map(|example| self.example(example, field))
            .collect()
    }

    /// One example: a script, or a table with its `text` and where its finding must be.
    fn example(&self, example: &Spanned<RawExample>, field: &str) -> Result<Example, RuleError> {
        let line = line_of(self.text, example.span().start);
        let (text, turn, words, channel) = match example.get_ref() {
            RawExample::Text(text) => (text, None, None, None),
            RawExample::Placed(placed) => (
                &placed.text,
                placed.turn,
                placed.words.as_ref(),
                placed.channel.as_ref(),
            ),
        };
        let file_name: Arc<str> = Arc::from(self.file);
        let conversation = parse_script_from_line(text, &file_name, "example", line as u64)
            .map_err(|err| {
                self.at(
                    example.span(),
                    field,
                    format!("example is not a script: {}", err.message),
                )
            })?;
        if (turn.is_some() || words.is_some()) && field != "examples.fail" {
            return Err(self.at(
                example.span(),
                field,
                "only a `fail` example names the `turn` or `words` of its finding".into(),
            ));
        }
        let turn = match turn {
            None => None,
            Some(n) if n >= 1 && n as usize <= conversation.turns.len() => Some(n as usize),
            Some(n) => {
                return Err(self.at(
                    example.span(),
                    field,
                    format!(
                        "`turn = {n}` is not a turn of the example (it has {})",
                        conversation.turns.len()
                    ),
                ));
            }
        };
        Ok(Example {
            text: text.clone(),
            line,
            turn,
            words: words.cloned(),
            channel: channel.cloned(),
        })
    }
}

/// The window settings of a rule: `skip_courtesies` (default `true`) and `merge_parts`
/// (default `false`), and its `[rule.channel.NAME]` tables.
fn structure(raw: &RawRule) -> Structure {
    let flag = |value: &Option<Spanned<bool>>| value.as_ref().map(|v| *v.get_ref());
    let default = Structure::default();
    Structure {
        all: WindowSettings {
            skip_courtesies: flag(&raw.skip_courtesies).unwrap_or(default.all.skip_courtesies),
            merge_parts: flag(&raw.merge_parts).unwrap_or(default.all.merge_parts),
        },
        by_channel: raw
            .channel
            .iter()
            .flatten()
            .map(|(name, settings)| {
                let settings = settings.get_ref();
                (
                    name.get_ref().trim().to_string(),
                    ChannelSettings {
                        skip_courtesies: flag(&settings.skip_courtesies),
                        merge_parts: flag(&settings.merge_parts),
                    },
                )
            })
            .collect(),
    }
}

/// `forbid`: `phrases`, and `unless`.
pub(super) fn forbid(rule: &mut RuleContext, raw: &RawRule) -> Result<RuleKind, RuleError> {
    rule.add_phrases_and_unless(raw)?;
    Ok(RuleKind::Forbid)
}

/// `require`: `phrases`, `unless`, `ignore`, and exactly one window (`first_turns`,
/// `last_turns` or `last_seconds`).
pub(super) fn require(rule: &mut RuleContext, raw: &RawRule) -> Result<RuleKind, RuleError> {
    rule.add_phrases_and_unless(raw)?;
    rule.add_phrases(&raw.ignore, "ignore", Role::Ignore, false)?;
    let windows = [
        raw.first_turns.is_some(),
        raw.last_turns.is_some(),
        raw.last_seconds.is_some(),
    ];
    if windows.iter().filter(|set| **set).count() != 1 {
        return Err(rule.at_rule(
            "first_turns",
            format!(
                "rule `{}` of kind `require` needs exactly one window: `first_turns`, `last_turns` or `last_seconds`",
                rule.id
            ),
        ));
    }
    let window = if let Some(n) = &raw.first_turns {
        Window::FirstTurns(rule.positive(n, "first_turns")?)
    } else if let Some(n) = &raw.last_turns {
        Window::LastTurns(rule.positive(n, "last_turns")?)
    } else if let Some(seconds) = &raw.last_seconds {
        let value = *seconds.get_ref();
        if !(value > 0.0 && value.is_finite()) {
            return Err(rule.at(
                seconds.span(),
                "last_seconds",
                format!("must be more than 0, not {value}"),
            ));
        }
        Window::LastMillis((value * 1000.0).round() as i64)
    } else {
        unreachable!("exactly one window is set")
    };
    Ok(RuleKind::Require { window })
}

/// `respond`: `phrases`, `unless`, a `trigger` (its `phrases`, `unless` and `speaker`),
/// `within_turns`, and `count_earlier`.
pub(super) fn respond(rule: &mut RuleContext, raw: &RawRule) -> Result<RuleKind, RuleError> {
    rule.add_phrases_and_unless(raw)?;
    let trigger = raw
        .trigger
        .as_ref()
        .ok_or_else(|| rule.missing("trigger"))?;
    let trigger = trigger.get_ref();
    rule.add_phrases(&trigger.phrases, "trigger.phrases", Role::Trigger, true)?;
    rule.add_phrases(
        &trigger.unless,
        "trigger.unless",
        Role::TriggerUnless,
        false,
    )?;
    let within = raw
        .within_turns
        .as_ref()
        .ok_or_else(|| rule.missing("within_turns"))?;
    Ok(RuleKind::Respond {
        trigger_speaker: trigger
            .speaker
            .as_ref()
            .map_or(Speaker::Customer, |s| speaker_of(*s.get_ref())),
        within_turns: rule.positive(within, "within_turns")?,
        count_earlier: raw.count_earlier.as_ref().is_some_and(|v| *v.get_ref()),
    })
}

/// `overlap`: no `phrases` or `unless`; `ignore`, `min_words`, `min_overlap_ms`, `max_gap_ms`.
pub(super) fn overlap(rule: &mut RuleContext, raw: &RawRule) -> Result<RuleKind, RuleError> {
    if let Some(list) = &raw.phrases {
        return Err(rule.not_for_kind(list.span(), "phrases"));
    }
    if let Some(list) = &raw.unless {
        return Err(rule.not_for_kind(list.span(), "unless"));
    }
    rule.add_phrases(&raw.ignore, "ignore", Role::Ignore, false)?;
    let min_words = match &raw.min_words {
        Some(value) => rule.positive(value, "min_words")?,
        None => 1,
    };
    Ok(RuleKind::Overlap {
        min_overlap_ms: rule.non_negative(&raw.min_overlap_ms, "min_overlap_ms", 500)?,
        max_gap_ms: rule.non_negative(&raw.max_gap_ms, "max_gap_ms", 300)?,
        min_words,
    })
}

/// `promise`: `phrases`, `unless`, the windows (`default_within`, `shortly`, `asap`), and
/// `kept_by`.
pub(super) fn promise(rule: &mut RuleContext, raw: &RawRule) -> Result<RuleKind, RuleError> {
    rule.add_phrases_and_unless(raw)?;
    let defaults = Windows::default();
    Ok(RuleKind::Promise {
        windows: Windows {
            default_within: rule.within(
                &raw.default_within,
                "default_within",
                defaults.default_within,
            )?,
            shortly: rule.within(&raw.shortly, "shortly", defaults.shortly)?,
            asap: rule.within(&raw.asap, "asap", defaults.asap)?,
        },
        kept_by: raw.kept_by.as_ref().map_or(KeptBy::Any, |k| *k.get_ref()),
    })
}

fn speaker_of(raw: RawSpeaker) -> Speaker {
    match raw {
        RawSpeaker::Agent => Speaker::Agent,
        RawSpeaker::Customer => Speaker::Customer,
        RawSpeaker::System => Speaker::System,
    }
}

fn kind_label(kind: RawKind) -> &'static str {
    match kind {
        RawKind::Forbid => "forbid",
        RawKind::Require => "require",
        RawKind::Respond => "respond",
        RawKind::Overlap => "overlap",
        RawKind::Promise => "promise",
    }
}
