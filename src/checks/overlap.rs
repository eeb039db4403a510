//! `overlap`: the speaker starts a turn while the other party's timed turn is still running by
//! at least `min_overlap_ms`, or within `max_gap_ms` after the other party's turn that ends in
//! a cut-off marker (`--`, `—`, `...`, `…`). The interruption check.
//!
//! Short backchannels are active listening, not interruptions: a turn with fewer than
//! `min_words` words, or whose words are all `ignore` phrases, neither interrupts nor is
//! interrupted. Applicable only when every turn with words has a start and an end time; one
//! finding per interrupting turn, belonging to the agent who spoke it.

use super::{Context, Outcome, shorten};
use crate::rules::{Role, Rule};
use crate::transcript::Speaker;
use crate::transcript::script::format_clock;

pub(crate) struct Settings {
    pub(crate) min_overlap_ms: i64,
    pub(crate) max_gap_ms: i64,
    pub(crate) min_words: usize,
}

const CUT_OFF_MARKERS: [&str; 5] = ["--", "—", "–", "...", "…"];

pub(crate) fn check(
    context: &Context,
    index: u32,
    rule: &Rule,
    settings: Settings,
    outcome: &mut Outcome,
) {
    if !context.is_timed() {
        return;
    }
    outcome.applicable_to_speakers(index);
    let other = match rule.speaker {
        Speaker::Agent => Speaker::Customer,
        _ => Speaker::Agent,
    };
    let turns = context.conversation_turns();
    let is_backchannel = |turn: usize| {
        context
            .normalized(turn)
            .has_fewer_words_than(settings.min_words)
            || context.all_words_covered(turn, index, Role::Ignore)
    };
    // The other party's substantive turn that runs longest so far, and its latest one.
    let mut longest_running: Option<usize> = None;
    let mut latest_other: Option<usize> = None;
    for turn in 0..context.turn_count() {
        if !context.has_words(turn) {
            continue;
        }
        let speaker = context.speaker(turn);
        if speaker == other {
            if !is_backchannel(turn) {
                let end = turns[turn].end_ms;
                if longest_running.is_none_or(|t| turns[t].end_ms < end) {
                    longest_running = Some(turn);
                }
                latest_other = Some(turn);
            }
            continue;
        }
        if speaker != rule.speaker {
            continue;
        }
        let (Some(start), Some(_)) = (turns[turn].start_ms, turns[turn].end_ms) else {
            continue;
        };
        let overlapped = longest_running.filter(|&t| {
            let (Some(other_start), Some(other_end)) = (turns[t].start_ms, turns[t].end_ms) else {
                return false;
            };
            other_start <= start && other_end - start >= settings.min_overlap_ms
        });
        let cut_off = latest_other.filter(|&t| {
            let Some(other_end) = turns[t].end_ms else {
                return false;
            };
            // The times first: most turns start too late after the other's to be asked about
            // its last words.
            start >= turns[t].start_ms.unwrap_or(other_end)
                && start - other_end <= settings.max_gap_ms
                && ends_cut_off(&turns[t].text)
        });
        // A backchannel interrupts no one. Asked last, of the few turns that would otherwise:
        // counting words costs more than comparing times. Callgrind, 10 MB corpus, `audit -q
        // -j1`: Auditor::audit (overlap::check mostly inlined in it) 227.5 M instructions
        // when asked first, 222.7 M when asked last.
        if (overlapped.is_none() && cut_off.is_none()) || is_backchannel(turn) {
            continue;
        }
        let evidence = if let Some(t) = overlapped {
            let overlap_ms = turns[t].end_ms.unwrap_or(0) - start;
            format!(
                "started at {} while the {other} spoke until {} ({:.1} s over): {other}: \"{}\" / {}: \"{}\"",
                format_clock(start),
                format_clock(turns[t].end_ms.unwrap_or(0)),
                overlap_ms as f64 / 1000.0,
                context.shown_text(t, |text| shorten(text, 60)),
                rule.speaker,
                context.shown_text(turn, |text| shorten(text, 60)),
            )
        } else if let Some(t) = cut_off {
            format!(
                "started at {}, {:.1} s after the {other} was cut off: {other}: \"{}\" / {}: \"{}\"",
                format_clock(start),
                (start - turns[t].end_ms.unwrap_or(start)) as f64 / 1000.0,
                context.shown_text(t, |text| shorten(text, 60)),
                rule.speaker,
                context.shown_text(turn, |text| shorten(text, 60)),
            )
        } else {
            continue;
        };
        let agent = if rule.speaker == Speaker::Agent {
            context.agent_of(turn)
        } else {
            context.agent_near(turn)
        };
        let finding = context.finding(index, agent, turn, evidence, None);
        outcome.fail(finding);
    }
}

