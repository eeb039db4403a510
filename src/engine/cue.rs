//! Cue classes: emoji, emoticons and runs of `?`/`!`, found in a turn's original text.
//!
//! Normalization drops every symbol, so a cue cannot be on the automaton: when (and only when)
//! some rule uses a cue (`<angry-emoji>`), each turn's original text is read once more for
//! cues by [`find_cues`], which gives each cue's byte span so that a finding shows it.

/// A class of cues, written `<name>` in a phrase list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cue {
    /// 😡 🤬 😠 👎 🙄 😤 💢 😒 🖕
    AngryEmoji,
    /// 😢 😭 😞 😔 😟 🙁 ☹ 😩 😫 💔
    SadEmoji,
    /// `:(` `:-(` `>:(` `:'(` `=(` `:[` `:-[` `:/` `:-/` (not `://`)
    EmoticonSad,
    /// Two or more of `?` and `!` in a row, with a `?` among them (`??`, `?!`, `!?`).
    Questions,
    /// Two or more of `?` and `!` in a row, with two `!` among them (`!!`, `!!?`).
    Exclamations,
    /// A run of `?` and `!` holding both (`?!`, `!?`, `??!`): a question asked in disbelief.
    Interrobang,
}

/// Every cue class, with its name.
pub const CUES: &[(&str, Cue)] = &[
    ("angry-emoji", Cue::AngryEmoji),
    ("sad-emoji", Cue::SadEmoji),
    ("emoticon-sad", Cue::EmoticonSad),
    ("??", Cue::Questions),
    ("!!", Cue::Exclamations),
    ("?!", Cue::Interrobang),
];

const ANGRY_EMOJI: &[char] = &[
    '\u{1F621}', // 😡
    '\u{1F92C}', // 🤬
    '\u{1F620}', // 😠
    '\u{1F44E}', // 👎
    '\u{1F644}', // 🙄
    '\u{1F624}', // 😤
    '\u{1F4A2}', // 💢
    '\u{1F612}', // 😒
    '\u{1F595}', // 🖕
];

const SAD_EMOJI: &[char] = &[
    '\u{1F622}', // 😢
    '\u{1F62D}', // 😭
    '\u{1F61E}', // 😞
    '\u{1F614}', // 😔
    '\u{1F61F}', // 😟
    '\u{1F641}', // 🙁
    '\u{2639}',  // ☹
    '\u{1F629}', // 😩
    '\u{1F62B}', // 😫
    '\u{1F494}', // 💔
];

/// Longest first, so that `>:(` is one cue, not `:(` after a `>`.
const SAD_EMOTICONS: &[&str] = &[">:(", ":-(", ":'(", ":-[", ":-/", ":(", "=(", ":[", ":/"];

impl Cue {
    /// The class named `name` (without its `<>`).
    pub(crate) fn named(name: &str) -> Option<Cue> {
        CUES.iter().find(|(n, _)| *n == name).map(|&(_, cue)| cue)
    }

    /// Whether the class is written in ASCII (emoticons, `??`, `!!`) rather than as emoji.
    pub fn is_ascii(self) -> bool {
        !matches!(self, Cue::AngryEmoji | Cue::SadEmoji)
    }

    /// The emoji class of `c`, if it has one.
    fn of_emoji(c: char) -> Option<Cue> {
        if ANGRY_EMOJI.contains(&c) {
            Some(Cue::AngryEmoji)
        } else if SAD_EMOJI.contains(&c) {
            Some(Cue::SadEmoji)
        } else {
            None
        }
    }
}

