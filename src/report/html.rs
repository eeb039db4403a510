//! `report.html`: one self-contained page a person opens in any browser.
//!
//! Everything is inline (styles, the small script, and the charts, drawn here as SVG), so the
//! page needs no network, and its Content-Security-Policy (`default-src 'none'`) forbids any:
//! nothing on it can load a resource from anywhere. The styles and the scripts are kept beside
//! this file (`page.css`, `page.js`, `page-errors.js`) and built into the binary. Every piece of
//! transcript text (evidence, turns) goes through the run's `Render` (redacted unless
//! `--no-redact`) and then through `escape`; ids and rule messages are escaped too. The page
//! stays usable on large runs: all agents and teams are listed (a table of a few thousand rows
//! sorts in milliseconds), but findings are embedded up to `FINDINGS_PER_AGENT` per agent and
//! `FINDINGS_EMBEDDED` in all, and turns only for the conversations the audit kept
//! (`retain_turns` of the audit's options); the page says what it left out and where the
//! rest is (`findings.csv`).
//!
//! With `?selftest=1` in its URL the page checks itself after loading (sorting, filtering,
//! errors) and writes the results into `<pre id="selftest">`, so a headless browser's
//! `--dump-dom` shows what a person would see (`tests/browser.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use rayon::prelude::*;

use super::Render;
use crate::model::{Finding, RetainedConversation, RetainedTurn, RunStats};
use crate::rules::{RuleKind, RuleSet};
use crate::scorecard::{AgentCard, RuleCount, Scorecards};
use crate::wording::{counted, plural};

/// How many conversations' turns the report keeps (the first ones with findings).
pub const KEEP_CONVERSATIONS: usize = 2_000;
/// Findings listed per agent on the page.
pub(crate) const FINDINGS_PER_AGENT: usize = 50;
/// Findings listed on the page in all.
pub(crate) const FINDINGS_EMBEDDED: usize = 10_000;
/// Kept conversations rendered at once on the pool: enough to keep its threads busy, few
/// enough that the page is never held whole.
const ARTICLES_PER_BATCH: usize = 64;
/// Below this many conversations, an agent's rates are flagged as too few to trust.
pub(crate) const SMALL_SAMPLE: u64 = 30;

/// What the page shows.
pub(crate) struct HtmlReport<'a> {
    pub(crate) rules: &'a RuleSet,
    pub(crate) stats: &'a RunStats,
    pub(crate) scorecards: &'a Scorecards,
    pub(crate) teams: &'a Scorecards,
    /// What the page shows of the findings, gathered as they were read.
    pub(crate) findings: &'a HtmlFindings,
    pub(crate) retained: &'a BTreeMap<String, RetainedConversation>,
    pub(crate) as_of: Option<&'a str>,
    /// Extra totals to show (name, count), e.g. suppressed and baselined findings.
    pub(crate) extra_totals: Vec<(&'a str, u64)>,
    pub(crate) render: &'a Render<'a>,
}

/// What the page needs of the findings, gathered one finding at a time in the run's order
/// (conversation id, then turn), so that it holds only what the page can show: per agent a
/// count and the first [`FINDINGS_PER_AGENT`] findings (none for agents that sort after the
/// first [`FINDINGS_EMBEDDED`] shown), and the marks of the turns the report kept.
#[derive(Debug, Default)]
pub(crate) struct HtmlFindings {
    total: u64,
    /// Conversations with findings (the findings come grouped by conversation).
    conversations: u64,
    last_conversation: Option<String>,
    /// Whether the report shows the turns of the last conversation.
    last_kept: bool,
    /// Per agent with findings, in the order first seen; [`HtmlFindings::agents`] sorts them.
    /// A hash map finds an agent's place: a sorted map's search was most of the cost of a
    /// finding, on the thread that reads them all at the run's end.
    agents: Vec<(String, AgentFindings)>,
    agent_slot: HashMap<String, usize>,
    /// Findings held in the agents' lists.
    held: usize,
    /// The conversations whose turns the report shows.
    kept: HashSet<String>,
    /// Per kept conversation with findings, per 1-based turn: what the findings mark there.
    marks: BTreeMap<String, BTreeMap<usize, TurnMarks>>,
}

