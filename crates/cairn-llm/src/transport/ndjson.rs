//! Incremental newline-delimited JSON splitting (Ollama): one value per LF-terminated line,
//! blank lines skipped, a last line without LF still counts at end of input.

#[derive(Debug, Default)]
pub struct NdjsonDecoder {
    buf: Vec<u8>,
}

impl NdjsonDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Complete lines in these bytes (without the line ending), as raw bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                self.buf.extend_from_slice(&bytes[start..i]);
                let line = std::mem::take(&mut self.buf);
                push_line(line, &mut out);
                start = i + 1;
            }
        }
        self.buf.extend_from_slice(&bytes[start..]);
        out
    }

    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        push_line(std::mem::take(&mut self.buf), &mut out);
        out.pop()
    }
}

fn push_line(mut line: Vec<u8>, out: &mut Vec<Vec<u8>>) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.iter().any(|b| !b.is_ascii_whitespace()) {
        out.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_reads_and_skips_blank_lines() {
        let body = b"{\"a\":1}\n\n{\"b\":\"\xc3\xa9\"}\r\n{\"c\":3}";
        for cut in 1..body.len() {
            let mut d = NdjsonDecoder::new();
            let mut lines = d.feed(&body[..cut]);
            lines.extend(d.feed(&body[cut..]));
            lines.extend(d.finish());
            assert_eq!(lines.len(), 3, "cut {cut}");
            assert_eq!(lines[1], "{\"b\":\"\u{e9}\"}".as_bytes());
            assert_eq!(lines[2], b"{\"c\":3}");
        }
    }
}
