//! callqa: a QA auditor for customer-service transcripts.
//!
//! The pipeline flows one way: input files ([`input`]) → conversations ([`transcript`], with
//! the `--metadata` join of [`metadata`]) →
//! phrase hits ([`engine`]) → findings and per-agent rule states ([`checks`]) → per-agent
//! partial scorecards that merge associatively ([`scorecard`]) → writers ([`report`]).
//! [`audit`] runs it in parallel: a reader thread splits files into chunks of whole
//! conversations, a pool of workers audits the chunks, and the main thread merges the results
//! in input order, so that the output is the same whatever the number of threads. Rules are
//! TOML files ([`rules`]); the checks the product promises are rules of the built-in pack.

pub mod ablation;
pub mod audit;
pub mod callbacks;
pub mod checks;
pub mod chunked;
pub mod conversation_ids;
pub mod conversations;
pub mod deadline;
pub mod engine;
pub mod eval;
pub mod explain;
pub mod finding_store;
pub mod input;
pub mod load;
pub mod metadata;
pub mod model;
pub mod partial;
pub mod progress;
pub mod publish;
pub mod redact;
pub mod remote;
pub mod report;
pub mod rule_examples;
pub mod rules;
pub mod scorecard;
pub mod transcript;
pub mod visible;
mod wording;
