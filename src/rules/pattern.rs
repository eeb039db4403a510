//! The pattern language of phrase lists: parsing a written phrase into its literal variants.
//!
//! A phrase is words, and:
//! - `refund*`: a word that starts with `refund` (a stem);
//! - `(sorry|apologi*)`: one of the alternatives, each a sequence;
//! - `[very]`: optional words (`[a|b]`: optionally one of them);
//! - `@negative`: one of the items of the file's list `negative` (`[lists]`);
//! - `...` / `...N`: up to 3 (N) words of the same sentence;
//! - `<angry-emoji>`, `<??>` …: a cue class (a phrase of its own, found by the engine's
//!   `find_cues` in the original text);
//! - conditions in braces before the words ([`modifiers`]): `{not-negated}`, `{question}`,
//!   `{not-question}`, and `{sentence}` on an exception.
//!
//! Alternatives, optional words and lists are expanded here into literal variants (at most
//! [`MAX_VARIANTS`] per phrase); each variant is then put on the automaton by its anchor
//! ([`split_anchor`]) and checked by the engine's candidate check for the rest. Words are
//! normalized as transcript text is, so "e-mail" is two words and "don't" is `dont`.

use std::collections::{BTreeMap, HashSet};

use crate::engine::{CUES, Cue, Element, OPEN, SentenceCondition, normalize};

/// The conditions a phrase starts with, in braces: `{not-negated}`, `{question}`,
/// `{not-question}`, and `{sentence}` (an exception that cancels every hit of its sentence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modifiers {
    pub(crate) cancel_negated: bool,
    pub(crate) sentence: SentenceCondition,
    pub(crate) sentence_scope: bool,
}

/// The modifiers `phrase` starts with, and the rest of it.
pub(crate) fn modifiers(phrase: &str) -> Result<(Modifiers, &str), String> {
    let mut modifiers = Modifiers::default();
    let mut rest = phrase.trim_start();
    while let Some(after) = rest.strip_prefix('{') {
        let Some(close) = after.find('}') else {
            return Err("`{` is not closed by `}`".into());
        };
        let name = after[..close].trim();
        match name {
            "not-negated" => modifiers.cancel_negated = true,
            "question" => modifiers.sentence = SentenceCondition::Question,
            "not-question" => modifiers.sentence = SentenceCondition::NotQuestion,
            "sentence" => modifiers.sentence_scope = true,
            _ => {
                return Err(format!(
                    "unknown condition `{{{name}}}`: the conditions are {{not-negated}}, {{question}}, {{not-question}} and {{sentence}}"
                ));
            }
        }
        rest = after[close + 1..].trim_start();
    }
    Ok((modifiers, rest))
}

/// The most literal variants one phrase may expand to.
pub(crate) const MAX_VARIANTS: usize = 4096;
/// The words a bare `...` skips at most.
pub(crate) const DEFAULT_GAP: u8 = 3;
/// The widest gap `...N` may ask for.
pub(crate) const MAX_GAP: u8 = 20;

/// One literal variant of a phrase.
pub(crate) type Variant = Vec<Element>;

/// The named word lists of a file (`[lists]`): per name, the variants of its items.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lists {
    lists: BTreeMap<String, Vec<Variant>>,
}

impl Lists {
    /// Adds (or replaces) list `name` of the written `items`; an error names the item at fault
    /// by its index.
    pub(crate) fn define(&mut self, name: &str, items: &[&str]) -> Result<(), (usize, String)> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err((
                0,
                format!("list name {name:?} must be lower-case letters, digits, `-` or `_`"),
            ));
        }
        let mut variants = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if item.trim_start().starts_with('{') {
                return Err((index, "a list item cannot carry conditions (`{…}`)".into()));
            }
            let parsed = parse(item, None).map_err(|message| (index, message))?;
            variants.extend(parsed);
            if variants.len() > MAX_VARIANTS {
                return Err((
                    index,
                    format!("list `{name}` expands to more than {MAX_VARIANTS} variants"),
                ));
            }
        }
        if variants.is_empty() {
            return Err((0, format!("list `{name}` is empty")));
        }
        self.lists.insert(name.to_string(), variants);
        Ok(())
    }

    /// Adds the lists of `other`, replacing those of the same name.
    pub(crate) fn extend(&mut self, other: &Lists) {
        for (name, variants) in &other.lists {
            self.lists.insert(name.clone(), variants.clone());
        }
    }
}

