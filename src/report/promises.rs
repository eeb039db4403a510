//! `promises.csv`: every promise of a run, written at the end of an audit and read back by the
//! next run's `--promises`, which carries the pending ones into its own join.

use std::io;
use std::sync::Arc;

use jiff::Zoned;

use super::{Render, unguard};
use crate::finding_store::Store;
use crate::model::{Promise, PromiseState};
use crate::rules::RuleSet;
use crate::transcript::{Source, format_rfc3339, parse_started_at};

/// The file a report folder lists every promise in.
pub(crate) const PROMISES_FILE: &str = "promises.csv";

/// The columns of `promises.csv`, in order.
pub(crate) const COLUMNS: [&str; 13] = [
    "conversation_id",
    "agent_id",
    "customer_id",
    "rule",
    "turn",
    "made_at",
    "deadline",
    "time_words",
    "state",
    "kept_by_conversation",
    "kept_at",
    "evidence",
    "source",
];

/// Why a `promises.csv` could not be carried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CarryError {
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    #[error("{file}:{line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
}

/// Reads the still-pending promises of an earlier run's `promises.csv` for rules of `rules`
/// (rows of other states are settled; rows of rules no longer loaded are left out).
pub(crate) fn read_promises_csv(
    file: &str,
    text: &str,
    rules: &RuleSet,
) -> Result<Vec<Promise>, CarryError> {
    let mut reader =
        csv::ReaderBuilder::new().from_reader(crate::transcript::CrlfAsLf::new(text.as_bytes()));
    let headers = reader.headers().map_err(|err| CarryError::Unreadable {
        file: file.into(),
        message: err.to_string(),
    })?;
    if headers.iter().collect::<Vec<_>>() != COLUMNS {
        return Err(CarryError::Unreadable {
            file: file.into(),
            message: format!("not a callqa promises.csv (header: {})", COLUMNS.join(",")),
        });
    }
    let mut carried = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| CarryError::Unreadable {
            file: file.into(),
            message: err.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let row_error = |message: String| CarryError::Row {
            file: file.into(),
            line,
            message,
        };
        let field = |i: usize| unguard(record.get(i).unwrap_or(""));
        let state = PromiseState::parse(field(8))
            .ok_or_else(|| row_error(format!("unknown state {:?}", field(8))))?;
        if state != PromiseState::Pending {
            continue;
        }
        let Some(rule) = rules.rules.iter().position(|r| r.id == field(3)) else {
            continue;
        };
        let time = |i: usize| -> Result<Option<Zoned>, CarryError> {
            if field(i).is_empty() {
                Ok(None)
            } else {
                parse_started_at(field(i)).map(Some).map_err(&row_error)
            }
        };
        let turn: usize = field(4)
            .parse()
            .map_err(|_| row_error(format!("turn {:?} is not a number", field(4))))?;
        let source_text = field(12);
        let source = match source_text.rsplit_once(':') {
            Some((path, line)) if line.parse::<u64>().is_ok() => Source {
                file: Arc::from(path),
                line: line.parse().unwrap_or(0),
            },
            _ => Source {
                file: Arc::from(source_text),
                line: 0,
            },
        };
        let made_at = time(5)?;
        carried.push(Promise {
            conversation_id: field(0).to_string(),
            agent_id: field(1).to_string(),
            customer_id: Some(field(2).to_string()).filter(|c| !c.is_empty()),
            rule: rule as u32,
            turn,
            at_ms: None,
            made_at,
            deadline: time(6)?,
            time_words: Some(field(7).to_string()).filter(|w| !w.is_empty()),
            evidence: field(11).to_string(),
            span: None,
            source,
            state,
            kept_by: None,
            carried: true,
        });
    }
    Ok(carried)
}

/// `promises.csv`: every promise of the run, sorted by conversation id, turn and rule, written
/// to `out` as the store is read.
pub(crate) fn write_promises_csv(
    promises: &mut Store<Promise>,
    rules: &RuleSet,
    render: &Render,
    out: impl io::Write,
) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    writer.write_record(COLUMNS)?;
    let time = |t: &Option<Zoned>| t.as_ref().map(format_rfc3339).unwrap_or_default();
    promises.visit(|p| {
        let (kept_by, kept_at) = match &p.kept_by {
            Some((id, at)) => (id.clone(), format_rfc3339(at)),
            None => (String::new(), String::new()),
        };
        writer.write_record([
            render.cell(&p.conversation_id).as_ref(),
            render.cell(&p.agent_id).as_ref(),
            render.cell(p.customer_id.as_deref().unwrap_or("")).as_ref(),
            rules.rules[p.rule as usize].id.as_str(),
            &p.turn.to_string(),
            &time(&p.made_at),
            &time(&p.deadline),
            render.cell(p.time_words.as_deref().unwrap_or("")).as_ref(),
            p.state.as_str(),
            render.cell(&kept_by).as_ref(),
            &kept_at,
            render.cell(&p.evidence).as_ref(),
            render.cell(&p.source.to_string()).as_ref(),
        ])?;
        Ok(())
    })?;
    writer.flush()
}
