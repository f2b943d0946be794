//! The `decolorize` stage: removes ANSI escape sequences from the line (Loki's `ansiPattern`).

use std::borrow::Cow;

use regex::Regex;

use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::regex::GoRegex;
use gocompat::yaml::Node;

/// acarl005/stripansi's pattern as Loki uses it, in Go syntax.
const ANSI_PATTERN: &str = r"[\x{1B}\x{9B}][[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x{07})|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))";

/// The built stage.
pub struct DecolorizeStage {
    re: Regex,
}

impl Stage for DecolorizeStage {
    fn name(&self) -> &'static str {
        "decolorize"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        if e.line.contains(['\u{1b}', '\u{9b}']) {
            if let Cow::Owned(s) = self.re.replace_all(&e.line, "") {
                e.line = s;
            }
        }
        out.push(e);
    }
}

/// Builds the stage; any config is ignored.
pub fn build(_ctx: &mut BuildCtx, _config: &Node) -> Result<Box<dyn Stage>, String> {
    let re = GoRegex::new(ANSI_PATTERN)?;
    Ok(Box::new(DecolorizeStage { re: re.regex }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;
    use gocompat::yaml::parse;

    #[test]
    fn strips_escapes() {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        let mut s = build(&mut ctx, &parse("{}").unwrap()).unwrap();
        let cases = [
            ("\x1b[31mred\x1b[0m", "red"),
            ("\x1b]0;title\x07text", "text"),
            ("\x1b[38;5;196mX\x1b[m", "X"),
            ("\x1b(Bq", "q"),
            ("a\x1b[?25lb", "ab"),
            ("\u{9b}31mC1 CSI", "C1 CSI"),
            ("plain [31m text", "plain [31m text"),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            s.process(Entry::new(Labels::new(), 0, input.into()), &mut out);
            assert_eq!(out[0].line, want, "{input:?}");
        }
    }
}