/// The literal variants of `phrase`, in order, without repeats. `lists` are the lists it may
/// name (`None`: a list item, which may not name a list).
pub(crate) fn parse(phrase: &str, lists: Option<&Lists>) -> Result<Vec<Variant>, String> {
    let mut parser = Parser {
        text: phrase,
        at: 0,
        lists,
    };
    let parsed = parser.sequence(0)?;
    let mut variants: Vec<Variant> = Vec::with_capacity(parsed.len());
    // Repeats are found by hash: a list as large as a sentiment lexicon has thousands of variants.
    let mut seen: HashSet<&Variant> = HashSet::with_capacity(parsed.len());
    for variant in &parsed {
        if variant.is_empty() {
            return Err(format!("phrase {phrase:?} has no words"));
        }
        let gap_misplaced = matches!(variant.first(), Some(Element::Gap(_)))
            || matches!(variant.last(), Some(Element::Gap(_)))
            || variant
                .windows(2)
                .any(|w| matches!((&w[0], &w[1]), (Element::Gap(_), Element::Gap(_))));
        if variant.len() > 1 && variant.iter().any(|e| matches!(e, Element::Cue(_))) {
            return Err(format!(
                "phrase {phrase:?}: a cue such as `<angry-emoji>` stands alone in its phrase"
            ));
        }
        if gap_misplaced {
            return Err(format!(
                "phrase {phrase:?}: a gap `...` must stand between two words"
            ));
        }
        if seen.insert(variant) {
            variants.push(variant.clone());
        }
    }
    Ok(variants)
}

/// Whether `phrase` is one plain run of words, with no construct of the language.
pub(crate) fn is_literal(variants: &[Variant]) -> bool {
    variants.len() == 1 && variants[0].iter().all(|e| matches!(e, Element::Word(_)))
}

/// A variant's anchor (its leading words, then the prefix of a stem that follows them, marked
/// open with a trailing [`OPEN`]), and the elements after the anchor.
pub(crate) fn split_anchor(variant: &[Element]) -> (String, bool, Vec<Element>) {
    let mut anchor: Vec<&str> = Vec::new();
    let mut rest = variant;
    while let Some((Element::Word(word), tail)) = rest.split_first() {
        anchor.push(word);
        rest = tail;
    }
    let mut open = false;
    if let Some((Element::Stem(prefix), tail)) = rest.split_first() {
        anchor.push(prefix);
        rest = tail;
        open = true;
    }
    let mut key = anchor.join(" ");
    if open {
        key.push(OPEN);
    }
    (key, open, rest.to_vec())
}

/// Characters that are not part of a word.
const SPECIAL: &str = "()[]|@<>*{}?";

