//! `stop` sequences over streamed text: text is passed on as soon as it cannot be the start of
//! a stop sequence, and the reply ends, without the stop text, where one appears (even split
//! across tokens).

/// The scanner of one reply.
#[derive(Debug, Default)]
pub(crate) struct StopScan {
    stops: Vec<String>,
    /// Text not passed on yet: a suffix that may begin a stop sequence.
    held: String,
}

impl StopScan {
    /// A scanner for `stops` (empty strings are ignored).
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    /// Adds `piece`; returns the text that is now safe to pass on, and whether a stop
    /// sequence appeared (the text before it is returned; the rest is dropped).
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        self.held.push_str(piece);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = first_stop {
            let out = self.held[..at].to_owned();
            self.held.clear();
            return (out, true);
        }
        let keep = self.longest_partial_stop();
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_owned();
        self.held.drain(..cut);
        (out, false)
    }

    /// The text still held back, at the end of the reply.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of `held` that is a proper prefix of a stop sequence.
    fn longest_partial_stop(&self) -> usize {
        let held = self.held.as_str();
        (1..=held.len())
            .rev()
            .filter(|&n| held.is_char_boundary(held.len() - n))
            .find(|&n| {
                let suffix = &held[held.len() - n..];
                self.stops
                    .iter()
                    .any(|stop| stop.len() > n && stop.starts_with(suffix))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let mut scan = StopScan::new(stops.iter().map(|s| (*s).to_owned()).collect());
        let mut out = Vec::new();
        for piece in pieces {
            let (text, stopped) = scan.push(piece);
            out.push(text);
            if stopped {
                return (out, true, String::new());
            }
        }
        (out, false, scan.finish())
    }

    #[test]
    fn text_without_stops_passes_straight_through() {
        assert_eq!(
            run(&[], &["a", "bc"]),
            (vec!["a".into(), "bc".into()], false, String::new())
        );
    }

    #[test]
    fn a_stop_split_across_pieces_is_held_then_cut() {
        let (out, stopped, _) = run(&["END"], &["hello E", "N", "D more"]);
        assert_eq!(out, ["hello ", "", ""]);
        assert!(stopped);
    }

    #[test]
    fn a_false_start_is_released() {
        let (out, stopped, rest) = run(&["END"], &["x E", "Nx", "y E"]);
        assert_eq!(out, ["x ", "ENx", "y "]);
        assert!(!stopped);
        assert_eq!(rest, "E");
    }

    #[test]
    fn the_earliest_of_several_stops_wins_and_multibyte_text_is_safe() {
        let (out, stopped, _) = run(&["\n\n", "é!"], &["ab é", "! c\n\n"]);
        assert_eq!(out.concat(), "ab ");
        assert!(stopped);
        let (out, _, rest) = run(&["ü"], &["aé"]);
        assert_eq!((out.concat(), rest), ("aé".into(), String::new()));
    }
}
