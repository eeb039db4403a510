//! CSV input read with each CR LF as a LF, so that line numbers come out right.
//!
//! The csv crate counts a line at each LF it consumes, and ends a record at the CR of a CR
//! LF: the LF is consumed with the next record, whose line then comes out one too low, the
//! first row pointing at the header (BurntSushi/rust-csv#395). Reading CR LF as LF gives
//! every record, and every error, the line it starts on. A CR alone stays; a line break
//! inside a quoted field becomes LF, which matching and evidence treat alike.

use std::io::{self, BufRead, BufReader, Read};

/// `inner` with each CR LF read as LF.
pub(crate) struct CrlfAsLf<R: Read> {
    inner: BufReader<R>,
    /// A CR was the last byte read: whether it is written depends on the next byte.
    held_cr: bool,
}

impl<R: Read> CrlfAsLf<R> {
    pub(crate) fn new(inner: R) -> CrlfAsLf<R> {
        CrlfAsLf {
            inner: BufReader::with_capacity(64 << 10, inner),
            held_cr: false,
        }
    }
}

impl<R: Read> Read for CrlfAsLf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                // The end: a CR held is a CR.
                return Ok(if std::mem::take(&mut self.held_cr) {
                    out[0] = b'\r';
                    1
                } else {
                    0
                });
            }
            let mut written = 0;
            if std::mem::take(&mut self.held_cr) && available[0] != b'\n' {
                out[0] = b'\r';
                written = 1;
            }
            let mut used = 0;
            while used < available.len() && written < out.len() {
                let byte = available[used];
                used += 1;
                if byte == b'\r' {
                    match available.get(used) {
                        Some(b'\n') => continue,
                        None => {
                            self.held_cr = true;
                            break;
                        }
                        Some(_) => {}
                    }
                }
                out[written] = byte;
                written += 1;
            }
            self.inner.consume(used);
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most `step` bytes a read, so that a CR LF falls across reads.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn crlf_becomes_lf_wherever_the_reads_fall() {
        let input = b"a,b\r\n\"x\r\ny\"\r\n\rlone\r\r\n\r";
        let expected = b"a,b\n\"x\ny\"\n\rlone\r\n\r";
        for step in 1..=input.len() {
            for out_len in [1, 2, 3, 64] {
                let mut reader = CrlfAsLf::new(Trickle { bytes: input, step });
                let mut read = Vec::new();
                let mut out = vec![0u8; out_len];
                loop {
                    let n = reader.read(&mut out).unwrap();
                    if n == 0 {
                        break;
                    }
                    read.extend_from_slice(&out[..n]);
                }
                assert_eq!(read, expected, "step {step}, buffer {out_len}");
            }
        }
    }
}
