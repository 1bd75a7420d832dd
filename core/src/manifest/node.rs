//! One view over `toml_edit`'s two kinds of tables (`[Table]` and inline
//! `{…}`) and two kinds of arrays (`[[Array]]` of tables and `[…]`), so the
//! rules read the same whichever TOML form an author chose.

use std::ops::Range;

use toml_edit::{Array, ArrayOfTables, InlineTable, Item, Table, Value};

/// A parsed TOML value with its source span.
#[derive(Clone, Copy)]
pub(super) enum Node<'a> {
    Table(&'a Table),
    InlineTable(&'a InlineTable),
    ArrayOfTables(&'a ArrayOfTables),
    Array(&'a Array),
    Scalar(&'a Value),
}

/// A key of a table with its value.
pub(super) struct Entry<'a> {
    pub key: &'a str,
    pub key_span: Option<Range<usize>>,
    pub node: Node<'a>,
}

impl<'a> Node<'a> {
    pub(super) fn from_item(item: &'a Item) -> Option<Node<'a>> {
        match item {
            Item::None => None,
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::ArrayOfTables(a)),
            Item::Value(v) => Some(Node::from_value(v)),
        }
    }

    pub(super) fn from_value(value: &'a Value) -> Node<'a> {
        match value {
            Value::InlineTable(t) => Node::InlineTable(t),
            Value::Array(a) => Node::Array(a),
            scalar => Node::Scalar(scalar),
        }
    }

    /// The kind of value with its article, for messages: "a string".
    pub(super) fn type_name(self) -> &'static str {
        match self {
            Node::Table(_) | Node::InlineTable(_) => "a table",
            Node::ArrayOfTables(_) => "an array of tables",
            Node::Array(_) => "an array",
            Node::Scalar(Value::String(_)) => "a string",
            Node::Scalar(Value::Integer(_)) => "an integer",
            Node::Scalar(Value::Float(_)) => "a float",
            Node::Scalar(Value::Boolean(_)) => "a boolean",
            Node::Scalar(Value::Datetime(d)) => match (d.value().date, d.value().time) {
                (Some(_), Some(_)) => "a date-time",
                (Some(_), None) => "a date",
                _ => "a time",
            },
            // Arrays and inline tables are matched above.
            Node::Scalar(_) => "a value",
        }
    }

    /// Where the node starts: a table's header, a value's first character.
    pub(super) fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Table(t) => t.span(),
            Node::InlineTable(t) => t.span(),
            Node::ArrayOfTables(a) => a.span(),
            Node::Array(a) => a.span(),
            Node::Scalar(v) => v.span(),
        }
    }

    pub(super) fn is_table(self) -> bool {
        matches!(self, Node::Table(_) | Node::InlineTable(_))
    }

    pub(super) fn as_str(self) -> Option<&'a str> {
        match self {
            Node::Scalar(v) => v.as_str(),
            _ => None,
        }
    }

    /// The keys of a table in file order; nothing for other nodes.
    pub(super) fn entries(self) -> Vec<Entry<'a>> {
        match self {
            Node::Table(t) => t
                .iter()
                .filter_map(|(key, item)| {
                    Some(Entry {
                        key,
                        key_span: t.key(key).and_then(|k| k.span()),
                        node: Node::from_item(item)?,
                    })
                })
                .collect(),
            Node::InlineTable(t) => t
                .iter()
                .map(|(key, value)| Entry {
                    key,
                    key_span: t.key(key).and_then(|k| k.span()),
                    node: Node::from_value(value),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The value of a key of a table.
    pub(super) fn get(self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Table(t) => t.get(key).and_then(Node::from_item),
            Node::InlineTable(t) => t.get(key).map(Node::from_value),
            _ => None,
        }
    }

    /// The elements of an array (of tables or of values).
    pub(super) fn elements(self) -> Option<Vec<Node<'a>>> {
        match self {
            Node::ArrayOfTables(a) => Some(a.iter().map(Node::Table).collect()),
            Node::Array(a) => Some(a.iter().map(Node::from_value).collect()),
            _ => None,
        }
    }
}