/// What the findings of one turn mark on it.
#[derive(Debug, Default)]
struct TurnMarks {
    /// The rules that flagged it.
    rules: Vec<u32>,
    /// The matched words: byte range of the original text, and the rule.
    spans: Vec<(usize, usize, u32)>,
}

#[derive(Debug, Default)]
struct AgentFindings {
    count: u64,
    first: Vec<Finding>,
    /// Sorts after the first [`FINDINGS_EMBEDDED`] findings shown: keeps none.
    closed: bool,
}

impl HtmlFindings {
    /// `retained`: the conversations whose turns the report shows.
    pub(crate) fn new(retained: &BTreeMap<String, RetainedConversation>) -> HtmlFindings {
        HtmlFindings {
            kept: retained.keys().cloned().collect(),
            ..HtmlFindings::default()
        }
    }

    /// Takes the next finding in the run's order.
    pub(crate) fn add(&mut self, finding: &Finding) {
        self.total += 1;
        if self.last_conversation.as_deref() != Some(finding.conversation_id.as_str()) {
            self.conversations += 1;
            self.last_conversation = Some(finding.conversation_id.clone());
            self.last_kept = self.kept.contains(finding.conversation_id.as_str());
        }
        let slot = match self.agent_slot.get(finding.agent_id.as_str()) {
            Some(&slot) => slot,
            None => {
                let slot = self.agents.len();
                self.agent_slot.insert(finding.agent_id.clone(), slot);
                let agent = (finding.agent_id.clone(), AgentFindings::default());
                self.agents.push(agent);
                slot
            }
        };
        let agent = &mut self.agents[slot].1;
        agent.count += 1;
        if !agent.closed && agent.first.len() < FINDINGS_PER_AGENT {
            agent.first.push(finding.clone());
            self.held += 1;
            if self.held > 2 * FINDINGS_EMBEDDED {
                self.close_agents_past_the_cap();
            }
        }
        if self.last_kept {
            let turn = self
                .marks
                .entry(finding.conversation_id.clone())
                .or_default()
                .entry(finding.turn)
                .or_default();
            turn.rules.push(finding.rule);
            if let Some((from, to)) = finding.span {
                turn.spans.push((from, to, finding.rule));
            }
        }
    }

    /// Agents that sort after those already holding [`FINDINGS_EMBEDDED`] findings will
    /// show none (agents before them only gain findings): their lists are dropped.
    fn close_agents_past_the_cap(&mut self) {
        let mut before = 0usize;
        let mut by_id: Vec<usize> = (0..self.agents.len()).collect();
        by_id.sort_unstable_by(|&a, &b| self.agents[a].0.cmp(&self.agents[b].0));
        for slot in by_id {
            let agent = &mut self.agents[slot].1;
            if before >= FINDINGS_EMBEDDED {
                self.held -= agent.first.len();
                agent.first = Vec::new();
                agent.closed = true;
            } else {
                before += agent.first.len();
            }
        }
    }

    /// The agents with findings, by id.
    fn agents(&self) -> Vec<(&str, &AgentFindings)> {
        let mut agents: Vec<(&str, &AgentFindings)> = (self.agents.iter())
            .map(|(agent, findings)| (agent.as_str(), findings))
            .collect();
        agents.sort_unstable_by_key(|&(agent, _)| agent);
        agents
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Every character escaped is ASCII: the stretches between them are copied whole.
    let mut from = 0;
    for (at, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[from..at]);
        out.push_str(entity);
        from = at + 1;
    }
    out.push_str(&text[from..]);
    out
}

/// The 95% Wilson score interval of `failed` out of `n`.
pub(crate) fn wilson(failed: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = failed as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

fn percent(value: f64) -> String {
    format!("{:.1}", value * 100.0)
}

/// A rate cell: `20.0%` with its interval, or `–` when the rule never applied.
fn rate_cell(count: &RuleCount) -> String {
    match (count.rate(), wilson(count.failed, count.applicable)) {
        (Some(rate), Some((low, high))) => format!(
            "<td class=\"num\" data-value=\"{rate:.6}\" title=\"{} of {} failed; 95% Wilson interval {}–{}%\">{}%<small> {}–{}</small></td>",
            count.failed,
            count.applicable,
            percent(low),
            percent(high),
            percent(rate),
            percent(low),
            percent(high)
        ),
        _ => "<td class=\"num\" data-value=\"-1\" title=\"never applied\">–</td>".into(),
    }
}

/// A highlight in a turn: the byte range of the original text, and the rule that matched.
type Mark<'a> = (usize, usize, &'a str);

