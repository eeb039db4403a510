//! A seeded generator of realistic customer-service conversations, for the benches, for
//! `examples/gen_corpus.rs` and for `benches/compare.sh`.
//!
//! The conversations look like a contact center's export: a few hundred agents and a large
//! pool of customers, voice calls with `start_ms`/`end_ms` timings (backchannels, the odd
//! interruption), chats and untimed emails, transfers to a second agent, curly quotes and
//! apostrophes, names and sentences in several scripts, recognizer marks such as `[noise]`.
//! Like a real export, every line also carries fields callqa does not read: a queue, the
//! agent's name, a language, a `metadata` object nested two levels deep (a CRM case with tags,
//! a wait time, a note with escapes) after the turns, and on each turn an `id`, a sentiment
//! score and, on timed turns, a confidence; the CSV carries `queue`, `language` and
//! `sentiment` columns. The JSON reader must skip them all.
//!
//! The phrases of the rule pack are planted at rates a real export shows (a complaint in about
//! one conversation in three, blame in a few percent, a closing summary in a third of last
//! turns, a callback promise in one conversation in twenty), and they are taken from the
//! compiled [`RuleSet`] by rule kind and role, never written here: the generator follows the
//! pack as it changes. The ordinary talk around them holds no phrase that makes a finding by
//! itself, so an audit finds about one finding per conversation, as the real Twitter threads
//! give (`tests/generator.rs` checks both). [`Profile::CallbackHeavy`] plants a promise in
//! four conversations in five instead, as a callback queue would.
//!
//! The same seed, file index, format and size give the same bytes on every machine; files are
//! independent of each other, so a folder can be written in parallel. `--bytes` counts the
//! uncompressed size, so a gzip corpus holds the same conversations as the plain one.

#![allow(dead_code)] // each bench uses a part of it

use std::io::{self, Write};

use callqa::rules::{Role, RuleKind, RuleSet, Window};
use callqa::transcript::Speaker;

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// One of a list of static words.
    pub fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The phrases of one rule, by role, as the rule file wrote them.
#[derive(Debug, Clone, Default)]
pub struct RulePhrases {
    pub phrases: Vec<String>,
    pub unless: Vec<String>,
    pub trigger: Vec<String>,
    pub ignore: Vec<String>,
}

/// What the generator plants, read from a compiled rule set.
#[derive(Debug, Clone)]
pub struct Pack {
    /// `forbid` rules: (speaker, phrases).
    forbid: Vec<(Speaker, RulePhrases)>,
    /// `promise` rules: (speaker, phrases), planted once in a conversation at the profile's
    /// rate.
    promise: Vec<(Speaker, RulePhrases)>,
    /// `respond` rules: (trigger speaker, speaker, within turns, phrases).
    respond: Vec<(Speaker, Speaker, usize, RulePhrases)>,
    /// `require` rules: (speaker, window, phrases).
    require: Vec<(Speaker, Window, RulePhrases)>,
    /// Backchannel words of every `overlap` rule.
    backchannels: Vec<String>,
}

impl Pack {
    pub fn from_rules(rules: &RuleSet) -> Pack {
        let mut by_rule = vec![RulePhrases::default(); rules.rules.len()];
        for (phrase, uses) in rules.written_phrases.iter().zip(&rules.uses) {
            for phrase_use in uses {
                let target = &mut by_rule[phrase_use.rule as usize];
                let list = match phrase_use.role {
                    Role::Phrase => &mut target.phrases,
                    Role::Unless
                    | Role::TriggerUnless
                    | Role::UnlessSentence
                    | Role::TriggerUnlessSentence => &mut target.unless,
                    Role::Trigger => &mut target.trigger,
                    Role::Ignore => &mut target.ignore,
                };
                list.push(phrase.clone());
            }
        }
        let mut pack = Pack {
            forbid: Vec::new(),
            promise: Vec::new(),
            respond: Vec::new(),
            require: Vec::new(),
            backchannels: Vec::new(),
        };
        for (rule, phrases) in rules.rules.iter().zip(by_rule) {
            match &rule.kind {
                RuleKind::Forbid if !phrases.phrases.is_empty() => {
                    pack.forbid.push((rule.speaker, phrases));
                }
                RuleKind::Promise { .. } if !phrases.phrases.is_empty() => {
                    pack.promise.push((rule.speaker, phrases));
                }
                RuleKind::Respond {
                    trigger_speaker,
                    within_turns,
                    ..
                } if !phrases.trigger.is_empty() && !phrases.phrases.is_empty() => {
                    pack.respond
                        .push((*trigger_speaker, rule.speaker, *within_turns, phrases));
                }
                RuleKind::Require { window } if !phrases.phrases.is_empty() => {
                    pack.require.push((rule.speaker, *window, phrases));
                }
                RuleKind::Overlap { .. } => pack.backchannels.extend(phrases.ignore),
                _ => {}
            }
        }
        if pack.backchannels.is_empty() {
            pack.backchannels = vec!["mm-hmm".into(), "right".into()];
        }
        pack
    }

