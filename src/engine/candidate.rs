//! The cheap check of a candidate hit: what a pattern of the rule language asks beyond its
//! literal anchor.
//!
//! A pattern (`refund*`, `sorry ... delay`, a phrase of a rule with `negated = "cancel"`) is
//! put on the one automaton as its anchor: its leading literal words, and the prefix of a
//! stemmed word when one follows them (an *open* anchor, with no word boundary at its end).
//! Each hit of the anchor is then a candidate that [`Candidate::verify`] accepts or refuses by
//! reading the normalized text around it: the stem's word is read to its end, the words after
//! the anchor are matched (a gap skipping up to N words), and the sentence conditions are
//! checked. The span it returns covers every word that made the match, so the evidence shows
//! them. Phrases with none of this have no candidate check: their hits are taken as they are.
//!
//! Sentences are read from the original text ([`Sentences`]): a sentence ends at `!`, `?`, a
//! line break, or a `.` followed by white space or the end of the text (so "3.5" and
//! "example.com" do not end one); a run of such marks ends one sentence, a question when the
//! run holds a `?`.

use super::normalize::{Normalized, normalize_into};

/// One element of a pattern after the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Element {
    /// A whole normalized word.
    Word(Box<str>),
    /// A word that starts with this normalized prefix (`refund*`).
    Stem(Box<str>),
    /// Up to this many words of the same sentence (`...`, `...N`).
    Gap(u8),
    /// A cue (`<angry-emoji>`): a phrase of its own, found by [`super::find_cues`], never in
    /// a candidate's tail.
    Cue(super::Cue),
}

/// Which sentences a hit may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SentenceCondition {
    #[default]
    Any,
    /// A sentence that ends with `?`.
    Question,
    /// Any other sentence.
    NotQuestion,
}

/// Words that negate a hit within [`NEGATION_WORDS`] words before it, in the same sentence,
/// as normalization writes them (apostrophes dropped: "don't" is `dont`).
pub const NEGATORS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot", "cant", "dont",
    "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont", "wouldnt", "couldnt",
    "shouldnt", "havent", "hasnt", "hadnt", "aint",
];

/// How many words before a hit a negator reaches.
pub const NEGATION_WORDS: usize = 3;

/// The texts of the turn a candidate is in.
#[derive(Debug, Clone, Copy)]
pub struct TurnText<'a> {
    /// As the speaker wrote it.
    pub(crate) original: &'a str,
    /// Its [`Normalized::text`].
    pub(crate) normalized: &'a str,
}

/// What a candidate hit of an anchor must also satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Candidate {
    /// The anchor ends inside a word (a stem): the hit extends to that word's end.
    pub(crate) open: bool,
    /// What must follow the anchor.
    pub(crate) tail: Vec<Element>,
    /// A negator shortly before the hit, in its sentence, cancels it.
    pub(crate) cancel_negated: bool,
    pub(crate) sentence: SentenceCondition,
    /// The phrase this is a variant of, when it has several (`[very] sorry`): of the
    /// overlapping hits of one phrase, only the longest counts.
    pub(crate) pattern: Option<u32>,
}

impl Candidate {
    /// Whether the check reads sentences (and so the original text).
    fn needs_sentences(&self) -> bool {
        self.cancel_negated
            || self.sentence != SentenceCondition::Any
            || self.tail.iter().any(|e| matches!(e, Element::Gap(_)))
    }

    /// The span of the match the anchor hit at `start..end` begins, or `None` when the rest
    /// of the pattern or a condition fails. `text` is the turn's normalized text.
    pub(crate) fn verify(
        &self,
        turn: TurnText,
        start: u32,
        end: u32,
        sentences: &mut Sentences,
    ) -> Option<(u32, u32)> {
        let text = turn.normalized;
        let bytes = text.as_bytes();
        let mut at = end as usize;
        if self.open {
            at = word_end(bytes, at);
        }
        let end = match_tail(bytes, at, &self.tail)?;
        if !self.needs_sentences() {
            return Some((start, end as u32));
        }
        let map = sentences.get(turn.original);
        let sentence = map.sentence_of(start as usize);
        if map.sentence_of(end - 1) != sentence {
            return None;
        }
        match self.sentence {
            SentenceCondition::Any => {}
            SentenceCondition::Question if !map.is_question(sentence) => return None,
            SentenceCondition::NotQuestion if map.is_question(sentence) => return None,
            _ => {}
        }
        if self.cancel_negated && is_negated(text, start as usize, sentence, map) {
            return None;
        }
        Some((start, end as u32))
    }
}

