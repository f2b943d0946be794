//! A Go `text/template` engine with sprig v3.3.0 and Promtail's template functions, as the
//! `template` and `replace` stages use it.
//!
//! This module owns template parsing ([`Template::parse`], with Go's error messages such as
//! `template: pipeline_template:1: unclosed action`), execution with Go's semantics (`<no value>`
//! for missing keys, Go `fmt` printing, argument type checks) and the function map. Templates are
//! parsed once; executing one per line only allocates the output and the values it computes.
//!
//! Known gaps: sprig's certificate, bcrypt, htpasswd, derivePassword and AES functions are defined
//! (so templates that mention them parse) but fail when executed; `semver` returns a map of the
//! version's parts (`.Major`, `.Minor`, `.Patch`, `.Prerelease`, `.Metadata`, `.Original`) rather
//! than a `*semver.Version`; `keys`/`values` return sorted output where Go returns map order.

mod exec;
pub mod funcs;
mod parse;
pub mod semver;
pub mod value;

use std::collections::BTreeMap;

pub use exec::DataSource;
pub use value::Val;

/// A parsed template, ready to execute.
pub struct Template {
    trees: parse::Trees,
    env: funcs::Env,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Template")
    }
}

impl Template {
    /// Parses `text` as template `name`. Errors read like Go's, e.g.
    /// `template: pipeline_template:1: function "x" not defined`.
    pub fn parse(name: &str, text: &str) -> Result<Template, String> {
        Ok(Template {
            trees: parse::parse(name, text)?,
            env: funcs::Env::default(),
        })
    }

    /// Executes the template against `data`. An error means Go's `Execute` failed (the stages
    /// then leave the entry unchanged).
    pub fn execute(&mut self, data: &dyn DataSource) -> Result<String, String> {
        let mut ex = exec::Exec {
            trees: &self.trees,
            data,
            env: &mut self.env,
            vars: Vec::new(),
            out: String::new(),
            depth: 0,
        };
        ex.run()?;
        Ok(ex.out)
    }
}

/// A `map[string]string` root, as the replace stage and tests use.
pub struct StrMap<'a>(pub &'a BTreeMap<String, String>);