    /// The built-in default pack.
    pub fn default_pack() -> Pack {
        Pack::from_rules(&RuleSet::default_pack().expect("the built-in pack compiles"))
    }
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// Which contact center the corpus comes from: the rates of what is planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The rates of the real exports in `data/real`: a callback promise in about one
    /// conversation in twenty, about one finding per conversation.
    #[default]
    Export,
    /// A callback-heavy queue: a promise in most conversations (four in five), so that the
    /// callback join carries a large share of the work.
    CallbackHeavy,
}

impl Profile {
    /// The names `gen_corpus --profile` and `compare.sh`'s `PROFILE` take.
    pub const NAMES: [&'static str; 2] = ["export", "callback-heavy"];

    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "export" => Some(Profile::Export),
            "callback-heavy" => Some(Profile::CallbackHeavy),
            _ => None,
        }
    }

    /// The share of conversations that hold a promise of each promise rule.
    pub fn promise_rate(self) -> f64 {
        match self {
            Profile::Export => 0.05,
            Profile::CallbackHeavy => 0.8,
        }
    }
}

/// The CSV header the generator writes: every optional column of the canonical CSV, then
/// columns callqa does not read, as exports carry them.
pub const CSV_HEADER: &str = "conversation_id,speaker,text,agent_id,customer_id,started_at,channel,direction,team,start_ms,end_ms,queue,language,sentiment\n";

/// The fields of a JSON line that callqa reads; the generator writes others beside them
/// (`tests/generator.rs` checks that every line has at least three others).
pub const READ_FIELDS: [&str; 8] = [
    "id",
    "agent_id",
    "customer_id",
    "started_at",
    "channel",
    "direction",
    "team",
    "turns",
];

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conversations: u64,
    pub turns: u64,
    /// Bytes of the turns' texts (decoded, as the readers return them).
    pub text_bytes: u64,
    /// Bytes written (uncompressed).
    pub bytes: u64,
}

impl Stats {
    pub fn add(&mut self, other: Stats) {
        self.conversations += other.conversations;
        self.turns += other.turns;
        self.text_bytes += other.text_bytes;
        self.bytes += other.bytes;
    }
}

