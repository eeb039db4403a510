//! The input formats callqa reads, as one table: [`FORMATS`].
//!
//! A row holds everything the rest of the program knows about a format: its name (for
//! `--input-format`, the summary and messages), the help line `--help` shows for it, the file
//! extensions that say it, the top-level JSON keys that tell its `.json` files apart, and its
//! reader. Detection ([`detect`]), names and clap's values for `--input-format` all read the
//! table, so a new format is a reader in `src/transcript/`, a variant of [`InputFormat`] and a
//! row here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use clap::builder::PossibleValue;

use crate::transcript::amazon::{self, Flavor};
use crate::transcript::csv::CsvReader;
use crate::transcript::{Conversation, DocumentContext, ReadError, ccai, pca, script, vtt};

/// The input formats callqa reads. Each has its row in the format table (`FORMATS`), at its
/// own index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputFormat {
    /// Canonical JSON Lines, one conversation per line.
    Jsonl,
    /// Turn-per-row CSV.
    Csv,
    /// Plain-text script, one conversation per file.
    Script,
    /// WebVTT captions with voice tags, one conversation per file.
    Vtt,
    /// Amazon Transcribe Call Analytics output JSON, one call per file.
    Transcribe,
    /// Amazon Connect Contact Lens output JSON (voice or chat), one contact per file.
    ContactLens,
    /// Amazon Transcribe post-call analytics (PCA) output JSON, one call per file.
    Pca,
    /// Google CCAI Insights conversation JSON, one conversation per file.
    Ccai,
}

/// One row of the format table.
#[derive(Debug)]
pub(crate) struct Format {
    pub(crate) format: InputFormat,
    /// The name `--input-format` takes and the summary prints.
    pub(crate) name: &'static str,
    /// The line `--help` shows for the name.
    pub(crate) help: &'static str,
    /// The file name endings (after the last dot, a `.gz` ending looked through, lower case)
    /// that say this format.
    pub(crate) extensions: &'static [&'static str],
    /// For a format that comes as `.json` files: the top-level keys that say it.
    pub(crate) json_keys: Option<JsonKeys>,
    pub(crate) reader: Reader,
}

/// The top-level keys of a `.json` file's first value that say a format: all of `present`
/// and none of `absent`. Rows are tried by `rank`, lowest first; a `.json` file no row claims
/// is JSON Lines.
#[derive(Debug)]
pub(crate) struct JsonKeys {
    pub(crate) rank: u8,
    pub(crate) present: &'static [&'static str],
    pub(crate) absent: &'static [&'static str],
}

/// How a format is read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// JSON Lines: cut into chunks of whole lines, parsed on the workers.
    Lines,
    /// A stream of conversations, parsed as it is read and handed out in batches.
    Stream(StreamReader),
    /// One conversation a file: read whole, then parsed.
    Document(ParseDocument),
}

/// The conversations of a stream format, in file order.
pub(crate) type Conversations = Box<dyn Iterator<Item = Result<Conversation, ReadError>>>;

/// Starts reading a stream format (the file and its name); an error is about the whole file.
pub(crate) type StreamReader =
    fn(Box<dyn BufRead + Send>, Arc<str>) -> Result<Conversations, ReadError>;

