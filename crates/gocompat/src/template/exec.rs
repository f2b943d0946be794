//! Template execution, following `text/template/exec.go`: pipelines, variables, control flow,
//! field access on maps and `time.Time` methods, function calls with Go's argument typing.

use std::collections::BTreeMap;

use super::funcs::{Env, FuncDef, Kind, Ty};
use super::parse::{Arg, Cmd, Node, Number, Pipe, Trees};
use super::value::{write_v, Val};
use crate::time::{self, Loc};

/// The root data of an execution (`.` at the start and `$`).
pub trait DataSource {
    /// The value of a top-level key, `None` when missing.
    fn get(&self, key: &str) -> Option<Val>;
    /// Every key and value (used when the root itself is printed or passed to a function).
    fn all(&self) -> BTreeMap<String, Val>;
    /// True when the root is a Go `map[string]string`.
    fn str_elems(&self) -> bool;
}

type R<T> = Result<T, String>;

#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

const MAX_DEPTH: usize = 100;

pub(crate) struct Exec<'a> {
    pub trees: &'a Trees,
    pub data: &'a dyn DataSource,
    pub env: &'a mut Env,
    pub vars: Vec<(String, Val)>,
    pub out: String,
    pub depth: usize,
}

impl Exec<'_> {
    pub fn run(&mut self) -> R<()> {
        self.vars.push(("$".into(), Val::Data));
        let trees = self.trees;
        self.walk(&Val::Data, &trees.root)?;
        Ok(())
    }

    /// Replaces the root-data marker by a real map.
    fn mat(&self, v: Val) -> Val {
        match v {
            Val::Data => Val::map(self.data.all(), self.data.str_elems()),
            other => other,
        }
    }

    fn walk(&mut self, dot: &Val, nodes: &[Node]) -> R<Flow> {
        for n in nodes {
            let flow = match n {
                Node::Text(s) => {
                    self.out.push_str(s);
                    Flow::Normal
                }
                Node::Action(p) => {
                    let v = self.eval_pipeline(dot, p)?;
                    if p.decl.is_empty() {
                        let v = self.mat(v);
                        write_v(&mut self.out, &v, true);
                    }
                    Flow::Normal
                }
                Node::If(p, list, else_list) | Node::With(p, list, else_list) => {
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, p)?;
                    let v = self.mat(v);
                    let is_with = matches!(n, Node::With(..));
                    let f = if v.truth() {
                        if is_with {
                            self.walk(&v, list)?
                        } else {
                            self.walk(dot, list)?
                        }
                    } else if let Some(e) = else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    f
                }
                Node::Range(p, list, else_list) => {
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, p)?;
                    let v = self.mat(v);
                    let f = self.walk_range(dot, p, v, list, else_list.as_deref())?;
                    self.vars.truncate(mark);
                    f
                }
                Node::Template(name, pipe) => {
                    let Some(tree) = self.trees.defs.get(name) else {
                        return Err(format!("no such template {name:?}"));
                    };
                    let new_dot = match pipe {
                        Some(p) => self.eval_pipeline(dot, p)?,
                        None => Val::Nil,
                    };
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
                    }
                    let saved =
                        std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                    let r = self.walk(&new_dot, tree);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                    Flow::Normal
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(
        &mut self,
        dot: &Val,
        p: &Pipe,
        v: Val,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> R<Flow> {
        // Ranging over an int is lazy: `range 1000000000` must not allocate the whole sequence.
        let count = match &v {
            Val::List(l) => l.len(),
            Val::Map(m) => m.borrow().entries.len(),
            Val::Int(n) | Val::Int64(n) => {
                if p.decl.len() > 1 {
                    return Err("can't use range over int with two variables".into());
                }
                (*n).max(0) as usize
            }
            Val::Nil => 0,
            other => {
                return Err(format!(
                    "range can't iterate over {}",
                    super::value::to_v(other)
                ))
            }
        };
        let keys: Vec<String> = match &v {
            Val::Map(m) => m.borrow().entries.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let item = |i: usize| -> (Val, Val) {
            match &v {
                Val::List(l) => (Val::Int(i as i64), l[i].clone()),
                Val::Map(m) => {
                    let k = &keys[i];
                    let e = m.borrow().entries.get(k).cloned().unwrap_or_default();
                    (Val::Str(k.clone()), e)
                }
                _ => (Val::Int(i as i64), Val::Int(i as i64)),
            }
        };
        if count == 0 {
            if let Some(e) = else_list {
                return self.walk(dot, e);
            }
            return Ok(Flow::Normal);
        }
        let top = self.vars.len();
        for i in 0..count {
            let (index, elem) = item(i);
            if !p.decl.is_empty() {
                if p.is_assign {
                    if p.decl.len() > 1 {
                        self.set_var(&p.decl[0], index.clone())?;
                    } else {
                        self.set_var(&p.decl[0], elem.clone())?;
                    }
                } else if let Some(slot) = self.vars.get_mut(top - 1) {
                    slot.1 = elem.clone();
                }
            }
            if p.decl.len() > 1 {
                if p.is_assign {
                    self.set_var(&p.decl[1], elem.clone())?;
                } else if let Some(slot) = self.vars.get_mut(top - 2) {
                    slot.1 = index.clone();
                }
            }
            let mark = self.vars.len();
            let f = self.walk(&elem, list)?;
            self.vars.truncate(mark);
            if f == Flow::Break {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Val) -> R<()> {
        for slot in self.vars.iter_mut().rev() {
            if slot.0 == name {
                slot.1 = v;
                return Ok(());
            }
        }
        Err(format!("undefined variable: {name}"))
    }

    fn var(&self, name: &str) -> R<Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: {name}"))
    }

    fn eval_pipeline(&mut self, dot: &Val, p: &Pipe) -> R<Val> {
        let mut value: Option<Val> = None;
        for cmd in &p.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v);
        }
        let v = value.unwrap_or(Val::Nil);
        for name in &p.decl {
            if p.is_assign {
                self.set_var(name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(args: &[Arg], fin: &Option<Val>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err("can't give argument to non-function".into());
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Val, cmd: &Cmd, fin: Option<Val>) -> R<Val> {
        let first = &cmd.args[0];
        match first {
            Arg::Field(f) => self.eval_field_chain(dot, dot.clone(), f, &cmd.args, fin),
            Arg::Chain(node, fields) => {
                let v = self.eval_arg(dot, Ty::Any, node)?;
                self.eval_field_chain(dot, v, fields, &cmd.args, fin)
            }
            Arg::Func(f) => self.eval_call(dot, f, &cmd.args[1..], fin),
            Arg::Pipe(p) => {
                Self::not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Var(name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    Self::not_a_function(&cmd.args, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, fields, &cmd.args, fin)
            }
            Arg::Nil => Err("nil is not a command".into()),
            other => {
                Self::not_a_function(&cmd.args, &fin)?;
                self.eval_arg(dot, Ty::Any, other)
            }
        }
    }

    fn eval_field_chain(
        &mut self,
        dot: &Val,
        mut recv: Val,
        fields: &[String],
        args: &[Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let n = fields.len();
        for f in &fields[..n - 1] {
            recv = self.eval_field(dot, f, &[], None, recv)?;
        }
        self.eval_field(dot, &fields[n - 1], args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Val,
        name: &str,
        args: &[Arg],
        fin: Option<Val>,
        recv: Val,
    ) -> R<Val> {
        let has_args = args.len() > 1 || fin.is_some();
        match recv {
            Val::Nil => Ok(Val::Nil),
            Val::Data => {
                if has_args {
                    return Err(format!("{name} is not a method but has arguments"));
                }
                Ok(self.data.get(name).unwrap_or(Val::Nil))
            }
            Val::Map(m) => {
                if has_args {
                    return Err(format!("{name} is not a method but has arguments"));
                }
                Ok(m.borrow().entries.get(name).cloned().unwrap_or(Val::Nil))
            }
            Val::Time(t) => {
                let mut argv = Vec::new();
                for a in args.iter().skip(1) {
                    argv.push(self.eval_arg(dot, Ty::Any, a)?);
                }
                if let Some(f) = fin {
                    argv.push(f);
                }
                time_method(&t, name, argv)
            }
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    fn eval_call(
        &mut self,
        dot: &Val,
        f: &'static FuncDef,
        args: &[Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let num_in = args.len() + usize::from(fin.is_some());
        let nparams = f.params.len();
        if f.variadic.is_some() {
            if num_in < nparams {
                return Err(format!(
                    "wrong number of args for {}: want at least {} got {}",
                    f.name,
                    nparams,
                    args.len()
                ));
            }
        } else if num_in != nparams {
            return Err(format!(
                "wrong number of args for {}: want {} got {}",
                f.name, nparams, num_in
            ));
        }
        if let Kind::And | Kind::Or = f.kind {
            let want = matches!(f.kind, Kind::Or);
            let mut v = Val::Nil;
            for a in args {
                v = self.eval_arg(dot, Ty::Any, a)?;
                v = self.mat(v);
                if v.truth() == want {
                    return Ok(v);
                }
            }
            if let Some(x) = fin {
                v = self.mat(x);
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let ty = f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any);
            let v = self.eval_arg(dot, ty, a)?;
            argv.push(v);
        }
        if let Some(x) = fin {
            let i = num_in - 1;
            let ty = f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any);
            let x = self.mat(x);
            argv.push(validate(x, ty)?);
        }
        match f.kind {
            Kind::Normal(func) => {
                func(self.env, argv).map_err(|e| format!("error calling {}: {e}", f.name))
            }
            Kind::And | Kind::Or => Ok(Val::Nil),
        }
    }

    fn eval_arg(&mut self, dot: &Val, ty: Ty, a: &Arg) -> R<Val> {
        let v = match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => {
                return match ty {
                    Ty::Any | Ty::Map => Ok(Val::Nil),
                    _ => Err(format!("cannot assign nil to {}", ty.go_name())),
                }
            }
            Arg::Field(f) => self.eval_field_chain(dot, dot.clone(), f, &[], None)?,
            Arg::Var(name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    v
                } else {
                    self.eval_field_chain(dot, v, fields, &[], None)?
                }
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Func(f) => self.eval_call(dot, f, &[], None)?,
            Arg::Chain(node, fields) => {
                let v = self.eval_arg(dot, Ty::Any, node)?;
                self.eval_field_chain(dot, v, fields, &[], None)?
            }
            Arg::Bool(b) => {
                return match ty {
                    Ty::Any | Ty::Bool => Ok(Val::Bool(*b)),
                    _ => Err(format!("expected {}; found {b}", ty.go_name())),
                }
            }
            Arg::Str(s) => {
                return match ty {
                    Ty::Any | Ty::Str => Ok(Val::Str(s.clone())),
                    _ => Err(format!("expected {}; found {s:?}", ty.go_name())),
                }
            }
            Arg::Num(n) => return num_arg(n, ty),
        };
        let v = self.mat(v);
        validate(v, ty)
    }
}

fn num_arg(n: &Number, ty: Ty) -> R<Val> {
    match ty {
        Ty::Any => {
            if n.float_syntax {
                Ok(Val::Float(n.float.unwrap_or(0.0)))
            } else if let Some(i) = n.int {
                Ok(Val::Int(i))
            } else {
                Ok(Val::Float(n.float.unwrap_or(0.0)))
            }
        }
        Ty::Int | Ty::Int64 => match n.int {
            Some(i) if ty == Ty::Int => Ok(Val::Int(i)),
            Some(i) => Ok(Val::Int64(i)),
            None => Err(format!("expected integer; found {}", n.text)),
        },
        Ty::Float => match n.float {
            Some(f) => Ok(Val::Float(f)),
            None => Err(format!("expected float; found {}", n.text)),
        },
        _ => Err(format!("expected {}; found {}", ty.go_name(), n.text)),
    }
}

/// Go's `validateType`: a value must already have the parameter's type.
fn validate(v: Val, ty: Ty) -> R<Val> {
    let ok = match (&v, ty) {
        (_, Ty::Any) => true,
        (Val::Nil, Ty::Map) => return Ok(Val::Nil),
        (Val::Nil, _) => return Err(format!("invalid value; expected {}", ty.go_name())),
        (Val::Str(_), Ty::Str)
        | (Val::Int(_), Ty::Int)
        | (Val::Int64(_), Ty::Int64)
        | (Val::Float(_), Ty::Float)
        | (Val::Bool(_), Ty::Bool)
        | (Val::Map(_), Ty::Map)
        | (Val::Time(_), Ty::Time) => true,
        _ => false,
    };
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "wrong type for value; expected {}; got {}",
            ty.go_name(),
            v.type_name()
        ))
    }
}

fn int_arg(argv: &[Val], i: usize) -> R<i64> {
    match argv.get(i) {
        Some(Val::Int(n)) | Some(Val::Int64(n)) => Ok(*n),
        _ => Err("wrong type for value; expected int".into()),
    }
}

/// Methods of `time.Time` reachable from templates.
fn time_method(t: &time::GoTime, name: &str, argv: Vec<Val>) -> R<Val> {
    let c = t.civil();
    let no_args = |v: Val| -> R<Val> {
        if !argv.is_empty() {
            return Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                argv.len()
            ));
        }
        Ok(v)
    };
    match name {
        "Year" => no_args(Val::Int(c.year)),
        "Month" => no_args(Val::str(time::month_name(c.month))),
        "Day" => no_args(Val::Int(c.day as i64)),
        "Hour" => no_args(Val::Int(c.hour as i64)),
        "Minute" => no_args(Val::Int(c.minute as i64)),
        "Second" => no_args(Val::Int(c.second as i64)),
        "Nanosecond" => no_args(Val::Int(c.nsec as i64)),
        "YearDay" => no_args(Val::Int(c.yday as i64)),
        "Weekday" => no_args(Val::str(time::weekday_name(c.weekday))),
        "Unix" => no_args(Val::Int64(t.unix)),
        "UnixMilli" => no_args(Val::Int64(
            t.unix.wrapping_mul(1000) + (t.nsec / 1_000_000) as i64,
        )),
        "UnixMicro" => no_args(Val::Int64(
            t.unix.wrapping_mul(1_000_000) + (t.nsec / 1000) as i64,
        )),
        "UnixNano" => no_args(Val::Int64(t.unix_nanos())),
        "UTC" => no_args(Val::Time(Box::new(t.in_loc(Loc::Utc)))),
        "Local" => no_args(Val::Time(Box::new(t.in_loc(Loc::Local)))),
        "String" => no_args(Val::Str(t.go_string())),
        "IsZero" => no_args(Val::Bool(t.unix == ZERO_TIME_UNIX && t.nsec == 0)),
        "Format" => match argv.as_slice() {
            [Val::Str(layout)] => Ok(Val::Str(t.format(layout))),
            _ => Err("wrong number of args for Format: want 1".into()),
        },
        "AddDate" => {
            let (y, m, d) = (int_arg(&argv, 0)?, int_arg(&argv, 1)?, int_arg(&argv, 2)?);
            Ok(Val::Time(Box::new(time::date(
                c.year.saturating_add(y),
                (c.month as i64).saturating_add(m),
                (c.day as i64).saturating_add(d),
                c.hour as i64,
                c.minute as i64,
                c.second as i64,
                c.nsec as i64,
                t.loc.clone(),
            ))))
        }
        _ => Err(format!("can't evaluate field {name} in type time.Time")),
    }
}

/// Unix seconds of Go's zero `time.Time` (0001-01-01 00:00:00 UTC).
pub const ZERO_TIME_UNIX: i64 = -62_135_596_800;
