//! Tokens of the protobuf text format, each with its line and column (1-based).

use crate::error::TextError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    /// A number as written (sign included), parsed later for its field's type.
    Number(String),
    /// A string literal with its escapes resolved (bytes: text format allows \xNN).
    Str(Vec<u8>),
    Punct(char),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub line: usize,
    pub column: usize,
}

/// Splits `text` into tokens, dropping whitespace and `#` comments.
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, TextError> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, line: usize, column: usize, message: impl Into<String>) -> TextError {
        TextError {
            line,
            column,
            message: message.into(),
        }
    }

    fn next_token(&mut self) -> Result<Option<Spanned>, TextError> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some(_) => break,
            }
        }
        let (line, column) = (self.line, self.column);
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let token = if c.is_ascii_alphabetic() || c == '_' {
            let mut ident = String::new();
            while let Some(c) = self
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                ident.push(c);
                self.bump();
            }
            Token::Ident(ident)
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '+' || c == '.')
                && self
                    .peek_at(1)
                    .is_some_and(|n| n.is_ascii_digit() || n == '.' || n.is_ascii_alphabetic()))
        {
            let mut number = String::new();
            number.push(c);
            self.bump();
            while let Some(c) = self.peek().filter(|c| {
                c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '+' || *c == '-'
            }) {
                // A sign only continues a number right after an exponent marker.
                if (c == '+' || c == '-') && !number.ends_with(['e', 'E']) {
                    break;
                }
                number.push(c);
                self.bump();
            }
            Token::Number(number)
        } else if c == '"' || c == '\'' {
            Token::Str(self.string(c, line, column)?)
        } else if "{}<>[]:,;".contains(c) {
            self.bump();
            Token::Punct(c)
        } else {
            return Err(self.error(line, column, format!("unexpected character {c:?}")));
        };
        Ok(Some(Spanned {
            token,
            line,
            column,
        }))
    }

    fn string(&mut self, quote: char, line: usize, column: usize) -> Result<Vec<u8>, TextError> {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            let (esc_line, esc_column) = (self.line, self.column);
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.error(line, column, "unterminated string"));
                }
                Some(c) if c == quote => return Ok(bytes),
                Some('\\') => {
                    let Some(e) = self.bump() else {
                        return Err(self.error(line, column, "unterminated string"));
                    };
                    match e {
                        'n' => bytes.push(b'\n'),
                        't' => bytes.push(b'\t'),
                        'r' => bytes.push(b'\r'),
                        'a' => bytes.push(0x07),
                        'b' => bytes.push(0x08),
                        'f' => bytes.push(0x0c),
                        'v' => bytes.push(0x0b),
                        '\\' | '\'' | '"' | '?' => bytes.push(e as u8),
                        'x' | 'X' => {
                            let mut value = 0u32;
                            let mut digits = 0;
                            while digits < 2 {
                                match self.peek().and_then(|c| c.to_digit(16)) {
                                    Some(d) => {
                                        value = value * 16 + d;
                                        self.bump();
                                        digits += 1;
                                    }
                                    None => break,
                                }
                            }
                            if digits == 0 {
                                return Err(self.error(
                                    esc_line,
                                    esc_column,
                                    "\\x needs hex digits",
                                ));
                            }
                            bytes.push(value as u8);
                        }
                        '0'..='7' => {
                            let mut value = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match self.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        value = value * 8 + d;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            if value > 255 {
                                return Err(self.error(
                                    esc_line,
                                    esc_column,
                                    "octal escape above \\377",
                                ));
                            }
                            bytes.push(value as u8);
                        }
                        other => {
                            return Err(self.error(
                                esc_line,
                                esc_column,
                                format!("unknown escape \\{other}"),
                            ));
                        }
                    }
                }
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_positions_and_escapes() {
        let tokens = tokenize("name: \"a\\tb\\x41\\101\" # comment\n  dim: -1.5e-3").unwrap();
        assert_eq!(tokens[0].token, Token::Ident("name".into()));
        assert_eq!(tokens[2].token, Token::Str(b"a\tbAA".to_vec()));
        assert_eq!((tokens[3].line, tokens[3].column), (2, 3));
        assert_eq!(tokens[5].token, Token::Number("-1.5e-3".into()));
    }

    #[test]
    fn unterminated_string_is_located() {
        let err = tokenize("a: 1\nb: \"oops").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
    }
}