/// Parses a whole file of a one-conversation format.
pub(crate) type ParseDocument = fn(&[u8], &DocumentContext<'_>) -> Result<Conversation, ReadError>;

/// Every format callqa reads, in the order `--help` lists them; row `i` is the format whose
/// discriminant is `i`.
pub(crate) const FORMATS: &[Format] = &[
    Format {
        format: InputFormat::Jsonl,
        name: "jsonl",
        help: "Canonical JSON Lines, one conversation per line",
        extensions: &["jsonl", "ndjson", "json"],
        json_keys: None,
        reader: Reader::Lines,
    },
    Format {
        format: InputFormat::Csv,
        name: "csv",
        help: "Turn-per-row CSV",
        extensions: &["csv"],
        json_keys: None,
        reader: Reader::Stream(|reader, file| Ok(Box::new(CsvReader::new(reader, file)?))),
    },
    Format {
        format: InputFormat::Script,
        name: "script",
        help: "Plain-text script of `Agent:` / `Customer:` lines, one conversation per file",
        extensions: &["txt", "script"],
        json_keys: None,
        reader: Reader::Document(script::parse_document),
    },
    Format {
        format: InputFormat::Vtt,
        name: "vtt",
        help: "WebVTT captions with voice tags (`<v Agent Sam>`)",
        extensions: &["vtt"],
        json_keys: None,
        reader: Reader::Document(vtt::parse),
    },
    Format {
        format: InputFormat::Transcribe,
        name: "transcribe",
        help: "Amazon Transcribe Call Analytics output JSON",
        extensions: &[],
        json_keys: Some(JsonKeys {
            rank: 3,
            present: &["Transcript"],
            absent: &[],
        }),
        reader: Reader::Document(|bytes, cx| amazon::parse(bytes, cx, Flavor::CallAnalytics)),
    },
    Format {
        format: InputFormat::ContactLens,
        name: "contact-lens",
        help: "Amazon Connect Contact Lens output JSON (voice or chat)",
        extensions: &[],
        // Contact Lens lists `Participants` and names no Transcribe `JobName`.
        json_keys: Some(JsonKeys {
            rank: 2,
            present: &["Transcript", "Participants"],
            absent: &["JobName"],
        }),
        reader: Reader::Document(|bytes, cx| amazon::parse(bytes, cx, Flavor::ContactLens)),
    },
    Format {
        format: InputFormat::Pca,
        name: "pca",
        help: "Amazon Transcribe post-call analytics (PCA) output JSON",
        extensions: &[],
        json_keys: Some(JsonKeys {
            rank: 0,
            present: &["SpeechSegments"],
            absent: &[],
        }),
        reader: Reader::Document(pca::parse),
    },
    Format {
        format: InputFormat::Ccai,
        name: "ccai",
        help: "Google CCAI Insights conversation JSON",
        extensions: &[],
        json_keys: Some(JsonKeys {
            rank: 1,
            present: &["entries"],
            absent: &[],
        }),
        reader: Reader::Document(ccai::parse),
    },
];

// Row `i` is the format whose discriminant is `i`, so a format finds its row by indexing.
const _: () = {
    let mut i = 0;
    while i < FORMATS.len() {
        assert!(FORMATS[i].format as usize == i);
        i += 1;
    }
};

impl InputFormat {
    pub const ALL: [InputFormat; FORMATS.len()] = {
        let mut all = [InputFormat::Jsonl; FORMATS.len()];
        let mut i = 0;
        while i < FORMATS.len() {
            all[i] = FORMATS[i].format;
            i += 1;
        }
        all
    };

    /// The format's row of the table.
    fn row(self) -> &'static Format {
        &FORMATS[self as usize]
    }

    pub(crate) fn name(self) -> &'static str {
        self.row().name
    }

    pub(crate) fn reader(self) -> Reader {
        self.row().reader
    }

    /// The format a file name says, looking through a `.gz` ending. A `.json` file says
    /// JSON Lines here; [`detect`] looks inside it.
    pub fn from_file_name(name: &str) -> Option<InputFormat> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
        let extension = stem.rsplit_once('.').map(|(_, ext)| ext)?;
        FORMATS
            .iter()
            .find(|row| row.extensions.contains(&extension))
            .map(|row| row.format)
    }

    /// The format the top-level keys of a JSON file's first value say: the row of lowest
    /// rank whose keys (`json_keys` in the format table) they match, else JSON Lines.
    pub fn from_json_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> InputFormat {
        let keys: BTreeSet<&str> = keys.into_iter().collect();
        FORMATS
            .iter()
            .filter_map(|row| Some((row.json_keys.as_ref()?, row.format)))
            .filter(|(sniff, _)| {
                sniff.present.iter().all(|key| keys.contains(key))
                    && !sniff.absent.iter().any(|key| keys.contains(key))
            })
            .min_by_key(|(sniff, _)| sniff.rank)
            .map_or(InputFormat::Jsonl, |(_, format)| format)
    }
}

/// `--input-format`'s values: the table's names and help lines, in its order.
impl clap::ValueEnum for InputFormat {
    fn value_variants<'a>() -> &'a [InputFormat] {
        &InputFormat::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let row = self.row();
        Some(PossibleValue::new(row.name).help(row.help))
    }
}

