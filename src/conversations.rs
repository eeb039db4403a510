//! Reading conversations without auditing them: `callqa convert` writes every one as canonical
//! JSON Lines, `callqa explain` finds one by id, and `callqa eval` takes each one its labels
//! name. All join `--metadata` onto what they read, as an audit does.

use std::borrow::Cow;

use crate::input::{self, InputFile, Payload, ReadOptions};
use crate::metadata::Metadata;
use crate::redact::Redactor;
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

/// Every conversation of `files`, with `metadata` joined, as canonical JSON Lines; with a
/// redactor, private data in the turns is replaced first.
pub fn convert(
    files: &[InputFile],
    read: &ReadOptions,
    metadata: Option<&Metadata>,
    redactor: Option<&Redactor>,
) -> Converted {
    let mut converted = Converted::default();
    input::read_chunks(files, read, |chunk| {
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
                let _ = serde_json::to_writer(&mut converted.json_lines, &value);
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
pub fn find(
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

/// Hands every conversation of `files` (in path and line order), with `metadata` joined, to
/// `each`; returns the files and conversations that could not be read, in input order.
pub fn each(
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
