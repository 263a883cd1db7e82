//! A small SOQL subset: tokenizer, recursive-descent parser, binder (names → schema fields,
//! field-level security, filterability, literal type checks) and evaluator.
//!
//! Grammar (keywords case-insensitive):
//! ```text
//! query  := SELECT (COUNT() | field {, field}) FROM object [WHERE expr]
//!           [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST] {, …}] [LIMIT n] [OFFSET n]
//! field  := name | object.name | Account.Name | object.Account.Name
//! expr   := unary {AND unary} | unary {OR unary}     -- mixing AND/OR needs parentheses
//! unary  := NOT unary | ( expr ) | field op literal | field [NOT] IN ( literal {, literal} )
//!         | field LIKE 'pattern'
//! op     := = | != | <> | < | <= | > | >=
//! literal:= 'string' | number | true | false | null | 2024-01-01 | 2024-01-01T00:00:00Z | …±hh:mm
//!         | TODAY | LAST_N_DAYS:n | THIS_MONTH | …   (date literals: a range of whole days)
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::clock::{SfDate, SfDateTime, civil_from_days, days_from_civil, parse_datetime_ms};
use crate::ids::SfId;
use crate::schema::{Access, Field, FieldType, Row, SObject, Value};

/// A SOQL error, mapped to Salesforce's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoqlError {
    /// `MALFORMED_QUERY`.
    #[error("{0}")]
    Malformed(String),
    /// `INVALID_FIELD`.
    #[error("{0}")]
    InvalidField(String),
    /// `INVALID_TYPE`.
    #[error("{0}")]
    InvalidType(String),
    /// `INVALID_QUERY_FILTER_OPERATOR`.
    #[error("{0}")]
    InvalidFilter(String),
}

impl SoqlError {
    /// The Salesforce `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            SoqlError::Malformed(_) => "MALFORMED_QUERY",
            SoqlError::InvalidField(_) => "INVALID_FIELD",
            SoqlError::InvalidType(_) => "INVALID_TYPE",
            SoqlError::InvalidFilter(_) => "INVALID_QUERY_FILTER_OPERATOR",
        }
    }
}

// Private-use chars stand for escaped `\%` / `\_` so LIKE can tell them from wildcards.
const LIT_PERCENT: char = '\u{E000}';
const LIT_UNDERSCORE: char = '\u{E001}';

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=` / `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    DateTime(i64),
    Date(i32),
    Comma,
    LParen,
    RParen,
    Op(Op),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: usize,
    text: String,
}

fn located(src: &str, pos: usize, msg: &str) -> String {
    let before = &src[..pos.min(src.len())];
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    let line = src[line_start..].lines().next().unwrap_or("");
    format!("\n{line}\n{}^\nERROR at Row:{row}:Column:{col}\n{msg}", " ".repeat(col - 1))
}

fn tokenize(src: &str) -> Result<Vec<Token>, SoqlError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |pos: usize, msg: &str| SoqlError::Malformed(located(src, pos, msg));
    while i < b.len() {
        let c = b[i];
        let start = i;
        let push = |out: &mut Vec<Token>, tok: Tok, end: usize| {
            out.push(Token { tok, pos: start, text: src[start..end].to_owned() })
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b',' => {
                i += 1;
                push(&mut out, Tok::Comma, i);
            }
            b'(' => {
                i += 1;
                push(&mut out, Tok::LParen, i);
            }
            b')' => {
                i += 1;
                push(&mut out, Tok::RParen, i);
            }
            b'=' => {
                i += 1;
                push(&mut out, Tok::Op(Op::Eq), i);
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                push(&mut out, Tok::Op(Op::Ne), i);
            }
            b'<' => {
                let (op, n) = match b.get(i + 1) {
                    Some(b'=') => (Op::Le, 2),
                    Some(b'>') => (Op::Ne, 2),
                    _ => (Op::Lt, 1),
                };
                i += n;
                push(&mut out, Tok::Op(op), i);
            }
            b'>' => {
                let (op, n) = if b.get(i + 1) == Some(&b'=') { (Op::Ge, 2) } else { (Op::Gt, 1) };
                i += n;
                push(&mut out, Tok::Op(op), i);
            }
            b'\'' => {
                let mut s = String::new();
                let mut chars = src[i + 1..].char_indices();
                let mut closed = None;
                while let Some((off, ch)) = chars.next() {
                    match ch {
                        '\'' => {
                            closed = Some(i + 1 + off + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                'b' => '\u{8}',
                                'f' => '\u{c}',
                                '%' => LIT_PERCENT,
                                '_' => LIT_UNDERSCORE,
                                '\'' | '"' | '\\' => e,
                                _ => {
                                    return Err(err(i, "Invalid string literal: illegal escape sequence"));
                                }
                            }),
                            None => break,
                        },
                        _ => s.push(ch),
                    }
                }
                let end = closed.ok_or_else(|| err(i, "unterminated string literal"))?;
                i = end;
                push(&mut out, Tok::Str(s), i);
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b':' | b'.' | b'+' | b'-')) {
                    j += 1;
                }
                let text = &src[i..j];
                let tok = if let Some(d) = SfDate::parse(text) {
                    Tok::Date(d.0)
                } else if text.len() > 10 && text.as_bytes().get(10).is_some_and(|c| *c == b'T' || *c == b't') {
                    match parse_datetime_ms(text) {
                        Some(ms) => Tok::DateTime(ms),
                        None => {
                            return Err(err(i, &format!("line 1:{i} no viable alternative at character '{text}'")));
                        }
                    }
                } else if text.parse::<f64>().is_ok() && !text.starts_with('+') {
                    Tok::Num(text.to_owned())
                } else {
                    return Err(err(i, &format!("unexpected token: '{text}'")));
                };
                i = j;
                push(&mut out, tok, i);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                    j += 1;
                }
                // `LAST_N_DAYS:30`: the parameter belongs to the literal.
                if b.get(j) == Some(&b':') && DateLiteral::takes_n(&src[start..j]) {
                    j += 1;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                i = j;
                push(&mut out, Tok::Ident(src[start..j].to_owned()), i);
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(i, &format!("line 1:{i} no viable alternative at character '{ch}'")));
            }
        }
    }
    out.push(Token { tok: Tok::Eof, pos: src.len(), text: "<EOF>".to_owned() });
    Ok(out)
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH", "INCLUDES", "EXCLUDES",
];

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Null,
    Bool(bool),
    Str(String),
    Num(String),
    DateTime(i64),
    Date(i32),
    Relative(DateLiteral),
}