impl DataSource for StrMap<'_> {
    fn get(&self, key: &str) -> Option<Val> {
        self.0.get(key).map(|v| Val::Str(v.clone()))
    }
    fn all(&self) -> BTreeMap<String, Val> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
            .collect()
    }
    fn str_elems(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, data: &[(&str, &str)]) -> Result<String, String> {
        let m: BTreeMap<String, String> = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Template::parse("pipeline_template", t)?.execute(&StrMap(&m))
    }

    fn ok(t: &str, data: &[(&str, &str)]) -> String {
        run(t, data).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn promtail_documented_examples() {
        let d = [("app", "Loki"), ("Value", "  hello  "), ("level", "WARN")];
        let cases = [
            ("{{ ToUpper .app }}", "LOKI"),
            ("{{ ToLower .app }}", "loki"),
            ("{{ .app | ToUpper }}", "LOKI"),
            ("{{ Replace .app \"o\" \"0\" -1 }}", "L0ki"),
            ("{{ Trim .Value \" \" }}", "hello"),
            ("{{ TrimSpace .Value }}", "hello"),
            ("{{ TrimLeft \"xxhi\" \"x\" }}", "hi"),
            ("{{ TrimRight \"hixx\" \"x\" }}", "hi"),
            ("{{ TrimPrefix .app \"Lo\" }}", "ki"),
            ("{{ TrimSuffix .app \"ki\" }}", "Lo"),
            (
                "{{ if eq .level \"WARN\" }}{{ Replace .level \"WARN\" \"OK\" -1 }}{{ else }}{{ .level }}{{ end }}",
                "OK",
            ),
            (
                "{{ regexReplaceAll \"(a|b)\" \"abc\" \"${1}x\" }}",
                "axbxc",
            ),
            (
                "{{ regexReplaceAllLiteral \"(a|b)\" \"abc\" \"$1\" }}",
                "$1$1c",
            ),
            (
                "{{ Hash \"41\" \"salt\" }}",
                "642f1f1c35027b8850808203bc9bd557fbd73f3c64d972f4015ac43f0b766372",
            ),
            (
                "{{ Sha2Hash \"41\" \"salt\" }}",
                "141e430ee3c719f86b934219baba1d33a4b5ad99d3c5d4b4c8ff69202d13416d",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(ok(t, &d), want, "{t}");
        }
    }

    #[test]
    fn go_template_semantics() {
        let d = [("a", "x"), ("b", "y"), ("list", "p,q,r"), ("n", "41")];
        let cases = [
            ("[{{ .missing }}]", "[<no value>]"),
            ("{{ default \"d\" .missing }}", "d"),
            ("{{- \"a\" }}  {{- \"b\" -}}  c", "abc"),
            ("{{ if and (eq .a \"x\") (ne .b \"x\") }}A{{ else }}B{{ end }}", "A"),
            ("{{ if eq .a \"q\" \"x\" }}multi{{ end }}", "multi"),
            (
                "{{ range $i, $e := splitList \",\" .list }}{{ if $i }};{{ end }}{{ $i }}={{ $e }}{{ end }}",
                "0=p;1=q;2=r",
            ),
            ("{{ range splitList \",\" \"\" }}x{{ else }}empty{{ end }}", "x"),
            ("{{ range $x := list }}x{{ else }}empty{{ end }}", "empty"),
            ("{{ with .nokey }}has{{ else }}none{{ end }}", "none"),
            ("{{ with .a }}{{ . }}{{ end }}", "x"),
            ("{{ $v := \"z\" }}{{ $v }}{{ $v = \"w\" }}{{ $v }}", "zw"),
            ("{{ len .list }}|{{ not true }}|{{ or \"\" \"alt\" }}|{{ lt 1 2 }}", "5|false|alt|true"),
            ("{{ index (split \",\" .list) \"_1\" }}", "q"),
            ("{{ toJson (dict \"z\" .a \"a\" .b \"n\" 1) }}", r#"{"a":"y","n":1,"z":"x"}"#),
            ("{{ (fromJson \"{\\\"k\\\":[1,2]}\").k }}", "[1 2]"),
            ("{{ list 1 \"two\" 3.5 }}", "[1 two 3.5]"),
            ("{{ printf \"%05d\" .n }}", "%!d(string=00041)"),
            ("{{ printf \"%05d\" 41 }}", "00041"),
            ("{{ print 1 2 \"a\" 3 }}", "1 2a3"),
            ("{{ println \"a\" 1 }}", "a 1\n"),
            ("{{ html \"<a href='x'>\" }}", "&lt;a href=&#39;x&#39;&gt;"),
            ("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
            ("{{ urlquery \"a b&c\" }}", "a+b%26c"),
            ("{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" .a }}", "[x]"),
            ("{{ block \"b\" .b }}<{{ . }}>{{ end }}", "<y>"),
            ("{{ range $i, $e := list 1 2 3 4 }}{{ if eq $e 3 }}{{ break }}{{ end }}{{ $e }}{{ end }}", "12"),
            ("{{ range list 1 2 3 }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "13"),
            ("{{ index \"abc\" 1 }}", "98"),
            ("{{/* comment */}}x{{- /* c */ -}} y", "xy"),
            ("{{ 'a' }} {{ 1.5 }} {{ 0x10 }} {{ print nil }}", "97 1.5 16 <nil>"),
            ("{{ ge 2 2 }} {{ gt \"b\" \"a\" }} {{ le 1.5 1.5 }}", "true true true"),
            ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ];
        for (t, want) in cases {
            assert_eq!(ok(t, &d), want, "{t}");
        }
    }

    /// The regex functions read patterns as Go's `regexp` does: the cases where the regex crate
    /// alone answers differently.
    #[test]
    fn regex_functions_read_patterns_as_go() {
        for (t, want) in [
            ("{{ regexMatch `^\\d+$` .a }}", "false"),
            ("{{ regexFind `\\w+` .a }}", "x"),
            ("{{ regexFindAll `a*` \"baaac\" -1 }}", "[ aaa ]"),
            ("{{ regexSplit `a*` \"baaac\" -1 }}", "[b c]"),
            (
                "{{ regexReplaceAll `(?P<d>\\d)` \"a1٢\" \"<$d>\" }}",
                "a<1>٢",
            ),
            (
                "{{ regexReplaceAll `(?P<k>x)(?P<k>y)?` \"x\" \"$k\" }}",
                "x",
            ),
            ("{{ regexReplaceAll `a*` \"baaac\" \"-\" }}", "-b-c-"),
            (
                "{{ regexReplaceAllLiteral `\\s` \"a\u{a0}b c\" \"$1\" }}",
                "a\u{a0}b$1c",
            ),
            ("{{ regexMatch `^{\"a\"` \"{\\\"a\\\"\" }}", "true"),
            ("{{ regexMatch `\\Qa.b\\E` \"axb\" }}", "false"),
            ("{{ mustRegexMatch `x\\b` \"xé\" }}", "true"),
        ] {
            assert_eq!(ok(t, &[("a", "x٣")]), want, "{t}");
        }
        let e = run("{{ regexReplaceAll `\\q` \"x\" \"y\" }}", &[]).unwrap_err();
        assert!(
            e.contains("error parsing regexp: invalid escape sequence: `\\q`"),
            "{e}"
        );
    }

    #[test]
    fn execution_errors() {
        for t in [
            "{{ ToLower .nokey }}",
            "{{ eq .a 1 }}",
            "{{ regexReplaceAll \"(\" \"x\" \"y\" }}",
            "{{ substr 5 1 \"ab\" }}",
            "{{ div 1 0 }}",
            "{{ .a.b }}",
            "{{ fail \"boom\" }}",
            "{{ ToUpper 1 }}",
            "{{ index (list 1) 5 }}",
        ] {
            assert!(run(t, &[("a", "x")]).is_err(), "{t}");
        }
    }

    #[test]
    fn sprig_functions() {
        let d = [
            ("s", "hello world"),
            ("num", "41"),
            ("f", "1.5"),
            ("ts", "2024-05-01T12:30:00+02:00"),
        ];
        let cases = [
            ("{{ trunc 5 .s }}|{{ trunc -3 .s }}|{{ substr 1 4 .s }}", "hello|rld|ell"),
            ("{{ repeat 2 \"ab\" }}|{{ title \"hello world\" }}|{{ upper .s }}", "abab|Hello World|HELLO WORLD"),
            ("{{ replace \"o\" \"0\" .s }}|{{ contains \"wor\" .s }}|{{ hasPrefix \"hel\" .s }}", "hell0 w0rld|true|true"),
            ("{{ quote \"q\" }}|{{ squote \"s\" }}|{{ nospace \"a b c\" }}|{{ abbrev 8 .s }}", "\"q\"|'s'|abc|hello..."),
            ("{{ initials \"foo bar\" }}|{{ snakecase \"FooBar\" }}|{{ camelcase \"foo_bar\" }}|{{ kebabcase \"FooBar\" }}", "fb|foo_bar|FooBar|foo-bar"),
            ("{{ swapcase \"aBc\" }}|{{ untitle \"Foo Bar\" }}|{{ cat \"a\" \"b\" 3 }}|{{ trim \"  t  \" }}", "AbC|foo bar|a b 3|t"),
            ("{{ trimAll \"$\" \"$5$\" }}|{{ trimPrefix \"he\" .s }}|{{ trimSuffix \"ld\" .s }}|{{ plural \"one\" \"many\" 2 }}", "5|llo world|hello wor|many"),
            ("{{ join \"+\" (splitList \" \" .s) }}|{{ join \",\" (list \"c\" \"a\" \"b\" | sortAlpha) }}", "hello+world|a,b,c"),
            ("{{ wrapWith 5 \"\\t\" \"1234567890\" }}", "12345\t67890"),
            ("{{ add .num 1 }}|{{ sub .num 1 }}|{{ mul .num 2 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ max 3 9 4 }}|{{ min 3 9 4 }}", "42|40|82|3|1|9|3"),
            ("{{ addf .f 1 }}|{{ mulf .f 2 }}|{{ divf 1 4 }}|{{ round 3.14159 2 }}|{{ ceil 1.2 }}|{{ floor 1.8 }}", "2.5|3|0.25|3.14|2|1"),
            ("{{ atoi \"12x\" }}|{{ int64 .num }}|{{ printf \"%T\" .num }}|{{ printf \"%q\" .f }}|{{ len .num }}|{{ add1 .num }}", "0|41|string|\"1.5\"|2|42"),
            ("{{ sha256sum \"41\" }}", "3d914f9348c9cc0ff8a79716700b9fcd4d2f3e711608004eb8f138bcba7f14d9"),
            ("{{ sha1sum \"41\" }} {{ adler32sum \"41\" }} {{ b64enc \"41\" }} {{ b32enc \"41\" }} {{ b64dec \"aGk=\" }}", "761f22b2c1593d0bb87e0b606f990ba4974706de 10158182 NDE= GQYQ==== hi"),
            ("{{ regexFind `\\d+` \"a 123 b 45\" }}|{{ regexMatch `^a` \"abc\" }}|{{ regexFindAll `\\d` \"1a2\" -1 }}|{{ regexSplit `@` \"a@b\" -1 }}|{{ regexQuoteMeta \"a.b\" }}", "123|true|[1 2]|[a b]|a\\.b"),
            ("{{ (toDate \"2006-01-02T15:04:05Z07:00\" .ts) | unixEpoch }}", "1714559400"),
            ("{{ dateInZone \"2006-01-02 15:04 MST\" (toDate \"2006-01-02T15:04:05Z07:00\" .ts) \"America/New_York\" }}", "2024-05-01 06:30 EDT"),
            ("{{ duration 3661 }}|{{ duration \"3661\" }}|{{ (toDate \"2006-01-02\" \"2024-02-29\").Weekday }}", "0s|1h1m1s|Thursday"),
            ("{{ ternary \"yes\" \"no\" true }}|{{ coalesce \"\" \"b\" }}|{{ empty \"\" }}|{{ typeOf 1 }}|{{ kindOf (list) }}", "yes|b|true|int|slice"),
            ("{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ toJson $d }}|{{ hasKey $d \"b\" }}|{{ keys $d }}", "{\"a\":1,\"b\":2}|true|[a b]"),
            ("{{ first (list 1 2) }}{{ last (list 1 2) }}{{ rest (list 1 2 3) }}{{ initial (list 1 2 3) }}{{ reverse (list 1 2) }}{{ uniq (list 1 1 2) }}", "12[2 3][1 2][2 1][1 2]"),
            ("{{ without (list 1 2 3) 2 }}|{{ has 2 (list 1 2) }}|{{ slice (list 1 2 3) 1 }}|{{ concat (list 1) (list 2) }}|{{ chunk 2 (list 1 2 3) }}", "[1 3]|true|[2 3]|[1 2]|[[1 2] [3]]"),
            ("{{ dig \"a\" \"b\" \"def\" (dict \"a\" (dict \"b\" \"v\")) }}|{{ dig \"x\" \"def\" (dict) }}", "v|def"),
            ("{{ base \"/a/b.txt\" }}|{{ dir \"/a/b.txt\" }}|{{ ext \"b.txt\" }}|{{ clean \"a//b/../c\" }}|{{ isAbs \"/x\" }}", "b.txt|/a|.txt|a/c|true"),
            ("{{ seq 3 }}|{{ until 3 }}|{{ untilStep 0 10 5 }}|{{ toStrings (list 1 2) }}", "1 2 3|[0 1 2]|[0 5]|[1 2]"),
            ("{{ (urlParse \"https://u@h:8080/p?q=1#f\").hostname }}|{{ urlJoin (dict \"scheme\" \"http\" \"host\" \"h\" \"path\" \"/p\") }}", "h|http://h/p"),
            ("{{ indent 2 \"a\\nb\" }}|{{ toPrettyJson (dict \"a\" 1) }}|{{ toRawJson (dict \"a\" \"<\") }}", "  a\n  b|{\n  \"a\": 1\n}|{\"a\":\"<\"}"),
            ("{{ hello }} {{ len (randAlphaNum 5) }} {{ len uuidv4 }}", "Hello! 5 36"),
            ("{{ semverCompare \"^1.2.0\" \"1.4.2\" }} {{ (semver \"v1.2.3-rc.1\").Minor }}", "true 2"),
            ("{{ float64 \"1.5\" }} {{ int \"7\" }} {{ toDecimal \"0777\" }} {{ durationRound \"2h5m\" }}", "1.5 7 511 2h"),
        ];
        for (t, want) in cases {
            assert_eq!(ok(t, &d), want, "{t}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let t = format!("{{{{ {}1{} }}}}", "(".repeat(2000), ")".repeat(2000));
        assert!(Template::parse("t", &t).is_err());
        let t = "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}";
        assert!(run(t, &[]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_and_execute_never_panic(t in "[{}a-z .|$()\"'0-9,=:-]{0,40}") {
            if let Ok(mut tpl) = Template::parse("t", &t) {
                let m = BTreeMap::new();
                let _ = tpl.execute(&StrMap(&m));
            }
        }
    }
}
