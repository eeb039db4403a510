//! The `--metadata` join: a CSV that supplies what exports lack (agent, customer, start time,
//! direction, channel, team), keyed by conversation id or by file.
//!
//! Columns: `conversation_id` or `file` (at least one of the two; `file` is a file's name or
//! its path relative to the audited folder), then any of `agent_id`, `customer_id`,
//! `started_at`, `direction`, `channel`, `team`. The file is read and checked once, before
//! the audit; the [`Metadata`] is then shared read-only by the workers, which join each
//! conversation before auditing it. A row's non-empty values win over the conversation's
//! own (the people who wrote the CSV know who took the call). A conversation takes the row
//! of its id, else the row of its file's relative path, else the row of its file's name.
//! A key given twice is an error, as is a value that cannot be read: the join must not
//! guess.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::transcript::{Conversation, Direction, parse_started_at};

/// Why the metadata file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetadataError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: u64,
        message: String,
    },
}

/// One row's values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// 1-based line in the metadata file.
    pub(crate) line: u64,
    pub(crate) agent_id: Option<String>,
    pub(crate) customer_id: Option<String>,
    pub(crate) started_at: Option<jiff::Zoned>,
    pub(crate) direction: Option<Direction>,
    pub(crate) channel: Option<String>,
    pub(crate) team: Option<String>,
}

/// The metadata rows, indexed by conversation id and by file.
#[derive(Debug, Default)]
pub struct Metadata {
    pub file: String,
    pub(crate) rows: Vec<Row>,
    by_id: HashMap<String, usize>,
    by_file: HashMap<String, usize>,
}

const COLUMNS: [&str; 8] = [
    "conversation_id",
    "file",
    "agent_id",
    "customer_id",
    "started_at",
    "direction",
    "channel",
    "team",
];

impl Metadata {
    /// How many rows the table has.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Reads a metadata CSV file.
    pub(crate) fn load(path: &Path) -> Result<Metadata, MetadataError> {
        let file = path.display().to_string();
        let reader = std::fs::File::open(path).map_err(|source| MetadataError::Io {
            file: file.clone(),
            source,
        })?;
        Metadata::from_reader(reader, &file)
    }