/// A SOQL date literal (`TODAY`, `LAST_N_DAYS:30`, …): a range of whole days relative to today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateLiteral {
    /// `n` days back from today (negative: forward), for one day.
    Day(i64),
    /// `LAST_N_DAYS:n` (today and the n days before it).
    LastNDays(i64),
    /// `NEXT_N_DAYS:n` (the n days after today).
    NextNDays(i64),
    /// Weeks relative to this week (Sunday first): `(first, count)`.
    Weeks(i64, i64),
    /// Months relative to this month: `(first, count)`.
    Months(i64, i64),
    /// Quarters relative to this quarter: `(first, count)`.
    Quarters(i64, i64),
    /// Years relative to this year: `(first, count)`.
    Years(i64, i64),
}

impl DateLiteral {
    const WITH_N: &[&str] = &[
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "N_WEEKS_AGO",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "N_MONTHS_AGO",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "N_QUARTERS_AGO",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
        "N_YEARS_AGO",
    ];

    fn takes_n(name: &str) -> bool {
        Self::WITH_N.iter().any(|w| w.eq_ignore_ascii_case(name))
    }

    /// Parses `TODAY`, `LAST_N_DAYS:30`, … (case-insensitive); `None` if it is not one.
    pub fn parse(text: &str) -> Option<DateLiteral> {
        use DateLiteral::*;
        let upper = text.to_ascii_uppercase();
        if let Some((name, n)) = upper.split_once(':') {
            let n: i64 = n.parse().ok().filter(|n| *n <= 100_000)?;
            return Some(match name {
                "LAST_N_DAYS" => LastNDays(n),
                "NEXT_N_DAYS" => NextNDays(n),
                "N_DAYS_AGO" => Day(n),
                "LAST_N_WEEKS" => Weeks(-n, n),
                "NEXT_N_WEEKS" => Weeks(1, n),
                "N_WEEKS_AGO" => Weeks(-n, 1),
                "LAST_N_MONTHS" => Months(-n, n),
                "NEXT_N_MONTHS" => Months(1, n),
                "N_MONTHS_AGO" => Months(-n, 1),
                "LAST_N_QUARTERS" => Quarters(-n, n),
                "NEXT_N_QUARTERS" => Quarters(1, n),
                "N_QUARTERS_AGO" => Quarters(-n, 1),
                "LAST_N_YEARS" => Years(-n, n),
                "NEXT_N_YEARS" => Years(1, n),
                "N_YEARS_AGO" => Years(-n, 1),
                _ => return None,
            });
        }
        Some(match upper.as_str() {
            "YESTERDAY" => Day(1),
            "TODAY" => Day(0),
            "TOMORROW" => Day(-1),
            "LAST_WEEK" => Weeks(-1, 1),
            "THIS_WEEK" => Weeks(0, 1),
            "NEXT_WEEK" => Weeks(1, 1),
            "LAST_MONTH" => Months(-1, 1),
            "THIS_MONTH" => Months(0, 1),
            "NEXT_MONTH" => Months(1, 1),
            "LAST_90_DAYS" => LastNDays(90),
            "NEXT_90_DAYS" => NextNDays(90),
            "LAST_QUARTER" => Quarters(-1, 1),
            "THIS_QUARTER" => Quarters(0, 1),
            "NEXT_QUARTER" => Quarters(1, 1),
            "LAST_YEAR" => Years(-1, 1),
            "THIS_YEAR" => Years(0, 1),
            "NEXT_YEAR" => Years(1, 1),
            _ => return None,
        })
    }

