//! Incremental Server-Sent Events decoder (the WHATWG rules): events end at a blank line; lines
//! end in LF, CRLF or CR; `data:` lines join with LF; `:` lines are comments. Bytes can arrive
//! split anywhere, code points included, so only whole lines are decoded.

/// One dispatched event. `event` is `None` for the default type ("message").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// A CR ended the last line; an LF right after it belongs to the same line ending.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// A line that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        let mut input = bytes;
        if input.is_empty() {
            // An empty read says nothing about whether an LF follows a CR.
            return Ok(out);
        }
        if self.after_cr && input.first() == Some(&b'\n') {
            input = &input[1..];
        }
        self.after_cr = false;
        while let Some(end) = memchr::memchr2(b'\n', b'\r', input) {
            if self.buf.is_empty() {
                // The common case: a whole line inside this read, decoded in place.
                self.line(&input[..end], &mut out)?;
            } else {
                self.buf.extend_from_slice(&input[..end]);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, &mut out)?;
                self.buf = line;
                self.buf.clear();
            }
            let cr = input[end] == b'\r';
            input = &input[end + 1..];
            if cr {
                if input.first() == Some(&b'\n') {
                    input = &input[1..];
                } else if input.is_empty() {
                    self.after_cr = true;
                }
            }
        }
        self.buf.extend_from_slice(input);
        Ok(out)
    }

    /// At end of input: an event still being built is dispatched (servers that omit the last
    /// blank line), after which the caller checks for its end marker as usual.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, &mut out)?;
        }
        self.line(b"", &mut out)?;
        Ok(out.pop())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        let line = std::str::from_utf8(line)
            .map_err(|e| SseError(format!("a stream line is not UTF-8: {e}")))?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.find(':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields carry nothing we use
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.feed(c).unwrap());
        }
        out.extend(d.finish().unwrap());
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.into(),
        }
    }

    #[test]
    fn lf_crlf_and_cr_separators() {
        let want = vec![ev(None, "a"), ev(None, "b")];
        assert_eq!(all(&[b"data: a\n\ndata: b\n\n"]), want);
        assert_eq!(all(&[b"data: a\r\n\r\ndata: b\r\n\r\n"]), want);
        assert_eq!(all(&[b"data: a\r\rdata: b\r\r"]), want);
    }

    #[test]
    fn split_at_every_byte_gives_the_same_events() {
        let body = "event: message_start\r\ndata: {\"t\":\"h\u{e9}llo \u{1F600}\"}\r\n\r\n: keepalive\r\n\r\ndata: x\r\n\r\n";
        let whole = all(&[body.as_bytes()]);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[0].data, "{\"t\":\"h\u{e9}llo \u{1F600}\"}");
        for cut in 1..body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(all(&[a, b]), whole, "split at byte {cut}");
        }
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn comments_multiline_data_and_no_space() {
        let evs = all(&[b": comment\ndata:first\ndata: second\nid: 7\nretry: 10\n\n"]);
        assert_eq!(evs, vec![ev(None, "first\nsecond")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_type_resets() {
        let evs = all(&[b"event: ping\n\ndata: a\n\n"]);
        assert_eq!(evs, vec![ev(None, "a")]);
    }

    #[test]
    fn last_event_without_blank_line_is_dispatched_at_eof() {
        assert_eq!(all(&[b"data: [DONE]"]), vec![ev(None, "[DONE]")]);
        assert_eq!(all(&[b"data: a\n"]), vec![ev(None, "a")]);
    }

    #[test]
    fn an_empty_read_between_cr_and_lf_keeps_them_one_line_ending() {
        // Found by tests/prop_sse.rs: the empty read used to forget the CR, so the LF after it
        // ended a second, blank line and dispatched the event early.
        let whole = all(&[b"data: a\r\ndata: b\n\n"]);
        assert_eq!(whole, vec![ev(None, "a\nb")]);
        assert_eq!(all(&[b"data: a\r", b"", b"\ndata: b\n\n"]), whole);
    }

    #[test]
    fn invalid_utf8_line_is_an_error() {
        let mut d = SseDecoder::new();
        assert!(d.feed(b"data: \xff\xfe\n\n").is_err());
    }
}
