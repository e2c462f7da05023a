//! BIRD 2's control-socket protocol, parsed without I/O.
//!
//! BIRD answers every command with numbered lines: `NNNN-text` continues a reply,
//! `NNNN text` ends it, and a line starting with a space continues the previous line's
//! code. Codes `0xxx` report actions (`0009 disabled`, `0011 enabled`, `0000` done),
//! `1xxx` are table rows, `2xxx` table headers, `8xxx` run-time errors (`8003 No
//! protocols match`) and `9xxx` parse errors (`9001 syntax error`). The greeting is
//! `0001 BIRD 2.0.12 ready.`. The tests below use transcripts captured from BIRD 2.0.12.
//!
//! Kept apart from the socket so the parser is tested on those transcripts and never
//! panics on whatever arrives.

/// One line of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    pub code: u16,
    pub text: String,
}

/// A complete reply: every line up to and including the final one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub lines: Vec<ReplyLine>,
}

/// Assembles lines into replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    lines: Vec<ReplyLine>,
    last_code: Option<u16>,
}

/// A line that is not BIRD's control protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a BIRD control-protocol line: {0:?}")]
pub struct BadLine(pub String);

/// What `enable` or `disable` did to one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    /// It changed (`0011 enabled` / `0009 disabled`).
    Changed,
    /// It already was so (`0010 already enabled` / `0008 already disabled`).
    Already,
}

/// A row of `show protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolStatus {
    pub name: String,
    /// `Static`, `BGP`, `Device`, ...
    pub proto: String,
    pub table: String,
    /// `up`, `down`, `start`, `stop`, ...
    pub state: String,
    /// What follows the `Since` column (e.g. `Established`, `Active`), often empty.
    pub info: String,
}

/// Maximum number of lines accepted in one reply (a `show route` of a full table is
/// far longer than anything this client asks for).
pub const MAX_REPLY_LINES: usize = 100_000;

// === impl Reply ===

impl Reply {
    /// The code of the final line (0 for an empty reply).
    pub fn code(&self) -> u16 {
        self.lines.last().map_or(0, |l| l.code)
    }

    /// The first line with an error code (8xxx run-time, 9xxx parse), if any.
    pub fn error(&self) -> Option<&ReplyLine> {
        self.lines.iter().find(|l| l.code >= 8000)
    }

    /// The text of the final line.
    pub fn text(&self) -> &str {
        self.lines.last().map_or("", |l| l.text.as_str())
    }

    /// The version from the greeting `0001 BIRD 2.0.12 ready.`.
    pub fn greeting_version(&self) -> Option<&str> {
        let line = self.lines.last()?;
        if line.code != 1 {
            return None;
        }
        let rest = line.text.strip_prefix("BIRD ")?;
        Some(rest.strip_suffix(" ready.").unwrap_or(rest))
    }

    /// The result of `enable NAME` / `disable NAME` for `name`: `0011`/`0009` changed,
    /// `0010`/`0008` already so. `None` when the reply says nothing about `name`.
    pub fn toggle(&self, name: &str) -> Option<Toggle> {
        self.lines.iter().find_map(|l| {
            let subject = l.text.split(':').next()?;
            if subject != name {
                return None;
            }
            match l.code {
                9 | 11 => Some(Toggle::Changed),
                8 | 10 => Some(Toggle::Already),
                _ => None,
            }
        })
    }

    /// The rows of a `show protocols` reply (code 1002 and its continuation lines).
    pub fn protocols(&self) -> Vec<ProtocolStatus> {
        self.lines
            .iter()
            .filter(|l| l.code == 1002)
            .filter_map(|l| ProtocolStatus::parse(&l.text))
            .collect()
    }
}

// === impl ReplyParser ===