    /// The days `[start, end)` (days since the epoch) it stands for when today is `today`.
    pub fn days(self, today: i64) -> (i64, i64) {
        let month_start = |months: i64| {
            let (y, m, _) = civil_from_days(today);
            let total = y * 12 + i64::from(m) - 1 + months;
            days_from_civil(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        };
        match self {
            DateLiteral::Day(back) => (today - back, today - back + 1),
            DateLiteral::LastNDays(n) => (today - n, today + 1),
            DateLiteral::NextNDays(n) => (today + 1, today + 1 + n),
            DateLiteral::Weeks(first, count) => {
                // 1970-01-01 was a Thursday: days since the last Sunday.
                let week_start = today - (today + 4).rem_euclid(7);
                (week_start + 7 * first, week_start + 7 * (first + count))
            }
            DateLiteral::Months(first, count) => (month_start(first), month_start(first + count)),
            DateLiteral::Quarters(first, count) => {
                let (_, m, _) = civil_from_days(today);
                let into_quarter = i64::from((m - 1) % 3);
                (month_start(3 * first - into_quarter), month_start(3 * (first + count) - into_quarter))
            }
            DateLiteral::Years(first, count) => {
                let (_, m, _) = civil_from_days(today);
                let into_year = i64::from(m - 1);
                (month_start(12 * first - into_year), month_start(12 * (first + count) - into_year))
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Name {
    text: String,
    pos: usize,
}

#[derive(Clone, Debug)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Name, Op, Lit, usize),
    In(Name, bool, Vec<Lit>, usize),
    Like(Name, Lit, usize),
}

struct OrderAst {
    field: Name,
    desc: bool,
    nulls_last: Option<bool>,
}

struct Ast {
    count: bool,
    fields: Vec<Name>,
    object: Name,
    filter: Option<Expr>,
    order: Vec<OrderAst>,
    limit: Option<usize>,
    offset: Option<usize>,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }
    fn peek2(&self) -> &Token {
        &self.toks[(self.at + 1).min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }
    fn unexpected(&self) -> SoqlError {
        let t = self.peek();
        let shown = if t.tok == Tok::Eof { "<EOF>".to_owned() } else { t.text.clone() };
        SoqlError::Malformed(located(self.src, t.pos, &format!("unexpected token: {shown}")))
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.bump();
        }
        yes
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.unexpected()) }
    }
    fn expect(&mut self, tok: Tok) -> Result<(), SoqlError> {
        if self.peek().tok == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn name(&mut self) -> Result<Name, SoqlError> {
        match &self.peek().tok {
            Tok::Ident(s) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) => {
                let t = self.bump();
                Ok(Name { text: t.text, pos: t.pos })
            }
            _ => Err(self.unexpected()),
        }
    }
    fn int(&mut self) -> Result<usize, SoqlError> {
        match &self.peek().tok {
            Tok::Num(n) => {
                let v = n.parse::<usize>().map_err(|_| self.unexpected())?;
                self.bump();
                Ok(v)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn query(&mut self) -> Result<Ast, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut count = false;
        let mut fields = Vec::new();
        if self.is_kw("COUNT") && self.peek2().tok == Tok::LParen {
            self.bump();
            self.bump();
            if self.peek().tok != Tok::RParen {
                return Err(SoqlError::Malformed(located(
                    self.src,
                    self.peek().pos,
                    "aggregate functions other than COUNT() are not supported",
                )));
            }
            self.bump();
            count = true;
        } else {
            fields.push(self.name()?);
            while self.peek().tok == Tok::Comma {
                self.bump();
                fields.push(self.name()?);
            }
        }
        self.expect_kw("FROM")?;
        let object = self.name()?;
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.name()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let nulls_last = if self.eat_kw("NULLS") {
                    if self.eat_kw("FIRST") {
                        Some(false)
                    } else {
                        self.expect_kw("LAST")?;
                        Some(true)
                    }
                } else {
                    None
                };
                order.push(OrderAst { field, desc, nulls_last });
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.bump();
            }
        }
        let limit = if self.eat_kw("LIMIT") { Some(self.int()?) } else { None };
        let offset = if self.eat_kw("OFFSET") { Some(self.int()?) } else { None };
        if self.peek().tok != Tok::Eof {
            return Err(self.unexpected());
        }
        Ok(Ast { count, fields, object, filter, order, limit, offset })
    }

    fn expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.unary()?;
        let mut items = vec![first];
        let mut conn: Option<bool> = None; // Some(true) = AND
        loop {
            let is_and = if self.is_kw("AND") {
                true
            } else if self.is_kw("OR") {
                false
            } else {
                break;
            };
            // SOQL refuses `a AND b OR c` without parentheses.
            if conn.is_some_and(|c| c != is_and) {
                return Err(self.unexpected());
            }
            conn = Some(is_and);
            self.bump();
            items.push(self.unary()?);
        }
        Ok(match conn {
            None => items.pop().ok_or_else(|| self.unexpected())?,
            Some(true) => Expr::And(items),
            Some(false) => Expr::Or(items),
        })
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.bump();
            let e = self.expr()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        let field = self.name()?;
        let op_pos = self.peek().pos;
        if let Tok::Op(op) = self.peek().tok {
            self.bump();
            let lit = self.literal()?;
            return Ok(Expr::Cmp(field, op, lit, op_pos));
        }
        let negated = if self.is_kw("NOT") && matches!(&self.peek2().tok, Tok::Ident(s) if s.eq_ignore_ascii_case("IN"))
        {
            self.bump();
            true
        } else {
            false
        };
        if self.eat_kw("IN") {
            self.expect(Tok::LParen)?;
            let mut lits = vec![self.literal()?];
            while self.peek().tok == Tok::Comma {
                self.bump();
                lits.push(self.literal()?);
            }
            self.expect(Tok::RParen)?;
            return Ok(Expr::In(field, negated, lits, op_pos));
        }
        if self.eat_kw("LIKE") {
            let lit = self.literal()?;
            return Ok(Expr::Like(field, lit, op_pos));
        }
        Err(self.unexpected())
    }

    fn literal(&mut self) -> Result<Lit, SoqlError> {
        let lit = match &self.peek().tok {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Num(n) => Lit::Num(n.clone()),
            Tok::DateTime(ms) => Lit::DateTime(*ms),
            Tok::Date(d) => Lit::Date(*d),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Lit::Null,
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Tok::Ident(s) => match DateLiteral::parse(s) {
                Some(d) => Lit::Relative(d),
                None => return Err(self.unexpected()),
            },
            _ => return Err(self.unexpected()),
        };
        self.bump();
        Ok(lit)
    }
}

/// A typed literal, ready for comparison (text lowercased: SOQL text compares ignore case).
#[derive(Clone, Debug, PartialEq)]
pub enum BoundLit {
    /// null
    Null,
    /// boolean
    Bool(bool),
    /// text, lowercased
    Text(String),
    /// canonical 18-char id
    Id(SfId),
    /// dateTime in epoch ms
    DateTimeMs(i64),
    /// date in epoch days
    Date(i32),
    /// double
    Number(f64),
    /// a date literal on a dateTime field: `[start, end)` in epoch ms
    DateTimeRange(i64, i64),
    /// a date literal on a date field: `[start, end)` in epoch days
    DateRange(i32, i32),
}

/// A bound WHERE condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// all must hold
    And(Vec<Cond>),
    /// any must hold
    Or(Vec<Cond>),
    /// negation
    Not(Box<Cond>),
    /// `field op literal`
    Cmp(Field, Op, BoundLit),
    /// `field [NOT] IN (…)`
    In(Field, bool, Vec<BoundLit>),
    /// `field LIKE pattern` (pattern lowercased)
    Like(Field, Vec<char>),
}

/// One ORDER BY item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The field.
    pub field: Field,
    /// DESC?
    pub desc: bool,
    /// NULLS LAST? (default: ASC → first, DESC → last)
    pub nulls_last: bool,
}