const COMPANY: &[&str] = &[
    "Northwind Bank",
    "Contoso Mobile",
    "Fabrikam Energy",
    "Tailspin Air",
    "Wingtip Broadband",
];
const AGENT_NAMES: &[&str] = &[
    "Sam", "Priya", "José", "Zoë", "Björn", "Łukasz", "Mei", "Ahmed", "Chloé", "Søren", "Aoife",
    "Renée", "Dmitri", "Fatima", "Kenji", "Ngozi", "Mateo", "Anaïs", "Tomás", "Olu",
];
const FIRST_NAMES: &[&str] = &[
    "Maria",
    "John",
    "Ana",
    "François",
    "Jürgen",
    "Siobhán",
    "Nguyễn",
    "Wei",
    "Aarav",
    "Olga",
    "Emily",
    "Carlos",
    "Hana",
    "Kwame",
    "Ingrid",
    "Zeynep",
    "Luis",
    "Grace",
    "Rahul",
    "Ewa",
];
const LAST_NAMES: &[&str] = &[
    "García",
    "Smith",
    "Müller",
    "O’Brien",
    "Nowak",
    "Kowalczyk",
    "Dubois",
    "Rossi",
    "Tanaka",
    "Okafor",
    "Johansson",
    "Pérez",
    "Novák",
    "Chen",
    "Patel",
    "Ivanova",
    "Brown",
    "Şahin",
];
const CITIES: &[&str] = &[
    "São Paulo",
    "Zürich",
    "Kraków",
    "Montréal",
    "Düsseldorf",
    "Reykjavík",
    "Ōsaka",
    "Chicago",
    "Leeds",
    "Málaga",
];
const WEEKDAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
const TEAMS: &[&str] = &["billing", "tech-support", "retention", "sales", "claims"];
const OFFSETS: &[&str] = &["-05:00", "-08:00", "Z", "+01:00", "+05:30", "-03:00"];
// What an export carries beside the transcript and callqa does not read.
const QUEUES: &[&str] = &[
    "inbound-general",
    "billing-tier2",
    "tech-tier1",
    "retention-save",
    "claims-intake",
];
const LANGUAGES: &[&str] = &["en-US", "en-GB", "es-US", "de-DE", "fr-CA"];
const CRM_TAGS: &[&str] = &[
    "billing",
    "vip",
    "repeat-caller",
    "outage",
    "fraud-check",
    "churn-risk",
];
// Notes agents type into the CRM: quotes, backslashes and line breaks, written as escapes.
const NOTES: &[&str] = &[
    "Customer asked for \"priority\" handling",
    "Called twice today.\nSee previous case.",
    "Upload at C:\\shared\\scans",
    "Prefers e-mail; “no calls after 6pm”",
];

// Templates: `{a}` agent name, `{c}` customer name, `{o}` order number, `{m}` amount,
// `{d}` weekday, `{t}` city, `{k}` company. An `'` may be written curly.
const AGENT_LINES: &[&str] = &[
    "Thanks for calling {k}, this is {a}. How can I help you today?",
    "Can I have your account number, please?",
    "Let me pull up your account, {c}.",
    "I can see order {o} here in the system.",
    "Your balance is ${m} as of {d}.",
    "I've updated the address on file to {t}.",
    "One moment while I check with the billing team.",
    "The technician can come out on {d} between 8 and 12.",
    "That plan costs €{m} per month, taxes included.",
    "Could you confirm the last four digits of the card?",
    "I'm transferring you to our retention team now.",
    "I've reset the line from our side; it can take up to ten minutes.",
    "Okay, I see a credit of ${m} pending on the account.",
    "Can you spell the street name for me?",
    "Claro, {c}, ya revisé su cuenta y todo está en orden.",
    "Einen Moment bitte, ich prüfe das für Sie.",
    "The “autopay” option is switched off at the moment.",
    "Bear with me, the system is a little slow today.",
];
const CUSTOMER_LINES: &[&str] = &[
    "Hi, my name is {c}, I'm calling about my bill.",
    "My internet drops every evening since {d}.",
    "There are two payments for order {o} on my statement.",
    "Yes, it's {o}.",
    "The app shows “payment declined” when I pay.",
    "Okay, and when will the technician arrive?",
    "I moved to {t} last month and need to change my address.",
    "My last bill says ${m}, is that right?",
    "No, that's all, thank you.",
    "Sí, gracias. Mi número de pedido es {o}.",
    "Ich habe die Rechnung für {d} nicht bekommen.",
    "Hold on, let me find the letter.",
    "It's under my wife's name, {c}.",
    "I don't have the card with me right now.",
    "मेरा बिल अभी तक नहीं आया है।",
    "Can you send it to my e-mail instead?",
    "我的订单 {o} 还没有到。",
];
const SYSTEM_LINES: &[&str] = &[
    "Call transferred to queue {k} {d}.",
    "Customer verified by voice ID.",
    "Chat session resumed.",
];
const CHAT_EXTRAS: &[&str] = &[" 👍", " 🙏", " :)", "!!", " …"];
const NOISE: &[&str] = &["[noise]", "<unk>", "[crosstalk]", "[laughs]"];
const LEAD_INS: &[&str] = &["Well, ", "Look, ", "Honestly, ", "", "", "Okay so "];