struct Parser<'a> {
    text: &'a str,
    at: usize,
    lists: Option<&'a Lists>,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    /// A sequence, up to the end, or to a `)`, `|` or `]` inside a group (`depth` > 0).
    fn sequence(&mut self, depth: usize) -> Result<Vec<Variant>, String> {
        let mut variants: Vec<Variant> = vec![Vec::new()];
        while let Some(c) = self.peek() {
            let part = match c {
                c if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                ')' | '|' | ']' if depth > 0 => break,
                ')' | '|' | ']' => return Err(format!("`{c}` outside a group")),
                '(' => {
                    self.bump();
                    self.alternatives(depth, ')')?
                }
                '[' => {
                    self.bump();
                    let mut alternatives = self.alternatives(depth, ']')?;
                    alternatives.push(Vec::new());
                    alternatives
                }
                '@' => {
                    self.bump();
                    self.list()?
                }
                '.' if self.rest().starts_with("...") => vec![vec![self.gap()?]],
                '<' => vec![vec![self.cue()?]],
                '>' => return Err("`>` is not a word (cues are `<name>`)".into()),
                '{' | '}' => {
                    return Err(format!(
                        "`{c}`: conditions such as `{{question}}` start a phrase"
                    ));
                }
                '*' => return Err("`*` must end a word (`refund*`)".into()),
                '?' => {
                    return Err("`?` is not pattern syntax: optional words are written in \
                                brackets (`[customer]`), a question is `{question}`"
                        .into());
                }
                _ => vec![self.word()?],
            };
            variants = product(variants, part)?;
        }
        Ok(variants)
    }

    /// `a|b c|d` up to `close`, which is consumed.
    fn alternatives(&mut self, depth: usize, close: char) -> Result<Vec<Variant>, String> {
        let mut alternatives = Vec::new();
        loop {
            alternatives.extend(self.sequence(depth + 1)?);
            if alternatives.len() > MAX_VARIANTS {
                return Err(format!("expands to more than {MAX_VARIANTS} variants"));
            }
            match self.bump() {
                Some('|') => continue,
                Some(c) if c == close => return Ok(alternatives),
                _ => {
                    let open = if close == ')' { '(' } else { '[' };
                    return Err(format!("`{open}` is not closed by `{close}`"));
                }
            }
        }
    }

    /// `@name`, after the `@`.
    fn list(&mut self) -> Result<Vec<Variant>, String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.bump();
        }
        let name = &self.text[start..self.at];
        let Some(lists) = self.lists else {
            return Err(format!("a list item cannot name a list (`@{name}`)"));
        };
        match lists.lists.get(name) {
            Some(variants) => Ok(variants.clone()),
            None if lists.lists.is_empty() => Err(format!(
                "unknown list `@{name}`: the file defines no `[lists]`"
            )),
            None => {
                let names: Vec<&str> = lists.lists.keys().map(String::as_str).collect();
                Err(format!(
                    "unknown list `@{name}`: the lists are {}",
                    names.join(", ")
                ))
            }
        }
    }

    /// `<name>`: a cue class.
    fn cue(&mut self) -> Result<Element, String> {
        self.bump();
        let Some(close) = self.rest().find('>') else {
            return Err("`<` is not closed by `>`".into());
        };
        let name = self.rest()[..close].trim().to_string();
        self.at += close + 1;
        match Cue::named(&name) {
            Some(cue) => Ok(Element::Cue(cue)),
            None => {
                let names: Vec<String> = CUES.iter().map(|(n, _)| format!("<{n}>")).collect();
                Err(format!(
                    "unknown cue `<{name}>`: the cues are {}",
                    names.join(", ")
                ))
            }
        }
    }

    /// `...` or `...N`.
    fn gap(&mut self) -> Result<Element, String> {
        self.at += 3;
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let digits = &self.text[start..self.at];
        if digits.is_empty() {
            return Ok(Element::Gap(DEFAULT_GAP));
        }
        match digits.parse::<u8>() {
            Ok(n) if (1..=MAX_GAP).contains(&n) => Ok(Element::Gap(n)),
            _ => Err(format!("a gap `...{digits}` must be 1 to {MAX_GAP} words")),
        }
    }

    /// A run of text up to white space or a special character: its normalized words, the
    /// last one a stem when a `*` ends the run.
    fn word(&mut self) -> Result<Variant, String> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || SPECIAL.contains(c) || self.rest().starts_with("...") {
                break;
            }
            self.bump();
        }
        let chunk = &self.text[start..self.at];
        let stem = self.peek() == Some('*');
        if stem {
            self.bump();
            if self
                .peek()
                .is_some_and(|c| !c.is_whitespace() && !SPECIAL.contains(c))
            {
                return Err("`*` must end a word (`refund*`)".into());
            }
        }
        let normalized = normalize(chunk);
        if let Some(c) = normalized.chars().find(|&c| is_unspaced_script(c)) {
            return Err(format!(
                "{chunk:?} is in a script written without spaces between words ({c:?}): \
                 phrases match whole words, between spaces or punctuation, so it would match \
                 only where it stands alone; callqa does not match such scripts yet"
            ));
        }
        let mut words: Variant = normalized
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| Element::Word(w.into()))
            .collect();
        // Punctuation alone is no word: normalization would drop it and the phrase would mean
        // something else than it says ("(customer )?" read as a required "customer").
        if words.is_empty() && !stem {
            return Err(format!(
                "{chunk:?} is not a word: phrases match words, and punctuation is dropped \
                 from the text they match (optional words are written in brackets: `[customer]`)"
            ));
        }
        if stem {
            match words.pop() {
                Some(Element::Word(word)) => words.push(Element::Stem(word)),
                _ => return Err(format!("`*` after {chunk:?}, which has no word")),
            }
        }
        Ok(words)
    }
}

