//! The turn-per-row CSV export: `conversation_id, speaker, text` required; `agent_id,
//! customer_id, started_at, channel, direction, team, start_ms, end_ms` optional.
//!
//! The rows of one conversation are contiguous, in turn order, as exports write them; an id
//! that comes back after other ids starts a second conversation with that id, which the audit
//! then skips as a duplicate. The reader streams: it holds one conversation at a time.
//!
//! Per row, `agent_id` names the agent who spoke that row; the first one named is the
//! conversation's agent, and a later different one is kept on its turn (a transfer).

use std::io::Read;
use std::sync::Arc;

use super::crlf::CrlfAsLf;
use super::{
    Conversation, Direction, ReadError, SkipKind, Source, Speaker, Turn, parse_started_at,
};

/// Column positions found in the header.
struct Columns {
    /// How many columns the header has: every row must have as many fields.
    width: usize,
    id: usize,
    speaker: usize,
    text: usize,
    agent_id: Option<usize>,
    customer_id: Option<usize>,
    started_at: Option<usize>,
    channel: Option<usize>,
    direction: Option<usize>,
    team: Option<usize>,
    start_ms: Option<usize>,
    end_ms: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<Columns, String> {
        let find = |name: &str| {
            header.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        };
        let required = |name: &str| {
            find(name).ok_or_else(|| {
                format!(
                    "the header lacks the required column `{name}` (it has: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                )
            })
        };
        Ok(Columns {
            width: header.len(),
            id: required("conversation_id")?,
            speaker: required("speaker")?,
            text: required("text")?,
            agent_id: find("agent_id"),
            customer_id: find("customer_id"),
            started_at: find("started_at"),
            channel: find("channel"),
            direction: find("direction"),
            team: find("team"),
            start_ms: find("start_ms"),
            end_ms: find("end_ms"),
        })
    }
}

/// A conversation being assembled from its rows; `error` remembers the first bad row, and
/// the conversation is reported as skipped with it once its rows end.
struct Pending {
    conversation: Conversation,
    error: Option<ReadError>,
}

/// Streams the conversations of one CSV file.
pub struct CsvReader<R: Read> {
    reader: csv::Reader<CrlfAsLf<R>>,
    file: Arc<str>,
    columns: Option<Columns>,
    pending: Option<Pending>,
    /// The row as read, and as text: a field that is not UTF-8 is decoded lossily, so that
    /// the row still names its conversation, and `not_utf8` holds its index.
    raw: csv::ByteRecord,
    record: csv::StringRecord,
    not_utf8: Option<usize>,
    finished: bool,
}

impl<R: Read> CsvReader<R> {
    /// Reads the header. An error here is about the whole file.
    pub fn new(input: R, file: Arc<str>) -> Result<CsvReader<R>, ReadError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(CrlfAsLf::new(input));
        let header = reader.headers().map_err(|err| ReadError {
            source: Source {
                file: file.clone(),
                line: 1,
            },
            kind: SkipKind::Malformed,
            message: format!("unreadable CSV header: {err}"),
        })?;
        let columns = Columns::from_header(header).map_err(|message| ReadError {
            source: Source {
                file: file.clone(),
                line: 1,
            },
            kind: SkipKind::Invalid,
            message,
        })?;
        Ok(CsvReader {
            reader,
            file,
            columns: Some(columns),
            pending: None,
            raw: csv::ByteRecord::new(),
            record: csv::StringRecord::new(),
            not_utf8: None,
            finished: false,
        })
    }

    fn finish(pending: Pending) -> Result<Conversation, ReadError> {
        match pending.error {
            Some(error) => Err(error),
            None => Ok(pending.conversation),
        }
    }