/// Every template of ordinary talk, with its speaker. None may contain a phrase of the pack:
/// the pack's phrases are planted at set rates, and a template that held one would plant it in
/// every few turns (`tests/generator.rs` checks this).
pub fn filler_templates() -> impl Iterator<Item = (Speaker, &'static str)> {
    let of = |speaker: Speaker, lines: &'static [&'static str]| {
        lines.iter().map(move |line| (speaker, *line))
    };
    of(Speaker::Agent, AGENT_LINES)
        .chain(of(Speaker::Customer, CUSTOMER_LINES))
        .chain(of(Speaker::System, SYSTEM_LINES))
}

/// One conversation as the generator builds it, before it is written.
#[derive(Debug, Default)]
struct Conv {
    id: String,
    agent_id: String,
    second_agent: Option<String>,
    customer_id: String,
    started_at: String,
    channel: &'static str,
    direction: &'static str,
    team: &'static str,
    turns: Vec<GenTurn>,
    extra: ConvExtra,
}

/// A conversation's fields that callqa does not read.
#[derive(Debug, Default)]
struct ConvExtra {
    queue: &'static str,
    agent_name: &'static str,
    language: &'static str,
    case: u64,
    priority: u64,
    tags: Vec<&'static str>,
    escalated: bool,
    /// Seconds in the queue, in tenths.
    wait_tenths: i64,
    note: Option<&'static str>,
}

#[derive(Debug, Default, Clone)]
struct GenTurn {
    speaker: Option<Speaker>,
    text: String,
    start_ms: i64,
    end_ms: i64,
    timed: bool,
    transferred: bool,
    /// A sentiment score in hundredths, -100..=100 (a field callqa does not read).
    sentiment: i64,
    /// The recognizer's confidence in hundredths (timed turns only; not read either).
    confidence: i64,
}

/// The share of conversations whose closing (a `require` rule's phrase) is planted; the
/// rest make a finding.
const REQUIRED_PLANTED: f64 = 0.3;

/// Generates the conversations of one file (or stream).
pub struct Generator<'p> {
    pack: &'p Pack,
    profile: Profile,
    rng: Rng,
    file: u32,
    next: u64,
    conv: Conv,
    agent_name: &'static str,
    customer_name: String,
}