/// The format of a file: the one forced, else the name's, else (for `.json`) the one the
/// top-level keys of its first JSON value say. Only that first value is read: a JSON Lines
/// file is not read to its end here.
pub fn detect(path: &Path, forced: Option<InputFormat>) -> InputFormat {
    if let Some(format) = forced {
        return format;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_name = InputFormat::from_file_name(&name).unwrap_or(InputFormat::Jsonl);
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if !stem.ends_with(".json") {
        return by_name;
    }
    sniff_json(path).unwrap_or(by_name)
}

fn sniff_json(path: &Path) -> Option<InputFormat> {
    let file = super::walk::open_raw(path).ok()?;
    let mut reader = super::walk::decompressed(BufReader::new(file)).ok()?;
    // The first MiB is kept, for the case the first value does not parse.
    let mut prefix = Vec::new();
    (&mut reader).take(1 << 20).read_to_end(&mut prefix).ok()?;
    let start = if prefix.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let first = serde_json::Deserializer::from_reader(prefix[start..].chain(reader))
        .into_iter::<BTreeMap<String, serde::de::IgnoredAny>>()
        .next()?;
    match first {
        Ok(keys) => Some(InputFormat::from_json_keys(keys.keys().map(String::as_str))),
        // A broken first value that spans lines is a document, not a JSON line: name its
        // format by the keys it shows, so that its reader reports it once, as a whole.
        Err(err) if err.line() > 1 => {
            let text = String::from_utf8_lossy(&prefix);
            let keys = FORMATS
                .iter()
                .filter_map(|row| row.json_keys.as_ref())
                .flat_map(|sniff| sniff.present.iter().chain(sniff.absent));
            Some(InputFormat::from_json_keys(
                keys.copied()
                    .filter(|key| text.contains(&format!("\"{key}\""))),
            ))
        }
        Err(_) => None,
    }
}

/// Parses a whole file of a one-conversation format (the stream formats are not).
pub fn parse_document(
    format: InputFormat,
    bytes: &[u8],
    cx: &DocumentContext,
) -> Result<Conversation, ReadError> {
    match format.reader() {
        Reader::Document(parse) => parse(bytes, cx),
        Reader::Lines | Reader::Stream(_) => Err(cx.invalid(
            0,
            format!("{} is not a one-conversation format", format.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_are_told_apart_by_their_top_level_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &str, InputFormat); 8] = [
            (
                "a.json",
                "{\"id\":\"c1\",\"turns\":[]}\n{\"id\":\"c2\",\"turns\":[]}\n",
                InputFormat::Jsonl,
            ),
            (
                "b.json",
                "{\"SpeechSegments\":[],\"ConversationAnalytics\":{}}",
                InputFormat::Pca,
            ),
            ("c.json", "\u{feff}{\"entries\":[]}", InputFormat::Ccai),
            (
                "d.json",
                "{\"Participants\":[],\"Transcript\":[]}",
                InputFormat::ContactLens,
            ),
            (
                "e.json",
                "{\"JobName\":\"j\",\"Participants\":[],\"Transcript\":[]}",
                InputFormat::Transcribe,
            ),
            ("f.json", "{\"Transcript\":[]}", InputFormat::Transcribe),
            // A broken document spanning lines is still named by the keys it shows.
            (
                "g.json",
                "{\n\"SpeechSegments\": [\n{\"Segm",
                InputFormat::Pca,
            ),
            ("h.jsonl", "{\"entries\":[]}", InputFormat::Jsonl),
        ];
        for (name, text, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(detect(&path, None), expected, "{name}");
            assert_eq!(detect(&path, Some(InputFormat::Vtt)), InputFormat::Vtt);
        }
    }

    #[test]
    fn every_name_and_extension_says_one_format() {
        for format in InputFormat::ALL {
            let row = format.row();
            assert_eq!(row.format, format);
            let named: Vec<_> = FORMATS.iter().filter(|r| r.name == row.name).collect();
            assert_eq!(named.len(), 1, "{}", row.name);
            for extension in row.extensions {
                let name = format!("a.{}.gz", extension.to_ascii_uppercase());
                assert_eq!(InputFormat::from_file_name(&name), Some(format));
            }
        }
    }
}