/// The text of a turn as HTML, redacted whole, the `spans` (byte ranges of the original
/// text) marked.
fn turn_html(text: &str, spans: &[Mark], render: &Render) -> String {
    let mut marks = spans.to_vec();
    marks.sort_unstable();
    let (shown, pieces) = crate::redact::marked(render.redactor, text, &marks);
    let mut out = String::new();
    for (range, title) in pieces {
        match title {
            Some(title) => {
                let _ = write!(
                    out,
                    "<mark title=\"{}\">{}</mark>",
                    escape(title),
                    escape(&shown[range])
                );
            }
            None => out.push_str(&escape(&shown[range])),
        }
    }
    out
}

/// The page's styles (`page.css`), written inside `<style>` after a line break.
const STYLE: &str = include_str!("page.css");
/// The page's script (`page.js`): sorting, the agent filter, opening a linked finding, and the
/// self-test; written inside the last `<script>` after a line break.
const SCRIPT: &str = include_str!("page.js");
/// Catches errors from the first script on, for the self-test (`page-errors.js`, one line).
const ERROR_CATCHER: &str = include_str!("page-errors.js").trim_ascii_end();

/// The histogram of agent scores, in ten bins of 10 points (the last holds 100).
fn score_chart(cards: &Scorecards) -> String {
    let mut bins = [0u64; 10];
    for card in cards.agents.values() {
        let bin = ((card.score() / 10.0).floor() as usize).min(9);
        bins[bin] += 1;
    }
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, left, bottom, top) = (520.0, 200.0, 34.0, 24.0, 14.0);
    let plot = height - bottom - top;
    let bar = (width - left - 10.0) / 10.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"Number of agents per score band\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8a96a3\"/>",
        height - bottom,
        width - 10.0,
        height - bottom
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 4.0,
        left - 4.0,
        height - bottom
    );
    for (index, count) in bins.iter().enumerate() {
        let h = plot * *count as f64 / max as f64;
        let x = left + index as f64 * bar + 2.0;
        let y = height - bottom - h;
        let label = if index == 9 {
            "90–100".to_string()
        } else {
            format!("{}–{}", index * 10, index * 10 + 10)
        };
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#2f6fb0\"><title>score {label}: {}</title></rect>",
            bar - 4.0,
            counted(*count, "agent")
        );
        if *count > 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{count}</text>",
                x + (bar - 4.0) / 2.0,
                y - 3.0
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x + (bar - 4.0) / 2.0,
            height - 8.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Each rule's failure rate over the run (failed / applicable), its 95% Wilson interval as a