impl<'p> Generator<'p> {
    /// The generator of file `file` of a corpus seeded with `seed`.
    pub fn new(pack: &'p Pack, profile: Profile, seed: u64, file: u32) -> Generator<'p> {
        Generator {
            pack,
            profile,
            rng: Rng::new(seed.wrapping_mul(0x1000_0000_01B3) ^ u64::from(file)),
            file,
            next: 0,
            conv: Conv::default(),
            agent_name: "",
            customer_name: String::new(),
        }
    }

    /// Appends the next conversation to `out`; returns its counts.
    pub fn write_next(&mut self, format: Format, out: &mut Vec<u8>) -> Stats {
        self.build();
        let before = out.len();
        match format {
            Format::Jsonl => write_jsonl(&self.conv, out),
            Format::Csv => write_csv(&self.conv, out),
        }
        Stats {
            conversations: 1,
            turns: self.conv.turns.len() as u64,
            text_bytes: self.conv.turns.iter().map(|t| t.text.len() as u64).sum(),
            bytes: (out.len() - before) as u64,
        }
    }

    fn fill(&mut self, template: &str, out: &mut String) {
        let curly = self.rng.chance(0.35);
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let key = chars.next().unwrap_or('?');
                    chars.next(); // '}'
                    match key {
                        'a' => out.push_str(self.agent_name),
                        'c' => out.push_str(&self.customer_name),
                        'o' => {
                            let n = self.rng.range(100_000, 999_999);
                            out.push_str(&format!("#{n}"));
                        }
                        'm' => {
                            let cents = self.rng.range(100, 99_999);
                            out.push_str(&format!("{}.{:02}", cents / 100, cents % 100));
                        }
                        'd' => out.push_str(self.rng.word(WEEKDAYS)),
                        't' => out.push_str(self.rng.word(CITIES)),
                        'k' => out.push_str(self.rng.word(COMPANY)),
                        _ => {}
                    }
                }
                '\'' if curly => out.push('’'),
                _ => out.push(c),
            }
        }
    }

    /// A phrase as a person would write or a recognizer would transcribe it.
    fn say_phrase(&mut self, phrase: &str, out: &mut String) {
        if !out.is_empty() {
            out.push(' ');
        }
        let lead = *self.rng.pick(LEAD_INS);
        out.push_str(lead);
        let shout = self.rng.chance(0.05);
        let curly = self.rng.chance(0.4);
        for (i, c) in phrase.chars().enumerate() {
            if c == '\'' && curly {
                out.push('’');
            } else if shout || (i == 0 && lead.is_empty()) {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
        }
        out.push_str(if shout { "!" } else { "." });
    }

    fn filler(&mut self, speaker: Speaker, chat: bool, out: &mut String) {
        let lines = match speaker {
            Speaker::Agent => AGENT_LINES,
            Speaker::Customer => CUSTOMER_LINES,
            Speaker::System => SYSTEM_LINES,
        };
        let sentences = 1 + self.rng.below(3) as usize;
        for _ in 0..sentences {
            if !out.is_empty() {
                out.push(' ');
            }
            let template = *self.rng.pick(lines);
            self.fill(template, out);
        }
        if chat && self.rng.chance(0.1) {
            out.push_str(self.rng.word(CHAT_EXTRAS));
        }
    }

    fn build(&mut self) {
        let rng = &mut self.rng;
        let conv = &mut self.conv;
        conv.id = format!("c-{:03}-{:08}", self.file, self.next);
        self.next += 1;
        let agent = rng.below(400);
        conv.agent_id = format!("a-{agent:04}");
        self.agent_name = AGENT_NAMES[agent as usize % AGENT_NAMES.len()];
        conv.second_agent = rng.chance(0.05).then(|| format!("a-{:04}", rng.below(400)));
        conv.customer_id = format!("cu-{:06}", rng.below(200_000));
        self.customer_name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        conv.started_at = format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}{}",
            rng.range(1, 30),
            rng.range(7, 21),
            rng.below(60),
            rng.below(60),
            rng.pick(OFFSETS)
        );
        let channel_roll = rng.below(10);
        conv.channel = match channel_roll {
            0..6 => "voice",
            6..9 => "chat",
            _ => "email",
        };
        let timed = conv.channel == "voice" || (conv.channel == "chat" && rng.chance(0.5));
        conv.direction = if rng.chance(0.85) {
            "inbound"
        } else {
            "outbound"
        };
        conv.team = rng.word(TEAMS);
        conv.extra = ConvExtra {
            queue: rng.word(QUEUES),
            agent_name: self.agent_name,
            language: rng.word(LANGUAGES),
            case: rng.below(10_000_000),
            priority: 1 + rng.below(4),
            tags: (0..rng.below(4)).map(|_| rng.word(CRM_TAGS)).collect(),
            escalated: rng.chance(0.1),
            wait_tenths: rng.range(0, 6000),
            note: rng.chance(0.3).then(|| rng.word(NOTES)),
        };

        // The shape: who speaks when.
        let turn_count = rng.range(6, 28) as usize;
        let mut speakers = Vec::with_capacity(turn_count + 4);
        let mut speaker = if rng.chance(0.7) {
            Speaker::Agent
        } else {
            Speaker::Customer
        };
        for _ in 0..turn_count {
            speakers.push(speaker);
            if rng.chance(0.03) {
                speakers.push(Speaker::System);
            }
            if !rng.chance(0.12) {
                speaker = match speaker {
                    Speaker::Agent => Speaker::Customer,
                    _ => Speaker::Agent,
                };
            }
        }
        if *speakers.last().unwrap_or(&Speaker::Agent) != Speaker::Agent && rng.chance(0.8) {
            speakers.push(Speaker::Agent);
        }
        let transfer_at = conv.second_agent.as_ref().map(|_| speakers.len() / 2);
        conv.turns.clear();
        conv.turns.resize(speakers.len(), GenTurn::default());
        let chat = conv.channel != "voice";
        for (index, speaker) in speakers.iter().enumerate() {
            let turn = &mut conv.turns[index];
            turn.speaker = Some(*speaker);
            turn.text.clear();
            turn.timed = timed;
            turn.transferred =
                *speaker == Speaker::Agent && transfer_at.is_some_and(|at| index >= at);
            turn.sentiment = rng.range(-100, 100);
            turn.confidence = rng.range(55, 99);
        }
        self.plant_and_fill(chat);
        self.time(timed);
    }

    /// Plants the pack's phrases, then fills every turn with ordinary talk around them.
    ///
    /// The rates give about one finding per conversation in the export profile, as the real
    /// Twitter threads do: a missing apology in about 0.4, a missing closing in about 0.4, blame
    /// in 0.06, an unkept promise in 0.05, an interruption in 0.05.
    fn plant_and_fill(&mut self, chat: bool) {
        let pack = self.pack;
        let mut turns = std::mem::take(&mut self.conv.turns);
        let speaker_of = |turns: &[GenTurn], t: usize| turns[t].speaker.unwrap_or(Speaker::System);
        // Ordinary talk first, phrases after: a phrase lands at the end of its turn.
        for t in 0..turns.len() {
            let speaker = speaker_of(&turns, t);
            let mut text = std::mem::take(&mut turns[t].text);
            if !chat && self.rng.chance(0.04) {
                text.push_str(self.rng.word(NOISE));
            }
            self.filler(speaker, chat, &mut text);
            turns[t].text = text;
        }
        for (speaker, phrases) in &pack.forbid {
            for t in 0..turns.len() {
                if speaker_of(&turns, t) != *speaker {
                    continue;
                }
                if self.rng.chance(0.012) {
                    let phrase = self.rng.pick(&phrases.phrases).clone();
                    self.say_phrase(&phrase, &mut turns[t].text);
                } else if !phrases.unless.is_empty() && self.rng.chance(0.002) {
                    let phrase = self.rng.pick(&phrases.unless).clone();
                    self.say_phrase(&phrase, &mut turns[t].text);
                }
            }
        }
        for (speaker, phrases) in &pack.promise {
            let of_speaker: Vec<usize> = (0..turns.len())
                .filter(|&t| speaker_of(&turns, t) == *speaker)
                .collect();
            if !of_speaker.is_empty() && self.rng.chance(self.profile.promise_rate()) {
                let t = *self.rng.pick(&of_speaker);
                let phrase = self.rng.pick(&phrases.phrases).clone();
                self.say_phrase(&phrase, &mut turns[t].text);
            }
            // Now and then a request that only looks like a promise.
            for &t in &of_speaker {
                if !phrases.unless.is_empty() && self.rng.chance(0.002) {
                    let phrase = self.rng.pick(&phrases.unless).clone();
                    self.say_phrase(&phrase, &mut turns[t].text);
                }
            }
        }
        for (trigger_speaker, speaker, within, phrases) in &pack.respond {
            let mut t = 0;
            while t < turns.len() {
                if speaker_of(&turns, t) == *trigger_speaker && self.rng.chance(0.05) {
                    let trigger = self.rng.pick(&phrases.trigger).clone();
                    self.say_phrase(&trigger, &mut turns[t].text);
                    if self.rng.chance(0.7) {
                        // Answered within the window: in the speaker's next turn or the one after.
                        let skip = self.rng.below((*within).max(1) as u64) as usize;
                        if let Some(answer) = (t + 1..turns.len())
                            .filter(|&u| speaker_of(&turns, u) == *speaker)
                            .nth(skip)
                        {
                            let phrase = self.rng.pick(&phrases.phrases).clone();
                            self.say_phrase(&phrase, &mut turns[answer].text);
                        }
                    }
                    t += 2;
                    continue;
                }
                t += 1;
            }
        }
        for (speaker, window, phrases) in &pack.require {
            let of_speaker: Vec<usize> = (0..turns.len())
                .filter(|&t| speaker_of(&turns, t) == *speaker)
                .collect();
            let target = match window {
                Window::FirstTurns(_) => of_speaker.first(),
                Window::LastTurns(_) | Window::LastMillis(_) => of_speaker.last(),
            };
            if let Some(&t) = target
                && self.rng.chance(REQUIRED_PLANTED)
            {
                let phrase = self.rng.pick(&phrases.phrases).clone();
                self.say_phrase(&phrase, &mut turns[t].text);
            }
        }
        self.conv.turns = turns;
    }

    /// Timings: about 330 ms a word, gaps of a fraction of a second; the agent sometimes
    /// backchannels inside a customer's turn or starts before the customer has finished.
    fn time(&mut self, timed: bool) {
        if !timed {
            return;
        }
        let rng = &mut self.rng;
        let mut turns = std::mem::take(&mut self.conv.turns);
        let mut clock = rng.range(0, 1500);
        let mut index = 0;
        while index < turns.len() {
            let words = turns[index].text.split_whitespace().count().max(1) as i64;
            let duration = words * rng.range(250, 420);
            turns[index].start_ms = clock;
            turns[index].end_ms = clock + duration;
            let customer = turns[index].speaker == Some(Speaker::Customer);
            let end = turns[index].end_ms;
            if customer && duration > 2500 && rng.chance(0.12) {
                // A backchannel inside the customer's turn.
                let at = clock + rng.range(800, duration - 1000);
                let word = rng.pick(&self.pack.backchannels).clone();
                turns.insert(
                    index + 1,
                    GenTurn {
                        speaker: Some(Speaker::Agent),
                        text: word,
                        start_ms: at,
                        end_ms: at + 500,
                        timed: true,
                        transferred: false,
                        sentiment: 0,
                        confidence: 80,
                    },
                );
                index += 1;
            }
            // Now and then the next speaker cuts in before the customer has finished.
            let gap = if customer && rng.chance(0.012) {
                -rng.range(1000, 2500).min(duration - 100)
            } else {
                rng.range(150, 1200)
            };
            clock = end + gap;
            index += 1;
        }
        self.conv.turns = turns;
    }
}

