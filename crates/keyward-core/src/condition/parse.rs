//! Parsing a condition with cel-rust: syntax errors become a
//! [`ConditionError`] at cel-rust's line and column; the parser's own panics
//! are caught, so a hostile string cannot take the hub down.

use std::panic::catch_unwind;

use cel::Program;

use super::ConditionError;

pub(super) fn parse(source: &str) -> Result<Program, ConditionError> {
    if source.trim().is_empty() {
        return Err(ConditionError { line: 1, column: 1, message: "the condition is empty".into() });
    }
    match catch_unwind(|| Program::compile(source)) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(errors)) => {
            let first = errors.errors.first();
            // cel-rust's positions are a 1-based line and column.
            let (line, column) = first
                .map_or((1, 1), |e| (usize::try_from(e.pos.0).unwrap_or(1), usize::try_from(e.pos.1).unwrap_or(1)));
            let message = first.map_or("", |e| e.msg.as_str());
            Err(ConditionError { line: line.max(1), column: column.max(1), message: syntax_message(message) })
        }
        Err(_) => Err(ConditionError { line: 1, column: 1, message: "the CEL parser failed on this condition".into() }),
    }
}

fn syntax_message(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg);
    if msg.is_empty() { "syntax error".to_owned() } else { format!("syntax error: {msg}") }
}
