//! `callqa explain`: one conversation, turn by turn, with each finding printed under the turn
//! that caused it and the matched words highlighted, then each agent's part and score.
//!
//! Colour is for terminals only: the caller decides (stdout is a terminal and `NO_COLOR` is
//! unset) and passes `color`.

use crate::model::{ConversationAudit, RuleState};
use crate::redact::Redactor;
use crate::rules::{RuleSet, Severity};
use crate::transcript::script::format_clock;
use crate::transcript::{Conversation, Speaker, format_rfc3339};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const HIGHLIGHT: &str = "\x1b[1;4m";

struct Paint<'a> {
    color: bool,
    redactor: Option<&'a Redactor>,
}

impl Paint<'_> {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Renders the conversation and its audit as text; with a redactor, private data in turns and
/// evidence is replaced.
pub(crate) fn render(
    conversation: &Conversation,
    audit: &ConversationAudit,
    rules: &RuleSet,
    color: bool,
    redactor: Option<&Redactor>,
) -> String {
    let paint = Paint { color, redactor };
    let mut out = String::new();
    out.push_str(&paint.wrap(BOLD, &header(conversation)));
    out.push('\n');
    render_turns(&mut out, conversation, audit, rules, &paint);
    render_promises(&mut out, audit, &paint);
    render_scores(&mut out, audit, rules, &paint);
    out
}

/// The conversation's id and source, and the metadata it has, one field a line.
fn header(conversation: &Conversation) -> String {
    let mut header = format!("conversation {} ({})", conversation.id, conversation.source);
    let fields = [
        ("agent", conversation.agent_id.clone()),
        ("customer", conversation.customer_id.clone()),
        (
            "started",
            conversation.started_at.as_ref().map(format_rfc3339),
        ),
        ("channel", conversation.channel.clone()),
        (
            "direction",
            conversation.direction.map(|d| d.as_str().to_string()),
        ),
        ("team", conversation.team.clone()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            header.push_str(&format!("\n  {name}: {value}"));
        }
    }
    header
}

/// Each turn, numbered, with its timing and speaker, the matched words highlighted, and under
/// it the findings it caused with their evidence.
fn render_turns(
    out: &mut String,
    conversation: &Conversation,
    audit: &ConversationAudit,
    rules: &RuleSet,
    paint: &Paint,
) {
    let width = conversation.turns.len().to_string().len();
    for (index, turn) in conversation.turns.iter().enumerate() {
        let timing = match (turn.start_ms, turn.end_ms) {
            (Some(start), Some(end)) => format!(" [{}-{}]", format_clock(start), format_clock(end)),
            (Some(start), None) => format!(" [{}]", format_clock(start)),
            _ => String::new(),
        };
        let who = if turn.speaker == Speaker::Agent {
            // `(unknown)` is in parentheses already.
            match conversation.agent_of_turn(index) {
                agent if agent.starts_with('(') => format!("agent {agent}"),
                agent => format!("agent ({agent})"),
            }
        } else {
            turn.speaker.to_string()
        };
        let findings: Vec<_> = audit
            .findings
            .iter()
            .filter(|f| f.turn == index + 1)
            .collect();
        let mut spans: Vec<(usize, usize)> = findings.iter().filter_map(|f| f.span).collect();
        spans.sort_unstable();
        let text = highlight(&turn.text, &spans, paint);
        out.push_str(&format!(
            "{:>width$}{} {}: {}\n",
            index + 1,
            paint.wrap(DIM, &timing),
            who,
            text
        ));
        for finding in findings {
            let rule = &rules.rules[finding.rule as usize];
            let code = if rule.severity >= Severity::Major {
                RED
            } else {
                YELLOW
            };
            let mark = format!(
                "{:width$}   ^ {} {}: {}",
                "",
                rule.id,
                rule.severity.as_str(),
                rule.message
            );
            out.push_str(&paint.wrap(code, &mark));
            out.push('\n');
            out.push_str(&format!("{:width$}     {}\n", "", finding.evidence));
        }
    }
}