fn json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 => b"\\u0000",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape == b"\\u0000" {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn agent_of<'c>(conv: &'c Conv, turn: &GenTurn) -> Option<&'c str> {
    if turn.transferred {
        conv.second_agent.as_deref()
    } else {
        None
    }
}

/// `value / 10^scale` as a JSON number (`-0.35`, `12.5`).
fn write_decimal(value: i64, scale: u32, out: &mut Vec<u8>) {
    let unit = 10i64.pow(scale);
    let sign = if value < 0 { "-" } else { "" };
    let (whole, part) = (value.abs() / unit, value.abs() % unit);
    let _ = write!(out, "{sign}{whole}.{part:0width$}", width = scale as usize);
}

/// `,"key":"value"` for each pair.
fn string_fields(fields: &[(&str, &str)], out: &mut Vec<u8>) {
    for (key, value) in fields {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        json_string(value, out);
    }
}

/// The `metadata` object after the turns, nested as a CRM writes it:
/// `{"crm":{"case":…,"priority":…,"tags":[…],"escalated":…},"wait_s":…,"notes":…}`.
fn write_extra_tail(extra: &ConvExtra, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        ",\"metadata\":{{\"crm\":{{\"case\":\"CS-{:07}\",\"priority\":{},\"tags\":[",
        extra.case, extra.priority
    );
    for (index, tag) in extra.tags.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        json_string(tag, out);
    }
    let _ = write!(out, "],\"escalated\":{}}},\"wait_s\":", extra.escalated);
    write_decimal(extra.wait_tenths, 1, out);
    out.extend_from_slice(b",\"notes\":");
    match extra.note {
        Some(note) => json_string(note, out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn write_jsonl(conv: &Conv, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    json_string(&conv.id, out);
    let extra = &conv.extra;
    string_fields(
        &[
            ("agent_id", &conv.agent_id),
            ("customer_id", &conv.customer_id),
            ("started_at", &conv.started_at),
            ("channel", conv.channel),
            ("direction", conv.direction),
            ("team", conv.team),
            // Fields callqa does not read: a queue, the agent's name, a language.
            ("queue", extra.queue),
            ("agent_name", extra.agent_name),
            ("language", extra.language),
        ],
        out,
    );
    out.extend_from_slice(b",\"turns\":[");
    for (index, turn) in conv.turns.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        // A turn's own `id` and scores, which callqa does not read either.
        let _ = write!(out, "{{\"id\":{},\"speaker\":\"", index + 1);
        out.extend_from_slice(turn.speaker.unwrap_or(Speaker::System).as_str().as_bytes());
        out.extend_from_slice(b"\",\"text\":");
        json_string(&turn.text, out);
        if turn.timed {
            let _ = write!(
                out,
                ",\"start_ms\":{},\"end_ms\":{}",
                turn.start_ms, turn.end_ms
            );
        }
        if let Some(agent) = agent_of(conv, turn) {
            out.extend_from_slice(b",\"agent_id\":");
            json_string(agent, out);
        }
        if turn.timed {
            out.extend_from_slice(b",\"confidence\":");
            write_decimal(turn.confidence, 2, out);
        }
        out.extend_from_slice(b",\"sentiment\":");
        write_decimal(turn.sentiment, 2, out);
        out.push(b'}');
    }
    out.push(b']');
    write_extra_tail(&conv.extra, out);
    out.extend_from_slice(b"}\n");
}

fn csv_field(text: &str, out: &mut Vec<u8>) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn write_csv(conv: &Conv, out: &mut Vec<u8>) {
    for turn in &conv.turns {
        csv_field(&conv.id, out);
        out.push(b',');
        out.extend_from_slice(turn.speaker.unwrap_or(Speaker::System).as_str().as_bytes());
        out.push(b',');
        csv_field(&turn.text, out);
        out.push(b',');
        out.extend_from_slice(agent_of(conv, turn).unwrap_or(&conv.agent_id).as_bytes());
        for value in [
            conv.customer_id.as_str(),
            &conv.started_at,
            conv.channel,
            conv.direction,
            conv.team,
        ] {
            out.push(b',');
            csv_field(value, out);
        }
        if turn.timed {
            let _ = write!(out, ",{},{}", turn.start_ms, turn.end_ms);
        } else {
            out.extend_from_slice(b",,");
        }
        // The columns callqa does not read: queue, language, sentiment.
        let _ = write!(out, ",{},{},", conv.extra.queue, conv.extra.language);
        write_decimal(turn.sentiment, 2, out);
        out.push(b'\n');
    }
}

/// Writes about `target_bytes` (uncompressed, whole conversations: it stops at the first
/// conversation that reaches the target) of file `file` to `out`, with the CSV header first.
pub fn write_file(
    pack: &Pack,
    profile: Profile,
    seed: u64,
    file: u32,
    format: Format,
    target_bytes: u64,
    out: &mut dyn Write,
) -> io::Result<Stats> {
    let mut generator = Generator::new(pack, profile, seed, file);
    let mut stats = Stats::default();
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    if format == Format::Csv {
        buffer.extend_from_slice(CSV_HEADER.as_bytes());
        stats.bytes += CSV_HEADER.len() as u64;
    }
    while stats.bytes < target_bytes {
        stats.add(generator.write_next(format, &mut buffer));
        if buffer.len() >= 1 << 20 {
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    out.write_all(&buffer)?;
    Ok(stats)
}

/// An in-memory corpus of about `target_bytes` in the export profile, for the benches.
pub fn generate(pack: &Pack, seed: u64, format: Format, target_bytes: u64) -> (Vec<u8>, Stats) {
    generate_profile(pack, Profile::Export, seed, format, target_bytes)
}

/// An in-memory corpus of about `target_bytes` in `profile`.
pub fn generate_profile(
    pack: &Pack,
    profile: Profile,
    seed: u64,
    format: Format,
    target_bytes: u64,
) -> (Vec<u8>, Stats) {
    let mut data = Vec::with_capacity(target_bytes as usize + (64 << 10));
    let stats = write_file(pack, profile, seed, 0, format, target_bytes, &mut data)
        .expect("writing to memory cannot fail");
    (data, stats)
}

/// Parses a size such as `1G`, `200M`, `64k`, `1GiB` or `12345` (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let number: f64 = text[..digits_end].parse().ok()?;
    let unit = text[digits_end..].trim().to_ascii_lowercase();
    let multiple: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((number * multiple as f64) as u64)
}
