//! Stop strings over streamed text: text that may still turn out to start a stop string is
//! held back, so the sink never sees any part of a stop string.

/// Filters streamed text pieces against a set of stop strings.
#[derive(Debug)]
pub(super) struct StopFilter<'a> {
    stops: &'a [String],
    /// Text received but not yet released: a possible prefix of a stop string.
    held: String,
}

/// What the filter made of one piece.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Filtered {
    /// Text safe to release to the sink now.
    pub release: String,
    /// Whether a stop string was completed (everything from it on is dropped).
    pub stopped: bool,
}

impl<'a> StopFilter<'a> {
    /// A filter for `stops` (empty strings are ignored).
    pub fn new(stops: &'a [String]) -> Self {
        StopFilter {
            stops,
            held: String::new(),
        }
    }

    /// Feeds one decoded piece.
    pub fn push(&mut self, piece: &str) -> Filtered {
        self.held.push_str(piece);
        let first_stop = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let release = self.held[..at].to_owned();
            self.held.clear();
            return Filtered {
                release,
                stopped: true,
            };
        }
        // Keep the longest suffix of `held` that is a proper prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let release = self.held[..cut].to_owned();
        self.held.drain(..cut);
        Filtered {
            release,
            stopped: false,
        }
    }

    /// Releases whatever is held (generation ended without completing a stop string).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length in bytes of the longest suffix of `text` that is a proper prefix of `stop`,
/// cut at a character boundary of `text`.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && stop.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut f = StopFilter::new(&stops);
        let mut out = String::new();
        for p in pieces {
            let r = f.push(p);
            out += &r.release;
            if r.stopped {
                return (out, true);
            }
        }
        out += &f.finish();
        (out, false)
    }

    #[test]
    fn stop_split_across_pieces_is_never_released() {
        assert_eq!(
            run(&["User:"], &["Hi", " Us", "er", ": x"]),
            ("Hi ".into(), true)
        );
    }

    #[test]
    fn false_alarm_is_released_in_full() {
        assert_eq!(
            run(&["User:"], &["Us", "e", "d it"]),
            ("Used it".into(), false)
        );
    }

    #[test]
    fn earliest_of_several_stops_wins_and_multibyte_text_is_safe() {
        assert_eq!(run(&["é!", "b"], &["aé", "!b"]), ("a".into(), true));
        assert_eq!(run(&["xyz"], &["日本", "x"]), ("日本x".into(), false));
    }

    #[test]
    fn no_stops_release_everything() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }
}
