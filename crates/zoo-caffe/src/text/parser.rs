//! Protobuf text format → binary wire bytes, driven by [`super::schema`].
//!
//! Accepts what Caffe's prototxt files use: `name: value`, `name { ... }`
//! (also `name: { ... }` and `< ... >`), `name: [a, b]` lists, adjacent
//! string literals, enum identifiers, optional `,`/`;` separators and `#`
//! comments. Unknown field names are skipped with their value.

use super::lexer::{Spanned, Token, tokenize};
use super::schema::{FieldDesc, FieldType, MessageDesc};
use crate::error::TextError;
use prost::encoding::{WireType, encode_key, encode_varint};

/// Parses `text` as the message `desc` and returns its binary encoding.
pub fn text_to_wire(text: &str, desc: &'static MessageDesc) -> Result<Vec<u8>, TextError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let mut out = Vec::new();
    parser.message(desc, None, &mut out)?;
    Ok(out)
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Spanned> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Spanned { token: Token::Punct(p), .. }) if *p == c)
    }

    /// Where the next token starts, or just past the last one at the end.
    fn here(&self) -> (usize, usize) {
        match self.peek().or(self.tokens.last()) {
            Some(t) => (t.line, t.column),
            None => (1, 1),
        }
    }

    fn error_at(&self, at: (usize, usize), message: impl Into<String>) -> TextError {
        TextError {
            line: at.0,
            column: at.1,
            message: message.into(),
        }
    }

    fn message(
        &mut self,
        desc: &'static MessageDesc,
        close: Option<char>,
        out: &mut Vec<u8>,
    ) -> Result<(), TextError> {
        loop {
            let Some(token) = self.next() else {
                return match close {
                    None => Ok(()),
                    Some(c) => Err(self.error_at(
                        self.here(),
                        format!(
                            "unexpected end of input: missing '{c}' to close {}",
                            desc.name
                        ),
                    )),
                };
            };
            let at = (token.line, token.column);
            let name = match token.token {
                Token::Punct(c) if Some(c) == close => return Ok(()),
                Token::Ident(name) => name,
                other => {
                    return Err(self.error_at(
                        at,
                        format!(
                            "expected a field name of {}, found {}",
                            desc.name,
                            show(&other)
                        ),
                    ));
                }
            };
            let colon = self.peek_punct(':');
            if colon {
                self.pos += 1;
            }
            let opens_message = self.peek_punct('{') || self.peek_punct('<');
            if !colon && !opens_message {
                return Err(self.error_at(
                    self.here(),
                    format!("expected ':' or '{{' after field name {name:?}"),
                ));
            }
            match desc.field(&name) {
                Some(field) => self.field_value(field, opens_message, out)?,
                None => self.skip_value(opens_message)?,
            }
            if self.peek_punct(',') || self.peek_punct(';') {
                self.pos += 1;
            }
        }
    }

    fn field_value(
        &mut self,
        field: &FieldDesc,
        opens_message: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), TextError> {
        if let FieldType::Message(inner) = field.ty {
            if self.peek_punct('[') {
                self.pos += 1;
                loop {
                    self.one_message(field, inner, out)?;
                    if !self.list_continues()? {
                        return Ok(());
                    }
                }
            }
            if !opens_message {
                return Err(self.error_at(
                    self.here(),
                    format!(
                        "field {:?} is a message ({}): expected '{{'",
                        field.name, inner.name
                    ),
                ));
            }
            return self.one_message(field, inner, out);
        }
        if opens_message {
            return Err(self.error_at(
                self.here(),
                format!("field {:?} is a scalar, not a message", field.name),
            ));
        }
        if self.peek_punct('[') {
            self.pos += 1;
            if self.peek_punct(']') {
                self.pos += 1;
                return Ok(());
            }
            loop {
                self.scalar(field, out)?;
                if !self.list_continues()? {
                    return Ok(());
                }
            }
        }
        self.scalar(field, out)
    }

    /// After a list element: `,` continues, `]` ends.
    fn list_continues(&mut self) -> Result<bool, TextError> {
        let at = self.here();
        match self.next().map(|t| t.token) {
            Some(Token::Punct(',')) => Ok(true),
            Some(Token::Punct(']')) => Ok(false),
            other => Err(self.error_at(
                at,
                format!(
                    "expected ',' or ']' in a list, found {}",
                    show_opt(other.as_ref())
                ),
            )),
        }
    }

    fn one_message(
        &mut self,
        field: &FieldDesc,
        inner: &'static MessageDesc,
        out: &mut Vec<u8>,
    ) -> Result<(), TextError> {
        let at = self.here();
        let close = match self.next().map(|t| t.token) {
            Some(Token::Punct('{')) => '}',
            Some(Token::Punct('<')) => '>',
            other => {
                return Err(self.error_at(
                    at,
                    format!(
                        "expected '{{' for {:?}, found {}",
                        field.name,
                        show_opt(other.as_ref())
                    ),
                ));
            }
        };
        let mut body = Vec::new();
        self.message(inner, Some(close), &mut body)?;
        encode_key(field.number, WireType::LengthDelimited, out);
        encode_varint(body.len() as u64, out);
        out.extend_from_slice(&body);
        Ok(())
    }

    fn scalar(&mut self, field: &FieldDesc, out: &mut Vec<u8>) -> Result<(), TextError> {
        let at = self.here();
        let Some(token) = self.next() else {
            return Err(self.error_at(at, format!("missing value for {:?}", field.name)));
        };
        let bad = |what: &str| TextError {
            line: at.0,
            column: at.1,
            message: format!(
                "invalid value {} for {:?}: expected {what}",
                show(&token.token),
                field.name
            ),
        };
        match field.ty {
            FieldType::Int32 | FieldType::Int64 | FieldType::UInt32 => {
                let Token::Number(text) = &token.token else {
                    return Err(bad("an integer"));
                };
                let value = parse_int(text).ok_or_else(|| bad("an integer"))?;
                let fits = match field.ty {
                    FieldType::Int32 => i32::try_from(value).is_ok(),
                    FieldType::UInt32 => u32::try_from(value).is_ok(),
                    _ => i64::try_from(value).is_ok(),
                };
                if !fits {
                    return Err(bad("an integer in range"));
                }
                encode_key(field.number, WireType::Varint, out);
                encode_varint(value as i64 as u64, out);
            }
            FieldType::Float | FieldType::Double => {
                let value = match &token.token {
                    Token::Number(text) => parse_float(text),
                    Token::Ident(text) => parse_float(text),
                    _ => None,
                }
                .ok_or_else(|| bad("a number"))?;
                if matches!(field.ty, FieldType::Float) {
                    encode_key(field.number, WireType::ThirtyTwoBit, out);
                    out.extend_from_slice(&(value as f32).to_le_bytes());
                } else {
                    encode_key(field.number, WireType::SixtyFourBit, out);
                    out.extend_from_slice(&value.to_le_bytes());
                }
            }
            FieldType::Bool => {
                let value = match &token.token {
                    Token::Ident(t) if matches!(t.as_str(), "true" | "True" | "t") => true,
                    Token::Ident(t) if matches!(t.as_str(), "false" | "False" | "f") => false,
                    Token::Number(t) if t == "1" => true,
                    Token::Number(t) if t == "0" => false,
                    _ => return Err(bad("true or false")),
                };
                encode_key(field.number, WireType::Varint, out);
                encode_varint(u64::from(value), out);
            }
            FieldType::String => {
                let Token::Str(mut bytes) = token.token.clone() else {
                    return Err(bad("a quoted string"));
                };
                while let Some(Spanned {
                    token: Token::Str(more),
                    ..
                }) = self.peek()
                {
                    bytes.extend_from_slice(more);
                    self.pos += 1;
                }
                if std::str::from_utf8(&bytes).is_err() {
                    return Err(bad("UTF-8 text"));
                }
                encode_key(field.number, WireType::LengthDelimited, out);
                encode_varint(bytes.len() as u64, out);
                out.extend_from_slice(&bytes);
            }
            FieldType::Enum(values) => {
                let number = match &token.token {
                    Token::Ident(name) => values.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
                    Token::Number(text) => parse_int(text).and_then(|v| i32::try_from(v).ok()),
                    _ => None,
                };
                let Some(number) = number else {
                    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                    return Err(bad(&format!("one of {}", names.join(", "))));
                };
                encode_key(field.number, WireType::Varint, out);
                encode_varint(number as i64 as u64, out);
            }
            FieldType::Message(_) => unreachable!("messages are handled by field_value"),
        }
        Ok(())
    }

    /// Skips the value of a field zoo does not model (scalar, list or message).
    fn skip_value(&mut self, opens_message: bool) -> Result<(), TextError> {
        let at = self.here();
        if opens_message || self.peek_punct('[') {
            let mut depth = 0usize;
            while let Some(token) = self.next() {
                match token.token {
                    Token::Punct('{' | '<' | '[') => depth += 1,
                    Token::Punct('}' | '>' | ']') => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
            return Err(self.error_at(at, "unexpected end of input inside a skipped field"));
        }
        match self.next().map(|t| t.token) {
            Some(Token::Str(_)) => {
                while matches!(
                    self.peek(),
                    Some(Spanned {
                        token: Token::Str(_),
                        ..
                    })
                ) {
                    self.pos += 1;
                }
                Ok(())
            }
            Some(Token::Number(_) | Token::Ident(_)) => Ok(()),
            other => Err(self.error_at(
                at,
                format!("expected a value, found {}", show_opt(other.as_ref())),
            )),
        }
    }
}

fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i128::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let (negative, body) = match lower.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, lower.trim_start_matches('+').to_string()),
    };
    let value = match body.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            let trimmed = body.strip_suffix('f').unwrap_or(&body);
            if trimmed.starts_with("0x") {
                return None;
            }
            trimmed.parse::<f64>().ok()?
        }
    };
    Some(if negative { -value } else { value })
}

fn show(token: &Token) -> String {
    match token {
        Token::Ident(s) => format!("{s:?}"),
        Token::Number(s) => s.clone(),
        Token::Str(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Token::Punct(c) => format!("'{c}'"),
    }
}

fn show_opt(token: Option<&Token>) -> String {
    token.map_or_else(|| "end of input".to_string(), show)
}