/// A parsed and bound query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The FROM object.
    pub object: SObject,
    /// `SELECT COUNT()`?
    pub count: bool,
    /// Selected fields (empty for COUNT()).
    pub fields: Vec<Field>,
    /// WHERE.
    pub filter: Option<Cond>,
    /// ORDER BY.
    pub order: Vec<Order>,
    /// LIMIT.
    pub limit: Option<usize>,
    /// OFFSET.
    pub offset: usize,
}

/// Who runs a query, and when: field-level security, and "today" for date literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// What the running user may read.
    pub access: Access,
    /// Now (the sim clock); date literals count whole days in UTC from it.
    pub now: SfDateTime,
}

impl Context {
    /// Every field visible, today from the system clock.
    pub fn full() -> Context {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Context { access: Access::All, now: SfDateTime(now) }
    }
}

/// Parses and binds a SOQL query against the sim's schema, every field visible.
pub fn parse(src: &str) -> Result<Query, SoqlError> {
    parse_as(src, &Context::full())
}

/// Parses and binds a SOQL query as the user (and at the time) `ctx` describes.
pub fn parse_as(src: &str, ctx: &Context) -> Result<Query, SoqlError> {
    let toks = tokenize(src)?;
    let mut p = Parser { src, toks, at: 0 };
    let ast = p.query()?;
    Binder { src, ctx }.bind(ast)
}

struct Binder<'a> {
    src: &'a str,
    ctx: &'a Context,
}

impl Binder<'_> {
    fn bind(&self, ast: Ast) -> Result<Query, SoqlError> {
        let object = SObject::from_name(&ast.object.text).ok_or_else(|| {
            SoqlError::InvalidType(located(
                self.src,
                ast.object.pos,
                &format!(
                    "sObject type '{}' is not supported. If you are attempting to use a custom \
                     object, be sure to append the '__c' after the entity name. Please reference \
                     your WSDL or the describe call for the appropriate names.",
                    ast.object.text
                ),
            ))
        })?;
        let mut fields = Vec::new();
        for n in &ast.fields {
            let f = self.field(object, n)?;
            if fields.contains(&f) {
                return Err(SoqlError::Malformed(located(
                    self.src,
                    n.pos,
                    &format!("duplicate field selected: {}", f.name()),
                )));
            }
            fields.push(f);
        }
        let filter = ast.filter.as_ref().map(|e| self.cond(object, e)).transpose()?;
        let order = ast
            .order
            .iter()
            .map(|o| {
                let field = self.field(object, &o.field)?;
                if !object.meta(field).sortable {
                    return Err(SoqlError::InvalidField(located(
                        self.src,
                        o.field.pos,
                        &format!("field '{}' can not be sorted in a query call", field.name()),
                    )));
                }
                Ok(Order { field, desc: o.desc, nulls_last: o.nulls_last.unwrap_or(o.desc) })
            })
            .collect::<Result<Vec<_>, SoqlError>>()?;
        Ok(Query { object, count: ast.count, fields, filter, order, limit: ast.limit, offset: ast.offset.unwrap_or(0) })
    }

    fn no_such_column(&self, object: &str, text: &str, pos: usize) -> SoqlError {
        SoqlError::InvalidField(located(
            self.src,
            pos,
            &format!(
                "No such column '{text}' on entity '{object}'. If you are attempting to use a \
                 custom field, be sure to append the '__c' after the custom field name. Please \
                 reference your WSDL or the describe call for the appropriate names."
            ),
        ))
    }

    fn field(&self, object: SObject, n: &Name) -> Result<Field, SoqlError> {
        let mut text = n.text.as_str();
        if let Some((head, tail)) = text.split_once('.')
            && head.eq_ignore_ascii_case(object.name())
        {
            text = tail;
        }
        if let Some((head, tail)) = text.split_once('.') {
            // The one relationship the sim knows: Contact.AccountId → Account.
            if object == SObject::Contact && head.eq_ignore_ascii_case("Account") {
                return if tail.eq_ignore_ascii_case("Name") {
                    Ok(Field::AccountName)
                } else {
                    Err(self.no_such_column("Account", tail, n.pos))
                };
            }
            return Err(SoqlError::InvalidField(located(
                self.src,
                n.pos,
                &format!(
                    "Didn't understand relationship '{head}' in field path. If you are \
                     attempting to use a custom relationship, be sure to append the '__r' \
                     after the custom relationship name. Please reference your WSDL or the \
                     describe call for the appropriate names."
                ),
            )));
        }
        match object.field(text) {
            // Field-level security: a field the user cannot read does not exist for them.
            Some(f) if self.ctx.access.can_read(f) => Ok(f),
            _ => Err(self.no_such_column(object.name(), text, n.pos)),
        }
    }

    fn lit(&self, field: Field, lit: &Lit, pos: usize) -> Result<BoundLit, SoqlError> {
        let mismatch = || {
            let quotes = if matches!(field.ty(), FieldType::Text | FieldType::Id) {
                "should be enclosed in quotes"
            } else {
                "should not be enclosed in quotes"
            };
            SoqlError::InvalidField(located(
                self.src,
                pos,
                &format!(
                    "value of filter criterion for field '{}' must be of type {} and {quotes}",
                    field.name(),
                    field.type_name()
                ),
            ))
        };
        let today = self.ctx.now.0.div_euclid(86_400);
        Ok(match (field.ty(), lit) {
            (_, Lit::Null) => BoundLit::Null,
            (FieldType::Boolean, Lit::Bool(b)) => BoundLit::Bool(*b),
            (FieldType::Text, Lit::Str(s)) => BoundLit::Text(unescape_like(s).to_lowercase()),
            (FieldType::Id, Lit::Str(s)) => BoundLit::Id(SfId::parse(s).ok_or_else(|| {
                SoqlError::InvalidFilter(located(self.src, pos, &format!("invalid ID field: {}", unescape_like(s))))
            })?),
            (FieldType::DateTime, Lit::DateTime(ms)) => BoundLit::DateTimeMs(*ms),
            (FieldType::Date, Lit::Date(d)) => BoundLit::Date(*d),
            (FieldType::Number, Lit::Num(n)) => BoundLit::Number(n.parse().map_err(|_| mismatch())?),
            (FieldType::DateTime, Lit::Relative(d)) => {
                let (a, b) = d.days(today);
                BoundLit::DateTimeRange(a.saturating_mul(86_400_000), b.saturating_mul(86_400_000))
            }
            (FieldType::Date, Lit::Relative(d)) => {
                let (a, b) = d.days(today);
                let clamp = |x: i64| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                BoundLit::DateRange(clamp(a), clamp(b))
            }
            _ => return Err(mismatch()),
        })
    }

    /// A field usable in WHERE: known, readable, and filterable.
    fn filter_field(&self, object: SObject, n: &Name) -> Result<Field, SoqlError> {
        let f = self.field(object, n)?;
        if !object.meta(f).filterable {
            return Err(SoqlError::InvalidField(located(
                self.src,
                n.pos,
                &format!("field '{}' can not be filtered in a query call", f.name()),
            )));
        }
        Ok(f)
    }

    fn cond(&self, object: SObject, e: &Expr) -> Result<Cond, SoqlError> {
        Ok(match e {
            Expr::And(v) => Cond::And(v.iter().map(|e| self.cond(object, e)).collect::<Result<_, _>>()?),
            Expr::Or(v) => Cond::Or(v.iter().map(|e| self.cond(object, e)).collect::<Result<_, _>>()?),
            Expr::Not(e) => Cond::Not(Box::new(self.cond(object, e)?)),
            Expr::Cmp(n, op, lit, pos) => {
                let f = self.filter_field(object, n)?;
                let bl = self.lit(f, lit, *pos)?;
                if f.ty() == FieldType::Boolean && !matches!(op, Op::Eq | Op::Ne) {
                    return Err(SoqlError::InvalidField(located(
                        self.src,
                        *pos,
                        &format!("invalid operator on boolean field: {}", f.name()),
                    )));
                }
                Cond::Cmp(f, *op, bl)
            }
            Expr::In(n, neg, lits, pos) => {
                let f = self.filter_field(object, n)?;
                let bls = lits.iter().map(|l| self.lit(f, l, *pos)).collect::<Result<_, _>>()?;
                Cond::In(f, *neg, bls)
            }
            Expr::Like(n, lit, pos) => {
                let f = self.filter_field(object, n)?;
                match (f.ty(), lit) {
                    (FieldType::Text, Lit::Str(s)) => Cond::Like(f, s.to_lowercase().chars().collect()),
                    _ => {
                        return Err(SoqlError::InvalidField(located(
                            self.src,
                            *pos,
                            &format!("invalid operator on {} field: {}", f.type_name(), f.name()),
                        )));
                    }
                }
            }
        })
    }
}