    /// Decodes the row read into `raw` as text into `record`. A row with a field that is not
    /// UTF-8 is still grouped by its (lossily decoded) id, so that it costs its own
    /// conversation and no other (a row-level UTF-8 error of the CSV parser says no id).
    fn decode(&mut self) {
        self.record.clear();
        self.not_utf8 = None;
        for (index, field) in self.raw.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(text) => self.record.push_field(text),
                Err(_) => {
                    self.not_utf8.get_or_insert(index);
                    self.record.push_field(&String::from_utf8_lossy(field));
                }
            }
        }
    }

    /// Adds the current record to `pending`, or returns the finished previous conversation
    /// when the record starts a new one.
    fn take_record(&mut self, line: u64) -> Option<Result<Conversation, ReadError>> {
        let columns = self.columns.as_ref()?;
        let source = Source {
            file: self.file.clone(),
            line,
        };
        let field = |index: usize| self.record.get(index).map(str::trim).unwrap_or("");
        let optional = |index: Option<usize>| {
            index
                .map(field)
                .filter(|value| !value.is_empty())
                .map(str::to_string)
        };
        let id = field(columns.id).to_string();
        let starts_new = self
            .pending
            .as_ref()
            .is_none_or(|p| p.conversation.id != id);
        let finished = if starts_new {
            let previous = self.pending.take().map(Self::finish);
            self.pending = Some(Pending {
                conversation: Conversation::new(id.clone(), source.clone()),
                error: None,
            });
            previous
        } else {
            None
        };
        let pending = self.pending.as_mut()?;
        if pending.error.is_some() {
            return finished;
        }
        let row = RowError {
            source: &source,
            id: &id,
        };
        let result = (|| -> Result<(), ReadError> {
            if let Some(index) = self.not_utf8 {
                return Err(row.malformed(format!("field {} is not UTF-8", index + 1)));
            }
            if id.is_empty() {
                return Err(row.invalid("`conversation_id` is empty".into()));
            }
            if self.record.len() != columns.width {
                return Err(row.invalid(format!(
                    "the row has {} fields, the header {} columns",
                    self.record.len(),
                    columns.width
                )));
            }
            let speaker_label = field(columns.speaker);
            let speaker = Speaker::parse(speaker_label).ok_or_else(|| {
                row.invalid(format!(
                    "unknown speaker {speaker_label:?} (expected agent, customer or system)"
                ))
            })?;
            let conversation = &mut pending.conversation;
            if conversation.customer_id.is_none() {
                conversation.customer_id = optional(columns.customer_id);
            }
            if conversation.channel.is_none() {
                conversation.channel = optional(columns.channel);
            }
            if conversation.team.is_none() {
                conversation.team = optional(columns.team);
            }
            if conversation.started_at.is_none()
                && let Some(value) = optional(columns.started_at)
            {
                conversation.started_at =
                    Some(parse_started_at(&value).map_err(|msg| row.invalid(msg))?);
            }
            if conversation.direction.is_none()
                && let Some(value) = optional(columns.direction)
            {
                conversation.direction = Some(Direction::parse(&value).ok_or_else(|| {
                    row.invalid(format!(
                        "direction {value:?} is neither \"inbound\" nor \"outbound\""
                    ))
                })?);
            }
            // A turn keeps no line of its own: findings point at the conversation's first
            // row, as SPEC says for every format but scripts.
            let mut turn = Turn::new(speaker, field(columns.text));
            turn.start_ms = parse_ms(optional(columns.start_ms), "start_ms", &row)?;
            turn.end_ms = parse_ms(optional(columns.end_ms), "end_ms", &row)?;
            if speaker == Speaker::Agent
                && let Some(agent) = optional(columns.agent_id)
            {
                match &conversation.agent_id {
                    None => conversation.agent_id = Some(agent),
                    Some(first) if *first != agent => turn.agent_id = Some(agent),
                    Some(_) => {}
                }
            } else if conversation.agent_id.is_none() {
                conversation.agent_id = optional(columns.agent_id);
            }
            conversation.turns.push(turn);
            Ok(())
        })();
        if let Err(error) = result {
            pending.error = Some(error);
        }
        finished
    }
}

struct RowError<'a> {
    source: &'a Source,
    id: &'a str,
}

impl RowError<'_> {
    fn invalid(&self, message: String) -> ReadError {
        self.error(SkipKind::Invalid, message)
    }

    fn malformed(&self, message: String) -> ReadError {
        self.error(SkipKind::Malformed, message)
    }

    fn error(&self, kind: SkipKind, message: String) -> ReadError {
        ReadError {
            source: self.source.clone(),
            kind,
            message: if self.id.is_empty() {
                message
            } else {
                format!("conversation {:?}: {message}", self.id)
            },
        }
    }
}