/// The promises the conversation made: when, by when, and what became of each.
fn render_promises(out: &mut String, audit: &ConversationAudit, paint: &Paint) {
    if !audit.promises.is_empty() {
        out.push_str(&paint.wrap(BOLD, "promises"));
        out.push('\n');
    }
    for promise in &audit.promises {
        let time = |t: &Option<jiff::Zoned>| t.as_ref().map_or("?".to_string(), format_rfc3339);
        out.push_str(&format!(
            "  turn {} ({}): {}\n    made {}, deadline {} ({}): {}",
            promise.turn,
            promise.agent_id,
            promise.evidence,
            time(&promise.made_at),
            time(&promise.deadline),
            promise
                .time_words
                .as_deref()
                .map_or("default window".to_string(), |w| format!("\"{w}\"")),
            promise.state.as_str()
        ));
        if let Some((id, at)) = &promise.kept_by {
            out.push_str(&format!(" by conversation {id} at {}", format_rfc3339(at)));
        }
        out.push('\n');
    }
}

/// Each agent's score in the conversation, with the rules it failed, passed, and to which it
/// did not apply.
fn render_scores(out: &mut String, audit: &ConversationAudit, rules: &RuleSet, paint: &Paint) {
    out.push_str(&paint.wrap(BOLD, "scores"));
    out.push('\n');
    if audit.agents.is_empty() {
        out.push_str("  no agent spoke\n");
    }
    for part in &audit.agents {
        let mut failed = Vec::new();
        let mut passed = Vec::new();
        let mut not_applicable = Vec::new();
        for (state, rule) in part.states.iter().zip(&rules.rules) {
            match state {
                RuleState::Failed => failed.push(rule.id.as_str()),
                RuleState::Passed => passed.push(rule.id.as_str()),
                RuleState::NotApplicable => not_applicable.push(rule.id.as_str()),
            }
        }
        let list = |ids: &[&str]| {
            if ids.is_empty() {
                "-".to_string()
            } else {
                ids.join(", ")
            }
        };
        out.push_str(&format!(
            "  {}: {:.2} (failed: {}; passed: {}; not applicable: {})\n",
            part.agent_id,
            part.score(rules),
            list(&failed),
            list(&passed),
            list(&not_applicable)
        ));
    }
}

/// `text`, redacted, with the byte ranges `spans` of it (sorted, possibly overlapping) in
/// the highlight style.
fn highlight(text: &str, spans: &[(usize, usize)], paint: &Paint) -> String {
    let marks: Vec<(usize, usize, ())> = if paint.color {
        spans.iter().map(|&(from, to)| (from, to, ())).collect()
    } else {
        Vec::new()
    };
    let (shown, pieces) = crate::redact::marked(paint.redactor, text, &marks);
    let mut out = String::new();
    for (range, mark) in pieces {
        match mark {
            Some(()) => out.push_str(&paint.wrap(HIGHLIGHT, &shown[range])),
            None => out.push_str(&shown[range]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{audit, rule_set};
    use crate::transcript::script::parse_script;

    #[test]
    fn findings_sit_under_their_turn() {
        let rules = rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let script = "customer: this is awful\n[0:01.0-0:02.5] agent: calm down";
        let result = audit(&rules, script);
        let mut conversation = parse_script(script, &std::sync::Arc::from("t"), "c").unwrap();
        conversation.agent_id = Some("a-1".into());
        let plain = render(&conversation, &result, &rules, false, None);
        assert_eq!(
            plain,
            "conversation c (t:1)\n  agent: a-1\n\
             1 customer: this is awful\n\
             2 [0:01.0-0:02.5] agent (a-1): calm down\n\
             \x20   ^ r major: m\n\
             \x20     «calm down»\n\
             scores\n  a-1: 0.00 (failed: r; passed: -; not applicable: -)\n"
        );
        conversation.agent_id = None;
        let unknown = render(&conversation, &result, &rules, false, None);
        assert!(
            unknown.contains("2 [0:01.0-0:02.5] agent (unknown): calm down\n"),
            "{unknown}"
        );
        conversation.agent_id = Some("a-1".into());
        let colored = render(&conversation, &result, &rules, true, None);
        assert!(colored.contains("\x1b[1;4mcalm down\x1b[0m"));
        conversation.turns[0].text = "mail me: jo@example.com".into();
        let redactor = Redactor::new();
        let redacted = render(&conversation, &result, &rules, false, Some(&redactor));
        assert!(
            redacted.contains("1 customer: mail me: [email]\n"),
            "{redacted}"
        );
    }
}
