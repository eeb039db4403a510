//! Words for counts, shared by every message and report that says "N things", so that one
//! place decides between "1 agent" and "2 agents".

/// The ending of a noun counted `count` times: none for one, `s` otherwise (every noun
/// callqa counts takes an `s`).
pub(crate) fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `count` and `noun`, the noun plural unless the count is one: "1 agent", "0 findings",
/// "2 unreadable files".
pub(crate) fn counted(count: u64, noun: &str) -> String {
    format!("{count} {noun}{}", plural(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(0, "agent"), "0 agents");
        assert_eq!(counted(1, "agent"), "1 agent");
        assert_eq!(counted(2, "unreadable file"), "2 unreadable files");
    }
}