    /// Reads metadata CSV from `reader`; `file` names it in errors.
    pub(crate) fn from_reader(reader: impl Read, file: &str) -> Result<Metadata, MetadataError> {
        let invalid = |line: u64, message: String| MetadataError::Invalid {
            file: file.to_string(),
            line,
            message,
        };
        let mut csv = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(crate::transcript::CrlfAsLf::new(reader));
        let header = csv
            .headers()
            .map_err(|err| invalid(1, err.to_string()))?
            .clone();
        let position = |name: &str| {
            header.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        };
        let columns: Vec<Option<usize>> = COLUMNS.iter().map(|name| position(name)).collect();
        if columns[0].is_none() && columns[1].is_none() {
            return Err(invalid(
                1,
                format!(
                    "the header needs a `conversation_id` or a `file` column (it has: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let mut metadata = Metadata {
            file: file.to_string(),
            ..Metadata::default()
        };
        for record in csv.records() {
            let record = record.map_err(|err| {
                let line = err.position().map_or(0, |p| p.line());
                invalid(line, err.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let value = |column: usize| {
                columns[column]
                    .and_then(|index| record.get(index))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            let started_at = match value(4) {
                Some(text) => Some(parse_started_at(&text).map_err(|msg| invalid(line, msg))?),
                None => None,
            };
            let direction = match value(5) {
                Some(text) => Some(Direction::parse(&text).ok_or_else(|| {
                    invalid(
                        line,
                        format!("direction {text:?} is neither \"inbound\" nor \"outbound\""),
                    )
                })?),
                None => None,
            };
            let index = metadata.rows.len();
            let (id, file_key) = (value(0), value(1));
            if id.is_none() && file_key.is_none() {
                return Err(invalid(
                    line,
                    "the row has neither a conversation_id nor a file".into(),
                ));
            }
            for (key, map, what) in [
                (id, &mut metadata.by_id, "conversation_id"),
                (
                    file_key.map(|f| f.replace('\\', "/")),
                    &mut metadata.by_file,
                    "file",
                ),
            ] {
                if let Some(key) = key
                    && let Some(first) = map.insert(key.clone(), index)
                {
                    return Err(invalid(
                        line,
                        format!(
                            "{what} {key:?} is already on line {}",
                            metadata.rows[first].line
                        ),
                    ));
                }
            }
            metadata.rows.push(Row {
                line,
                agent_id: value(2),
                customer_id: value(3),
                started_at,
                direction,
                channel: value(6),
                team: value(7),
            });
        }
        Ok(metadata)
    }

    /// The row for a conversation: by its id, else by its file's relative path, else by the
    /// file's name.
    pub(crate) fn row_for(&self, conversation_id: &str, relative: &str) -> Option<usize> {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        self.by_id
            .get(conversation_id)
            .or_else(|| self.by_file.get(relative))
            .or_else(|| self.by_file.get(name))
            .copied()
    }

    /// Joins the matching row onto `conversation`; returns its index.
    pub(crate) fn join(&self, conversation: &mut Conversation, relative: &str) -> Option<usize> {
        let index = self.row_for(&conversation.id, relative)?;
        let row = &self.rows[index];
        let set = |target: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                target.clone_from(value);
            }
        };
        set(&mut conversation.agent_id, &row.agent_id);
        set(&mut conversation.customer_id, &row.customer_id);
        set(&mut conversation.channel, &row.channel);
        set(&mut conversation.team, &row.team);
        if row.started_at.is_some() {
            conversation.started_at.clone_from(&row.started_at);
        }
        if row.direction.is_some() {
            conversation.direction = row.direction;
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Source;

    fn load(text: &str) -> Result<Metadata, MetadataError> {
        Metadata::from_reader(text.as_bytes(), "meta.csv")
    }

    #[test]
    fn rows_match_by_id_then_path_then_name() {
        let meta = load(
            "conversation_id,file,agent_id,customer_id,started_at,direction,channel,team\n\
             c-1,,a-1,cu-1,2026-11-20T14:03:00-05:00,inbound,voice,billing\n\
             ,calls/x.json,a-2,,,,,\n\
             ,y.vtt,a-3,,,OUTBOUND,,\n",
        )
        .unwrap();
        let cases = [
            ("c-1", "whatever.jsonl", Some(0)),
            ("calls/x.json", "calls/x.json", Some(1)),
            ("other", "deep/down/y.vtt", Some(2)),
            ("other", "x.json", None),
        ];
        for (id, relative, expected) in cases {
            assert_eq!(meta.row_for(id, relative), expected, "{id} {relative}");
        }
        let source = Source {
            file: "f".into(),
            line: 1,
        };
        let mut conversation = Conversation::new("c-1", source);
        conversation.agent_id = Some("from-file".into());
        assert_eq!(meta.join(&mut conversation, "f"), Some(0));
        assert_eq!(conversation.agent_id.as_deref(), Some("a-1"));
        assert_eq!(conversation.direction, Some(Direction::Inbound));
        assert_eq!(conversation.team.as_deref(), Some("billing"));
        assert!(conversation.started_at.is_some());
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "agent_id\na-1\n",
                1,
                "needs a `conversation_id` or a `file` column",
            ),
            (
                "conversation_id,agent_id\nc1,a\nc1,b\n",
                3,
                "already on line 2",
            ),
            (
                "conversation_id,started_at\nc1,yesterday\n",
                2,
                "not an RFC 3339 time",
            ),
            (
                "file,direction\nx.json,sideways\n",
                2,
                "neither \"inbound\"",
            ),
            (
                "conversation_id,file\n,\n",
                2,
                "neither a conversation_id nor a file",
            ),
            (
                "conversation_id,agent_id\nc1\n",
                2,
                "found record with 1 field",
            ),
        ];
        // The same lines with CRLF line ends (issue 20: they were one too low).
        let crlf: Vec<(String, u64, &str)> = cases
            .iter()
            .map(|&(text, line, needle)| (text.replace('\n', "\r\n"), line, needle))
            .collect();
        let cases = cases
            .iter()
            .map(|&(text, line, needle)| (text.to_string(), line, needle))
            .chain(crlf);
        for (text, line, needle) in cases {
            match load(&text).unwrap_err() {
                MetadataError::Invalid {
                    line: got, message, ..
                } => {
                    assert_eq!(got, line, "{text}");
                    assert!(message.contains(needle), "{message} lacks {needle}");
                }
                other => panic!("{other}"),
            }
        }
    }
}