/// Whether a turn's text ends in a cut-off marker.
fn ends_cut_off(text: &str) -> bool {
    let text = text.trim_end();
    CUT_OFF_MARKERS.iter().any(|m| text.ends_with(m))
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, finding_turns, rule_set};

    #[test]
    fn overlap_table() {
        let rules = rule_set(
            "kind = \"overlap\"\nmin_overlap_ms = 1000\nmax_gap_ms = 300\nmin_words = 2\nignore = [\"mm hmm\", \"i see\", \"okay\"]",
        );
        let cases: [(&str, &[usize]); 9] = [
            // talks over the customer by 2 s
            (
                "[0:00-0:06] customer: I have been waiting for weeks now\n[0:03-0:05] agent: let me stop you there",
                &[2],
            ),
            // overlap shorter than the minimum
            (
                "[0:00-0:06] customer: I have been waiting for weeks now\n[0:05.5-0:08] agent: let me look at that",
                &[],
            ),
            // backchannels are active listening
            (
                "[0:00-0:06] customer: I have been waiting for weeks now\n[0:03-0:04] agent: mm-hmm\n[0:04.5-0:05] agent: I see, okay",
                &[],
            ),
            // one word is below min_words
            (
                "[0:00-0:06] customer: I have been waiting for weeks now\n[0:03-0:04] agent: right",
                &[],
            ),
            // starts right after a cut-off
            (
                "[0:00-0:03] customer: so what I wanted to say--\n[0:03.2-0:05] agent: yes yes we know",
                &[2],
            ),
            (
                "[0:00-0:03] customer: so what I wanted to say--\n[0:04-0:05] agent: yes yes we know",
                &[],
            ),
            // a customer backchannel is not interrupted
            (
                "[0:00-0:06] customer: mm hmm\n[0:03-0:05] agent: and then the fee applies",
                &[],
            ),
            // no timings: not applicable
            (
                "customer: I have been waiting\nagent: let me stop you there",
                &[],
            ),
            // the customer interrupting the agent is not this rule's finding
            (
                "[0:00-0:06] agent: the fee applies because of\n[0:03-0:05] customer: that is not fair",
                &[],
            ),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    #[test]
    fn cut_off_markers_end_the_text() {
        let cases = [
            ("so what I wanted--", true),
            ("so what I wanted —  ", true),
            ("well...", true),
            ("well…\n", true),
            ("well.", false),
            ("-- and then", false),
            ("", false),
        ];
        for (text, expected) in cases {
            assert_eq!(super::ends_cut_off(text), expected, "{text:?}");
        }
    }

    #[test]
    fn evidence_tells_the_times() {
        let rules = rule_set("kind = \"overlap\"\nmin_overlap_ms = 500");
        let result = audit(
            &rules,
            "[0:00-0:06] customer: I waited\n[0:03-0:05] agent: stop",
        );
        assert_eq!(
            result.findings[0].evidence,
            "started at 0:03.0 while the customer spoke until 0:06.0 (3.0 s over): customer: \"I waited\" / agent: \"stop\""
        );
        assert_eq!(result.findings[0].at_ms, Some(3000));
    }
}