/// The index of the space after the word that holds byte `at - 1`.
fn word_end(bytes: &[u8], at: usize) -> usize {
    at + bytes[at..]
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(bytes.len() - at)
}

/// Matches `tail` from the space at `at`; the index of the space after the last word matched.
/// A gap tries the fewest words first.
fn match_tail(bytes: &[u8], at: usize, tail: &[Element]) -> Option<usize> {
    let Some((first, rest)) = tail.split_first() else {
        return Some(at);
    };
    let word_start = at + 1;
    if word_start >= bytes.len() {
        return None;
    }
    let next = &bytes[word_start..];
    match first {
        Element::Word(word) => {
            let word = word.as_bytes();
            if next.starts_with(word) && next.get(word.len()) == Some(&b' ') {
                match_tail(bytes, word_start + word.len(), rest)
            } else {
                None
            }
        }
        Element::Stem(prefix) => {
            if next.starts_with(prefix.as_bytes()) {
                match_tail(bytes, word_end(bytes, word_start + prefix.len()), rest)
            } else {
                None
            }
        }
        Element::Gap(words) => {
            let mut at = at;
            for _ in 0..=*words {
                if let Some(end) = match_tail(bytes, at, rest) {
                    return Some(end);
                }
                if at + 1 >= bytes.len() {
                    return None;
                }
                at = word_end(bytes, at + 1);
            }
            None
        }
        Element::Cue(_) => None,
    }
}

/// Whether one of the [`NEGATION_WORDS`] words before `start` in sentence `sentence` is a
/// negator.
fn is_negated(text: &str, start: usize, sentence: usize, map: &SentenceMap) -> bool {
    // `text[..start]` ends with the space before the hit's first word.
    let before = &text[..start.saturating_sub(1)];
    let mut end = before.len();
    for _ in 0..NEGATION_WORDS {
        if end <= 1 {
            return false;
        }
        let word_start = before[..end].rfind(' ').map_or(0, |i| i + 1);
        if map.sentence_of(word_start) != sentence {
            return false;
        }
        if NEGATORS.contains(&&before[word_start..end]) {
            return true;
        }
        end = word_start.saturating_sub(1);
    }
    false
}

/// Where the sentences of one turn are, in its normalized text's offsets.
#[derive(Debug, Default)]
pub struct SentenceMap {
    normalized: Normalized,
    /// Per sentence but the last: the original offset where it ends (after its run of marks),
    /// and whether it is a question.
    ends: Vec<(u32, bool)>,
}

impl SentenceMap {
    /// Reads the sentences of `original`.
    pub(crate) fn read(&mut self, original: &str) {
        normalize_into(original, &mut self.normalized);
        self.ends.clear();
        let bytes = original.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let is_mark = |i: usize| match bytes[i] {
                b'!' | b'?' | b'\n' | b'\r' => true,
                b'.' => bytes
                    .get(i + 1)
                    .is_none_or(|b| b.is_ascii_whitespace() || *b == b'.'),
                _ => false,
            };
            if !is_mark(i) {
                i += 1;
                continue;
            }
            let mut question = false;
            while i < bytes.len() && (is_mark(i) || bytes[i] == b'.') {
                question |= bytes[i] == b'?';
                i += 1;
            }
            self.ends.push((i as u32, question));
        }
    }

    /// The sentence of normalized byte `at`.
    pub(crate) fn sentence_of(&self, at: usize) -> usize {
        let origin = self.normalized.origin[at.min(self.normalized.origin.len() - 1)];
        self.ends.partition_point(|&(end, _)| end <= origin)
    }

    /// The sentence of original byte `at`.
    pub(crate) fn sentence_of_original(&self, at: usize) -> usize {
        self.ends.partition_point(|&(end, _)| end as usize <= at)
    }

    /// Whether sentence `index` ends with a `?`.
    pub(crate) fn is_question(&self, index: usize) -> bool {
        self.ends.get(index).is_some_and(|&(_, question)| question)
    }
}

/// The sentences of the turn being checked, read on first use: most turns never need them.
#[derive(Debug, Default)]
pub struct Sentences {
    ready: bool,
    map: SentenceMap,
}

impl Sentences {
    /// Starts a new turn.
    pub(crate) fn start_turn(&mut self) {
        self.ready = false;
    }

