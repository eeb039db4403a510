//! The phrase engine: finds every phrase of every rule in a transcript's text in one pass.
//!
//! Two parts, one after the other: normalization ([`normalize_into`]) brings phrases and
//! transcript text to one bare form (case folded, punctuation gone, framed by spaces, with a
//! map back to the original bytes), and the matcher ([`PhraseMatcher`]) runs one automaton over
//! every distinct normalized phrase, so each turn is scanned once whatever the number of rules,
//! and a hit is always on whole words.

mod candidate;
mod cue;
mod matcher;
mod normalize;

pub use candidate::{
    Candidate, Element, NEGATION_WORDS, NEGATORS, SentenceCondition, SentenceMap, Sentences,
    TurnText,
};
pub use cue::{CUES, Cue, find_cues};
pub use matcher::{Hit, MatcherError, OPEN, PhraseMatcher, ScanBuffer};
pub use normalize::{Normalized, normalize, normalize_into, normalize_text_into};
