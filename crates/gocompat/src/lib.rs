//! The Go libraries Promtail 3.4.6 is built with, re-implemented in Rust where ferrotail must
//! behave as they do, byte for byte: same accepted input, same output, same error messages.
//!
//! | module | Go library (version vendored by Promtail 3.4.6) |
//! |---|---|
//! | [`yaml`] | `gopkg.in/yaml.v2` v2.4.0: YAML 1.1 scalars, merge keys, strict decoding errors |
//! | [`mapstructure`] | `github.com/mitchellh/mapstructure` v1.5.0: stage-config decoding and its errors |
//! | [`units`] | `time.ParseDuration` (Go 1.23), Prometheus `model.Duration`, `flagext.ByteSize` (`c2h5oh/datasize`) |
//! | [`strconv`] | Go's `strconv.Quote` and `FormatFloat(f, 'f', -1, 64)` |
//! | [`time`] | Go's `time` layouts (`Parse`, `ParseInLocation`, `Format`), RFC 3339, `Duration.String` |
//! | [`regex`] | Go's `regexp` (RE2 syntax) translated to the `regex` crate's dialect |
//! | [`json`] | `github.com/json-iterator/go` v1.1.12 as Promtail configures it (acceptance and formatting) |
//! | [`jsonlog`] | Docker's `jsonlog.JSONLog` line (`{"log":…,"stream":…,"time":…}`) as `encoding/json` reads it |
//! | [`jmespath`] | `github.com/jmespath/go-jmespath` v0.4.0 |
//! | [`template`] | `text/template` (Go 1.23) with `github.com/Masterminds/sprig/v3` v3.3.0 |
//! | [`logql`] | the `match` stage's selector grammar (`clients/pkg/logentry/logql`) |
//!
//! Nothing here knows ferrotail's types: the crate is the Go side of the compatibility line.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod jmespath;
pub mod json;
pub mod jsonlog;
pub mod logql;
pub mod mapstructure;
pub mod regex;
pub mod strconv;
pub mod template;
pub mod time;
pub mod units;
pub mod yaml;
