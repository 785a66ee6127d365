//! Splits a server-sent-event byte stream into the `data` of each event (the WHATWG event-stream
//! grammar: LF, CRLF or CR line ends, `:` comments, several `data` lines joined by LF, other
//! fields ignored). A one-line event's data is a slice of the received bytes, not a copy.

use bytes::{Buf, Bytes, BytesMut};

/// Longest event accepted: an upstream that never ends a line must not grow our memory without
/// bound.
pub(crate) const MAX_EVENT_BYTES: usize = 8 << 20;

/// Incremental event splitter: [`push`](Self::push) bytes as they arrive, then take events with
/// [`next_event`](Self::next_event) until it says it needs more.
#[derive(Debug, Default)]
pub(crate) struct SseSplitter {
    /// Received bytes not yet split into lines.
    pending: BytesMut,
    /// How much of `pending` is known to hold no line end (so a long line arriving in many
    /// reads is scanned once, not once per read).
    scanned: usize,
    /// `data` lines of the event being read.
    data: Vec<Bytes>,
    /// Bytes held in `data`.
    data_len: usize,
}

/// What the splitter found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// The data of one whole event.
    Event(Bytes),
    /// Every complete event has been taken; push more bytes.
    NeedMore,
    /// The event being read is over [`MAX_EVENT_BYTES`].
    TooLong,
}

impl SseSplitter {
    /// Adds received bytes.
    pub(crate) fn push(&mut self, bytes: Bytes) {
        if self.pending.is_empty() {
            // The usual case: the last read ended on a line end. Take the received buffer over
            // instead of copying it (free when nobody else holds it).
            self.pending = BytesMut::from(bytes);
        } else {
            self.pending.extend_from_slice(&bytes);
        }
    }

    /// The next complete event's data (events without data are skipped).
    pub(crate) fn next_event(&mut self) -> Split {
        while let Some(line) = self.next_line() {
            if line.is_empty() {
                if let Some(data) = self.take_data() {
                    return Split::Event(data);
                }
                continue;
            }
            let (field, value) = match memchr::memchr(b':', &line) {
                // A comment (keep-alive pings are sent this way).
                Some(0) => continue,
                Some(colon) => {
                    let skip = usize::from(line.get(colon + 1) == Some(&b' '));
                    (line.slice(..colon), line.slice(colon + 1 + skip..))
                }
                None => (line.clone(), Bytes::new()),
            };
            if field == "data" {
                self.data_len += value.len() + 1;
                self.data.push(value);
            }
        }
        if self.pending.len() + self.data_len > MAX_EVENT_BYTES {
            Split::TooLong
        } else {
            Split::NeedMore
        }
    }

    /// Splits off the next whole line, without its end; `None` until one is complete. A CR at
    /// the very end waits for the next bytes, which may hold its LF.
    fn next_line(&mut self) -> Option<Bytes> {
        let Some(found) = memchr::memchr2(b'\n', b'\r', &self.pending[self.scanned..]) else {
            self.scanned = self.pending.len();
            return None;
        };
        let end = self.scanned + found;
        let eol = match (self.pending[end], self.pending.get(end + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) => {
                self.scanned = end;
                return None;
            }
            _ => 1,
        };
        self.scanned = 0;
        let line = self.pending.split_to(end).freeze();
        self.pending.advance(eol);
        Some(line)
    }

    /// The data of the event just ended, lines joined by LF; `None` if it had none.
    fn take_data(&mut self) -> Option<Bytes> {
        self.data_len = 0;
        match self.data.len() {
            0 => None,
            1 => self.data.pop(),
            _ => {
                let joined = self.data.join(&b'\n');
                self.data.clear();
                Some(Bytes::from(joined))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<String> {
        let mut sse = SseSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            sse.push(Bytes::copy_from_slice(chunk.as_bytes()));
            while let Split::Event(data) = sse.next_event() {
                out.push(String::from_utf8(data.to_vec()).unwrap());
            }
        }
        out
    }

    #[test]
    fn events_split_on_blank_lines_with_any_line_end() {
        assert_eq!(
            events(&["data: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\ndata: c\r\rdata: [DONE]\n\n"]),
            ["{\"a\":1}", "{\"b\":2}", "c", "[DONE]"]
        );
    }

    #[test]
    fn events_cut_anywhere_between_reads_come_out_whole() {
        let stream = "data: {\"x\": \"one\"}\r\n\r\n: ping\n\nevent: x\nid: 3\ndata: two\n\n";
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(events(&[a, b]), ["{\"x\": \"one\"}", "two"], "cut at {cut}");
        }
    }

    #[test]
    fn multi_line_data_is_joined_and_dataless_events_are_skipped() {
        assert_eq!(
            events(&["data: a\ndata\ndata: b\n\n", "event: ping\n\n", ": c\n\n"]),
            ["a\n\nb"]
        );
        // Not ended by a blank line: not an event (yet).
        assert!(events(&["data: half"]).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused_at_the_cap() {
        let mut sse = SseSplitter::default();
        let block = vec![b'x'; 1 << 20];
        sse.push(Bytes::from_static(b"data: "));
        let mut outcome = Split::NeedMore;
        for _ in 0..=MAX_EVENT_BYTES >> 20 {
            sse.push(Bytes::copy_from_slice(&block));
            outcome = sse.next_event();
        }
        assert_eq!(outcome, Split::TooLong);
    }
}