/// whisker.
fn rule_chart(rules: &RuleSet, cards: &Scorecards) -> String {
    let row = 26.0;
    let (left, right) = (110.0, 440.0);
    let height = 20.0 + row * rules.rules.len() as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 640 {height}\" width=\"100%\" role=\"img\" aria-label=\"Failure rate per rule\">"
    );
    for (index, rule) in rules.rules.iter().enumerate() {
        let count = cards.totals.get(index).copied().unwrap_or_default();
        let y = 10.0 + row * index as f64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{:.1}\" width=\"{}\" height=\"14\" fill=\"#e6ebf1\"/>",
            left - 6.0,
            y + 11.0,
            escape(&rule.id),
            y,
            right - left
        );
        match (count.rate(), wilson(count.failed, count.applicable)) {
            (Some(rate), Some((low, high))) => {
                let _ = write!(
                    svg,
                    "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\" fill=\"#c2410c\"><title>{}: {} of {} failed</title></rect><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1d232b\"/><text x=\"{}\" y=\"{:.1}\">{}% ({}–{}), n={}</text>",
                    (right - left) * rate,
                    escape(&rule.id),
                    count.failed,
                    count.applicable,
                    left + (right - left) * low,
                    left + (right - left) * high,
                    y + 7.0,
                    y + 7.0,
                    right + 6.0,
                    y + 11.0,
                    percent(rate),
                    percent(low),
                    percent(high),
                    count.applicable
                );
            }
            _ => {
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{:.1}\">never applied</text>",
                    right + 6.0,
                    y + 11.0
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A table of scorecards (agents or teams), one row per key, sortable.
fn cards_table(
    id: &str,
    key_label: &str,
    cards: &Scorecards,
    rules: &RuleSet,
    anchors: &BTreeMap<&str, usize>,
) -> String {
    let mut out = format!(
        "<table id=\"{id}\" class=\"sortable\"><thead><tr><th data-key=\"key\" data-type=\"text\"><button type=\"button\">{key_label}</button></th><th class=\"num\" data-key=\"conversations\" data-type=\"num\"><button type=\"button\">Conversations</button></th><th class=\"num\" data-key=\"score\" data-type=\"num\"><button type=\"button\">Score</button></th><th class=\"num\" data-key=\"findings\" data-type=\"num\"><button type=\"button\">Findings</button></th>"
    );
    for (index, rule) in rules.rules.iter().enumerate() {
        let _ = write!(
            out,
            "<th class=\"num\" data-key=\"r{index}\" data-type=\"num\" title=\"{}\"><button type=\"button\">{} rate</button></th>",
            escape(&rule.message),
            escape(&rule.id)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for (key, card) in &cards.agents {
        out.push_str(&card_row(
            key,
            card,
            rules,
            anchors.get(key.as_str()).copied(),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

fn card_row(key: &str, card: &AgentCard, rules: &RuleSet, anchor: Option<usize>) -> String {
    let small = card.conversations < SMALL_SAMPLE;
    let mut row = format!(
        "<tr data-key=\"{}\" data-conversations=\"{}\" data-score=\"{:.2}\" data-findings=\"{}\" data-small=\"{}\"",
        escape(key),
        card.conversations,
        card.score(),
        card.findings,
        u8::from(small)
    );
    for index in 0..rules.rules.len() {
        let count = card.rules.get(index).copied().unwrap_or_default();
        let _ = write!(
            row,
            " data-r{index}=\"{}\"",
            count.rate().map_or("-1".to_string(), |r| format!("{r:.6}"))
        );
    }
    let name = match anchor {
        Some(anchor) => format!("<a href=\"#agent-{anchor}\">{}</a>", escape(key)),
        None => escape(key),
    };
    let warning = if small {
        format!(
            " <span class=\"warn\" title=\"fewer than {SMALL_SAMPLE} conversations: too few to trust the rates; see the intervals\">⚠ few</span>"
        )
    } else {
        String::new()
    };
    let _ = write!(
        row,
        "><td>{name}</td><td class=\"num\">{}{warning}</td><td class=\"num\">{:.2}</td><td class=\"num\">{}</td>",
        card.conversations,
        card.score(),
        card.findings
    );
    for index in 0..rules.rules.len() {
        row.push_str(&rate_cell(
            &card.rules.get(index).copied().unwrap_or_default(),
        ));
    }
    row.push_str("</tr>");
    row
}

/// The page's text going to an `io::Write`, keeping the first error (`fmt::Error` says nothing).
struct IoPage<'w, W: std::io::Write> {
    out: &'w mut W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::fmt::Write for IoPage<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(text.as_bytes()).map_err(|error| {
            self.error = Some(error);
            std::fmt::Error
        })
    }
}

impl HtmlReport<'_> {
    /// Writes the page to `out` as it is made, so that a large one is never held whole; the
    /// first failed write is the error.
    pub(crate) fn write_html_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut page = IoPage { out, error: None };
        self.write_html(&mut page);
        match page.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The page, written to `page`; a failed write is `page`'s to keep, and the page goes on
    /// regardless.
    fn write_html(&self, page: &mut impl std::fmt::Write) {
        // Each agent with findings has an anchor, by agent order.
        let anchors: BTreeMap<&str, usize> = self
            .findings
            .agents()
            .into_iter()
            .enumerate()
            .map(|(index, (agent, _))| (agent, index))
            .collect();
        self.write_head(page);
        self.write_totals(page);
        self.write_overview_and_tables(page, &anchors);
        self.write_findings(page, &anchors);
        self.write_conversations(page);
        let promise_rules = self
            .rules
            .rules
            .iter()
            .filter(|r| matches!(r.kind, RuleKind::Promise { .. }))
            .count();
        if promise_rules > 0 {
            let _ = page.write_str("<p class=\"note\">Callback promises, kept, broken and pending, are listed in promises.csv.</p>");
        }
        let _ = write!(
            page,
            "</main>\n<pre id=\"selftest\" hidden></pre>\n<script>\n{SCRIPT}</script>\n</body></html>\n"
        );
    }

    /// The document's head (its policy, the error catcher and the styles), and the page's
    /// title line.
    fn write_head(&self, page: &mut impl std::fmt::Write) {
        let rules = self.rules;
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\"><title>callqa report: {}</title><script>{ERROR_CATCHER}</script><style>\n{STYLE}</style></head><body>\n",
            escape(&rules.name)
        );
        let _ = write!(
            page,
            "<header><h1>callqa report</h1><p class=\"meta\">Rule set <b>{}</b> (<code>{}</code>) · as of {} · callqa {}</p>",
            escape(&rules.name),
            escape(&rules.digest),
            escape(self.as_of.unwrap_or("unknown")),
            env!("CARGO_PKG_VERSION")
        );
    }

    /// The run's totals, closing the header.
    fn write_totals(&self, page: &mut impl std::fmt::Write) {
        let stats = self.stats;
        // A label's first word is a noun counted by the value ("1 team", "2 teams") or a
        // word that has no plural ("audited").
        let nouns = ["conversation", "agent", "team", "finding"];
        let mut totals: Vec<(&str, u64)> = vec![
            ("conversation read", stats.read),
            ("audited", stats.audited),
            ("skipped", stats.skipped_total()),
            ("agent", self.scorecards.agents.len() as u64),
            ("team", self.teams.agents.len() as u64),
            ("finding", self.findings.total),
        ];
        totals.extend(self.extra_totals.iter().copied());
        let _ = page.write_str("<div class=\"totals\" id=\"totals\">");
        for (label, value) in &totals {
            let (first, rest) = label.split_once(' ').unwrap_or((label, ""));
            let label = if nouns.contains(&first) {
                format!(
                    "{first}{}{}{rest}",
                    plural(*value),
                    if rest.is_empty() { "" } else { " " }
                )
            } else {
                label.to_string()
            };
            let _ = write!(
                page,
                "<div><b>{value}</b><span>{}</span></div>",
                escape(&label)
            );
        }
        let _ = page.write_str("</div></header>\n<main>\n");
    }

    /// The two charts, the teams' table, and the agents' table with its filter.
    fn write_overview_and_tables(
        &self,
        page: &mut impl std::fmt::Write,
        anchors: &BTreeMap<&str, usize>,
    ) {
        let rules = self.rules;
        let _ = writeln!(
            page,
            "<h2>Overview</h2><div class=\"charts\"><figure><figcaption>Score distribution across agents</figcaption>{}</figure><figure><figcaption>Failure rate per rule (95% Wilson interval)</figcaption>{}</figure></div>",
            score_chart(self.scorecards),
            rule_chart(rules, self.scorecards)
        );
        let _ = writeln!(
            page,
            "<h2 id=\"teams\">Teams</h2><p class=\"note\">Each team's agents on the team's conversations; <code>(none)</code>: conversations without a team. Rates show their 95% Wilson interval.</p>{}",
            cards_table("teams-table", "Team", self.teams, rules, &BTreeMap::new())
        );
        let _ = writeln!(
            page,
            "<h2 id=\"agents\">Agents</h2><div class=\"controls\"><input id=\"agent-filter\" type=\"search\" placeholder=\"Filter agents by id\" aria-label=\"Filter agents by id\"><label><input type=\"checkbox\" id=\"small-only\"> only agents with fewer than {SMALL_SAMPLE} conversations</label><span id=\"agent-count\" class=\"note\">{} agents</span></div><p class=\"note\">Click a column to sort. ⚠ marks agents with fewer than {SMALL_SAMPLE} conversations, too few to trust a rate: read the interval beside it.</p>{}",
            self.scorecards.agents.len(),
            cards_table("agents-table", "Agent", self.scorecards, rules, anchors)
        );
    }

    /// The findings per agent, in agent order, capped at [`FINDINGS_PER_AGENT`] per agent and
    /// [`FINDINGS_EMBEDDED`] in all, with a note of what was left out.
    fn write_findings(&self, page: &mut impl std::fmt::Write, anchors: &BTreeMap<&str, usize>) {
        let findings = self.findings;
        let conversation_anchor: BTreeMap<&str, usize> = self
            .retained
            .keys()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        let mut embedded = 0usize;
        let mut findings_html = String::new();
        for (agent, of_agent) in findings.agents() {
            let room = FINDINGS_PER_AGENT.min(FINDINGS_EMBEDDED.saturating_sub(embedded));
            let shown = of_agent.first.len().min(room);
            embedded += shown;
            let _ = write!(
                findings_html,
                "<details id=\"agent-{}\"><summary>{} — {} finding{}{}</summary>",
                anchors[agent],
                escape(agent),
                of_agent.count,
                plural(of_agent.count),
                if (shown as u64) < of_agent.count {
                    format!(" (first {shown} shown; all in findings.csv)")
                } else {
                    String::new()
                }
            );
            if shown > 0 {
                findings_html.push_str("<table><thead><tr><th>Rule</th><th>Severity</th><th>Conversation</th><th class=\"num\">Turn</th><th>Evidence</th><th>Source</th></tr></thead><tbody>");
                for finding in &of_agent.first[..shown] {
                    findings_html.push_str(&self.finding_row(finding, &conversation_anchor));
                }
                findings_html.push_str("</tbody></table>");
            }
            findings_html.push_str("</details>");
        }
        let left_out = findings.total - embedded as u64;
        let _ = writeln!(
            page,
            "<h2 id=\"findings\">Findings by agent</h2><p class=\"note\">{}</p>{findings_html}",
            if left_out > 0 {
                format!(
                    "{embedded} of {} findings are listed here (at most {FINDINGS_PER_AGENT} per agent and {FINDINGS_EMBEDDED} in all, so the page stays fast); {left_out} are left out: every finding is in findings.csv.",
                    findings.total
                )
            } else {
                match findings.total {
                    1 => "The one finding is listed.".to_string(),
                    total => format!("All {total} findings are listed."),
                }
            }
        );
    }

    /// One finding's row; its conversation links to the turn when the turns were kept.
    fn finding_row(
        &self,
        finding: &Finding,
        conversation_anchor: &BTreeMap<&str, usize>,
    ) -> String {
        let rule = &self.rules.rules[finding.rule as usize];
        let conversation = match conversation_anchor.get(finding.conversation_id.as_str()) {
            Some(index) => format!(
                "<a href=\"#conv-{index}-t{}\">{}</a>",
                finding.turn,
                escape(&finding.conversation_id)
            ),
            None => format!(
                "{} <small>(transcript not kept)</small>",
                escape(&finding.conversation_id)
            ),
        };
        format!(
            "<tr><td title=\"{}\">{}</td><td class=\"sev-{}\">{}</td><td>{conversation}</td><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&rule.message),
            escape(&rule.id),
            rule.severity.as_str(),
            rule.severity.as_str(),
            finding.turn,
            escape(&self.render.evidence(&finding.evidence)),
            escape(&finding.source.to_string())
        )
    }

    /// The conversations with findings whose turns were kept, turn by turn, with a note of
    /// how many were not.
    fn write_conversations(&self, page: &mut impl std::fmt::Write) {
        let findings = self.findings;
        let has_findings = |id: &str| findings.marks.contains_key(id);
        let kept = self.retained.keys().filter(|id| has_findings(id)).count() as u64;
        let _ = write!(
            page,
            "<h2 id=\"conversations\">Conversations with findings</h2><p class=\"note\">{}</p>",
            if kept < findings.conversations {
                format!(
                    "The turns of {kept} of the {} conversations with findings are shown (the first {KEEP_CONVERSATIONS} in input order keep their turns, so memory stays bounded); the other {} are in findings.csv with their source line.",
                    findings.conversations,
                    findings.conversations - kept
                )
            } else {
                format!(
                    "All {} conversations with findings, turn by turn, the matched words highlighted.",
                    findings.conversations
                )
            }
        );
        // The articles (redaction and escaping of every kept turn: most of the page's work)
        // are made on the pool a batch at a time, and written in order.
        let shown: Vec<_> = self
            .retained
            .iter()
            .enumerate()
            .filter_map(|(index, (id, conversation))| {
                Some((index, id, conversation, findings.marks.get(id)?))
            })
            .collect();
        for batch in shown.chunks(ARTICLES_PER_BATCH) {
            let articles: Vec<String> = batch
                .par_iter()
                .map(|&(index, id, conversation, turn_marks)| {
                    self.article(index, id, conversation, turn_marks)
                })
                .collect();
            for article in articles {
                let _ = page.write_str(&article);
            }
        }
    }

    /// Kept conversation `index`, turn by turn, with what its findings mark.
    fn article(
        &self,
        index: usize,
        id: &str,
        conversation: &RetainedConversation,
        turn_marks: &BTreeMap<usize, TurnMarks>,
    ) -> String {
        let mut article = String::new();
        let _ = write!(
            article,
            "<article class=\"conv\" id=\"conv-{index}\"><h3>{} <small><code>{}</code></small></h3><ol>",
            escape(id),
            escape(&conversation.source.to_string())
        );
        for (t, turn) in conversation.turns.iter().enumerate() {
            self.write_turn(&mut article, index, t + 1, turn, turn_marks.get(&(t + 1)));
        }
        article.push_str("</ol></article>\n");
        article
    }

    /// One kept turn (`number` is 1-based) of conversation `index`: who spoke, the text with
    /// the matched words marked, and a badge per rule that flagged it.
    fn write_turn(
        &self,
        page: &mut impl std::fmt::Write,
        index: usize,
        number: usize,
        turn: &RetainedTurn,
        at_turn: Option<&TurnMarks>,
    ) {
        let rules = self.rules;
        let who = match &turn.agent_id {
            Some(agent) => format!("agent {}", escape(agent)),
            None => turn.speaker.as_str().to_string(),
        };
        let marks: Vec<Mark> = at_turn
            .map(|m| m.spans.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|&(from, to, rule)| (from, to, rules.rules[rule as usize].id.as_str()))
            .collect();
        let mut badges = String::new();
        for rule in at_turn.map(|m| m.rules.as_slice()).unwrap_or(&[]) {
            let rule = &rules.rules[*rule as usize];
            let _ = write!(
                badges,
                " <span class=\"flag sev-{}\" title=\"{}\">{}</span>",
                rule.severity.as_str(),
                escape(&rule.message),
                escape(&rule.id)
            );
        }
        let _ = write!(
            page,
            "<li id=\"conv-{index}-t{number}\" class=\"turn-{}\"><span class=\"who\">{who}</span> {}{badges}</li>",
            turn.speaker.as_str(),
            turn_html(&turn.text, &marks, self.render)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_the_five_characters_and_keeps_the_rest() {
        // text, escaped
        let cases = [
            ("", ""),
            ("plain", "plain"),
            ("<b>&\"'</b>", "&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;"),
            ("café <東京> 😀&", "café &lt;東京&gt; 😀&amp;"),
            ("&&", "&amp;&amp;"),
        ];
        for (text, escaped) in cases {
            assert_eq!(escape(text), escaped, "{text:?}");
        }
    }

    #[test]
    fn wilson_intervals() {
        let cases = [
            (0, 10, (0.0, 0.2775)),
            (5, 10, (0.2366, 0.7634)),
            (1, 1, (0.2065, 1.0)),
            (20, 100, (0.1333, 0.2888)),
        ];
        for (failed, n, (low, high)) in cases {
            let (l, h) = wilson(failed, n).unwrap();
            assert!(
                (l - low).abs() < 1e-4 && (h - high).abs() < 1e-4,
                "{failed}/{n}: {l} {h}"
            );
        }
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn turns_are_escaped_highlighted_and_redacted() {
        let redactor = crate::redact::Redactor::new();
        let render = Render {
            redactor: Some(&redactor),
            csv_guard: false,
        };
        let text = "<b>calm down</b> & call 555-123-4567";
        let html = turn_html(text, &[(3, 12, "blame")], &render);
        assert_eq!(
            html,
            "&lt;b&gt;<mark title=\"blame\">calm down</mark>&lt;/b&gt; &amp; call [phone]"
        );
        // A mark inside a private number: the number is redacted whole, and the mark takes
        // in all of it.
        let html = turn_html("call 555-123-4567", &[(9, 12, "x")], &render);
        assert_eq!(html, "call <mark title=\"x\">[phone]</mark>");
        // A mark after a private number stays on its words.
        let html = turn_html("a 555-123-4567 calm down", &[(15, 24, "b")], &render);
        assert_eq!(html, "a [phone] <mark title=\"b\">calm down</mark>");
        let plain = turn_html("a'b", &[], &Render::default());
        assert_eq!(plain, "a&#39;b");
    }
}
