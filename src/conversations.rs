//! Reading conversations one by one rather than as a run: `callqa convert` writes every one as
//! canonical JSON Lines, `callqa explain` finds one by id and audits it, and `callqa eval`
//! takes each one its labels name. All join `--metadata` onto what they read, as an audit does.

use std::borrow::Cow;

use crate::audit::{AuditError, AuditOptions};
use crate::checks::{Auditor, fold_judged};
use crate::input::{self, InputFile, Payload, ReadOptions};
use crate::load::Sources;
use crate::metadata::Metadata;
use crate::model::ConversationAudit;
use crate::redact::Redactor;
use crate::rules::RuleSet;
use crate::transcript::{Conversation, ReadError};

/// What `convert` produced.
#[derive(Debug, Default)]
pub struct Converted {
    /// The conversations as JSON Lines, in input order.
    pub json_lines: Vec<u8>,
    pub conversations: u64,
    /// Files that could not be read and conversations that could not be read, in input order.
    pub problems: Vec<ReadError>,
}

impl Converted {
    /// The line `convert` ends with: how many conversations from how many files, and how
    /// many problems.
    pub fn summary_line(&self, files: usize) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let count = self.conversations;
        let problems = self.problems.len();
        format!(
            "{count} conversation{} converted from {files} file{}; {problems} problem{}",
            plural(count as usize),
            plural(files),
            plural(problems)
        )
    }
}

/// Every conversation of `sources`, with their metadata joined, as canonical JSON Lines;
/// with a redactor, private data in the turns is replaced first. The problems start with the
/// files that could not be listed.
pub fn convert(sources: &Sources, redactor: Option<&Redactor>) -> Converted {
    let metadata = sources.metadata.as_deref();
    let mut converted = Converted {
        problems: sources.discovery.errors.clone(),
        ..Converted::default()
    };
    input::read_chunks(&sources.discovery.files, &sources.read, |chunk| {
        if let Payload::FileError(error) = &chunk.payload {
            converted.problems.push(error.clone());
        }
        let relative = chunk.relative.clone();
        chunk.for_each_conversation(|item| match item {
            Ok(mut conversation) => {
                if let Some(metadata) = metadata {
                    metadata.join(&mut conversation, &relative);
                }
                if let Some(redactor) = redactor {
                    for turn in &mut conversation.turns {
                        if let Cow::Owned(redacted) = redactor.redact(&turn.text) {
                            turn.text = redacted;
                        }
                    }
                }
                let value = crate::transcript::jsonl::to_json_value(&conversation);
                // Serializing a JSON value into memory cannot fail.
                let line = serde_json::to_string(&value).unwrap_or_default();
                // Hidden characters are kept, as escapes a terminal shows as they are.
                let line = crate::visible::escape_in_json(&line);
                converted.json_lines.extend_from_slice(line.as_bytes());
                converted.json_lines.push(b'\n');
                converted.conversations += 1;
            }
            Err(error) => converted.problems.push(error),
        });
        true
    });
    converted
}

/// The first conversation of `files` (in path and line order) whose id is `id`, with
/// `metadata` joined.
pub(crate) fn find(
    files: &[InputFile],
    read: &ReadOptions,
    metadata: Option<&Metadata>,
    id: &str,
) -> Option<Conversation> {
    let mut found = None;
    input::read_chunks(files, read, |chunk| {
        let relative = chunk.relative.clone();
        chunk.for_each_conversation(|item| {
            if found.is_none()
                && let Ok(mut conversation) = item
                && conversation.id == id
            {
                if let Some(metadata) = metadata {
                    metadata.join(&mut conversation, &relative);
                }
                found = Some(conversation);
            }
        });
        found.is_none()
    });
    found
}

/// `callqa explain`: the conversation `id` of `sources`, turn by turn with its findings under
/// the turns that caused them (ANSI colours with `color`); `None` when the input has no such
/// conversation.
pub fn explain(
    sources: &Sources,
    rules: &RuleSet,
    options: &AuditOptions,
    id: &str,
    color: bool,
) -> Result<Option<String>, AuditError> {
    let files = &sources.discovery.files;
    let metadata = sources.metadata.as_deref();
    let Some(conversation) = find(files, &sources.read, metadata, id) else {
        return Ok(None);
    };
    let audit = audit_in_context(&conversation, files, rules, options)?;
    let redactor = options.redactor.as_ref();
    let text = crate::explain::render(&conversation, &audit, rules, color, redactor);
    Ok(Some(text))
}

/// The audit of one `conversation` of `files`, as a whole run would give it: its promises are
/// judged against every contact of the input (which is audited for that, its text not kept).
pub(crate) fn audit_in_context(
    conversation: &Conversation,
    files: &[InputFile],
    rules: &RuleSet,
    options: &AuditOptions,
) -> Result<ConversationAudit, AuditError> {
    let mut audit = Auditor::new(rules)
        .redacting(options.redactor.clone())
        .audit(conversation);
    if !audit.promises.is_empty() {
        let mut run = crate::audit::run(files, rules, options, &mut |_| {})?;
        let mut promises = Vec::new();
        run.promises.visit(|promise| {
            if promise.conversation_id == conversation.id && !promise.carried {
                promises.push(promise);
            }
            Ok(())
        })?;
        audit.promises = promises;
        fold_judged(&mut audit);
    }
    Ok(audit)
}

/// Hands every conversation of `files` (in path and line order), with `metadata` joined, to
/// `each`; returns the files and conversations that could not be read, in input order.
pub(crate) fn each(
    files: &[InputFile],
    read: &ReadOptions,
    metadata: Option<&Metadata>,
    mut each: impl FnMut(Conversation),
) -> Vec<ReadError> {
    let mut problems = Vec::new();
    input::read_chunks(files, read, |chunk| {
        if let Payload::FileError(error) = &chunk.payload {
            problems.push(error.clone());
        }
        let relative = chunk.relative.clone();
        chunk.for_each_conversation(|item| match item {
            Ok(mut conversation) => {
                if let Some(metadata) = metadata {
                    metadata.join(&mut conversation, &relative);
                }
                each(conversation);
            }
            Err(error) => problems.push(error),
        });
        true
    });
    problems
}