    /// The sentences of the turn, whose original text is `original`.
    pub(crate) fn get(&mut self, original: &str) -> &SentenceMap {
        if !self.ready {
            self.map.read(original);
            self.ready = true;
        }
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::normalize::normalize;

    fn word(w: &str) -> Element {
        Element::Word(w.into())
    }

    /// Verifies `candidate` on the hit of `anchor` (normalized, with its framing) in
    /// `original`; the original words of the span it gives.
    fn run(candidate: &Candidate, anchor: &str, original: &str) -> Option<String> {
        let mut normalized = Normalized::default();
        normalize_into(original, &mut normalized);
        let text = normalized.text.as_str();
        let at = text.find(anchor)? + 1;
        let end = if candidate.open {
            at + anchor.len() - 1
        } else {
            at + anchor.len() - 2
        };
        let mut sentences = Sentences::default();
        let turn = TurnText {
            original,
            normalized: text,
        };
        let (start, end) = candidate.verify(turn, at as u32, end as u32, &mut sentences)?;
        let (from, to) = normalized.original_range(start as usize, end as usize);
        Some(original[from..to].to_string())
    }

    #[test]
    fn candidates_extend_stems_match_tails_and_check_sentences() {
        let stem = Candidate {
            open: true,
            ..Candidate::default()
        };
        let gap = Candidate {
            tail: vec![Element::Gap(3), word("delay")],
            ..Candidate::default()
        };
        let negated = Candidate {
            cancel_negated: true,
            ..Candidate::default()
        };
        let question = Candidate {
            sentence: SentenceCondition::Question,
            ..Candidate::default()
        };
        let not_question = Candidate {
            sentence: SentenceCondition::NotQuestion,
            ..Candidate::default()
        };
        let tail_stem = Candidate {
            tail: vec![Element::Stem("deliver".into())],
            ..Candidate::default()
        };
        let cases: &[(&Candidate, &str, &str, Option<&str>)] = &[
            (&stem, " refund", "I want a Refund!", Some("Refund")),
            (&stem, " refund", "two refunds, please", Some("refunds")),
            (&stem, " refund", "it was REFUNDED.", Some("REFUNDED")),
            (
                &gap,
                " sorry ",
                "Sorry for the delay.",
                Some("Sorry for the delay"),
            ),
            (&gap, " sorry ", "sorry delay", Some("sorry delay")),
            (
                &gap,
                " sorry ",
                "sorry about all this delay",
                Some("sorry about all this delay"),
            ),
            (&gap, " sorry ", "sorry about all of this delay", None),
            (&gap, " sorry ", "Sorry. The delay is long", None),
            (&gap, " sorry ", "Sorry! delay", None),
            (&gap, " sorry ", "sorry", None),
            (&negated, " sorry ", "I'm sorry.", Some("sorry")),
            (&negated, " sorry ", "I'm not sorry.", None),
            (&negated, " sorry ", "I don't feel sorry", None),
            (
                &negated,
                " sorry ",
                "Not me. Sorry about that",
                Some("Sorry"),
            ),
            (
                &negated,
                " sorry ",
                "not at all, really very sorry",
                Some("sorry"),
            ),
            (&question, " why ", "Why is it late?", Some("Why")),
            (&question, " why ", "Why is it late", None),
            (&question, " why ", "Why? It is late.", Some("Why")),
            (
                &not_question,
                " why ",
                "I see why. Is it late?",
                Some("why"),
            ),
            (&not_question, " why ", "Is it late? why", Some("why")),
            (&not_question, " why ", "Why is it late?!", None),
            (
                &tail_stem,
                " not ",
                "not delivered yet",
                Some("not delivered"),
            ),
            (&tail_stem, " not ", "not yet delivered", None),
        ];
        for (candidate, anchor, original, expected) in cases {
            assert_eq!(
                run(candidate, anchor, original).as_deref(),
                *expected,
                "{anchor:?} in {original:?}"
            );
        }
    }

    #[test]
    fn sentences_end_at_marks_not_inside_numbers() {
        let mut map = SentenceMap::default();
        let original = "It costs 3.5 dollars. Why?! see example.com\nok";
        map.read(original);
        let text = normalize(original);
        let sentence = |word: &str| {
            let at = format!(" {text} ").find(&format!(" {word} ")).unwrap() + 1;
            (map.sentence_of(at), map.is_question(map.sentence_of(at)))
        };
        assert_eq!(sentence("costs"), (0, false));
        assert_eq!(sentence("dollars"), (0, false));
        assert_eq!(sentence("why"), (1, true));
        assert_eq!(sentence("com"), (2, false));
        assert_eq!(sentence("ok"), (3, false));
    }
}
