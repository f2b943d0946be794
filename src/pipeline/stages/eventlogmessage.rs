//! The `eventlogmessage` stage: splits a Windows event message (`Key: value` lines separated by
//! `\r\n`) into extracted values.

use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::mapstructure::{is_legacy_label_name, StructCfg};
use gocompat::yaml::Node;

/// The built stage.
pub struct EventLogMessageStage {
    source: String,
    drop_invalid_labels: bool,
    overwrite_existing: bool,
}

/// Replaces every rune that is not a legacy label-name character with `_`.
fn sanitize(key: &str) -> String {
    if key.is_empty() {
        return "_".into();
    }
    key.char_indices()
        .map(|(i, c)| {
            if c.is_ascii_alphabetic() || c == '_' || (c.is_ascii_digit() && i > 0) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Stage for EventLogMessageStage {
    fn name(&self) -> &'static str {
        "eventlogmessage"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let Some(v) = e.extracted.get(&self.source) else {
            out.push(e);
            return;
        };
        let Some(message) = v.to_go_string() else {
            tracing::warn!(source = %self.source, "eventlogmessage stage: source value is not a string; dropping the entry");
            return;
        };
        for piece in message.split("\r\n") {
            let Some((key, value)) = piece.split_once(':') else {
                tracing::warn!("eventlogmessage stage: line without a colon ignored");
                continue;
            };
            let mut key = if is_legacy_label_name(key) {
                key.to_string()
            } else if self.drop_invalid_labels {
                continue;
            } else {
                sanitize(key)
            };
            if !self.overwrite_existing && e.extracted.contains_key(&key) {
                key.push_str("_extracted");
            }
            e.extracted
                .insert(key, Value::Str(value.trim().to_string()));
        }
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "eventlogmessage",
        config,
        false,
        &["source", "drop_invalid_labels", "overwrite_existing"],
    )?;
    let source = cfg.string("source");
    let drop_invalid_labels = cfg.bool("drop_invalid_labels").unwrap_or(false);
    let overwrite_existing = cfg.bool("overwrite_existing").unwrap_or(false);
    cfg.finish()?;
    // An explicit empty source is validated (and rejected) like any other name.
    let source = source.unwrap_or_else(|| "message".to_string());
    if !is_legacy_label_name(&source) {
        return Err(format!("invalid label name: {source}"));
    }
    Ok(Box::new(EventLogMessageStage {
        source,
        drop_invalid_labels,
        overwrite_existing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn run(yaml: &str, extracted: &[(&str, Value)]) -> Option<Entry> {
        let mut s = stage(yaml).unwrap();
        let mut e = Entry::new(Labels::new(), 0, "l".into());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out.pop()
    }

    fn get<'a>(e: &'a Entry, k: &str) -> Option<&'a str> {
        e.extracted.get(k).and_then(|v| v.as_str())
    }

    #[test]
    fn splits_and_sanitises() {
        let msg = "Message type:\r\nA: 1\r\nA: 2\r\n  B c: x  \r\n:empty\r\nnocolon\r\né: u";
        let e = run("{}", &[("message", Value::Str(msg.into()))]).unwrap();
        assert_eq!(get(&e, "Message_type"), Some(""));
        assert_eq!(get(&e, "A"), Some("1"));
        assert_eq!(get(&e, "A_extracted"), Some("2"));
        assert_eq!(get(&e, "__B_c"), Some("x"));
        assert_eq!(get(&e, "_"), Some("empty"));
        assert_eq!(get(&e, "__extracted"), Some("u"));
    }

    #[test]
    fn overwrite_and_drop_invalid() {
        let e = run(
            "source: msg\noverwrite_existing: true\ndrop_invalid_labels: true\n",
            &[
                ("Level", Value::Str("Info".into())),
                (
                    "msg",
                    Value::Str("Level: Warning\r\nBad key: x\r\nGood: yes".into()),
                ),
            ],
        )
        .unwrap();
        assert_eq!(get(&e, "Level"), Some("Warning"));
        assert_eq!(get(&e, "Good"), Some("yes"));
        assert!(!e.extracted.contains_key("Bad_key"));
    }

    #[test]
    fn nil_source_drops_missing_keeps() {
        assert!(run("{}", &[("message", Value::Null)]).is_none());
        assert!(run("{}", &[]).is_some());
    }

    #[test]
    fn errors() {
        assert_eq!(
            stage("source: a-b\n").err().unwrap(),
            "invalid label name: a-b"
        );
        assert_eq!(stage("source: ''\n").err().unwrap(), "invalid label name: ");
        assert!(stage("source:\n").is_ok());
    }
}
