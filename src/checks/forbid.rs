//! `forbid`: the speaker says one of the phrases (less `unless`): one finding per hit.
//!
//! Applicable to every agent who spoke. A hit in an agent turn belongs to the agent who spoke
//! it; a hit in another speaker's turn (a rule on the customer's words) to the agent answerable
//! at that moment.

use super::{Context, Outcome};
use crate::rules::{Role, Rule};
use crate::transcript::Speaker;

pub(crate) fn check(context: &Context, index: u32, rule: &Rule, outcome: &mut Outcome) {
    outcome.applicable_to_speakers(index);
    for turn in context.turns_of(rule.speaker) {
        for (start, end) in context.effective_hits(turn, index, Role::Phrase, Role::Unless) {
            let agent = if rule.speaker == Speaker::Agent {
                context.agent_of(turn)
            } else {
                context.agent_near(turn)
            };
            let (evidence, span) = context.excerpt(turn, start, end);
            let finding = context.finding(index, agent, turn, evidence, Some(span));
            outcome.fail(finding);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, finding_turns, rule_set};

    #[test]
    fn forbid_table() {
        let rules = rule_set(
            "kind = \"forbid\"\nphrases = [\"your fault\", \"calm down\", \"you should have\"]\nunless = [\"not your fault\"]",
        );
        let cases: [(&str, &[usize]); 7] = [
            ("agent: That's your fault.", &[1]),
            ("agent: It’s not your fault at all.", &[]),
            ("customer: calm down? you calm down", &[]),
            (
                "agent: hi\ncustomer: ugh\nagent: CALM DOWN!! you should have called",
                &[3, 3],
            ),
            ("agent: calmdown", &[]),
            ("agent: you should havent", &[]),
            ("agent: Your fault, not your fault", &[1]),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    /// The evidence of the findings of `script`, in order.
    fn evidence(rules: &crate::rules::RuleSet, script: &str) -> Vec<String> {
        audit(rules, script)
            .findings
            .into_iter()
            .map(|f| f.evidence)
            .collect()
    }

    #[test]
    fn a_pattern_gives_one_finding_where_its_variants_overlap() {
        let rules =
            rule_set("kind = \"forbid\"\nphrases = [\"[so|very] sorry [for that]\", \"sorry\"]");
        let cases: [(&str, &[&str]); 4] = [
            ("agent: Very sorry.", &["«Very sorry»."]),
            ("agent: so sorry for that", &["«so sorry for that»"]),
            (
                "agent: sorry, so sorry",
                &["«sorry», so sorry", "sorry, «so sorry»"],
            ),
            ("agent: fine", &[]),
        ];
        for (script, expected) in cases {
            assert_eq!(evidence(&rules, script), expected, "{script}");
        }
    }

    /// Phrases of one rule that overlap in a turn ("not our fault" inside "is not our
    /// fault") are one place: one finding, whose evidence spans them all.
    #[test]
    fn overlapping_phrases_of_a_rule_give_one_finding_per_place() {
        let rules = rule_set(
            "kind = \"forbid\"\nphrases = [\"not our fault\", \"is not our fault\", \"our fault entirely\", \"fault\"]",
        );
        let cases: [(&str, &[&str]); 4] = [
            (
                "agent: That is not our fault.",
                &["That «is not our fault»."],
            ),
            (
                "agent: it is not our fault entirely",
                &["it «is not our fault entirely»"],
            ),
            (
                "agent: not our fault, fault, is not our fault",
                &[
                    "«not our fault», fault, is not our fault",
                    "not our fault, «fault», is not our fault",
                    "not our fault, fault, «is not our fault»",
                ],
            ),
            ("agent: faultless", &[]),
        ];
        for (script, expected) in cases {
            assert_eq!(evidence(&rules, script), expected, "{script}");
        }
    }

    /// Matching is caseless in full and blind to how an accent is encoded.
    #[test]
    fn phrases_match_their_case_variants_and_canonical_equivalents() {
        let rules = rule_set("kind = \"forbid\"\nphrases = [\"straße\", \"οδός\", \"café\"]");
        let cases: [(&str, &[&str]); 5] = [
            (
                "agent: HAUPTSTRASSE, no: STRASSE 5",
                &["HAUPTSTRASSE, no: «STRASSE» 5"],
            ),
            ("agent: ΟΔΌΣ Αθηνάς", &["«ΟΔΌΣ» Αθηνάς"]),
            (
                "agent: the cafe\u{301} is closed",
                &["the «cafe\u{301}» is closed"],
            ),
            ("agent: THE CAFÉ", &["THE «CAFÉ»"]),
            ("agent: the cafe is closed", &[]),
        ];
        for (script, expected) in cases {
            assert_eq!(evidence(&rules, script), expected, "{script}");
        }
    }

    #[test]
    fn customer_rules_are_answered_by_the_nearest_agent() {
        let rules = rule_set("kind = \"forbid\"\nspeaker = \"customer\"\nphrases = [\"lawyer\"]");
        let result = audit(&rules, "agent: hello\ncustomer: I will call my lawyer");
        assert_eq!(finding_turns(&result), [2]);
        assert_eq!(result.findings[0].agent_id, "a-1");
    }
}