/// Appends each cue in `text`: its class and its byte span. A run of `?`/`!` may be of two
/// classes. `ascii`: whether cues written in ASCII are wanted; when they are not, only emoji
/// are looked for, and a turn of ASCII alone (most turns) is passed over at once.
pub fn find_cues(text: &str, ascii: bool, out: &mut Vec<(Cue, usize, usize)>) {
    if !ascii {
        // Every listed emoji starts with byte 0xE2 (U+2639) or 0xF0 (U+1Fxxx): memchr2 skips
        // the rest of the text, curly apostrophes and accents included, at vector speed.
        for at in memchr::memchr2_iter(0xE2, 0xF0, text.as_bytes()) {
            if let Some(c) = text[at..].chars().next()
                && let Some(cue) = Cue::of_emoji(c)
            {
                out.push((cue, at, at + c.len_utf8()));
            }
        }
        return;
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'?' | b'!' => {
                let end = at
                    + bytes[at..]
                        .iter()
                        .position(|b| !matches!(b, b'?' | b'!'))
                        .unwrap_or(bytes.len() - at);
                let run = &bytes[at..end];
                if run.len() >= 2 {
                    let questions = run.iter().filter(|&&b| b == b'?').count();
                    let exclamations = run.len() - questions;
                    if questions > 0 {
                        out.push((Cue::Questions, at, end));
                    }
                    if exclamations >= 2 {
                        out.push((Cue::Exclamations, at, end));
                    }
                    if questions > 0 && exclamations > 0 {
                        out.push((Cue::Interrobang, at, end));
                    }
                }
                at = end;
            }
            b':' | b'=' | b'>' => {
                let rest = &text[at..];
                match SAD_EMOTICONS.iter().find(|e| rest.starts_with(*e)) {
                    Some(emoticon)
                        if !(emoticon.ends_with('/')
                            && rest[emoticon.len()..].starts_with('/')) =>
                    {
                        out.push((Cue::EmoticonSad, at, at + emoticon.len()));
                        at += emoticon.len();
                    }
                    _ => at += 1,
                }
            }
            byte if byte >= 0xE2 => {
                let c = text[at..].chars().next().unwrap_or(' ');
                if let Some(cue) = Cue::of_emoji(c) {
                    out.push((cue, at, at + c.len_utf8()));
                }
                at += c.len_utf8();
            }
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_are_found_with_their_spans() {
        let cases: &[(&str, &[(Cue, &str)])] = &[
            ("fine.", &[]),
            ("why??", &[(Cue::Questions, "??")]),
            ("why?", &[]),
            (
                "what?!",
                &[(Cue::Questions, "?!"), (Cue::Interrobang, "?!")],
            ),
            ("stop!!", &[(Cue::Exclamations, "!!")]),
            (
                "really!!?",
                &[
                    (Cue::Questions, "!!?"),
                    (Cue::Exclamations, "!!?"),
                    (Cue::Interrobang, "!!?"),
                ],
            ),
            (
                "great 😡😡",
                &[(Cue::AngryEmoji, "😡"), (Cue::AngryEmoji, "😡")],
            ),
            (
                "ok 👎 bye 😭",
                &[(Cue::AngryEmoji, "👎"), (Cue::SadEmoji, "😭")],
            ),
            ("ok 😀 ☹️", &[(Cue::SadEmoji, "☹")]),
            (
                "no >:( and :-( and :(",
                &[
                    (Cue::EmoticonSad, ">:("),
                    (Cue::EmoticonSad, ":-("),
                    (Cue::EmoticonSad, ":("),
                ],
            ),
            ("see https://x.com :/", &[(Cue::EmoticonSad, ":/")]),
            ("time 10:30 = ok", &[]),
            ("ünïcödé नमस्ते", &[]),
        ];
        for (text, expected) in cases {
            let mut found = Vec::new();
            find_cues(text, true, &mut found);
            let found: Vec<(Cue, &str)> = found
                .iter()
                .map(|&(cue, from, to)| (cue, &text[from..to]))
                .collect();
            assert_eq!(found, *expected, "{text}");
            // Emoji alone: the same emoji, nothing else.
            let mut emoji = Vec::new();
            find_cues(text, false, &mut emoji);
            let emoji: Vec<(Cue, &str)> = emoji
                .iter()
                .map(|&(cue, from, to)| (cue, &text[from..to]))
                .collect();
            let expected_emoji: Vec<(Cue, &str)> = expected
                .iter()
                .copied()
                .filter(|(cue, _)| !cue.is_ascii())
                .collect();
            assert_eq!(emoji, expected_emoji, "{text}");
        }
        assert_eq!(Cue::named("angry-emoji"), Some(Cue::AngryEmoji));
        assert_eq!(Cue::named("??"), Some(Cue::Questions));
        assert_eq!(Cue::named("angry"), None);
    }
}