impl ReplyParser {
    /// Feeds one line (without its newline); returns the reply once its final line came.
    pub fn push_line(&mut self, line: &str) -> Result<Option<Reply>, BadLine> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix(' ') {
            let code = self.last_code.ok_or_else(|| BadLine(line.to_owned()))?;
            return self.add(code, rest, false, line);
        }
        let bytes = line.as_bytes();
        if bytes.len() < 4 || !bytes[..4].iter().all(u8::is_ascii_digit) {
            return Err(BadLine(line.to_owned()));
        }
        let code: u16 = line[..4].parse().map_err(|_| BadLine(line.to_owned()))?;
        match bytes.get(4) {
            Some(b'-') => self.add(code, &line[5..], false, line),
            Some(b' ') => self.add(code, &line[5..], true, line),
            None => self.add(code, "", true, line),
            Some(_) => Err(BadLine(line.to_owned())),
        }
    }

    fn add(
        &mut self,
        code: u16,
        text: &str,
        last: bool,
        raw: &str,
    ) -> Result<Option<Reply>, BadLine> {
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(BadLine(format!(
                "reply longer than {MAX_REPLY_LINES} lines: {raw}"
            )));
        }
        self.lines.push(ReplyLine {
            code,
            text: text.to_owned(),
        });
        self.last_code = Some(code);
        if !last {
            return Ok(None);
        }
        self.last_code = None;
        Ok(Some(Reply {
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

// === impl ProtocolStatus ===

impl ProtocolStatus {
    /// Parses `vip_web    Static     master4    up     23:02:23.482  Info...`.
    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let name = words.next()?.to_owned();
        let proto = words.next()?.to_owned();
        let table = words.next()?.to_owned();
        let state = words.next()?.to_owned();
        // `Since` is one word (`23:02:23.482`) or two (`2026-11-27 23:02:23`) depending
        // on BIRD's `timeformat protocol`; the info column follows it.
        let rest: Vec<&str> = words.collect();
        let skip = match rest.first() {
            Some(d) if d.len() == 10 && d.as_bytes().get(4) == Some(&b'-') => 2,
            Some(_) => 1,
            None => 0,
        };
        let info = rest.get(skip..).unwrap_or(&[]).join(" ");
        Some(ProtocolStatus {
            name,
            proto,
            table,
            state,
            info,
        })
    }

    /// Whether the protocol is enabled: a disabled (or stopping) protocol shows `down`
    /// (or `stop`); an enabled one `up`, or `start` while a BGP session is connecting.
    pub fn enabled(&self) -> bool {
        !matches!(self.state.as_str(), "down" | "stop" | "flush")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds a transcript (as read off the socket) and returns its replies.
    fn replies(transcript: &str) -> Vec<Reply> {
        let mut p = ReplyParser::default();
        transcript
            .lines()
            .filter_map(|l| p.push_line(l).expect("a BIRD line"))
            .collect()
    }

    fn one(transcript: &str) -> Reply {
        let mut all = replies(transcript);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn greeting_gives_the_version() {
        let r = one("0001 BIRD 2.0.12 ready.\n");
        assert_eq!(r.greeting_version(), Some("2.0.12"));
        assert_eq!(one("0000 \n").greeting_version(), None);
    }

    #[test]
    fn enable_and_disable_replies() {
        let r = one("0009-vip_web: disabled\n0000 \n");
        assert_eq!(r.code(), 0);
        assert_eq!(r.toggle("vip_web"), Some(Toggle::Changed));
        assert_eq!(r.error(), None);
        let r = one("0008-vip_web: already disabled\n0000 \n");
        assert_eq!(r.toggle("vip_web"), Some(Toggle::Already));
        assert_eq!(
            one("0011-vip_web: enabled\n0000 \n").toggle("vip_web"),
            Some(Toggle::Changed)
        );
        let r = one("0010-vip_web: already enabled\n0000 \n");
        assert_eq!(r.toggle("vip_web"), Some(Toggle::Already));
        assert_eq!(
            r.toggle("vip"),
            None,
            "another protocol's line says nothing about vip"
        );
    }

    #[test]
    fn errors_are_found() {
        let r = one("8003 No protocols match\n");
        assert_eq!(r.error().map(|l| l.code), Some(8003));
        assert_eq!(r.text(), "No protocols match");
        let r = one("9001 syntax error, unexpected CF_SYM_UNDEFINED\n");
        assert_eq!(r.error().map(|l| l.code), Some(9001));
    }

    #[test]
    fn show_protocols_rows() {
        let r = one(concat!(
            "2002-Name       Proto      Table      State  Since         Info\n",
            "1002-device1    Device     ---        up     23:02:23.482  \n",
            " vip_web    Static     master4    up     23:02:26.454  \n",
            " vip_off    Static     master4    down   23:02:23.482  \n",
            " bgp_router BGP        ---        start  23:02:23.482  Active        Socket: Connection refused\n",
            "0000 \n"
        ));
        let rows = r.protocols();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].name, "vip_web");
        assert_eq!(rows[1].proto, "Static");
        assert_eq!(rows[1].table, "master4");
        assert!(rows[1].enabled());
        assert!(!rows[2].enabled());
        assert_eq!(rows[3].state, "start");
        assert!(rows[3].enabled());
        assert_eq!(rows[3].info, "Active Socket: Connection refused");
    }

    #[test]
    fn show_protocols_with_iso_long_times() {
        let r = one(concat!(
            "2002-Name       Proto      Table      State  Since         Info\n",
            "1002-r1         BGP        ---        up     2026-11-27 23:02:23  Established   \n",
            "0000 \n"
        ));
        assert_eq!(r.protocols()[0].info, "Established");
    }

    #[test]
    fn show_protocols_all_continuation_lines_are_not_rows() {
        let r = one(concat!(
            "2002-Name       Proto      Table      State  Since         Info\n",
            "1002-vip_web    Static     master4    up     23:02:26.454  \n",
            "1006-  Channel ipv4\n",
            "     State:          UP\n",
            "     Routes:         1 imported, 0 exported, 1 preferred\n",
            " \n",
            "0000 \n"
        ));
        let rows = r.protocols();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "vip_web");
    }

    #[test]
    fn several_replies_in_one_read() {
        let all =
            replies("0001 BIRD 2.0.12 ready.\n0011-a: enabled\n0000 \n8003 No protocols match\n");
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].code(), 8003);
    }

    #[test]
    fn rejects_what_is_not_the_protocol() {
        let mut p = ReplyParser::default();
        assert!(p.push_line("HTTP/1.1 200 OK").is_err());
        assert!(p.push_line(" continuation without a line").is_err());
        assert!(p.push_line("12").is_err());
        assert!(p.push_line("0000x").is_err());
        assert_eq!(
            p.push_line("0000")
                .expect("bare final line")
                .map(|r| r.code()),
            Some(0)
        );
    }

    proptest! {
        /// Whatever arrives, the parser answers without panicking.
        #[test]
        fn parser_never_panics(lines in proptest::collection::vec(".{0,40}", 0..20)) {
            let mut p = ReplyParser::default();
            for l in &lines {
                if let Ok(Some(r)) = p.push_line(l) {
                    let _ = (r.protocols(), r.toggle("x"), r.greeting_version(), r.error());
                }
            }
        }
    }
}