fn unescape_like(s: &str) -> Cow<'_, str> {
    if s.contains([LIT_PERCENT, LIT_UNDERSCORE]) {
        Cow::Owned(s.replace(LIT_PERCENT, "%").replace(LIT_UNDERSCORE, "_"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Case-insensitive text ordering (`b` already lowercased).
fn cmp_text_lower(a: &str, b_lower: &str) -> Ordering {
    a.chars().flat_map(char::to_lowercase).cmp(b_lower.chars())
}

fn cmp_lit(v: &Value<'_>, lit: &BoundLit) -> Option<Ordering> {
    match (v, lit) {
        (Value::Bool(a), BoundLit::Bool(b)) => Some(a.cmp(b)),
        (Value::Text(a), BoundLit::Text(b)) => Some(cmp_text_lower(a, b)),
        (Value::Id(a), BoundLit::Id(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::DateTime(a), BoundLit::DateTimeMs(b)) => Some((a.0 * 1000).cmp(b)),
        (Value::Date(a), BoundLit::Date(b)) => Some(a.0.cmp(b)),
        (Value::Number(a), BoundLit::Number(b)) => a.partial_cmp(b),
        _ => None,
    }
}

/// Where a value lies against a date literal's range `[start, end)`: before, inside, after.
fn cmp_range(v: &Value<'_>, lit: &BoundLit) -> Option<Ordering> {
    let (x, start, end) = match (v, lit) {
        (Value::DateTime(t), BoundLit::DateTimeRange(a, b)) => (t.0.saturating_mul(1000), *a, *b),
        (Value::Date(d), BoundLit::DateRange(a, b)) => (i64::from(d.0), i64::from(*a), i64::from(*b)),
        _ => return None,
    };
    Some(if x < start {
        Ordering::Less
    } else if x < end {
        Ordering::Equal
    } else {
        Ordering::Greater
    })
}

fn eval_cmp(v: &Value<'_>, op: Op, lit: &BoundLit) -> bool {
    let v_null = *v == Value::Null;
    if *lit == BoundLit::Null {
        return match op {
            Op::Eq => v_null,
            Op::Ne => !v_null,
            _ => false,
        };
    }
    if v_null {
        return op == Op::Ne;
    }
    if matches!(lit, BoundLit::DateTimeRange(..) | BoundLit::DateRange(..)) {
        // A date literal is a range of whole days: `<` means before its first day, `<=` before
        // the end of its last day, `=` within it (Salesforce's date-literal semantics).
        let Some(pos) = cmp_range(v, lit) else {
            return op == Op::Ne;
        };
        return match op {
            Op::Eq => pos == Ordering::Equal,
            Op::Ne => pos != Ordering::Equal,
            Op::Lt => pos == Ordering::Less,
            Op::Le => pos != Ordering::Greater,
            Op::Gt => pos == Ordering::Greater,
            Op::Ge => pos != Ordering::Less,
        };
    }
    let Some(ord) = cmp_lit(v, lit) else {
        return op == Op::Ne;
    };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

fn like(text: &[char], pat: &[char]) -> bool {
    // Iterative wildcard match with single backtrack point (classic glob algorithm).
    let (mut t, mut p) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pat.len()
            && (pat[p] == '_'
                || pat[p] == text[t]
                || (pat[p] == LIT_PERCENT && text[t] == '%')
                || (pat[p] == LIT_UNDERSCORE && text[t] == '_'))
        {
            t += 1;
            p += 1;
        } else if p < pat.len() && pat[p] == '%' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|c| *c == '%')
}

impl Cond {
    /// Evaluates the condition on a row.
    pub fn eval(&self, row: &impl Row) -> bool {
        match self {
            Cond::And(v) => v.iter().all(|c| c.eval(row)),
            Cond::Or(v) => v.iter().any(|c| c.eval(row)),
            Cond::Not(c) => !c.eval(row),
            Cond::Cmp(f, op, lit) => eval_cmp(&row.value(*f), *op, lit),
            Cond::In(f, neg, lits) => {
                let v = row.value(*f);
                let hit = lits.iter().any(|l| eval_cmp(&v, Op::Eq, l));
                hit != *neg
            }
            Cond::Like(f, pat) => match row.value(*f) {
                Value::Text(s) => {
                    let t: Vec<char> = s.chars().flat_map(char::to_lowercase).collect();
                    like(&t, pat)
                }
                _ => false,
            },
        }
    }

    /// An inclusive lower bound (epoch seconds) on SystemModstamp implied by the condition,
    /// so the executor can start from the modstamp index instead of scanning everything.
    pub fn modstamp_lower_bound(&self) -> Option<i64> {
        match self {
            Cond::Cmp(Field::SystemModstamp, Op::Gt | Op::Ge | Op::Eq, BoundLit::DateTimeMs(ms)) => {
                Some(ms.div_euclid(1000))
            }
            Cond::Cmp(Field::SystemModstamp, Op::Ge | Op::Eq, BoundLit::DateTimeRange(start, _)) => {
                Some(start.div_euclid(1000))
            }
            Cond::Cmp(Field::SystemModstamp, Op::Gt, BoundLit::DateTimeRange(_, end)) => Some(end.div_euclid(1000)),
            Cond::And(v) => v.iter().filter_map(Cond::modstamp_lower_bound).max(),
            Cond::Or(v) => {
                v.iter().map(Cond::modstamp_lower_bound).collect::<Option<Vec<_>>>().and_then(|b| b.into_iter().min())
            }
            _ => None,
        }
    }
}

/// Orders two non-null values of the same field.
fn cmp_values(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => {
            x.chars().flat_map(char::to_lowercase).cmp(y.chars().flat_map(char::to_lowercase))
        }
        (Value::Id(x), Value::Id(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        _ => Ordering::Equal,
    }
}

impl Query {
    /// Does the row pass the WHERE clause?
    pub fn matches(&self, row: &impl Row) -> bool {
        self.filter.as_ref().is_none_or(|c| c.eval(row))
    }

    /// ORDER BY comparison, ties broken by Id for a stable, deterministic result.
    pub fn compare(&self, a: &impl Row, b: &impl Row) -> Ordering {
        for o in &self.order {
            let (va, vb) = (a.value(o.field), b.value(o.field));
            let ord = match (va == Value::Null, vb == Value::Null) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if o.nulls_last {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, true) => {
                    if o.nulls_last {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, false) => {
                    let c = cmp_values(&va, &vb);
                    if o.desc { c.reverse() } else { c }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id().cmp(&b.id())
    }

    /// True when the order is `SystemModstamp [ASC][, Id [ASC]]` (the sync's cursor order),
    /// which the modstamp index yields directly.
    pub fn ordered_by_modstamp_id(&self) -> bool {
        let asc = |o: &Order, f: Field| o.field == f && !o.desc;
        match self.order.as_slice() {
            [a] => asc(a, Field::SystemModstamp),
            [a, b] => asc(a, Field::SystemModstamp) && asc(b, Field::Id),
            _ => false,
        }
    }

    /// True when rows in id order are already correctly ordered.
    pub fn ordered_by_id(&self) -> bool {
        match self.order.as_slice() {
            [] => true,
            [o] => o.field == Field::Id && !o.desc,
            _ => false,
        }
    }

    /// Lower bound on SystemModstamp implied by WHERE.
    pub fn modstamp_lower_bound(&self) -> Option<i64> {
        self.filter.as_ref().and_then(Cond::modstamp_lower_bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Account, blank_record};
    use crate::query::RowRef;

    #[test]
    fn parses_the_sync_query() {
        let q = parse(
            "SELECT Id, FirstName, LastName, Email, HasOptedOutOfEmail, IsEmailBounced, \
             EmailBouncedReason, EmailBouncedDate, SystemModstamp, IsDeleted, IsConverted FROM Lead \
             WHERE SystemModstamp > 2026-01-01T00:00:00Z OR (SystemModstamp = 2026-01-01T00:00:00Z \
             AND Id > '00Q5g0000000001') ORDER BY SystemModstamp, Id",
        )
        .unwrap();
        assert_eq!(q.object, SObject::Lead);
        assert_eq!(q.fields.len(), 11);
        assert!(q.ordered_by_modstamp_id());
        let t = parse_datetime_ms("2026-01-01T00:00:00Z").unwrap() / 1000;
        assert_eq!(q.modstamp_lower_bound(), Some(t));
    }

    #[test]
    fn keywords_are_case_insensitive_and_count_parses() {
        let q = parse("select count() from contact where isdeleted = false limit 5").unwrap();
        assert!(q.count);
        assert_eq!(q.limit, Some(5));
        let q = parse("SeLeCt Id FrOm Contact OrDeR bY LastName DESC NULLS FIRST, Id").unwrap();
        assert_eq!(q.order.len(), 2);
        assert!(q.order[0].desc && !q.order[0].nulls_last);
    }

    #[test]
    fn reports_salesforce_error_codes() {
        let code = |q: &str| parse(q).unwrap_err().code();
        assert_eq!(code("SELECT Id FROM"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id, FROM Contact"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id FROM Contact WHERE"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id FROM Contact WHERE Email = 'a' AND Id = null OR Email = null"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Foo FROM Contact"), "INVALID_FIELD");
        assert_eq!(code("SELECT Company FROM Contact"), "INVALID_FIELD");
        assert_eq!(code("SELECT Id FROM Foo"), "INVALID_TYPE");
        assert_eq!(code("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'"), "INVALID_FIELD");
        assert_eq!(code("SELECT Id FROM Contact WHERE IsDeleted = 'true'"), "INVALID_FIELD");
        assert_eq!(code("SELECT Id FROM Contact WHERE Id = 'nope'"), "INVALID_QUERY_FILTER_OPERATOR");
        assert_eq!(code("SELECT Id, id FROM Contact"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id FROM Contact LIMIT"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id FROM Contact WHERE Email = 'unterminated"), "MALFORMED_QUERY");
        let msg = parse("SELECT Foo FROM Contact").unwrap_err().to_string();
        assert!(msg.contains("No such column 'Foo' on entity 'Contact'"), "{msg}");
    }

    fn rec() -> crate::data::Record {
        let id = SfId::parse("0035g0000000001").unwrap();
        let owner = SfId::parse("0055g0000000001").unwrap();
        let mut r = blank_record(id, SObject::Contact, SfDateTime(1_700_000_000), owner);
        r.last_name = "O'Brien".into();
        r.first_name = Some("Ann".into());
        r.email = Some("Ann@Example.com".into());
        r
    }

    #[test]
    fn evaluates_literals_escapes_and_null_semantics() {
        let r = rec();
        let t = |q: &str| parse(&format!("SELECT Id FROM Contact WHERE {q}")).unwrap().matches(&r);
        assert!(t(r"LastName = 'o\'brien'"));
        assert!(t("Email = 'ann@example.com'"));
        assert!(t("Email LIKE 'ann@%'"));
        assert!(t(r"Email LIKE 'a_n@%.COM'"));
        assert!(!t(r"Email LIKE 'ann\_%'"));
        assert!(t("EmailBouncedDate = null"));
        assert!(!t("EmailBouncedDate != null"));
        assert!(t("Email != 'x@example.com'"));
        assert!(t("Email IN ('a@b.c', 'ANN@example.com')"));
        assert!(t("Email NOT IN ('a@b.c')"));
        assert!(t("NOT (HasOptedOutOfEmail = true)"));
        assert!(t("SystemModstamp = 2023-11-14T22:13:20Z"));
        assert!(t("SystemModstamp = 2023-11-14T23:13:20+01:00"));
        assert!(t("SystemModstamp < 2023-11-14T22:13:20.5Z"));
        assert!(t("SystemModstamp > 2023-11-14T17:13:19-05:00"));
        assert!(t("Id = '0035g0000000001'"));
        assert!(t("Id > '0035g0000000000AAA'") || t("Id >= '0035g0000000000'"));
        assert!(t("(FirstName = 'ann' OR FirstName = 'bob') AND LastName != null"));
    }

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d)
    }

    #[test]
    fn date_literals_cover_whole_days_weeks_months_quarters_years() {
        let today = day(2026, 3, 18); // a Wednesday
        let r = |lit: &str| DateLiteral::parse(lit).map(|d| d.days(today));
        assert_eq!(r("TODAY"), Some((today, today + 1)));
        assert_eq!(r("yesterday"), Some((today - 1, today)));
        assert_eq!(r("TOMORROW"), Some((today + 1, today + 2)));
        assert_eq!(r("LAST_N_DAYS:7"), Some((today - 7, today + 1)), "today and the 7 days before");
        assert_eq!(r("NEXT_N_DAYS:2"), Some((today + 1, today + 3)));
        assert_eq!(r("N_DAYS_AGO:3"), Some((today - 3, today - 2)));
        assert_eq!(r("LAST_90_DAYS"), Some((today - 90, today + 1)));
        assert_eq!(r("THIS_WEEK"), Some((day(2026, 3, 15), day(2026, 3, 22))), "Sunday to Sunday");
        assert_eq!(r("LAST_WEEK"), Some((day(2026, 3, 8), day(2026, 3, 15))));
        assert_eq!(r("LAST_MONTH"), Some((day(2026, 2, 1), day(2026, 3, 1))));
        assert_eq!(r("NEXT_N_MONTHS:2"), Some((day(2026, 4, 1), day(2026, 6, 1))));
        assert_eq!(r("LAST_N_MONTHS:3"), Some((day(2025, 12, 1), day(2026, 3, 1))));
        assert_eq!(r("THIS_QUARTER"), Some((day(2026, 1, 1), day(2026, 4, 1))));
        assert_eq!(r("LAST_QUARTER"), Some((day(2025, 10, 1), day(2026, 1, 1))));
        assert_eq!(r("THIS_YEAR"), Some((day(2026, 1, 1), day(2027, 1, 1))));
        assert_eq!(r("LAST_N_YEARS:2"), Some((day(2024, 1, 1), day(2026, 1, 1))));
        assert_eq!(r("NEXT_FISCAL_YEAR"), None);
    }

    fn ctx(access: Access) -> Context {
        // 2023-11-15T12:00:00Z: the day after rec()'s CreatedDate (2023-11-14T22:13:20Z).
        Context { access, now: SfDateTime(day(2023, 11, 15) * 86_400 + 12 * 3600) }
    }

    #[test]
    fn date_literals_on_datetime_fields() {
        let r = rec();
        let t =
            |q: &str| parse_as(&format!("SELECT Id FROM Contact WHERE {q}"), &ctx(Access::All)).unwrap().matches(&r);
        assert!(t("CreatedDate = YESTERDAY"));
        assert!(!t("CreatedDate = TODAY"));
        assert!(t("CreatedDate < TODAY") && t("CreatedDate <= YESTERDAY") && !t("CreatedDate < YESTERDAY"));
        assert!(t("CreatedDate > N_DAYS_AGO:2") && !t("CreatedDate > YESTERDAY") && t("CreatedDate >= YESTERDAY"));
        assert!(t("CreatedDate = LAST_N_DAYS:1") && !t("CreatedDate = NEXT_N_DAYS:5"));
        assert!(t("CreatedDate IN (TODAY, YESTERDAY)") && t("CreatedDate != TODAY"));
        assert!(t("EmailBouncedDate != TODAY") && !t("EmailBouncedDate = TODAY"), "null is never in a range");
        assert!(t("SystemModstamp = THIS_MONTH AND CreatedDate = THIS_YEAR"));
        let q = parse_as("SELECT Id FROM Contact WHERE SystemModstamp >= LAST_N_DAYS:2", &ctx(Access::All)).unwrap();
        assert_eq!(q.modstamp_lower_bound(), Some((day(2023, 11, 15) - 2) * 86_400));
        let code = |q: &str| parse_as(q, &ctx(Access::All)).unwrap_err().code();
        assert_eq!(
            code("SELECT Id FROM Contact WHERE CreatedDate > 2023-11-14"),
            "INVALID_FIELD",
            "a date is no dateTime"
        );
        assert_eq!(code("SELECT Id FROM Contact WHERE Email = TODAY"), "INVALID_FIELD");
        assert_eq!(code("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS"), "MALFORMED_QUERY");
        assert_eq!(code("SELECT Id FROM Contact WHERE CreatedDate = SOMEDAY"), "MALFORMED_QUERY");
    }

    fn account() -> Account {
        Account {
            id: SfId::parse("0015g0000000001").unwrap(),
            name: "Acme Corp".into(),
            owner_id: SfId::parse("0055g0000000001").unwrap(),
            created_date: SfDateTime(1_600_000_000),
        }
    }

    #[test]
    fn numbers_picklists_and_the_account_path() {
        let mut r = rec();
        r.custom.insert("Region__c".into(), "EMEA".into());
        r.custom.insert("Score__c".into(), 72.5.into());
        r.account_id = Some(account().id);
        r.lead_source = Some("Partner Referral".into());
        let accounts = [account()];
        let with = RowRef::Rec(&r, &accounts);
        let bare = rec();
        let without = RowRef::Rec(&bare, &accounts);
        let t = |row: &RowRef<'_>, q: &str| parse(&format!("SELECT Id FROM Contact WHERE {q}")).unwrap().matches(row);
        assert!(t(&with, "Score__c > 70") && t(&with, "Score__c >= 72.5") && !t(&with, "Score__c < 72.5"));
        assert!(t(&with, "Score__c IN (1, 72.50)") && t(&with, "Score__c != null") && t(&with, "Score__c > -1"));
        assert!(t(&without, "Score__c = null") && !t(&without, "Score__c > 0") && t(&without, "Score__c != 1"));
        assert!(
            t(&with, "Region__c = 'emea'") && t(&with, "Region__c LIKE 'E%'") && !t(&with, "Region__c NOT IN ('EMEA')")
        );
        assert!(t(&with, "LeadSource IN ('web', 'PARTNER REFERRAL')") && t(&with, "LeadSource LIKE '%referral'"));
        assert!(t(&with, "Account.Name = 'ACME CORP'") && t(&with, "Contact.Account.Name LIKE 'acme%'"));
        assert!(t(&with, "AccountId = '0015g0000000001'") && t(&with, "Account.Name != null"));
        assert!(t(&without, "Account.Name = null") && t(&without, "Account.Name != 'Acme Corp'"));
        assert!(!t(&without, "Account.Name LIKE '%'"), "LIKE never matches null");
        let err = |q: &str| parse(q).unwrap_err();
        assert_eq!(err("SELECT Id FROM Contact WHERE Score__c = '70'").code(), "INVALID_FIELD");
        assert_eq!(err("SELECT Id FROM Contact WHERE Email = 70").code(), "INVALID_FIELD");
        assert_eq!(err("SELECT Id FROM Contact WHERE Score__c LIKE '7%'").code(), "INVALID_FIELD");
        let msg = err("SELECT Account.Name FROM Lead").to_string();
        assert!(msg.contains("Didn't understand relationship 'Account'"), "{msg}");
        let msg = err("SELECT Account.Foo FROM Contact").to_string();
        assert!(msg.contains("No such column 'Foo' on entity 'Account'"), "{msg}");
        let q = parse("SELECT Id, Account.Name FROM Contact ORDER BY Account.Name").unwrap();
        assert_eq!(q.fields, vec![Field::Id, Field::AccountName]);
    }

    #[test]
    fn long_text_is_selectable_not_filterable_and_fls_hides_fields() {
        assert!(parse("SELECT Id, Notes__c FROM Contact").is_ok());
        let msg = parse("SELECT Id FROM Contact WHERE Notes__c = 'x'").unwrap_err();
        assert_eq!(msg.code(), "INVALID_FIELD");
        assert!(msg.to_string().ends_with("field 'Notes__c' can not be filtered in a query call"), "{msg}");
        let msg = parse("SELECT Id FROM Lead WHERE Notes__c LIKE '%x%'").unwrap_err().to_string();
        assert!(msg.contains("can not be filtered"), "{msg}");
        let msg = parse("SELECT Id FROM Contact ORDER BY Notes__c").unwrap_err().to_string();
        assert!(msg.contains("field 'Notes__c' can not be sorted in a query call"), "{msg}");
        let integration = ctx(Access::Integration);
        for q in ["SELECT Id, Secret__c FROM Contact", "SELECT Id FROM Lead WHERE Secret__c != null"] {
            let e = parse_as(q, &integration).unwrap_err();
            assert_eq!(e.code(), "INVALID_FIELD");
            assert!(e.to_string().contains("No such column 'Secret__c' on entity"), "{e}");
            assert!(parse_as(q, &ctx(Access::All)).is_ok());
        }
        assert!(parse_as("SELECT Region__c FROM Contact WHERE Region__c = 'EMEA'", &integration).is_ok());
    }

    #[test]
    fn like_matcher() {
        let m = |t: &str, p: &str| like(&t.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>());
        assert!(m("hello", "h%o"));
        assert!(m("hello", "%"));
        assert!(m("hello", "_ello"));
        assert!(!m("hello", "h%x"));
        assert!(m("", "%"));
        assert!(!m("", "_"));
    }
}