fn parse_ms(value: Option<String>, name: &str, row: &RowError) -> Result<Option<i64>, ReadError> {
    match value {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| row.invalid(format!("`{name}` {text:?} is not a whole number of ms"))),
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Conversation, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            match self.reader.read_byte_record(&mut self.raw) {
                Ok(true) => {
                    let line = self.raw.position().map_or(0, |p| p.line());
                    self.decode();
                    if let Some(done) = self.take_record(line) {
                        return Some(done);
                    }
                }
                Ok(false) => {
                    self.finished = true;
                }
                Err(err) => {
                    let line = err.position().map_or(0, |p| p.line());
                    let source = Source {
                        file: self.file.clone(),
                        line,
                    };
                    let error = ReadError {
                        source,
                        kind: if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                            SkipKind::Unreadable
                        } else {
                            SkipKind::Malformed
                        },
                        message: format!("unreadable CSV row: {err}"),
                    };
                    if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                        // The stream itself failed: nothing after this point can be read.
                        self.finished = true;
                    }
                    match self.pending.as_mut() {
                        Some(pending) if pending.error.is_none() => pending.error = Some(error),
                        Some(_) => {}
                        None => return Some(Err(error)),
                    }
                }
            }
        }
        self.pending.take().map(Self::finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Result<Conversation, ReadError>> {
        CsvReader::new(text.as_bytes(), Arc::from("t.csv"))
            .unwrap()
            .collect()
    }

    #[test]
    fn groups_contiguous_rows() {
        let text = "conversation_id,speaker,text,agent_id,start_ms,end_ms,started_at\n\
                    c1,agent,Hello,a-1,0,900,2026-11-20T14:03:00-05:00\n\
                    c1,customer,\"Hi, there\",,1000,1500,\n\
                    c1,agent,Transferring,a-2,,,\n\
                    c2,customer,hey,,,,\n";
        let conversations: Vec<Conversation> = read(text).into_iter().map(Result::unwrap).collect();
        assert_eq!(conversations.len(), 2);
        let c1 = &conversations[0];
        assert_eq!(c1.agent_id.as_deref(), Some("a-1"));
        assert_eq!(c1.turns.len(), 3);
        assert_eq!(c1.turns[1].text, "Hi, there");
        assert_eq!(c1.turns[2].agent_id.as_deref(), Some("a-2"));
        assert_eq!(c1.turns[0].end_ms, Some(900));
        assert_eq!(c1.source.line, 2);
        assert_eq!(conversations[1].source.line, 5);
    }

    #[test]
    fn bad_rows_skip_their_conversation_only() {
        let text = "conversation_id,speaker,text,start_ms\n\
                    c1,agent,Hello,zero\n\
                    c1,customer,hi,\n\
                    c2,robot,beep,\n\
                    c3,agent\n\
                    c4,agent,fine,5\n";
        let results = read(text);
        assert_eq!(results.len(), 4);
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.source.line, 2);
        assert!(err.message.contains("start_ms"), "{}", err.message);
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .message
                .contains("unknown speaker")
        );
        assert!(
            results[2]
                .as_ref()
                .unwrap_err()
                .message
                .contains("the row has 2 fields, the header 4 columns")
        );
        assert_eq!(results[3].as_ref().unwrap().turns[0].start_ms, Some(5));
    }

    #[test]
    fn a_row_that_is_not_utf8_costs_its_own_conversation_only() {
        let bytes = b"conversation_id,speaker,text\n\
                      c1,agent,fine\n\
                      c2,customer,caf\xe9\n\
                      c2,agent,ok\n\
                      c\xff3,agent,bad id\n\
                      c4,agent,fine too\n";
        let results: Vec<_> = CsvReader::new(&bytes[..], Arc::from("t.csv"))
            .unwrap()
            .collect();
        let summary: Vec<String> = results
            .iter()
            .map(|result| match result {
                Ok(c) => format!("{} {} turns", c.id, c.turns.len()),
                Err(e) => format!("{}: {} {}", e.source.line, e.kind.key(), e.message),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "c1 1 turns",
                "3: malformed conversation \"c2\": field 3 is not UTF-8",
                "5: malformed conversation \"c\u{fffd}3\": field 1 is not UTF-8",
                "c4 1 turns",
            ]
        );
    }

    #[test]
    fn missing_required_column_is_a_file_error() {
        let Err(err) = CsvReader::new("id,speaker,text\n".as_bytes(), Arc::from("t.csv")) else {
            panic!("header without conversation_id was accepted");
        };
        assert!(err.message.contains("conversation_id"), "{}", err.message);
        assert_eq!(err.source.line, 1);
    }
}