/// Whether `c` is of a script written without spaces between words (Chinese, Japanese kana,
/// Thai, Lao, Khmer, Myanmar), where a phrase would have to match inside a run of text.
fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3100}'..='\u{312F}' // Bopomofo
        | '\u{31F0}'..='\u{31FF}' // Katakana extensions
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}' // half-width Katakana
        | '\u{20000}'..='\u{3FFFF}') // CJK extensions B and later
}

/// Every variant of `left` followed by every variant of `right`.
fn product(left: Vec<Variant>, right: Vec<Variant>) -> Result<Vec<Variant>, String> {
    if left.len() * right.len() > MAX_VARIANTS {
        return Err(format!("expands to more than {MAX_VARIANTS} variants"));
    }
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in &left {
        for r in &right {
            let mut variant = l.clone();
            variant.extend(r.iter().cloned());
            out.push(variant);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variant written back: words, `prefix*`, `...N`.
    fn show(variant: &[Element]) -> String {
        variant
            .iter()
            .map(|e| match e {
                Element::Word(w) => w.to_string(),
                Element::Stem(p) => format!("{p}*"),
                Element::Gap(n) => format!("...{n}"),
                Element::Cue(cue) => format!("{cue:?}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn lists() -> Lists {
        let mut lists = Lists::default();
        lists
            .define("negative", &["terrible", "awful", "rip* off"])
            .unwrap();
        lists
    }

    #[test]
    fn phrases_expand_to_variants() {
        let cases: &[(&str, &[&str])] = &[
            ("I'm SO sorry!", &["im so sorry"]),
            ("refund*", &["refund*"]),
            ("e-mail*", &["e mail*"]),
            (
                "(sorry|apologi*) for the (delay|wait)",
                &[
                    "sorry for the delay",
                    "sorry for the wait",
                    "apologi* for the delay",
                    "apologi* for the wait",
                ],
            ),
            ("[very] sorry", &["very sorry", "sorry"]),
            ("[so|very] sorry", &["so sorry", "very sorry", "sorry"]),
            ("(a (b|c)|d) e", &["a b e", "a c e", "d e"]),
            ("sorry ... delay", &["sorry ...3 delay"]),
            ("sorry ...5 delay*", &["sorry ...5 delay*"]),
            ("sorry...delay", &["sorry ...3 delay"]),
            ("(sorry|sorry)", &["sorry"]),
            ("<angry-emoji>", &["AngryEmoji"]),
            ("(<??>|<!!>)", &["Questions", "Exclamations"]),
            ("<?!>", &["Interrobang"]),
            (
                "this is @negative",
                &["this is terrible", "this is awful", "this is rip* off"],
            ),
        ];
        for (phrase, expected) in cases {
            let variants = parse(phrase, Some(&lists())).unwrap();
            let shown: Vec<String> = variants.iter().map(|v| show(v)).collect();
            assert_eq!(shown, *expected, "{phrase}");
        }
    }

    #[test]
    fn bad_phrases_say_why() {
        let cases: &[(&str, &str)] = &[
            ("!!", "\"!!\" is not a word"),
            ("bad (customer )?service", "`?` is not pattern syntax"),
            ("why?", "`?` is not pattern syntax"),
            ("[very]", "has no words"),
            ("(sorry", "`(` is not closed"),
            ("[sorry", "`[` is not closed"),
            ("sorry)", "outside a group"),
            ("re*fund", "`*` must end a word"),
            ("* x", "`*` must end a word"),
            (
                "@negativ",
                "unknown list `@negativ`: the lists are negative",
            ),
            ("... sorry", "a gap `...` must stand between two words"),
            ("sorry ...", "a gap `...` must stand between two words"),
            ("a ... ... b", "a gap `...` must stand between two words"),
            ("a ...0 b", "must be 1 to 20 words"),
            (
                "<angry>",
                "unknown cue `<angry>`: the cues are <angry-emoji>, <sad-emoji>",
            ),
            ("<??", "`<` is not closed"),
            ("so <angry-emoji>", "stands alone in its phrase"),
            ("a ...99 b", "must be 1 to 20 words"),
            ("订单", "written without spaces between words"),
            ("my 注文 please", "written without spaces between words"),
            ("ขอโทษ", "written without spaces between words"),
            (
                "(a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b)",
                "more than 4096 variants",
            ),
        ];
        for (phrase, needle) in cases {
            let err = parse(phrase, Some(&lists())).unwrap_err();
            assert!(err.contains(needle), "{phrase}: {err} lacks {needle}");
        }
        let mut lists = Lists::default();
        assert!(lists.define("Bad Name", &["x"]).is_err());
        assert_eq!(
            lists.define("l", &["ok", "@other"]).unwrap_err(),
            (1, "a list item cannot name a list (`@other`)".into())
        );
    }

    #[test]
    fn included_lists_are_seen_and_replaced_by_name() {
        let mut pack = Lists::default();
        pack.define("negative", &["awful"]).unwrap();
        pack.define("delay", &["wait*"]).unwrap();
        let mut file = Lists::default();
        file.extend(&pack);
        file.define("negative", &["bad"]).unwrap();
        let shown = |phrase: &str| -> Vec<String> {
            parse(phrase, Some(&file))
                .unwrap()
                .iter()
                .map(|v| show(v))
                .collect()
        };
        assert_eq!(shown("@negative ... @delay"), ["bad ...3 wait*"]);
    }

    #[test]
    fn conditions_start_a_phrase() {
        let negated = Modifiers {
            cancel_negated: true,
            ..Modifiers::default()
        };
        type Expected = Result<(Modifiers, &'static str), &'static str>;
        let cases: &[(&str, Expected)] = &[
            ("sorry", Ok((Modifiers::default(), "sorry"))),
            ("{not-negated} your fault", Ok((negated, "your fault"))),
            (
                " { question }{not-negated} why",
                Ok((
                    Modifiers {
                        sentence: SentenceCondition::Question,
                        ..negated
                    },
                    "why",
                )),
            ),
            (
                "{not-question} x",
                Ok((
                    Modifiers {
                        sentence: SentenceCondition::NotQuestion,
                        ..Modifiers::default()
                    },
                    "x",
                )),
            ),
            (
                "{sentence} anything else",
                Ok((
                    Modifiers {
                        sentence_scope: true,
                        ..Modifiers::default()
                    },
                    "anything else",
                )),
            ),
            ("{negated} x", Err("unknown condition `{negated}`")),
            ("{question x", Err("`{` is not closed")),
        ];
        for (phrase, expected) in cases {
            match (modifiers(phrase), expected) {
                (Ok(got), Ok(expected)) => assert_eq!(got, *expected, "{phrase}"),
                (Err(err), Err(needle)) => assert!(err.contains(needle), "{phrase}: {err}"),
                (got, _) => panic!("{phrase}: {got:?}"),
            }
        }
        assert!(
            parse("why {question}", None)
                .unwrap_err()
                .contains("start a phrase")
        );
    }

    #[test]
    fn anchors_are_the_leading_words_and_a_stem() {
        let cases: &[(&str, &str, bool, usize)] = &[
            ("calm down", "calm down", false, 0),
            ("refund*", "refund*", true, 0),
            ("full refund* please", "full refund*", true, 1),
            ("sorry ... delay", "sorry", false, 2),
            ("apologi* ... wait*", "apologi*", true, 2),
        ];
        for (phrase, key, open, tail) in cases {
            let variants = parse(phrase, None).unwrap();
            let (k, o, t) = split_anchor(&variants[0]);
            assert_eq!((k.as_str(), o, t.len()), (*key, *open, *tail), "{phrase}");
        }
    }
}
